/**
 * The engine inside the worker: owns the scheduler, the runner, the prefix cache and every live sequence,
 * and runs one iteration per `step()`:
 *
 *   expire deadlines → admit by priority → plan → decode run (all decoding rows, S = 1; skipped while it
 *                    has used its share of the time prompts wait for first tokens)
 *                    → prefill run (chunks within the token budget) → stream the step's tokens.
 *
 * It talks to the outside world only through a `CoreSink` (the worker wires it to postMessage), so it can
 * also be driven in-process.
 */
import type { DecoderModel } from '../model/index.ts';
import { NoAllowedTokenError, Sampler, SequenceOutput } from '../sampling/index.ts';
import { PromptPrefixMismatch, SharedPrefixTokenizer } from '../tokenizer/index.ts';
import type { ConstraintContext, TokenConstraint } from './constraint-spec.ts';
import { createConstraint } from './constraints.ts';
import { EngineError } from './errors.ts';
import { compactSpans, kvBytesPerToken, type KvBlock, type KvLayout } from './kv-cache.ts';
import { ThroughputWindow, type EngineMetrics, type StepStats } from './metrics.ts';
import { PrefixCache, type PrefixEntry, type PrefixMatch } from './prefix-cache.ts';
import type { DoneMessage, FinishReason, ModelInfo, SchedulerSettings, TokensMessage, WireRequest } from './protocol.ts';
import { ConcatRunner } from './concat-runner.ts';
import { InplaceRunner } from './inplace-runner.ts';
import type { KvStrategy, StepRunner } from './step-runner.ts';
import { Scheduler, type KvLedger } from './scheduler.ts';
import { Sequence } from './sequence.ts';

export interface CoreSink {
  /** All tokens of one step; the arrays may be transferred. */
  tokens(message: TokensMessage): void;
  done(message: DoneMessage): void;
  failed(id: number, error: EngineError): void;
}

/** Per-request objects the scheduler doesn't need to know about. */
interface RequestRuntime {
  sampler: Sampler;
  /** Detokenization, EOS, stop strings and max tokens: the same rules as single-sequence generation. */
  output: SequenceOutput;
  constraint: TokenConstraint | null;
  /** Prompt + reply, kept only when a repetition penalty needs it. */
  history: number[] | null;
}

export function epochNow(): number {
  return performance.timeOrigin + performance.now();
}

export class EngineCore {
  readonly info: ModelInfo;
  private readonly model: DecoderModel;
  readonly settings: SchedulerSettings;
  private readonly sink: CoreSink;
  private readonly layout: KvLayout;
  private readonly bytesPerToken: number;
  private readonly scheduler: Scheduler;
  private readonly runner: StepRunner;
  private readonly kvStrategy: KvStrategy;
  private readonly cache: PrefixCache;
  private readonly ledger: KvLedger;
  private reservedBytes = 0;

  private readonly sequences = new Map<number, Sequence>();
  private readonly runtimes = new Map<Sequence, RequestRuntime>();
  /** Prefix jobs in flight, by prefix key: the same prefix is computed once however many wait for it. */
  private readonly prefixJobs = new Map<string, Sequence>();
  private readonly promptTokenizer: SharedPrefixTokenizer;
  private nextJobId = -1;

  private stepping = false;
  /** Cancels that arrived mid-run (or before their submit finished), by id → arrival time. */
  private readonly pendingCancels = new Map<number, number>();
  // Tokens and completions of the current step, sent together at its end.
  private stepIds: number[] = [];
  private stepTokens: number[] = [];
  private stepTexts: string[] = [];
  private stepDone: DoneMessage[] = [];

  private readonly startedAt = epochNow();
  private readonly throughput = new ThroughputWindow(10_000);
  private readonly histogram: Record<number, number> = {};
  private readonly stepStats: StepStats = {
    decodeSteps: 0,
    prefillSteps: 0,
    decodeMs: 0,
    prefillMs: 0,
    prefillTokens: 0,
    kvAssembleMs: 0,
    kvAssembles: 0,
    samplingMs: 0,
    longestRunMs: 0,
  };
  private generatedTokens = 0;
  private completed = 0;
  private readonly failures: Partial<Record<string, number>> = {};

