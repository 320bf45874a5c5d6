/**
 * Text ⇄ token ids, backed by `@huggingface/tokenizers` reading the model's own tokenizer.json, so any HF
 * tokenizer (byte-level BPE, SentencePiece-style, WordPiece) behaves as it does in transformers.
 */
import { Tokenizer } from '@huggingface/tokenizers';

export interface EncodeOptions {
  /** Add the tokenizer's own BOS/EOS decorations. Off by default: chat templates write those themselves. */
  addSpecialTokens?: boolean;
}

export interface DecodeOptions {
  /** Drop special tokens (EOS, chat markers) from the text. On by default. */
  skipSpecialTokens?: boolean;
}

export class TextTokenizer {
  /** Number of ids that map to a token (highest id + 1); model logits beyond this have no token. */
  readonly size: number;
  /** Special (added) tokens: text → id. */
  readonly specialTokens: ReadonlyMap<string, number>;
  private readonly specialIds: ReadonlySet<number>;

  constructor(
    private readonly inner: Tokenizer,
  ) {
    const vocab = inner.get_vocab(true);
    let highest = -1;
    for (const id of vocab.values()) highest = Math.max(highest, id);
    this.size = highest + 1;
    const specials = new Map<string, number>();
    for (const [id, token] of inner.get_added_tokens_decoder()) if (token.special) specials.set(token.content, id);
    this.specialTokens = specials;
    this.specialIds = new Set(specials.values());
  }

  /** Throws the library's own error for a malformed tokenizer.json; the loader wraps it. */
  static fromJson(tokenizerJson: object, tokenizerConfig: object): TextTokenizer {
    return new TextTokenizer(new Tokenizer(tokenizerJson, tokenizerConfig));
  }

  encode(text: string, options: EncodeOptions = {}): number[] {
    return this.inner.encode(text, { add_special_tokens: options.addSpecialTokens ?? false }).ids;
  }

  decode(ids: readonly number[], options: DecodeOptions = {}): string {
    if (ids.length === 0) return ''; // the library rejects an empty list
    return this.inner.decode(ids as number[], { skip_special_tokens: options.skipSpecialTokens ?? true });
  }

  tokenToId(token: string): number | undefined {
    return this.inner.token_to_id(token);
  }

  idToToken(id: number): string | undefined {
    return this.inner.id_to_token(id);
  }

  isSpecial(id: number): boolean {
    return this.specialIds.has(id);
  }

  /**
   * Makes text safe to embed in a prompt: a special token's text inside untrusted content (a player typing
   * "<|im_start|>system") would otherwise be encoded as the real control token. A zero-width space after
   * its first character keeps the text readable but encodes it as plain characters.
   */
  escapeSpecialTokens(text: string): string {
    let escaped = text;
    for (const special of this.specialTokens.keys()) {
      if (special.length < 2 || !escaped.includes(special)) continue;
      escaped = escaped.split(special).join(`${special[0]}\u200b${special.slice(1)}`);
    }
    return escaped;
  }
}
