export {
  generate,
  streamGenerate,
  promptTokens,
  type GenerationPrompt,
  type GenerationRequest,
  type GenerationResult,
  type TokenEvent,
} from './single-sequence.ts';