  /** `kvStrategy` is what the model supports (engine-model.ts may have fallen back from the setting). */
  constructor(model: DecoderModel, settings: SchedulerSettings, sink: CoreSink, kvStrategy: KvStrategy = settings.kvStrategy, fallbackReason?: string) {
    this.model = model;
    this.promptTokenizer = new SharedPrefixTokenizer(model.tokenizer);
    this.kvStrategy = kvStrategy;
    this.settings = settings;
    this.sink = sink;
    this.layout = { numLayers: model.numLayers, kvHeads: model.io.kvHeads, headDim: model.io.headDim, dtype: model.io.kvDtype };
    this.bytesPerToken = kvBytesPerToken(this.layout);
    this.info = {
      modelDir: model.dir,
      contextLength: model.contextLength,
      vocabSize: model.vocabSize,
      numLayers: model.numLayers,
      kvHeads: model.io.kvHeads,
      headDim: model.io.headDim,
      kvDtype: model.io.kvDtype,
      kvBytesPerToken: this.bytesPerToken,
      eosTokenIds: [...model.specialTokens.eos],
      kvStrategy,
      ...(fallbackReason ? { kvStrategyNote: fallbackReason } : {}),
    };
    this.cache = new PrefixCache(Math.min(settings.prefixCacheBytes, settings.kvBudgetBytes));
    this.ledger = {
      tryReserve: (bytes) => {
        if (!this.makeRoom(bytes)) return false;
        this.reservedBytes += bytes;
        return true;
      },
      canReserve: (bytes) => this.freeBytes() + this.cache.evictableBytes() >= bytes,
      release: (bytes) => {
        this.reservedBytes -= bytes;
      },
    };
    this.scheduler = new Scheduler(
      {
        maxBatchSize: settings.maxBatchSize,
        maxQueue: settings.maxQueue,
        stepTokenBudget: settings.stepTokenBudget,
        minPrefillChunk: settings.minPrefillChunk,
        ambientShare: settings.ambientShare,
        prefillOrder: settings.prefillOrder,
        decodeShareWhilePrefilling: settings.decodeShareWhilePrefilling,
        contextLength: model.contextLength,
        kvBudgetBytes: settings.kvBudgetBytes,
        kvBytesPerToken: this.bytesPerToken,
      },
      this.ledger,
    );
    const runnerConfig = {
      session: model.session,
      io: model.io,
      layout: this.layout,
      vocabSize: model.vocabSize,
      padTokenId: model.specialTokens.pad,
    };
    this.runner =
      kvStrategy === 'inplace'
        ? new InplaceRunner({ ...runnerConfig, maxRows: settings.maxBatchSize })
        : new ConcatRunner({ ...runnerConfig, strategy: kvStrategy });
    const reserveTokens = Math.min(settings.kvReserveTokens ?? 0, model.contextLength);
    if (reserveTokens > 0) this.runner.reserve?.(settings.maxBatchSize, reserveTokens);
  }

  /** KV budget not booked by admitted requests nor held by the prefix cache. */
  private freeBytes(): number {
    return this.settings.kvBudgetBytes - this.reservedBytes - this.cache.byteSize;
  }

  /**
   * Make `bytes` of the KV budget free, evicting unpinned prefix-cache entries if needed. Evicts nothing
   * when even a full eviction would not be enough.
   */
  private makeRoom(bytes: number): boolean {
    if (this.freeBytes() >= bytes) return true;
    if (this.freeBytes() + this.cache.evictableBytes() < bytes) return false;
    this.cache.shrinkBy(bytes - this.freeBytes());
    return this.freeBytes() >= bytes;
  }

  /** Anything left to run (the worker sleeps until a message arrives when not). */
  get hasWork(): boolean {
    return this.scheduler.waiting.length > 0 || this.scheduler.admittedCount > 0;
  }

  // ---- requests in -----------------------------------------------------------------------------------

