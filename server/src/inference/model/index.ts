/** Public API of the model layer: load a model directory and run decoder steps on it. */
export { loadModel } from './loader.ts';
export { loadModelText, readModelText, renderChat, renderPrompt, hashModelFiles, type ModelText } from './model-text.ts';
export {
  DecoderModel,
  type DecoderStepInput,
  type DecoderStepOutput,
  type SpecialTokenIds,
} from './decoder-model.ts';
export { emptyKvCache, type KvCache, type KvGeometry } from './kv-cache.ts';
export { ModelLoadError, type ModelLoadFailure } from './errors.ts';
export type { ModelRuntimeOptions } from './runtime-options.ts';
export type { ModelSpec, GenerationDefaults } from './model-spec.ts';
export type { DecoderIo, KvDtype, LayerCacheNames } from './session-io.ts';
export { halfBitsToFloat, halfArrayToFloat32, floatToHalfBits } from './float16.ts';
export * as modelFormat from './format.ts';
