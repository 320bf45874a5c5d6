/**
 * Messages between the engine client (main thread) and the engine worker, plus the request/result shapes
 * both sides share. Everything here must survive structured cloning; token arrays travel as typed arrays
 * listed in the transfer list (moved, not copied).
 */
import type { ConstraintSpec } from './constraint-spec.ts';
import type { EngineErrorInfo } from './errors.ts';
import type { EngineMetrics } from './metrics.ts';
import type { KvStrategy } from './step-runner.ts';

/** Interactive dialogue is always scheduled before ambient/background chatter. */
export type Priority = 'interactive' | 'ambient';

export const PRIORITY_RANK: Record<Priority, number> = { interactive: 0, ambient: 1 };

/** Unset fields take the model's generation_config defaults (greedy unless it says do_sample). */
export interface SamplingSettings {
  /** 0 = greedy. */
  temperature?: number;
  topK?: number;
  topP?: number;
  repetitionPenalty?: number;
  /** Same seed → same tokens, alone or batched. */
  seed?: number;
}

/** A generation request as the worker receives it. */
export interface WireRequest {
  /**
   * The full prompt, already rendered through the chat template (the NPC layer owns prompt assembly).
   * Exactly one of `prompt` / `promptTokens`.
   */
  prompt?: string;
  promptTokens?: Int32Array;
  /**
   * The shareable head of the prompt (an NPC's persona and instructions). With `prompt` it is text that
   * `prompt` must start with; it is tokenized on its own so every conversation with this NPC gets the very
   * same prefix tokens. With `promptTokens` give `sharedPrefixTokens` (a count) instead.
   */
  sharedPrefix?: string;
  sharedPrefixTokens?: number;
  maxTokens: number;
  sampling: SamplingSettings;
  /** Generation stops before any of these strings; they are not part of the output. */
  stop: string[];
  priority: Priority;
  /** Drop the request if its first token can't come within this many ms of submission. */
  firstTokenDeadlineMs?: number;
  /** Keep this conversation's KV after the turn so the next turn doesn't prefill the history again. */
  retainKv: boolean;
  constraint?: ConstraintSpec;
}

/** 'stop': EOS or a stop string; 'length': max tokens or the context is full; 'constraint': the constraint completed. */
export type FinishReason = 'stop' | 'length' | 'constraint';

export interface RequestTimings {
  /** Submission → admitted into the running set (worker clock). */
  queueMs: number;
  /** Submission → first token, measured where the result is read. */
  ttftMs: number;
  /** Gaps between consecutive tokens (ms). */
  interTokenMs: number[];
  totalMs: number;
}

export interface GenerationResult {
  text: string;
  tokens: number[];
  finishReason: FinishReason;
  promptTokens: number;
  /** Prompt tokens whose KV came from the prefix cache instead of a prefill. */
  cachedPromptTokens: number;
  timings: RequestTimings;
}

export interface ModelInfo {
  modelDir: string;
  contextLength: number;
  vocabSize: number;
  numLayers: number;
  kvHeads: number;
  headDim: number;
  kvDtype: 'float32' | 'float16';
  /** KV bytes of one token across all layers (keys and values). */
  kvBytesPerToken: number;
  eosTokenIds: number[];
  /** The KV strategy in use (the model may not support the configured one). */
  kvStrategy: KvStrategy;
  /** Why the configured strategy isn't used, when it isn't. */
  kvStrategyNote?: string;
}

// ---- main → worker ------------------------------------------------------------------------------------

export interface SubmitMessage {
  type: 'submit';
  id: number;
  request: WireRequest;
  /** Epoch ms (performance.timeOrigin + now) so both threads share one clock. */
  submittedAt: number;
}

export interface CancelMessage {
  type: 'cancel';
  id: number;
}

export interface MetricsQueryMessage {
  type: 'metrics';
  queryId: number;
}

export interface ShutdownMessage {
  type: 'shutdown';
}

/** Test hook: make the worker fail the way a native crash or a bug would. */
export interface CrashMessage {
  type: 'crash';
  how: 'throw' | 'exit';
}

export type ToWorker = SubmitMessage | CancelMessage | MetricsQueryMessage | ShutdownMessage | CrashMessage;

// ---- worker → main ------------------------------------------------------------------------------------

export interface ReadyMessage {
  type: 'ready';
  model: ModelInfo;
  /** Things that work but not as configured (e.g. no idle GC): the client logs them. */
  warnings?: string[];
}