  async submit(id: number, request: WireRequest, submittedAt: number): Promise<void> {
    let seq: Sequence;
    let runtime: RequestRuntime;
    try {
      const { prompt, sharedPrefixLength } = this.tokenizePrompt(request);
      validateRequest(request, prompt, this.model.vocabSize);
      seq = new Sequence({ id, kind: 'request', request, submittedAt, prompt, sharedPrefixLength, contextLength: this.model.contextLength });
      const sampler = Sampler.forModel(this.model, request.sampling);
      runtime = {
        sampler,
        output: new SequenceOutput(this.model.tokenizer, {
          eosTokenIds: this.model.specialTokens.eos,
          maxTokens: seq.maxNewTokens,
          stop: request.stop,
        }),
        constraint: request.constraint ? await createConstraint(request.constraint, this.constraintContext()) : null,
        history: sampler.params.repetitionPenalty !== 1 ? Array.from(prompt) : null,
      };
    } catch (error) {
      this.reportFailure(id, error instanceof EngineError ? error : new EngineError('invalid-request', describe(error)));
      return;
    }
    if (this.pendingCancels.delete(id)) return;
    const outcome = this.scheduler.enqueue(seq);
    if (outcome.rejected) {
      this.reportFailure(id, outcome.rejected);
      return;
    }
    this.sequences.set(id, seq);
    this.runtimes.set(seq, runtime);
    if (outcome.shed) {
      this.fail(outcome.shed, new EngineError('shed', 'A higher-priority request took this queued request\'s place; retry later.'));
    }
  }

  /** Abort: the sequence's KV is freed now, or right after the run in progress. */
  cancel(id: number): void {
    const seq = this.sequences.get(id);
    if (this.stepping || !seq) {
      this.pendingCancels.set(id, epochNow());
      return;
    }
    this.fail(seq, new EngineError('aborted', 'The request was aborted by its caller.'));
  }

  // ---- one iteration ---------------------------------------------------------------------------------

  /** Runs one step; resolves false when there was nothing to do. */
  async step(): Promise<boolean> {
    this.stepping = true;
    try {
      this.applyCancels();
      const now = epochNow();
      for (const seq of this.scheduler.expire(now)) this.fail(seq, this.deadlineError(seq, now));
      for (const seq of this.scheduler.admit(now)) this.attachPrefix(seq);
      const plan = this.scheduler.plan();
      if (plan.decode.length === 0 && plan.prefill.length === 0) return false;
      if (plan.decode.length > 0) await this.runDecode(plan.decode);
      const prefill = plan.prefill.filter((c) => c.seq.phase === 'prefilling');
      if (prefill.length > 0) await this.runPrefill(prefill, plan.prefillWidth);
      return true;
    } finally {
      this.stepping = false;
      this.applyCancels();
      this.flushStep();
      if (this.scheduler.admittedCount === 0) this.endBatch();
    }
  }

  /** Nothing admitted any more: the batch is over; its buffers stay warm for `kvKeepWarmMs` (0: freed now). */
  private endBatch(): void {
    this.runner.endBatch();
    if (this.settings.kvKeepWarmMs <= 0) this.runner.releaseBuffers();
  }

  /**
   * Give back the batch buffers kept warm after the last batch (the worker calls this once the engine has
   * been idle for `kvKeepWarmMs`); false when a batch is running.
   */
  releaseIdleBuffers(): boolean {
    if (this.stepping || this.scheduler.admittedCount > 0) return false;
    this.runner.releaseBuffers();
    return true;
  }

  private async runDecode(rows: Sequence[]): Promise<void> {
    const t0 = performance.now();
    // Sequences still prefilling join soon: let the runner keep a few slots for them (a free slot still
    // costs a row of compute every step, so only about a quarter more than the running rows), and size its
    // memory for all of them at once.
    let prefilling = 0;
    let columns = 0;
    for (const seq of this.scheduler.prefilling) {
      if (seq.kind !== 'request') continue;
      prefilling++;
      columns = Math.max(columns, seq.prompt.length + 1);
    }
    const joining = Math.min(prefilling, Math.max(2, Math.ceil(rows.length / 4)));
    const result = await this.runner.decode(rows, { expectedRows: rows.length + joining, reserveRows: rows.length + prefilling, columns });
    this.stepStats.decodeSteps++;
    this.stepStats.decodeMs += performance.now() - t0;
    this.scheduler.recordRun('decode', performance.now() - t0, rows.length);
    this.stepStats.longestRunMs = Math.max(this.stepStats.longestRunMs, performance.now() - t0);
    if (result.assembled) {
      this.stepStats.kvAssembles++;
      this.stepStats.kvAssembleMs += result.assembleMs;
    }
    this.histogram[rows.length] = (this.histogram[rows.length] ?? 0) + 1;
    // Their KV now lives in the resident batch: drop the private copies and cache pins.
    for (const seq of result.absorbed) this.releaseSpans(seq);
    this.applyCancels();
    const vocab = this.model.vocabSize;
    const ts = performance.now();
    rows.forEach((seq, i) => {
      if (seq.phase !== 'decoding') return;
      const row = result.rows[i]!;
      const token = this.sample(seq, result.logits.subarray(row * vocab, (row + 1) * vocab));
      if (token >= 0) this.emitToken(seq, token);
    });
    this.stepStats.samplingMs += performance.now() - ts;
    this.throughput.record(epochNow(), rows.length);
  }

