/**
 * Writes tokenizer.json (HF tokenizers format: byte-level BPE, as GPT-2/SmolLM use) and the special-token and
 * chat-template parts of tokenizer_config.json. Special tokens take ids 0..2 as in SmolLM2, then the 256
 * byte symbols, then learned merges.
 */
import type { BpeVocabulary } from './bpe-trainer.ts';

export const SPECIAL_TOKENS = {
  endOfText: '<|endoftext|>',
  turnStart: '<|im_start|>',
  turnEnd: '<|im_end|>',
} as const;

const SPECIALS_IN_ID_ORDER = [SPECIAL_TOKENS.endOfText, SPECIAL_TOKENS.turnStart, SPECIAL_TOKENS.turnEnd];

/**
 * ChatML with exactly the roles Worldmind uses. Unknown roles raise instead of rendering something the model
 * never saw in training.
 */
export const CHAT_TEMPLATE = [
  "{%- for message in messages %}",
  "{%- if message['role'] not in ['system', 'user', 'assistant'] %}",
  "{{- raise_exception('Unsupported chat role: ' + message['role']) }}",
  "{%- endif %}",
  "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}",
  "{%- endfor %}",
  "{%- if add_generation_prompt %}",
  "{{- '<|im_start|>assistant\\n' }}",
  "{%- endif %}",
].join('');

export interface TokenizerIds {
  endOfText: number;
  turnStart: number;
  turnEnd: number;
  /** Ids 0..size-1 all have a token. */
  size: number;
}

export interface TokenizerFiles {
  tokenizerJson: object;
  tokenizerConfig: Record<string, unknown>;
  ids: TokenizerIds;
}

export function tokenizerFiles(bpe: BpeVocabulary, contextLength: number): TokenizerFiles {
  const vocab: Record<string, number> = {};
  const all = [...SPECIALS_IN_ID_ORDER, ...bpe.tokens];
  all.forEach((token, id) => {
    vocab[token] = id;
  });
  const addedTokens = SPECIALS_IN_ID_ORDER.map((content, id) => ({
    id,
    content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
    special: true,
  }));
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
  const tokenizerJson = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: addedTokens,
    normalizer: null,
    pre_tokenizer: byteLevel,
    post_processor: byteLevel,
    decoder: byteLevel,
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab,
      merges: bpe.merges.map(([left, right]) => `${left} ${right}`),
    },
  };
  const tokenizerConfig = {
    tokenizer_class: 'GPT2Tokenizer',
    add_bos_token: false,
    add_eos_token: false,
    add_prefix_space: false,
    clean_up_tokenization_spaces: false,
    model_max_length: contextLength,
    bos_token: SPECIAL_TOKENS.endOfText,
    eos_token: SPECIAL_TOKENS.turnEnd,
    pad_token: SPECIAL_TOKENS.endOfText,
    unk_token: SPECIAL_TOKENS.endOfText,
    additional_special_tokens: [SPECIAL_TOKENS.turnStart, SPECIAL_TOKENS.turnEnd],
    added_tokens_decoder: Object.fromEntries(addedTokens.map(({ id, ...token }) => [String(id), token])),
    chat_template: CHAT_TEMPLATE,
  };
  return {
    tokenizerJson,
    tokenizerConfig,
    ids: { endOfText: 0, turnStart: 1, turnEnd: 2, size: all.length },
  };
}
