export { TextTokenizer, type EncodeOptions, type DecodeOptions } from './text-tokenizer.ts';
export {
  ChatTemplate,
  ChatTemplateError,
  type ChatMessage,
  type ChatRole,
  type RenderOptions,
} from './chat-template.ts';
export { IncrementalDetokenizer } from './incremental-detokenizer.ts';
export { SharedPrefixTokenizer, PromptPrefixMismatch, type PromptTokens } from './shared-prefix.ts';