/**
 * Every token produced by one engine step, for all requests at once (one message per step, not per token).
 * `ids[i]` produced `tokens[i]`, whose new printable text is `texts[i]` (may be '' while a multi-byte
 * character or a possible stop string is held back).
 */
export interface TokensMessage {
  type: 'tokens';
  ids: Uint32Array;
  tokens: Int32Array;
  texts: string[];
  /** Epoch ms when the step finished. */
  at: number;
}

export interface DoneMessage {
  type: 'done';
  id: number;
  /** Trailing text released at the end (held-back bytes), to append after the streamed texts. */
  finalText: string;
  finishReason: FinishReason;
  promptTokens: number;
  cachedPromptTokens: number;
  queueMs: number;
}

export interface FailedMessage {
  type: 'failed';
  id: number;
  error: EngineErrorInfo;
}

export interface MetricsReplyMessage {
  type: 'metrics';
  queryId: number;
  metrics: EngineMetrics;
}

/** The worker could not start (bad model dir...) — restarting won't help. */
export interface StartupFailedMessage {
  type: 'startup-failed';
  message: string;
}

export type FromWorker = ReadyMessage | TokensMessage | DoneMessage | FailedMessage | MetricsReplyMessage | StartupFailedMessage;

/** `workerData` of the engine worker. */
export interface WorkerConfig {
  modelDir: string;
  session: SessionSettings;
  scheduler: SchedulerSettings;
}

export interface SessionSettings {
  intraOpThreads: number;
  interOpThreads: number;
  executionProviders: string[];
  /** onnxruntime's native memory behaviour (see EngineMemoryOptions in engine-client.ts). */
  cpuMemArena: boolean;
  memPattern: boolean;
}

export interface SchedulerSettings {
  /** Most sequences decoding at once (rows of a decode step). */
  maxBatchSize: number;
  /** Most requests waiting for admission; beyond that new requests are rejected (retry later). */
  maxQueue: number;
  /** KV memory the engine may hold, in bytes (running sequences + prefix cache). */
  kvBudgetBytes: number;
  /** Tokens per engine step: one per decoding sequence, the rest goes to prefill chunks. */
  stepTokenBudget: number;
  /** Smallest prefill chunk a step runs even when decodes use the whole budget (prefills never starve). */
  minPrefillChunk: number;
  /** Share of batch slots ambient requests may fill (0..1], so interactive ones always find room. */
  ambientShare: number;
  /** Prefix-cache share of the KV budget, in bytes. */
  prefixCacheBytes: number;
  /**
   * Order of admitted prompts within a priority for prefill: `shortest` (fewest uncached tokens left first;
   * more first tokens sooner, a prompt passed over 8 plans goes first) or `admission`.
   */
  prefillOrder: 'shortest' | 'admission';
  /**
   * While admitted prompts wait for their first token, decode runs get at most this share of the prefill
   * time spent since they began waiting (> 0, so decodes never starve); the last first token of a burst
   * then comes after about (1 + share) × its prompts' compute. 1 or more: a decode run every step (as before).
   */
  decodeShareWhilePrefilling: number;
  /**
   * `inplace` (default): run an engine-shaped variant of the graph whose KV lives in persistent slot buffers
   * and is never copied per step (builder-made models; others fall back to `resident`). `resident`: standard
   * graph, the decode batch's KV stays in the tensors the model returned and is fed back as-is while the
   * batch doesn't change. `rebuild`: standard graph, every sequence's KV gathered into fresh tensors every
   * step (the naive way, kept for measurement).
   */
  kvStrategy: KvStrategy;
  /**
   * How long the decode batch's buffers stay allocated after the last request finished, in ms (0: freed at
   * once). Fresh memory costs a page fault per page on first write (~3 ms per MB measured on a 2-core VM),
   * so a server that talks in bursts reuses warm buffers instead of faulting them in again every burst.
   */
  kvKeepWarmMs: number;
  /**
   * Tokens per row of decode-batch KV to allocate and touch when the engine starts, for `maxBatchSize` rows,
   * kept for the engine's life (0: none; buffers grow on demand). A burst whose rows fit then pays no page
   * faults for them, even on a fresh engine or after `kvKeepWarmMs` of idling. Costs that memory for good:
   * maxBatchSize × (tokens + 64 of headroom) × 1.25 × the model's KV bytes per token.
   */
  kvReserveTokens?: number;
}
