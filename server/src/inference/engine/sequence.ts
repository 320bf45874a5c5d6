/**
 * One request's life inside the worker: where it is in the pipeline, its prompt, the KV it owns and the
 * tokens it produced. The scheduler moves sequences between phases; the runner reads their KV; the engine
 * core samples and streams their tokens.
 */
import type { KvSpan } from './kv-cache.ts';
import type { PrefixEntry } from './prefix-cache.ts';
import { PRIORITY_RANK, type WireRequest } from './protocol.ts';

export type Phase =
  /** In the bounded queue, not admitted yet. */
  | 'waiting'
  /** Admitted; its shared prefix is being computed by a prefix job. */
  | 'awaiting-prefix'
  /** Admitted; prompt KV being computed chunk by chunk. */
  | 'prefilling'
  /** Prompt done, first token out; one token per decode step. */
  | 'decoding'
  | 'finished';

export type SequenceKind =
  /** A caller's generation request. */
  | 'request'
  /** Computes a shared prefix's KV once for the prefix cache; produces no tokens. */
  | 'prefix-job';

export class Sequence {
  readonly id: number;
  readonly kind: SequenceKind;
  readonly request: WireRequest;
  readonly priorityRank: number;
  readonly submittedAt: number;
  /** Epoch ms after which a sequence still without its first token is dropped. */
  readonly firstTokenDeadline: number;
  /** The full prompt (for a prefix job: the prefix). */
  readonly prompt: Int32Array;
  /** Leading prompt tokens that form the cacheable shared prefix (0 = none declared). */
  readonly sharedPrefixLength: number;
  /** The request's max tokens, clamped so prompt + output stays within the context. */
  readonly maxNewTokens: number;

  phase: Phase = 'waiting';
  admittedAt = NaN;
  /** Worst-case KV bytes booked at admission. */
  reservedBytes = 0;

  /**
   * KV read from the prefix cache, in token order, not owned: one span for a plain entry, the parent's then
   * the suffix's for a conversation entry stored on top of a shared prefix. Empty when nothing was reused.
   */
  sharedKv: KvSpan[] = [];
  /** KV this sequence computed itself; `count` may be below the block's capacity. */
  ownKv: KvSpan | null = null;
  /** Prompt tokens whose KV exists (equals the spans' total length while prefilling). */
  computed = 0;
  /** Prompt tokens served from the prefix cache. */
  cachedTokens = 0;
  /** Prefill plans that passed this prompt over while it was ready (shortest-first's starvation guard). */
  prefillPasses = 0;
  /** Prefix-cache entry this sequence reads (pinned while in use). */
  pinned: PrefixEntry | null = null;
  /**
   * Prefix-cache entry the prompt started from (not pinned: it outlives the pin, which goes once the KV is
   * in the decode batch, and may have been evicted since; check before use).
   */
  origin: PrefixEntry | null = null;

  /** Sampled tokens; the last one has no KV yet (it is the next decode step's input). */
  readonly generated: number[] = [];
  /** Prefix job this sequence waits for. */
  waitingFor: Sequence | null = null;
  /** Sequences waiting for this prefix job. */
  readonly dependents: Sequence[] = [];

  constructor(init: {
    id: number;
    kind: SequenceKind;
    request: WireRequest;
    submittedAt: number;
    prompt: Int32Array;
    sharedPrefixLength: number;
    contextLength: number;
  }) {
    this.id = init.id;
    this.kind = init.kind;
    this.request = init.request;
    this.priorityRank = PRIORITY_RANK[init.request.priority];
    this.submittedAt = init.submittedAt;
    this.firstTokenDeadline =
      init.request.firstTokenDeadlineMs === undefined ? Infinity : init.submittedAt + init.request.firstTokenDeadlineMs;
    this.prompt = init.prompt;
    this.sharedPrefixLength = init.sharedPrefixLength;
    this.maxNewTokens = Math.max(0, Math.min(init.request.maxTokens, init.contextLength - init.prompt.length));
  }

  /** The sequence's KV in token order, as spans. */
  get spans(): KvSpan[] {
    const spans: KvSpan[] = [...this.sharedKv];
    if (this.ownKv) spans.push(this.ownKv);
    return spans;
  }

  /** Leading tokens whose KV is read from `sharedKv`. */
  get sharedTokens(): number {
    let n = 0;
    for (const s of this.sharedKv) n += s.count;
    return n;
  }

  /** Bytes of KV this sequence holds privately. */
  get ownBytes(): number {
    return this.ownKv?.block.byteLength ?? 0;
  }

  /** Tokens of KV this sequence has (prompt so far, plus every generated token but the last). */
  get kvLength(): number {
    return this.phase === 'decoding' ? this.prompt.length + this.generated.length - 1 : this.computed;
  }

  get remainingPrompt(): number {
    return this.prompt.length - this.computed;
  }

  get hasFirstToken(): boolean {
    return this.generated.length > 0;
  }

  /** Tokens of KV it may need at most: the whole prompt plus every token it may generate. */
  get worstCaseTokens(): number {
    return this.kind === 'prefix-job' ? this.prompt.length : this.prompt.length + this.maxNewTokens;
  }
}
