/**
 * How to run a model: execution provider and threads. Kept separate from the model so the same directory runs
 * on CPU in tests and on a GPU provider in production by configuration alone.
 */
import type { InferenceSession } from 'onnxruntime-node';

export interface ModelRuntimeOptions {
  /**
   * onnxruntime execution providers in order of preference, e.g. `['cuda', 'cpu']` or
   * `[{ name: 'cuda', deviceId: 0 }, 'cpu']`. Default: `['cpu']`.
   */
  executionProviders?: InferenceSession.ExecutionProviderConfig[];
  /** Threads used inside one operator (matrix multiplies). Default: onnxruntime's choice (all cores). */
  intraOpNumThreads?: number;
  /** Threads used to run independent operators in parallel (only with executionMode 'parallel'). */
  interOpNumThreads?: number;
  graphOptimizationLevel?: InferenceSession.SessionOptions['graphOptimizationLevel'];
  /** Escape hatch for any other onnxruntime session option; wins over the fields above. */
  sessionOptions?: InferenceSession.SessionOptions;
}

export function toSessionOptions(options: ModelRuntimeOptions = {}): InferenceSession.SessionOptions {
  return {
    executionProviders: options.executionProviders ?? ['cpu'],
    graphOptimizationLevel: options.graphOptimizationLevel ?? 'all',
    ...(options.intraOpNumThreads !== undefined ? { intraOpNumThreads: options.intraOpNumThreads } : {}),
    ...(options.interOpNumThreads !== undefined ? { interOpNumThreads: options.interOpNumThreads } : {}),
    ...options.sessionOptions,
  };
}
