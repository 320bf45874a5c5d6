/**
 * The scheduler decides; it never touches tensors. Between two engine steps it
 *  - rejects what can never fit and bounds the queue (shedding lower-priority work first),
 *  - drops requests whose first-token deadline passed,
 *  - admits waiting requests by priority while batch slots and KV memory allow,
 *  - plans the next step: every decoding sequence gets one token, prefill chunks share the rest of the
 *    per-step token budget (chunked prefill: a long prompt never stalls the running decodes for long).
 *
 * Why a step is (up to) two `session.run`s: the graph takes `input_ids [B,S]` with one S for the whole
 * batch, so a decode row (1 token) batched with a prefill chunk (S tokens) would be padded to S and cost S
 * tokens of compute. Decodes therefore run together at S = 1 and prefill chunks together at their own S.
 */
import { EngineError } from './errors.ts';
import type { Sequence } from './sequence.ts';

export interface SchedulerLimits {
  maxBatchSize: number;
  maxQueue: number;
  stepTokenBudget: number;
  minPrefillChunk: number;
  /** Share of batch slots ambient requests may fill, so interactive ones always find room. */
  ambientShare: number;
  contextLength: number;
  kvBudgetBytes: number;
  kvBytesPerToken: number;
  /**
   * Order of admitted prompts within a priority when planning prefill: `shortest` (fewest uncached prompt
   * tokens left first, so the most first tokens come out per prefill token; a prompt passed over
   * `PREFILL_PASSES_BEFORE_FIRST` times goes first, so none starves) or `admission` (default here).
   */
  prefillOrder?: 'shortest' | 'admission';
  /**
   * While admitted prompts wait for their first token, decode runs may take at most this share of the
   * prefill time spent since they started waiting (decode runs are skipped until it is earned back), so
   * the last first token of a burst comes after the prompts' own compute plus this share. Only prompts at
   * least as urgent as the most urgent decoding row defer it. Unset: a decode run every step.
   */
  decodeShareWhilePrefilling?: number;
}

/** Weight of the previous decode runs in the run-time fit, per run (about the last ten runs count). */
const DECODE_FIT_DECAY = 0.9;

/** Plans a ready prompt may be passed over under `prefillOrder: 'shortest'` before it goes first. */
export const PREFILL_PASSES_BEFORE_FIRST = 8;

/** Books worst-case KV for admitted sequences (the engine core frees prefix-cache memory to make room). */
export interface KvLedger {
  tryReserve(bytes: number): boolean;
  /** Whether `bytes` could be reserved now (evicting prefix-cache entries if needed), without reserving. */
  canReserve(bytes: number): boolean;
  release(bytes: number): void;
}

export interface PrefillChunk {
  seq: Sequence;
  /** Prompt tokens this step computes for the sequence. */
  tokens: number;
}

export interface StepPlan {
  decode: Sequence[];
  prefill: PrefillChunk[];
  /** S of the prefill run: every prefill row is padded to this many tokens. */
  prefillWidth: number;
}

export interface EnqueueOutcome {
  /** Set when the new request is refused. */
  rejected?: EngineError;
  /** A queued lower-priority request that lost its place to the new one. */
  shed?: Sequence;
}

const AMBIENT_RANK = 1;

export class Scheduler {
  /** Sorted: priority rank, then arrival. */
  readonly waiting: Sequence[] = [];
  /** Admitted, prompt not done (includes those awaiting a prefix job). */
  readonly prefilling: Sequence[] = [];
  readonly decoding: Sequence[] = [];
  /** Run time since prompts began waiting for first tokens (reset once none waits): the decode share's ledger. */
  private readonly firstTokenWindow = { decodeMs: 0, prefillMs: 0 };
  /** Recent decode runs (rows → ms), exponentially weighted: what the next decode run will cost. */
  private readonly decodeFit = { w: 0, x: 0, y: 0, xx: 0, xy: 0 };
  constructor(
    readonly limits: SchedulerLimits,
    private readonly ledger: KvLedger,
  ) {}