  private async runPrefill(chunks: Array<{ seq: Sequence; tokens: number }>, width: number): Promise<void> {
    const t0 = performance.now();
    const results = await this.runner.prefill(chunks, width);
    this.stepStats.prefillSteps++;
    this.stepStats.prefillMs += performance.now() - t0;
    this.scheduler.recordRun('prefill', performance.now() - t0);
    this.stepStats.longestRunMs = Math.max(this.stepStats.longestRunMs, performance.now() - t0);
    for (const c of chunks) this.stepStats.prefillTokens += c.tokens;
    this.applyCancels();
    for (const { seq, logits } of results) {
      if (seq.phase !== 'prefilling' || seq.remainingPrompt > 0) continue;
      if (seq.kind === 'prefix-job') {
        this.completePrefixJob(seq);
        continue;
      }
      const token = this.sample(seq, logits);
      if (token < 0) continue;
      this.scheduler.startDecoding(seq);
      this.emitToken(seq, token);
    }
  }

  /** Sample one row; -1 when the request failed instead (its constraint allowed nothing). */
  private sample(seq: Sequence, logits: Float32Array): number {
    const runtime = this.runtimes.get(seq)!;
    try {
      runtime.constraint?.mask(logits);
      const greedy = runtime.constraint?.decidesGreedily?.() ?? false;
      const token = runtime.sampler.sample(logits, { ...(runtime.history ? { history: runtime.history } : {}), ...(greedy ? { greedy } : {}) });
      runtime.constraint?.accept(token);
      runtime.history?.push(token);
      return token;
    } catch (error) {
      const why = error instanceof NoAllowedTokenError ? 'its constraint allowed no token' : describe(error);
      this.fail(seq, new EngineError('invalid-request', `Sampling failed after ${seq.generated.length} tokens: ${why}.`));
      return -1;
    }
  }

  /** Record a sampled token, stream it, and finish the sequence when a stop condition is met. */
  private emitToken(seq: Sequence, token: number): void {
    const runtime = this.runtimes.get(seq)!;
    seq.generated.push(token);
    this.generatedTokens++;
    const accepted = runtime.output.accept(token);
    let reason: FinishReason | undefined = accepted.finishReason === 'aborted' ? 'stop' : accepted.finishReason;
    let trailing = '';
    if (this.model.isEos(token)) {
      // EOS ends the reply and is not part of it; text it released goes out with the completion.
      trailing = accepted.text;
    } else {
      this.stepIds.push(seq.id);
      this.stepTokens.push(token);
      this.stepTexts.push(accepted.text);
    }
    if (!reason && runtime.constraint?.isComplete()) {
      trailing += runtime.output.finish('stop').text;
      reason = 'constraint';
    }
    if (reason) this.finish(seq, reason, trailing);
  }

  private finish(seq: Sequence, reason: FinishReason, finalText: string): void {
    if (seq.request.retainKv) this.retainConversation(seq);
    this.stepDone.push({
      type: 'done',
      id: seq.id,
      finalText,
      finishReason: reason,
      promptTokens: seq.prompt.length,
      cachedPromptTokens: seq.cachedTokens,
      queueMs: seq.admittedAt - seq.submittedAt,
    });
    this.completed++;
    this.release(seq);
  }

  // ---- prefix cache ----------------------------------------------------------------------------------

