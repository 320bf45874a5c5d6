/**
 * Opens a model directory (HF/Optimum/transformers.js or onnxruntime-genai layout) into a DecoderModel.
 * Every way a directory can be unusable ends in one ModelLoadError sentence naming the missing piece.
 */
import { InferenceSession } from 'onnxruntime-node';
import { ChatTemplate, TextTokenizer } from '../tokenizer/index.ts';
import { DecoderModel, type SpecialTokenIds } from './decoder-model.ts';
import { ModelLoadError, firstLine } from './errors.ts';
import type { TokenizerConfig } from './format.ts';
import { readModelSpec, type ModelSpec } from './model-spec.ts';
import { toSessionOptions, type ModelRuntimeOptions } from './runtime-options.ts';
import { describeDecoderIo } from './session-io.ts';

export async function loadModel(dir: string, options: ModelRuntimeOptions = {}): Promise<DecoderModel> {
  const spec = readModelSpec(dir);
  const tokenizer = createTokenizer(spec);
  const specialTokens = resolveSpecialTokens(spec, tokenizer);
  const chatTemplate = spec.chatTemplate
    ? createChatTemplate(spec, spec.chatTemplate)
    : undefined;

  let session: InferenceSession;
  try {
    session = await InferenceSession.create(spec.onnxPath, toSessionOptions(options));
  } catch (error) {
    throw new ModelLoadError(
      'invalid-onnx',
      `ONNX model ${spec.onnxPath} could not be loaded by onnxruntime: ${firstLine(error)}`,
      { cause: error },
    );
  }
  try {
    const io = describeDecoderIo(session, spec.names, spec, spec.onnxPath);
    const vocabSize = io.logitsWidth ?? spec.configVocabSize ?? tokenizer.size;
    for (const eos of specialTokens.eos) {
      if (eos >= vocabSize) {
        throw new ModelLoadError('invalid-config', `Model ${dir} names end-of-sequence id ${eos}, beyond its ${vocabSize}-token vocabulary.`);
      }
    }
    const usableVocabSize = Math.min(vocabSize, tokenizer.size);
    return new DecoderModel(spec, session, io, tokenizer, chatTemplate, specialTokens, vocabSize, usableVocabSize);
  } catch (error) {
    await session.release();
    throw error;
  }
}

function createTokenizer(spec: ModelSpec): TextTokenizer {
  try {
    return TextTokenizer.fromJson(spec.tokenizerJson, spec.tokenizerConfig);
  } catch (error) {
    throw new ModelLoadError(
      'invalid-tokenizer',
      `Model ${spec.dir} has a tokenizer.json that @huggingface/tokenizers cannot load: ${firstLine(error)}`,
      { cause: error },
    );
  }
}

function createChatTemplate(spec: ModelSpec, source: string): ChatTemplate {
  const strings: Record<string, string> = {};
  for (const key of ['bos_token', 'eos_token', 'pad_token', 'unk_token'] as const) {
    const text = tokenText(spec.tokenizerConfig[key]);
    if (text !== undefined) strings[key] = text;
  }
  try {
    return new ChatTemplate(source, strings);
  } catch (error) {
    throw new ModelLoadError('invalid-tokenizer', `Model ${spec.dir} has a chat_template that does not parse: ${firstLine(error)}`, {
      cause: error,
    });
  }
}

/** Ids from config files first; token strings from tokenizer_config.json fill the gaps. */
function resolveSpecialTokens(spec: ModelSpec, tokenizer: TextTokenizer): SpecialTokenIds {
  const idOf = (key: 'bos_token' | 'eos_token' | 'pad_token') => {
    const text = tokenText(spec.tokenizerConfig[key]);
    return text === undefined ? undefined : tokenizer.tokenToId(text);
  };
  const eos = [...new Set([...spec.eosTokenIds, ...optionalList(idOf('eos_token'))])];
  const first = eos[0];
  if (first === undefined) {
    throw new ModelLoadError(
      'missing-special-token',
      `Model ${spec.dir} names no end-of-sequence token (eos_token_id in config.json or generation_config.json, or eos_token in tokenizer_config.json).`,
    );
  }
  const bos = spec.bosTokenId ?? idOf('bos_token');
  return { ...(bos !== undefined ? { bos } : {}), eos, pad: spec.padTokenId ?? idOf('pad_token') ?? first };
}

function tokenText(value: TokenizerConfig['bos_token']): string | undefined {
  if (value === null || value === undefined) return undefined;
  return typeof value === 'string' ? value : value.content;
}

function optionalList(value: number | undefined): number[] {
  return value === undefined ? [] : [value];
}