  /** The queue is stuck on KV memory (not on batch slots): the head's worst case doesn't fit now. */
  private blockedByKv(): boolean {
    const head = this.waiting[0];
    if (!head || this.admittedCount >= this.limits.maxBatchSize) return false;
    return !this.ledger.canReserve(head.worstCaseTokens * this.limits.kvBytesPerToken);
  }

  get admittedCount(): number {
    return this.prefilling.length + this.decoding.length;
  }

  /** Check a new request against hard limits and the queue bound, then queue it. */
  enqueue(seq: Sequence): EnqueueOutcome {
    const never = this.neverFits(seq);
    if (never) return { rejected: never };
    let shed: Sequence | undefined;
    if (this.waiting.length >= this.limits.maxQueue) {
      const worst = this.waiting[this.waiting.length - 1];
      if (!worst || worst.priorityRank <= seq.priorityRank) {
        return {
          rejected:
            this.blockedByKv()
              ? new EngineError(
                  'kv-exhausted',
                  `KV memory is fully booked by running requests and ${this.limits.maxQueue} are waiting; retry later.`,
                )
              : new EngineError('queue-full', `Inference queue is full (${this.limits.maxQueue} waiting); retry later.`),
        };
      }
      shed = worst;
      this.remove(worst);
    }
    seq.phase = 'waiting';
    this.insertWaiting(seq);
    return shed ? { shed } : {};
  }

  /** Why a request can never run on this engine, or null. */
  neverFits(seq: Sequence): EngineError | null {
    const { contextLength, kvBudgetBytes, kvBytesPerToken } = this.limits;
    if (seq.prompt.length === 0) return new EngineError('invalid-request', 'The prompt is empty.');
    if (seq.prompt.length >= contextLength) {
      return new EngineError(
        'never-fits',
        `The prompt has ${seq.prompt.length} tokens but the model's context is ${contextLength}; it can never fit.`,
      );
    }
    // Admission books the worst case (prompt + max tokens); a request whose worst case exceeds the whole
    // budget would wait forever, so it is refused now.
    const worstBytes = seq.worstCaseTokens * kvBytesPerToken;
    if (worstBytes > kvBudgetBytes) {
      return new EngineError(
        'never-fits',
        `The prompt (${seq.prompt.length} tokens) plus ${seq.maxNewTokens} max tokens need ${worstBytes} bytes of KV but the engine's whole KV budget is ${kvBudgetBytes}; it can never fit (lower maxTokens or shorten the prompt).`,
      );
    }
    return null;
  }

  /** Remove and return every sequence whose first token is now overdue. */
  expire(now: number): Sequence[] {
    const overdue: Sequence[] = [];
    for (const list of [this.waiting, this.prefilling]) {
      for (const seq of list) if (!seq.hasFirstToken && now > seq.firstTokenDeadline) overdue.push(seq);
    }
    for (const seq of overdue) this.remove(seq);
    return overdue;
  }

  /**
   * Admit waiting sequences in priority order while batch slots and KV allow. Strict order: a big request
   * at the head is not overtaken by smaller ones behind it (no starvation).
   */
  admit(now: number): Sequence[] {
    const ledger = this.ledger;
    const admitted: Sequence[] = [];
    const ambientSlots = Math.max(1, Math.floor(this.limits.maxBatchSize * this.limits.ambientShare));
    while (this.waiting.length > 0 && this.admittedCount < this.limits.maxBatchSize) {
      const head = this.waiting[0]!;
      if (head.priorityRank >= AMBIENT_RANK && this.admittedAmbient() >= ambientSlots) {
        // Ambient work is capped; interactive requests behind it can still go.
        const interactive = this.waiting.find((s) => s.priorityRank < AMBIENT_RANK);
        if (!interactive) break;
        if (!this.book(interactive, ledger, now)) break;
        admitted.push(interactive);
        continue;
      }
      if (!this.book(head, ledger, now)) break;
      admitted.push(head);
    }
    return admitted;
  }

