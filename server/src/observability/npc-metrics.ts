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

  // prom-client reads every metric of a scrape concurrently, so each engine gauge awaits one shared
  // snapshot (one message to the worker per scrape) instead of relying on another gauge to fill it in.
  type Snapshot = Awaited<ReturnType<InferenceEngine['metrics']>>;
  let pending: Promise<Snapshot | undefined> | undefined;
  const snapshot = () => {
    pending ??= engine.metrics().catch(() => undefined).finally(() => setTimeout(() => (pending = undefined), 100).unref());
    return pending;
  };
  const engineGauge = (name: string, help: string, read: (s: Snapshot) => number) =>
    new Gauge({
      name,
      help,
      registers,
      async collect() {
        const s = await snapshot();
        if (s) this.set(read(s));
      },
    });
  engineGauge('worldmind_engine_queue_depth', 'Generation requests waiting for admission', (s) => s.engine.queueDepth);
  engineGauge('worldmind_engine_running', 'Generation requests admitted (prefilling or decoding)', (s) => s.engine.prefilling + s.engine.decoding);
  engineGauge('worldmind_engine_decode_tokens_per_second', 'Tokens generated per second over the engine window, all requests together', (s) => s.engine.decodeTokensPerSecond);
  engineGauge('worldmind_engine_kv_bytes', 'KV cache bytes held by the engine', (s) => s.engine.kv.bytesInUse);
  engineGauge('worldmind_engine_prefix_cache_hit_rate', 'Share of prefix-cache lookups that reused cached KV', (s) => s.engine.prefixCache.hitRate);
  engineGauge('worldmind_engine_generated_tokens', 'Tokens generated since the engine started', (s) => s.engine.generatedTokens);
  engineGauge('worldmind_engine_restarts', 'Times the engine worker died and was replaced', (s) => s.restarts);
  new Gauge({
    name: 'worldmind_engine_batch_size_steps',
    help: 'Decode steps run at each batch size since start',
    labelNames: ['size'] as const,
    registers,
    async collect() {
      const s = await snapshot();
      if (s) for (const [size, steps] of Object.entries(s.engine.batchSizeHistogram)) this.set({ size }, steps);
    },
  });
  for (const [name, help, pick] of [
    ['worldmind_engine_ttft_ms', 'Engine time to first token over recent requests', (s: Snapshot) => s.requests.ttftMs],
    ['worldmind_engine_itl_ms', 'Engine inter-token latency over recent requests', (s: Snapshot) => s.requests.itlMs],
  ] as const) {
    new Gauge({
      name,
      help,
      labelNames: ['quantile'] as const,
      registers,
      async collect() {
        const s = await snapshot();
        if (!s) return;
        const p = pick(s);
        this.set({ quantile: '0.5' }, p.p50 || 0);
        this.set({ quantile: '0.99' }, p.p99 || 0);
      },
    });
  }

  return { turns, ttft, actions, illegalActions, refusals };
}
