/**
 * Turns one sequence's tokens into streamed text: incremental detokenization (never half a character) plus
 * stop strings. Text that might be the start of a stop string is held back until it is decided, so a stop
 * string never leaks into the stream and is never part of the result.
 */
import type { IncrementalDetokenizer } from '../tokenizer/index.ts';

export class TextStream {
  private pending = '';
  private emitted = '';
  stopped = false;

  constructor(
    private readonly detokenizer: IncrementalDetokenizer,
    private readonly stops: readonly string[],
  ) {}

  /** Feed one token; returns the text that is now safe to stream ('' while held back). */
  push(token: number): string {
    if (this.stopped) return '';
    return this.release(this.detokenizer.push(token), false);
  }

  /** End of generation: release whatever is still held back. */
  finish(): string {
    if (this.stopped) return '';
    return this.release(this.detokenizer.flush(), true);
  }

  /** Everything streamed so far. */
  get text(): string {
    return this.emitted;
  }

  private release(piece: string, final: boolean): string {
    this.pending += piece;
    let cut = -1;
    for (const stop of this.stops) {
      const at = this.pending.indexOf(stop);
      if (at >= 0 && (cut < 0 || at < cut)) cut = at;
    }
    if (cut >= 0) {
      this.stopped = true;
      return this.emit(this.pending.slice(0, cut));
    }
    const hold = final ? 0 : this.possibleStopStart();
    const out = this.pending.slice(0, this.pending.length - hold);
    this.pending = this.pending.slice(this.pending.length - hold);
    return this.emit(out);
  }

  private emit(text: string): string {
    this.emitted += text;
    return text;
  }

  /** Length of the longest tail of `pending` that is a proper prefix of some stop string. */
  private possibleStopStart(): number {
    let hold = 0;
    for (const stop of this.stops) {
      for (let k = Math.min(stop.length - 1, this.pending.length); k > hold; k--) {
        if (this.pending.endsWith(stop.slice(0, k))) {
          hold = k;
          break;
        }
      }
    }
    return hold;
  }
}
