/**
 * The caller's handle on one request: an async iterable of streamed tokens plus a promise of the final
 * result. Fed by the engine client as messages arrive from the worker.
 */
import { EngineError } from './errors.ts';
import type { FinishReason, GenerationResult } from './protocol.ts';

export interface TokenChunk {
  /** The sampled token id; null for text held back until the end (released when generation finishes). */
  token: number | null;
  /** New printable text ('' while a multi-byte character or a possible stop string is held back). */
  text: string;
}

export interface GenerationEnd {
  finishReason: FinishReason;
  finalText: string;
  promptTokens: number;
  cachedPromptTokens: number;
  queueMs: number;
}

export class Generation implements AsyncIterable<TokenChunk> {
  readonly id: number;
  /** Resolves when the request completes; rejects with an `EngineError` (its `retryable` says what to do). */
  readonly result: Promise<GenerationResult>;

  private readonly startedAt = performance.now();
  private firstTokenAt = NaN;
  private lastTokenAt = NaN;
  private readonly gaps: number[] = [];
  private readonly tokens: number[] = [];
  private text = '';
  private settled = false;

  private readonly buffered: TokenChunk[] = [];
  private readonly waiters: Array<{ resolve: (r: IteratorResult<TokenChunk>) => void; reject: (e: unknown) => void }> = [];
  private ended = false;
  private error: EngineError | null = null;
  private resolveResult!: (r: GenerationResult) => void;
  private rejectResult!: (e: unknown) => void;

  constructor(
    id: number,
    private readonly onCancel: (generation: Generation) => void,
  ) {
    this.id = id;
    this.result = new Promise<GenerationResult>((resolve, reject) => {
      this.resolveResult = resolve;
      this.rejectResult = reject;
    });
    // Callers that only iterate must not trigger an unhandled rejection; awaiting `result` still throws.
    this.result.catch(() => {});
  }

  get isSettled(): boolean {
    return this.settled;
  }

  /** Stop generating; frees the request's KV in the engine. The result rejects with code `aborted`. */
  cancel(): void {
    if (this.settled) return;
    this.onCancel(this);
    this.fail(new EngineError('aborted', 'The request was aborted by its caller.'));
  }

  /** @internal one streamed token, as received. */
  pushToken(token: number, text: string, at: number): void {
    if (this.settled) return;
    if (Number.isNaN(this.firstTokenAt)) this.firstTokenAt = at;
    else this.gaps.push(at - this.lastTokenAt);
    this.lastTokenAt = at;
    this.tokens.push(token);
    this.text += text;
    this.deliver({ token, text });
  }

  /** @internal */
  complete(end: GenerationEnd): GenerationResult {
    const now = performance.now();
    this.text += end.finalText;
    if (end.finalText) this.deliver({ token: null, text: end.finalText });
    const result: GenerationResult = {
      text: this.text,
      tokens: this.tokens.slice(),
      finishReason: end.finishReason,
      promptTokens: end.promptTokens,
      cachedPromptTokens: end.cachedPromptTokens,
      timings: {
        queueMs: end.queueMs,
        ttftMs: this.firstTokenAt - this.startedAt,
        interTokenMs: this.gaps.slice(),
        totalMs: now - this.startedAt,
      },
    };
    this.settled = true;
    this.ended = true;
    this.resolveResult(result);
    this.drain();
    return result;
  }

  /** @internal */
  fail(error: EngineError): void {
    if (this.settled) return;
    this.settled = true;
    this.error = error;
    this.rejectResult(error);
    this.drain();
  }

  [Symbol.asyncIterator](): AsyncIterator<TokenChunk> {
    return {
      next: () => {
        const chunk = this.buffered.shift();
        if (chunk) return Promise.resolve({ value: chunk, done: false });
        if (this.error) return Promise.reject(this.error);
        if (this.ended) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
      },
      return: () => {
        // Breaking out of a for-await loop early means the caller no longer wants the rest.
        if (!this.settled) this.cancel();
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }

  private deliver(chunk: TokenChunk): void {
    const waiter = this.waiters.shift();
    if (waiter) waiter.resolve({ value: chunk, done: false });
    else this.buffered.push(chunk);
  }

  private drain(): void {
    for (const waiter of this.waiters.splice(0)) {
      if (this.error) waiter.reject(this.error);
      else waiter.resolve({ value: undefined, done: true });
    }
  }
}