  /** On admission: reuse the longest cached prefix, or wait for the declared shared prefix to be computed. */
  private attachPrefix(seq: Sequence): void {
    const maxMatch = seq.prompt.length - 1; // at least one token must run to produce logits
    const shared = Math.min(seq.sharedPrefixLength, maxMatch);
    if (shared > 0 && (this.cache.peek(seq.prompt, maxMatch)?.matched ?? 0) < shared) {
      const key = prefixKey(seq.prompt, shared);
      let job = this.prefixJobs.get(key);
      if (!job) job = this.startPrefixJob(seq, shared, key);
      seq.phase = 'awaiting-prefix';
      seq.waitingFor = job;
      job.dependents.push(seq);
      return;
    }
    const match = this.cache.lookup(seq.prompt, maxMatch);
    if (match) this.useCached(seq, match);
  }

  private startPrefixJob(owner: Sequence, length: number, key: string): Sequence {
    const job = new Sequence({
      id: this.nextJobId--,
      kind: 'prefix-job',
      request: { ...owner.request, maxTokens: 0, retainKv: false, stop: [], firstTokenDeadlineMs: undefined },
      submittedAt: owner.submittedAt,
      prompt: owner.prompt.slice(0, length),
      sharedPrefixLength: 0,
      contextLength: this.model.contextLength,
    });
    this.prefixJobs.set(key, job);
    this.scheduler.addAdmitted(job, epochNow());
    // The job may itself extend a shorter cached prefix.
    const match = this.cache.lookup(job.prompt, length - 1);
    if (match) this.useCached(job, match);
    return job;
  }

  private completePrefixJob(job: Sequence): void {
    const tokens = job.prompt;
    const block = compact(this.layout, job);
    this.prefixJobs.delete(prefixKey(tokens, tokens.length));
    const entry = this.insertIntoCache('shared-prefix', tokens, block);
    const dependents = job.dependents.splice(0);
    this.release(job);
    for (const seq of dependents) {
      if (seq.phase !== 'awaiting-prefix') continue;
      seq.waitingFor = null;
      seq.phase = 'prefilling';
      const match = this.cache.lookup(seq.prompt, seq.prompt.length - 1);
      if (match && match.matched >= tokens.length) this.useCached(seq, match);
      else if (!entry) {
        // The cache had no room: share the block privately with the waiting sequences.
        seq.sharedKv = [{ block, count: tokens.length }];
        seq.computed = seq.cachedTokens = tokens.length;
      } else if (match) this.useCached(seq, match);
    }
  }

  private useCached(seq: Sequence, match: PrefixMatch): void {
    this.cache.pin(match.entry);
    seq.pinned = seq.origin = match.entry;
    // A conversation entry stored on top of a shared prefix reads as two spans: the parent's, then its own.
    seq.sharedKv = this.cache.spansFor(match.entry, match.matched);
    seq.computed = seq.cachedTokens = match.matched;
  }

  /**
   * Keep a finished conversation's KV so the next turn only prefills what is new. When the turn started
   * from a cached shared prefix (directly, or through the previous turn's entry on top of it), only the KV
   * after that prefix is stored, under it as parent: the persona's KV is held once for all conversations.
   */
  private retainConversation(seq: Sequence): void {
    const length = seq.prompt.length + seq.generated.length - 1;
    const origin = seq.origin;
    // The root of what the turn read (still there even if the origin itself was evicted meanwhile).
    let base = origin;
    while (base?.parent) base = base.parent;
    if (base && (!this.cache.has(base) || base.kind !== 'shared-prefix' || seq.cachedTokens < base.tokens.length || base.tokens.length >= length)) {
      base = null;
    }
    const from = base?.tokens.length ?? 0;
    if (base) this.cache.pin(base); // it must outlive the room made for the new entry
    try {
      // Still in its spans if it finished on its first token, else in the decode batch.
      const block = this.runner.extractFromBatch(seq, from) ?? compact(this.layout, seq, from);
      if (block.length !== length - from) return;
      const tokens = new Int32Array(length);
      tokens.set(seq.prompt);
      tokens.set(seq.generated.slice(0, -1), seq.prompt.length);
      this.insertIntoCache('conversation', tokens, block, base);
    } finally {
      if (base) this.cache.unpin(base);
    }
    // The previous turn's entry is superseded by this longer one (only if this turn read all of it: a
    // partial match may be another conversation's entry).
    if (origin?.kind === 'conversation' && seq.cachedTokens === origin.tokens.length && this.cache.has(origin)) {
      if (seq.pinned === origin) {
        this.cache.unpin(origin);
        seq.pinned = null;
      }
      this.cache.remove(origin);
    }
  }

