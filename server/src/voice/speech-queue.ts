/**
 * A bounded work queue for speech jobs: at most `workers` engine processes at once, at most `maxQueued`
 * jobs waiting, and a job that has waited longer than `maxWaitMs` is dropped instead of started. Speech
 * that comes late is worse than none (the text is already on screen), so under load callers get a
 * refusal at once and the NPC stays text-only.
 */

export class SpeechQueueFull extends Error {
  override name = 'SpeechQueueFull';
  constructor(
    message: string,
    /** 'full': no room to queue; 'late': waited past maxWaitMs; 'aborted': its signal fired while it waited. */
    readonly reason: 'full' | 'late' | 'aborted',
  ) {
    super(message);
  }
}

interface Waiting {
  run: () => void;
  reject: (e: Error) => void;
  queuedAt: number;
}

export interface SpeechQueueStats {
  running: number;
  queued: number;
  refusedFull: number;
  refusedLate: number;
}

export class SpeechQueue {
  #running = 0;
  readonly #waiting: Waiting[] = [];
  readonly stats: SpeechQueueStats = { running: 0, queued: 0, refusedFull: 0, refusedLate: 0 };

  constructor(
    readonly name: string,
    private readonly workers: number,
    private readonly maxQueued: number,
    private readonly maxWaitMs: number,
  ) {}

  /** Would a job submitted now be refused for lack of room? */
  get full(): boolean {
    return this.#running >= this.workers && this.#waiting.length >= this.maxQueued;
  }

  /** Runs `job` when a worker is free; rejects with SpeechQueueFull when it cannot be run in time. */
  submit<T>(job: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const start = () => {
        this.#running++;
        this.#sync();
        job().then(resolve, reject).finally(() => {
          this.#running--;
          this.#next();
        });
      };
      if (this.#running < this.workers) return start();
      if (this.#waiting.length >= this.maxQueued) {
        this.stats.refusedFull++;
        return reject(new SpeechQueueFull(`${this.name}: ${this.#waiting.length} jobs already waiting`, 'full'));
      }
      const entry: Waiting = { run: start, reject, queuedAt: performance.now() };
      this.#waiting.push(entry);
      this.#sync();
      signal?.addEventListener('abort', () => {
        const i = this.#waiting.indexOf(entry);
        if (i >= 0) {
          this.#waiting.splice(i, 1);
          this.#sync();
          reject(new SpeechQueueFull(`${this.name}: cancelled while waiting`, 'aborted'));
        }
      }, { once: true });
    });
  }

  #next(): void {
    while (this.#running < this.workers && this.#waiting.length > 0) {
      const entry = this.#waiting.shift()!;
      if (performance.now() - entry.queuedAt > this.maxWaitMs) {
        this.stats.refusedLate++;
        entry.reject(new SpeechQueueFull(`${this.name}: waited more than ${this.maxWaitMs} ms`, 'late'));
        continue;
      }
      entry.run();
    }
    this.#sync();
  }

  #sync(): void {
    this.stats.running = this.#running;
    this.stats.queued = this.#waiting.length;
  }
}
