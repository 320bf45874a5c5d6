/**
 * Opens a model directory (HF/Optimum/transformers.js or onnxruntime-genai layout) into a DecoderModel.
 * Every way a directory can be unusable ends in one ModelLoadError sentence naming the missing piece.
 */
import { InferenceSession } from 'onnxruntime-node';
import { DecoderModel } from './decoder-model.ts';
import { ModelLoadError, firstLine } from './errors.ts';
import { readModelSpec } from './model-spec.ts';
import { readModelText } from './model-text.ts';
import { toSessionOptions, type ModelRuntimeOptions } from './runtime-options.ts';
import { describeDecoderIo } from './session-io.ts';

export async function loadModel(dir: string, options: ModelRuntimeOptions = {}): Promise<DecoderModel> {
  const spec = readModelSpec(dir);
  const { tokenizer, specialTokens, chatTemplate } = readModelText(spec);

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