  /**
   * Plan the next step within the per-step token budget. Prefill rows share one width S (the graph takes one
   * S per run), so the plan picks how many of the next prompts (priority order, then shortest first or
   * admission order) to run together: the count whose chunks carry the most real (unpadded) tokens within
   * the budget, counting each prompt it finishes (a first token now, no small leftover chunk later) as
   * `minPrefillChunk` tokens more. The decode run is skipped while it has used up its share of the time
   * prompts spend waiting for their first token (`decodeShareWhilePrefilling`).
   */
  plan(): StepPlan {
    let decode = this.decoding.slice();
    let ready = this.prefilling.filter((s) => s.phase === 'prefilling' && s.remainingPrompt > 0);
    if (this.interactiveWaiting()) {
      const interactive = ready.filter((s) => effectiveRank(s) < AMBIENT_RANK);
      // Ambient prefill waits for the player's turn. The one exception: nothing else could run at all, so
      // only ambient progress can free the KV or batch slot the waiting request needs (no deadlock).
      if (interactive.length > 0 || decode.length > 0) ready = interactive;
    }
    if (ready.length === 0) {
      this.firstTokenWindow.decodeMs = this.firstTokenWindow.prefillMs = 0;
      return { decode, prefill: [], prefillWidth: 0 };
    }
    if (this.limits.prefillOrder === 'shortest') {
      // Priority, then the prompts passed over too often, then fewest tokens left, then admission order.
      ready.sort(
        (a, b) =>
          effectiveRank(a) - effectiveRank(b) ||
          Number(b.prefillPasses >= PREFILL_PASSES_BEFORE_FIRST) - Number(a.prefillPasses >= PREFILL_PASSES_BEFORE_FIRST) ||
          a.remainingPrompt - b.remainingPrompt,
      );
    } else {
      // Interactive prompts first, then admission order (stable sort).
      ready.sort((a, b) => effectiveRank(a) - effectiveRank(b));
    }
    if (this.defersDecode(decode, ready)) decode = [];
    const budget = Math.max(this.limits.minPrefillChunk, this.limits.stepTokenBudget - decode.length);
    let best = { rows: 1, width: Math.min(ready[0]!.remainingPrompt, budget), score: -1 };
    let longest = 0;
    for (let rows = 1; rows <= Math.min(ready.length, budget); rows++) {
      longest = Math.max(longest, ready[rows - 1]!.remainingPrompt);
      const width = Math.min(longest, Math.floor(budget / rows));
      let score = 0;
      for (let i = 0; i < rows; i++) {
        const remaining = ready[i]!.remainingPrompt;
        score += Math.min(remaining, width) + (remaining <= width ? this.limits.minPrefillChunk : 0);
      }
      if (score > best.score) best = { rows, width, score };
    }
    const prefill = ready.slice(0, best.rows).map((seq) => ({ seq, tokens: Math.min(seq.remainingPrompt, best.width) }));
    for (let i = best.rows; i < ready.length; i++) ready[i]!.prefillPasses++;
    return { decode, prefill, prefillWidth: best.width };
  }

  /**
   * Whether this step's decode run waits: prompts at least as urgent as the most urgent decoding row are
   * waiting for their first token, and this run (its time estimated from recent runs, see
   * `estimateDecodeMs`) would take decode runs to their share of the prefill time since the window began
   * (strictly below it, so a prompt that arrives while rows decode is prefilled first).
   */
  private defersDecode(decode: Sequence[], ready: Sequence[]): boolean {
    const share = this.limits.decodeShareWhilePrefilling;
    const window = this.firstTokenWindow;
    const urgent = decode.reduce((rank, s) => Math.min(rank, s.priorityRank), Infinity);
    if (share === undefined || share >= 1 || decode.length === 0 || !ready.some((s) => effectiveRank(s) <= urgent)) {
      // Nothing to hold back (or nothing decodes yet): the window starts with this step's prefill.
      window.decodeMs = window.prefillMs = 0;
      return false;
    }
    return !(window.decodeMs + this.estimateDecodeMs(decode.length) < share * window.prefillMs);
  }

