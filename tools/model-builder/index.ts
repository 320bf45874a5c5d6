/** Public API of the model builder, for the CLI, tests, benchmarks and (later) the trainer. */
export { buildModelDirectory, parseArchitecture, type BuildModelOptions, type BuiltModel } from './build-model-dir.ts';
export {
  LlamaArchitectureSchema,
  headDimOf,
  type LlamaArchitecture,
  type LlamaArchitectureInput,
} from './architecture.ts';
export { PRESETS, isPresetName, readArchitectureFile, type PresetName } from './presets.ts';
export { randomLlamaWeights, validateWeights, weightShapes, type LlamaWeights, type LlamaLayerWeights } from './weights.ts';
export { trainByteLevelBpe, type BpeVocabulary } from './tokenizer/bpe-trainer.ts';
export { EMBEDDED_CORPUS } from './tokenizer/corpus.ts';
export { CHAT_TEMPLATE, SPECIAL_TOKENS } from './tokenizer/tokenizer-files.ts';