  /** Insert within the cache's own bound *and* the KV budget left over by admitted requests. */
  private insertIntoCache(kind: PrefixEntry['kind'], tokens: Int32Array, block: KvBlock, parent: PrefixEntry | null = null): PrefixEntry | null {
    if (!this.makeRoom(block.byteLength)) return null;
    return this.cache.insert(kind, tokens, block, parent);
  }

  // ---- leaving ---------------------------------------------------------------------------------------

  private fail(seq: Sequence, error: EngineError): void {
    if (seq.kind === 'prefix-job') {
      // A prefix job only fails with the engine; its dependents go through their own path.
      this.release(seq);
      return;
    }
    this.release(seq);
    this.reportFailure(seq.id, error);
  }

  private reportFailure(id: number, error: EngineError): void {
    this.failures[error.code] = (this.failures[error.code] ?? 0) + 1;
    this.sink.failed(id, error);
  }

  /** Free everything a sequence holds: queue place, KV, cache pins, reservation. */
  private release(seq: Sequence): void {
    if (seq.phase === 'finished') return;
    this.scheduler.remove(seq);
    seq.phase = 'finished';
    this.releaseSpans(seq);
    if (seq.reservedBytes > 0) {
      this.ledger.release(seq.reservedBytes);
      seq.reservedBytes = 0;
    }
    if (seq.waitingFor) {
      const list = seq.waitingFor.dependents;
      const i = list.indexOf(seq);
      if (i >= 0) list.splice(i, 1);
      seq.waitingFor = null;
    }
    if (seq.kind === 'request') {
      this.sequences.delete(seq.id);
      this.runtimes.delete(seq);
    }
    // Nothing admitted any more: the batch is over now (mid-step, the step's end does it).
    if (!this.stepping && this.scheduler.admittedCount === 0) this.endBatch();
  }

  private releaseSpans(seq: Sequence): void {
    if (seq.pinned) {
      this.cache.unpin(seq.pinned);
      seq.pinned = null;
    }
    seq.sharedKv = [];
    if (this.kvStrategy !== 'rebuild' || seq.phase === 'finished') seq.ownKv = null;
  }

  /** Apply cancels that arrived during a run (never while one is in flight: its rows are in use). */
  private applyCancels(): void {
    const now = epochNow();
    for (const [id, at] of this.pendingCancels) {
      const seq = this.sequences.get(id);
      if (seq) {
        this.pendingCancels.delete(id);
        this.fail(seq, new EngineError('aborted', 'The request was aborted by its caller.'));
      } else if (now - at > 60_000) {
        // A cancel that crossed its request's completion: nothing left to cancel.
        this.pendingCancels.delete(id);
      }
    }
  }

  private flushStep(): void {
    if (this.stepIds.length > 0) {
      this.sink.tokens({
        type: 'tokens',
        ids: Uint32Array.from(this.stepIds),
        tokens: Int32Array.from(this.stepTokens),
        texts: this.stepTexts,
        at: epochNow(),
      });
      this.stepIds = [];
      this.stepTokens = [];
      this.stepTexts = [];
    }
    for (const done of this.stepDone) this.sink.done(done);
    this.stepDone = [];
  }

  private deadlineError(seq: Sequence, now: number): EngineError {
    const where =
      seq.phase === 'waiting'
        ? `still queued behind ${this.scheduler.queuePosition(seq)} request(s)`
        : seq.phase === 'awaiting-prefix'
          ? 'waiting for its shared prefix'
          : `prefill ${seq.computed}/${seq.prompt.length} tokens done`;
    return new EngineError(
      'deadline-exceeded',
      `No first token within the ${seq.request.firstTokenDeadlineMs} ms deadline (${Math.round(now - seq.submittedAt)} ms elapsed, ${where}).`,
    );
  }

  // ---- helpers ---------------------------------------------------------------------------------------

  private tokenizePrompt(request: WireRequest): { prompt: Int32Array; sharedPrefixLength: number } {
    if (request.promptTokens) {
      return { prompt: Int32Array.from(request.promptTokens), sharedPrefixLength: request.sharedPrefixTokens ?? 0 };
    }
    if (typeof request.prompt !== 'string') throw new EngineError('invalid-request', 'Give either prompt or promptTokens.');
    try {
      // The shared prefix is tokenized on its own so every conversation gets byte-identical prefix tokens.
      const { ids, prefixLength } = this.promptTokenizer.encode(request.prompt, request.sharedPrefix);
      return { prompt: Int32Array.from(ids), sharedPrefixLength: prefixLength };
    } catch (error) {
      if (error instanceof PromptPrefixMismatch) throw new EngineError('invalid-request', error.message);
      throw error;
    }
  }

