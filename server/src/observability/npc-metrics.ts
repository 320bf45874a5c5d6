/**
 * Prometheus series for NPC conversations and the inference engine behind them. Engine numbers are
 * read from the engine's own metrics snapshot at scrape time (one message to its worker).
 */
import { Counter, Gauge, Histogram } from 'prom-client';
import type { InferenceEngine } from '../inference/engine/engine-client.ts';
import type { ServerMetrics } from './metrics.ts';

export interface NpcMetrics {
  turns: Counter<'npc' | 'finish'>;
  ttft: Histogram<'npc'>;
  actions: Counter<'action' | 'outcome'>;
  illegalActions: Counter<'npc'>;
  refusals: Counter<'code'>;
}

export function createNpcMetrics(server: ServerMetrics, engine: InferenceEngine): NpcMetrics {
  const registers = [server.registry];
  const turns = new Counter({ name: 'worldmind_npc_turns_total', help: 'NPC conversation turns by NPC and how they ended (fallback = scripted line)', labelNames: ['npc', 'finish'] as const, registers });
  const ttft = new Histogram({
    name: 'worldmind_npc_ttft_seconds',
    help: 'Time from a player line to the first streamed text of the reply',
    labelNames: ['npc'] as const,
    buckets: [0.025, 0.05, 0.1, 0.25, 0.5, 1, 1.5, 2.5, 5, 10],
    registers,
  });
  const actions = new Counter({ name: 'worldmind_npc_actions_total', help: 'NPC actions by kind and whether the room executed or refused them', labelNames: ['action', 'outcome'] as const, registers });
  const illegalActions = new Counter({ name: 'worldmind_npc_illegal_actions_total', help: 'Replies whose action call was not legal for the NPC (the grammar should keep this at 0)', labelNames: ['npc'] as const, registers });
  const refusals = new Counter({ name: 'worldmind_npc_talk_refused_total', help: 'Player lines refused before reaching the model, by reason', labelNames: ['code'] as const, registers });

  const queueDepth = new Gauge({ name: 'worldmind_engine_queue_depth', help: 'Generation requests waiting for admission', registers });
  const running = new Gauge({ name: 'worldmind_engine_running', help: 'Generation requests admitted (prefilling or decoding)', registers });
  const decodeRate = new Gauge({ name: 'worldmind_engine_decode_tokens_per_second', help: 'Tokens generated per second over the engine window, all requests together', registers });
  const kvBytes = new Gauge({ name: 'worldmind_engine_kv_bytes', help: 'KV cache bytes held by the engine', registers });
  const prefixHitRate = new Gauge({ name: 'worldmind_engine_prefix_cache_hit_rate', help: 'Share of prefix-cache lookups that reused cached KV', registers });
  const batchSteps = new Gauge({ name: 'worldmind_engine_batch_size_steps', help: 'Decode steps run at each batch size since start', labelNames: ['size'] as const, registers });
  const engineTtft = new Gauge({ name: 'worldmind_engine_ttft_ms', help: 'Engine time to first token over recent requests', labelNames: ['quantile'] as const, registers });
  const engineItl = new Gauge({ name: 'worldmind_engine_itl_ms', help: 'Engine inter-token latency over recent requests', labelNames: ['quantile'] as const, registers });
  const restarts = new Gauge({ name: 'worldmind_engine_restarts', help: 'Times the engine worker died and was replaced', registers });

  server.onCollect(async () => {
    const snapshot = await engine.metrics().catch(() => undefined);
    if (!snapshot) return;
    const e = snapshot.engine;
    queueDepth.set(e.queueDepth);
    running.set(e.prefilling + e.decoding);
    decodeRate.set(e.decodeTokensPerSecond);
    kvBytes.set(e.kv.bytesInUse);
    prefixHitRate.set(e.prefixCache.hitRate);
    for (const [size, steps] of Object.entries(e.batchSizeHistogram)) batchSteps.set({ size }, steps);
    for (const q of ['p50', 'p99'] as const) {
      engineTtft.set({ quantile: q }, snapshot.requests.ttftMs[q] || 0);
      engineItl.set({ quantile: q }, snapshot.requests.itlMs[q] || 0);
    }
    restarts.set(snapshot.restarts);
  });

  return { turns, ttft, actions, illegalActions, refusals };
}
