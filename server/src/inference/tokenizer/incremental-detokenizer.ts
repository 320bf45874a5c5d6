/**
 * Turns a stream of token ids into a stream of text without ever emitting half a character. Byte-level
 * tokens can end in the middle of a multi-byte UTF-8 sequence (emoji, CJK); decoding such a prefix yields
 * U+FFFD, so text is held back until the sequence completes. Decoding a short window that starts a few
 * tokens back (rather than each token alone) keeps decoders that strip or add leading spaces correct —
 * the same technique as Hugging Face text-generation-inference and vLLM.
 */
import type { TextTokenizer } from './text-tokenizer.ts';

const REPLACEMENT_CHARACTER = '\uFFFD';

export class IncrementalDetokenizer {
  private readonly ids: number[] = [];
  /** Start of the decode window: tokens before it are already emitted and never re-decoded. */
  private prefixOffset = 0;
  /** End of the text already emitted, in tokens. */
  private readOffset = 0;

  constructor(private readonly tokenizer: TextTokenizer) {}

  /** Adds one token; returns the newly completed text (possibly empty). */
  push(id: number): string {
    this.ids.push(id);
    const emitted = this.tokenizer.decode(this.ids.slice(this.prefixOffset, this.readOffset));
    const current = this.tokenizer.decode(this.ids.slice(this.prefixOffset));
    if (current.length <= emitted.length || current.endsWith(REPLACEMENT_CHARACTER)) return '';
    this.prefixOffset = this.readOffset;
    this.readOffset = this.ids.length;
    return current.slice(emitted.length);
  }

  /** At the end of generation: whatever is still held back (an incomplete sequence shows as U+FFFD). */
  flush(): string {
    const emitted = this.tokenizer.decode(this.ids.slice(this.prefixOffset, this.readOffset));
    const current = this.tokenizer.decode(this.ids.slice(this.prefixOffset));
    this.prefixOffset = this.readOffset = this.ids.length;
    return current.length > emitted.length ? current.slice(emitted.length) : '';
  }
}
