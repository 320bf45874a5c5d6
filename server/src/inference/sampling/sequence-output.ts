/**
 * One sequence's reply as it grows: token ids in, text deltas and the finish decision out. Combines the
 * incremental detokenizer with EOS, stop strings and max tokens, so the single-sequence generator and the
 * batching scheduler end replies by exactly the same rules.
 */
import { IncrementalDetokenizer, type TextTokenizer } from '../tokenizer/index.ts';
import { StopStringMatcher } from './stop-strings.ts';

/** 'stop': EOS or a stop string; 'length': max tokens or the context is full; 'aborted': cancelled. */
export type FinishReason = 'stop' | 'length' | 'aborted';

export interface SequenceOutputOptions {
  eosTokenIds: readonly number[];
  maxTokens: number;
  stop?: readonly string[];
}

export interface AcceptResult {
  /** Text to show now (possibly empty: held back mid-character or as a possible stop string). */
  text: string;
  /** Set when the reply is over. */
  finishReason?: FinishReason;
}

export class SequenceOutput {
  /** Reply token ids (EOS excluded). */
  readonly tokens: number[] = [];
  private emitted = '';
  private finished: FinishReason | undefined;
  private readonly detokenizer: IncrementalDetokenizer;
  private readonly stops: StopStringMatcher;

  constructor(
    tokenizer: TextTokenizer,
    private readonly options: SequenceOutputOptions,
  ) {
    this.detokenizer = new IncrementalDetokenizer(tokenizer);
    this.stops = new StopStringMatcher(options.stop ?? []);
  }

  get text(): string {
    return this.emitted;
  }

  get finishReason(): FinishReason | undefined {
    return this.finished;
  }

  accept(id: number): AcceptResult {
    if (this.finished) throw new Error(`accept(${id}) after the reply finished (${this.finished}).`);
    if (this.options.eosTokenIds.includes(id)) return this.finish('stop');
    this.tokens.push(id);
    const matched = this.stops.push(this.detokenizer.push(id));
    if (matched.stopped) {
      this.finished = 'stop';
      return { text: this.record(matched.text), finishReason: 'stop' };
    }
    const text = this.record(matched.text);
    if (this.tokens.length >= this.options.maxTokens) {
      const rest = this.finish('length');
      return { text: text + rest.text, finishReason: 'length' };
    }
    return { text };
  }

  /** Ends the reply for an outside reason (context full, cancelled) and releases held-back text. */
  finish(reason: FinishReason): AcceptResult {
    if (this.finished) return { text: '', finishReason: this.finished };
    this.finished = reason;
    const tail = this.stops.push(this.detokenizer.flush());
    const text = tail.stopped ? tail.text : tail.text + this.stops.flush();
    return { text: this.record(text), finishReason: reason };
  }

  private record(text: string): string {
    this.emitted += text;
    return text;
  }
}