  private constraintContext(): ConstraintContext {
    const tokenizer = this.model.tokenizer;
    return {
      vocabSize: this.model.usableVocabSize,
      eosTokenIds: this.model.specialTokens.eos,
      tokenText: (id) => tokenizer.decode([id], { skipSpecialTokens: false }),
    };
  }

  metrics(): EngineMetrics {
    let sequenceBytes = 0;
    for (const list of [this.scheduler.prefilling, this.scheduler.decoding]) for (const s of list) sequenceBytes += s.ownBytes;
    const idle = this.scheduler.admittedCount === 0;
    const decodeBatchBytes = idle ? 0 : this.runner.batchBytes;
    const prefixCacheBytes = this.cache.byteSize;
    const now = epochNow();
    return {
      uptimeMs: now - this.startedAt,
      queueDepth: this.scheduler.waiting.length,
      prefilling: this.scheduler.prefilling.filter((s) => s.kind === 'request').length,
      decoding: this.scheduler.decoding.length,
      batchSizeHistogram: { ...this.histogram },
      decodeTokensPerSecond: this.throughput.perSecond(now),
      windowMs: this.throughput.windowMs,
      generatedTokens: this.generatedTokens,
      steps: { ...this.stepStats },
      kv: {
        bytesInUse: decodeBatchBytes + sequenceBytes + prefixCacheBytes,
        decodeBatchBytes,
        warmBufferBytes: idle ? this.runner.batchBytes : 0,
        sequenceBytes,
        prefixCacheBytes,
        bytesReserved: this.reservedBytes,
        budgetBytes: this.settings.kvBudgetBytes,
      },
      prefixCache: this.cache.stats(),
      requests: { completed: this.completed, failed: { ...this.failures } },
    };
  }

  /** Fail everything still queued or running and free the model session. */
  async dispose(): Promise<void> {
    for (const seq of [...this.sequences.values()]) this.fail(seq, new EngineError('closed', 'The inference engine shut down.'));
    this.runner.releaseBuffers();
    this.cache.clear();
    await this.model.dispose();
  }

  /** Drop every unpinned prefix-cache entry (tests and operators: "forget all personas"). */
  clearPrefixCache(): void {
    this.cache.clear();
  }
}

function prefixKey(tokens: Int32Array, length: number): string {
  return Array.prototype.join.call(tokens.subarray(0, length), ',');
}

/** A sequence's spans from token `from` on as one compact block (for the prefix cache). */
function compact(layout: KvLayout, seq: Sequence, from = 0): KvBlock {
  const spans = seq.spans;
  if (from === 0 && spans.length === 1 && spans[0]!.count === spans[0]!.block.length) return spans[0]!.block;
  return compactSpans(layout, spans, from);
}

function describe(error: unknown): string {
  if (error && typeof error === 'object' && 'issues' in error && Array.isArray(error.issues)) {
    // zod: name the field and the rule.
    const issue = error.issues[0] as { path: PropertyKey[]; message: string };
    return `${issue.path.map(String).join('.')}: ${issue.message}`;
  }
  return error instanceof Error ? error.message : String(error);
}

function validateRequest(request: WireRequest, prompt: Int32Array, vocabSize: number): void {
  const bad = (what: string) => new EngineError('invalid-request', what);
  if (!Number.isInteger(request.maxTokens) || request.maxTokens < 1) throw bad(`maxTokens must be a positive integer, got ${request.maxTokens}.`);
  for (const id of prompt) if (id < 0 || id >= vocabSize) throw bad(`Prompt token ${id} is outside the model's vocabulary (0..${vocabSize - 1}).`);
  const shared = request.sharedPrefixTokens;
  if (shared !== undefined && (!Number.isInteger(shared) || shared < 0 || shared > prompt.length)) {
    throw bad(`sharedPrefixTokens must be between 0 and the prompt length (${prompt.length}).`);
  }
}
