/**
 * Opens the model for the engine worker: the model layer's loader (tokenizer, special tokens, I/O), then —
 * for the `inplace` KV strategy — swaps the session for one on the engine-shaped graph variant (see
 * engine-graph.ts). A graph the rewrite doesn't recognise (or a model directory it can't write into) falls
 * back to the standard graph with the `resident` strategy, and says why.
 */
import { dirname } from 'node:path';
import { InferenceSession } from 'onnxruntime-node';
import { DecoderModel, loadModel, type ModelRuntimeOptions } from '../model/index.ts';
import { toSessionOptions } from '../model/runtime-options.ts';
import { deriveEngineGraph } from './engine-graph.ts';
import type { KvStrategy } from './step-runner.ts';

export interface EngineModel {
  model: DecoderModel;
  kvStrategy: KvStrategy;
  /** Why the requested strategy was not used, if it wasn't. */
  fallbackReason?: string;
}

export async function openEngineModel(dir: string, runtime: ModelRuntimeOptions, wanted: KvStrategy): Promise<EngineModel> {
  const model = await loadModel(dir, runtime);
  if (wanted !== 'inplace') return { model, kvStrategy: wanted };
  let variant: Uint8Array;
  try {
    const layers = model.io.layers;
    variant = deriveEngineGraph(
      model.spec.onnxPath,
      {
        pastKey: (l) => layers[l]!.pastKey,
        pastValue: (l) => layers[l]!.pastValue,
        presentKey: (l) => layers[l]!.presentKey,
        presentValue: (l) => layers[l]!.presentValue,
        logits: model.io.logits,
      },
      layers.length,
      { maxPositions: model.spec.contextLength },
    );
  } catch (error) {
    return { model, kvStrategy: 'resident', fallbackReason: `the engine graph could not be derived: ${(error as Error).message}` };
  }
  let session: InferenceSession;
  try {
    const options = toSessionOptions(runtime);
    session = await InferenceSession.create(variant, {
      ...options,
      // Loaded from bytes: external weights resolve in the original model's directory.
      extra: { ...(options.extra as object), session: { model_external_initializers_file_folder_path: dirname(model.spec.onnxPath) } },
    });
  } catch (error) {
    return { model, kvStrategy: 'resident', fallbackReason: `the engine graph did not load: ${(error as Error).message}` };
  }
  // Only one copy of the weights stays loaded.
  await model.session.release();
  return {
    model: new DecoderModel(model.spec, session, model.io, model.tokenizer, model.chatTemplate, model.specialTokens, model.vocabSize, model.usableVocabSize),
    kvStrategy: 'inplace',
  };
}
