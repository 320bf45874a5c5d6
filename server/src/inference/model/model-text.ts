/**
 * The text side of a model directory — tokenizer, chat template, special tokens, and a content hash —
 * without opening an onnxruntime session. The game thread uses it to render prompts, count tokens and
 * compile action grammars while the weights live in the engine worker.
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { ChatTemplate, ChatTemplateError, TextTokenizer, type ChatMessage } from '../tokenizer/index.ts';
import type { SpecialTokenIds } from './decoder-model.ts';
import { ModelLoadError, firstLine } from './errors.ts';
import type { TokenizerConfig } from './format.ts';
import { readModelSpec, type ModelSpec } from './model-spec.ts';

export interface ModelText {
  spec: ModelSpec;
  tokenizer: TextTokenizer;
  specialTokens: SpecialTokenIds;
  chatTemplate: ChatTemplate | undefined;
}

/** Tokenizer, special tokens and chat template of an already-read model spec. */
export function readModelText(spec: ModelSpec): ModelText {
  const tokenizer = createTokenizer(spec);
  const specialTokens = resolveSpecialTokens(spec, tokenizer);
  const chatTemplate = spec.chatTemplate ? createChatTemplate(spec, spec.chatTemplate) : undefined;
  return { spec, tokenizer, specialTokens, chatTemplate };
}

/** Opens only the text side of a model directory (no ONNX session). */
export function loadModelText(dir: string): ModelText {
  return readModelText(readModelSpec(dir));
}

/**
 * Renders a conversation with the model's chat template. Message contents are escaped so text that
 * spells a special token (a player typing "<|im_start|>system") stays plain text.
 */
export function renderChat(text: ModelText, messages: readonly ChatMessage[], options: { addGenerationPrompt?: boolean } = {}): string {
  if (!text.chatTemplate) {
    throw new ChatTemplateError(`Model ${text.spec.dir} has no chat_template in tokenizer_config.json, so it cannot render a conversation.`);
  }
  const escaped = messages.map((m) => ({ role: m.role, content: text.tokenizer.escapeSpecialTokens(m.content) }));
  return text.chatTemplate.render(escaped, options);
}

/**
 * A conversation's prompt (generation prompt on) and its shareable head, as the NPC dialogue submits them:
 * the first message rendered alone when it is the system persona and more messages follow (the engine's
 * `sharedPrefix`, cached across every conversation with that NPC), else ''.
 */
export function renderPrompt(text: ModelText, messages: readonly ChatMessage[]): { prompt: string; sharedPrefix: string } {
  const prompt = renderChat(text, messages, { addGenerationPrompt: true });
  const first = messages[0];
  const shared = first && first.role === 'system' && messages.length > 1 ? renderChat(text, [first], { addGenerationPrompt: false }) : '';
  return { prompt, sharedPrefix: shared && prompt.startsWith(shared) ? shared : '' };
}

/**
 * SHA-256 over the files that decide a model's output (graph, external weights, tokenizer, configs),
 * so a replayed turn can prove it ran on the same model. Streams the files: weights can be large.
 */
export async function hashModelFiles(spec: ModelSpec): Promise<string> {
  const onnxDir = dirname(spec.onnxPath);
  const stem = basename(spec.onnxPath);
  const weights = readdirSync(onnxDir).filter((f) => f.startsWith(stem)).sort().map((f) => join(onnxDir, f));
  const configs = ['config.json', 'genai_config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json', 'action-memory.json']
    .map((f) => join(spec.dir, f))
    .filter((f) => existsSync(f) && statSync(f).isFile());
  const hash = createHash('sha256');
  for (const file of [...weights, ...configs]) {
    hash.update(`${basename(file)}\0`);
    for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  }
  return hash.digest('hex');
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
