/**
 * One conversation turn on the client: buffers streamed chunks for an async iterator and settles a
 * result promise. Every wait is bounded: no reply start within `startTimeoutMs`, or no end within
 * `turnTimeoutMs`, fails the turn with a clear error.
 */
import type { ErrorReply, NpcChunk, NpcTurnEnd } from '@worldmind/shared';
import type { TalkChunk, TalkResult, TalkTurn } from './types.ts';

export class TalkError extends Error {
  override name = 'TalkError';
  constructor(
    message: string,
    /** Server error code (too_far, busy, rate_limited, moderated, unknown_npc, …) or 'timeout' / 'disconnected'. */
    readonly code: string,
  ) {
    super(message);
  }
}

export class PendingTalk implements TalkTurn {
  readonly result: Promise<TalkResult>;
  turnId = '';
  readonly #chunks: TalkChunk[] = [];
  readonly #waiters: Array<(r: IteratorResult<TalkChunk>) => void> = [];
  #done = false;
  #error: TalkError | undefined;
  #resolve!: (r: TalkResult) => void;
  #reject!: (e: TalkError) => void;
  #timer: ReturnType<typeof setTimeout>;
  readonly #sentAt = performance.now();
  #firstChunkAt = Number.NaN;
  #transcript: string | undefined;

  constructor(
    readonly npcId: string,
    readonly ref: string,
    private readonly timeouts: { startTimeoutMs: number; turnTimeoutMs: number },
    private readonly onSettled: () => void,
  ) {
    this.result = new Promise((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    this.result.catch(() => undefined); // iterating callers see the error there instead
    this.#timer = setTimeout(() => this.fail(new TalkError(`no reply from NPC "${npcId}" within ${timeouts.startTimeoutMs} ms`, 'timeout')), timeouts.startTimeoutMs);
  }

  started(turnId: string, transcript?: string): void {
    this.turnId = turnId;
    if (transcript !== undefined) this.#transcript = transcript;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.fail(new TalkError(`NPC "${this.npcId}" did not finish within ${this.timeouts.turnTimeoutMs} ms`, 'timeout')), this.timeouts.turnTimeoutMs);
  }

  chunk(message: NpcChunk): void {
    if (this.#done) return;
    if (Number.isNaN(this.#firstChunkAt)) this.#firstChunkAt = performance.now();
    this.#push({ text: message.text });
  }

  end(message: NpcTurnEnd): void {
    if (this.#done) return;
    this.#finish();
    const firstChunkMs = (Number.isNaN(this.#firstChunkAt) ? performance.now() : this.#firstChunkAt) - this.#sentAt;
    this.#resolve({
      turnId: message.turnId,
      text: message.text,
      action: message.action,
      finishReason: message.finishReason,
      firstChunkMs,
      ...(message.tokens !== undefined ? { tokens: message.tokens } : {}),
      ...(message.ttftMs !== undefined ? { ttftMs: message.ttftMs } : {}),
      ...(message.durationMs !== undefined ? { durationMs: message.durationMs } : {}),
      ...(this.#transcript !== undefined ? { transcript: this.#transcript } : {}),
    });
  }

  rejected(error: ErrorReply): void {
    this.fail(new TalkError(error.message, error.code));
  }

  fail(error: TalkError): void {
    if (this.#done) return;
    this.#error = error;
    this.#finish();
    this.#reject(error);
  }

  [Symbol.asyncIterator](): AsyncIterator<TalkChunk> {
    return {
      next: () => {
        const chunk = this.#chunks.shift();
        if (chunk) return Promise.resolve({ value: chunk, done: false });
        if (this.#done) return this.#error ? Promise.reject(this.#error) : Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve, reject) => {
          this.#waiters.push((r) => (r.done && this.#error ? reject(this.#error) : resolve(r)));
        });
      },
    };
  }

  #push(chunk: TalkChunk): void {
    const waiter = this.#waiters.shift();
    if (waiter) waiter({ value: chunk, done: false });
    else this.#chunks.push(chunk);
  }

  #finish(): void {
    this.#done = true;
    clearTimeout(this.#timer);
    for (const waiter of this.#waiters.splice(0)) waiter({ value: undefined, done: true });
    this.onSettled();
  }
}
