/**
 * The engine as the NPC layer sees it: one interface, two transports. `InferenceEngine` (engine-client.ts)
 * runs the model in a worker thread of this process; `RemoteEngine` (../service/remote-engine.ts) sends the
 * same requests to inference services over WebSocket. Dialogue, the studio and the metrics depend on this
 * interface only, so which one a game process uses is a configuration choice (INFERENCE_URL).
 */
import type { GenerateOptions, EngineSnapshot } from './engine-client.ts';
import type { Generation } from './generation.ts';
import type { ModelInfo } from './protocol.ts';

export interface GenerationEngine {
  /** What the model is (context length, vocabulary, KV layout); fixed once the engine has started. */
  readonly model: ModelInfo;
  /** Submit a request. Never throws: problems surface as a rejected `result` / iterator (EngineError). */
  generate(options: GenerateOptions): Generation;
  /** Engine counters plus per-request latencies measured where the tokens are received. */
  metrics(): Promise<EngineSnapshot>;
  /** Called with each finished request's timings (for histograms). */
  onRequestTimings: ((timings: { ttftMs: number; interTokenMs: readonly number[] }) => void) | undefined;
  /** Stop; requests still running fail with code `closed`. */
  close(): Promise<void>;
}