  /**
   * A decode run's time at `rows`, from a line fitted through recent runs (rows → ms, older runs weigh
   * less): a run costs a fixed part (weights read once) plus a part per row, and a burst's batch grows run
   * by run, so the last run's time alone underestimates the next. The slope is kept between 0 and the
   * proportional one (ms ÷ rows); with one batch size seen so far, half of that. 0 before any decode run.
   */
  estimateDecodeMs(rows: number): number {
    const f = this.decodeFit;
    if (f.w === 0) return 0;
    const mx = f.x / f.w;
    const my = f.y / f.w;
    const variance = f.xx / f.w - mx * mx;
    const proportional = my / mx;
    const slope = variance > 0.25 ? Math.min(proportional, Math.max(0, (f.xy / f.w - mx * my) / variance)) : proportional / 2;
    return Math.max(0, my + slope * (rows - mx));
  }

  /** The engine reports each run's time: it feeds the decode share while prompts wait for first tokens. */
  recordRun(kind: 'decode' | 'prefill', ms: number, rows = 1): void {
    if (kind === 'prefill') {
      this.firstTokenWindow.prefillMs += ms;
      return;
    }
    this.firstTokenWindow.decodeMs += ms;
    const f = this.decodeFit;
    f.w = DECODE_FIT_DECAY * f.w + 1;
    f.x = DECODE_FIT_DECAY * f.x + rows;
    f.y = DECODE_FIT_DECAY * f.y + ms;
    f.xx = DECODE_FIT_DECAY * f.xx + rows * rows;
    f.xy = DECODE_FIT_DECAY * f.xy + rows * ms;
  }

  /** Put an engine-internal sequence (a prefix job) straight into the admitted set. */
  addAdmitted(seq: Sequence, now: number): void {
    seq.admittedAt = now;
    seq.phase = 'prefilling';
    this.prefilling.push(seq);
  }

  startDecoding(seq: Sequence): void {
    removeFrom(this.prefilling, seq);
    seq.phase = 'decoding';
    this.decoding.push(seq);
  }

  /** Take a sequence out of whichever list holds it (finish, cancel, drop). */
  remove(seq: Sequence): void {
    removeFrom(this.waiting, seq) || removeFrom(this.prefilling, seq) || removeFrom(this.decoding, seq);
  }

  /** Position in the queue (0 = next), or -1. */
  queuePosition(seq: Sequence): number {
    return this.waiting.indexOf(seq);
  }

  private book(seq: Sequence, ledger: KvLedger, now: number): boolean {
    const bytes = seq.worstCaseTokens * this.limits.kvBytesPerToken;
    if (!ledger.tryReserve(bytes)) return false;
    removeFrom(this.waiting, seq);
    seq.reservedBytes = bytes;
    seq.admittedAt = now;
    seq.phase = 'prefilling';
    this.prefilling.push(seq);
    return true;
  }

  /** An interactive request is queued, or admitted without its first token yet (prefilling or awaiting a prefix). */
  interactiveWaiting(): boolean {
    if (this.waiting.some((s) => s.priorityRank < AMBIENT_RANK)) return true;
    return this.prefilling.some((s) => s.kind === 'request' && s.priorityRank < AMBIENT_RANK && !s.hasFirstToken);
  }

  private admittedAmbient(): number {
    let n = 0;
    for (const s of this.prefilling) if (s.priorityRank >= AMBIENT_RANK) n++;
    for (const s of this.decoding) if (s.priorityRank >= AMBIENT_RANK) n++;
    return n;
  }

  private insertWaiting(seq: Sequence): void {
    let i = this.waiting.length;
    while (i > 0 && this.waiting[i - 1]!.priorityRank > seq.priorityRank) i--;
    this.waiting.splice(i, 0, seq);
  }
}

/**
 * A prefix job computes KV for whoever waits on it: started by an ambient request, it still counts as
 * interactive once an interactive request depends on it (else that request would wait on ambient work).
 */
function effectiveRank(seq: Sequence): number {
  if (seq.kind === 'prefix-job' && seq.dependents.some((d) => d.priorityRank < seq.priorityRank)) return Math.min(...seq.dependents.map((d) => d.priorityRank));
  return seq.priorityRank;
}

function removeFrom(list: Sequence[], seq: Sequence): boolean {
  const i = list.indexOf(seq);
  if (i < 0) return false;
  list.splice(i, 1);
  return true;
}
