/**
 * Bounded native memory (issue 9, part 4): a real server process (`server/src/main.ts`, as `npm start` runs
 * it) on a loopback port, real SDK clients, and a real ONNX model made on the spot (the default model's
 * untrained twin: same tokenizer, architecture and prompt lengths, random weights — it talks until
 * max_tokens, so every turn is as long as a turn gets). After a bounded NPC talk load the server's RSS, read
 * from its own /metrics, must come back within RSS_MARGIN_MIB of its baseline; and the KV budget is a knob
 * that admission enforces.
 *
 * The server runs as the README's "Memory" section says to run it: with MALLOC_MMAP_THRESHOLD_ set, so glibc
 * hands large freed blocks back to the system instead of keeping them for reuse (without it glibc keeps
 * ~90 MiB of what this load freed: measured, and documented there).
 *
 * The baseline is taken after one warm-up turn: the first turn pays once for what every later one reuses
 * (the engine's code paths compiled, the persona's prefix computed and cached). What must come back is
 * what the load itself took.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WorldClient } from '../../client-sdk/src/index.ts';
import { ConfigSchema } from '../../server/src/config.ts';
import { metricTotal } from '../../loadtest/src/metrics-scrape.ts';
import { buildUntrainedTwin } from '../../tools/eval/baseline.ts';
import { npcDirWith, stationaryBramGivingOneHorseshoe, walkUpTo } from '../support/npc-fixtures.ts';
import { freePort, spawnServer, waitForOutput, type ServerProcess } from '../support/server-process.ts';
import { connect } from '../support/world-server.ts';

const FORGE = { x: 150, z: 70 };
/** The load: CLIENTS players talk to Bram at once, TURNS_EACH turns each, back to back. */
const CLIENTS = 12;
const TURNS_EACH = 5;
/**
 * How far above its baseline the server's RSS may stay once the load is over. What legitimately stays is
 * onnxruntime's arena at the load's high-water mark plus allocator slack. Measured on the loaded 2-core
 * development machine with this very load: +26, +36 and +41 MiB (about 2 s after the last turn, when the
 * engine's idle GC runs); before this changes +176 MiB, still there 30 s later. 80 MiB is twice
 * the worst run and well under half of what the unbounded server kept.
 */
const RSS_MARGIN_MIB = 80;
/** How long RSS may take to come back (the engine collects after 2 s idle; reads every 500 ms). */
const SETTLE_BOUND_MS = 30_000;
const MIB = 1024 * 1024;

async function metrics(port: number): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(5_000) });
  if (!res.ok) throw new Error(`/metrics answered ${res.status}`);
  return res.text();
}

async function rss(port: number): Promise<number> {
  const value = metricTotal(await metrics(port), 'worldmind_process_resident_memory_bytes');
  if (value === undefined) throw new Error('the server exposes no worldmind_process_resident_memory_bytes');
  return value;
}

/** Median of `n` reads `gapMs` apart: one read caught mid-allocation does not set the reference. */
async function steadyRss(port: number, n = 3, gapMs = 500): Promise<number> {
  const reads: number[] = [];
  for (let i = 0; i < n; i++) {
    if (i > 0) await new Promise((r) => setTimeout(r, gapMs));
    reads.push(await rss(port));
  }
  return reads.sort((a, b) => a - b)[Math.floor(n / 2)]!;
}

async function talkFully(client: WorldClient, line: string) {
  const turn = client.talk('bram', line);
  for await (const _ of turn) void _;
  return turn.result;
}

function startServer(port: number, modelDir: string, npcDir: string, dbPath: string, extra: Record<string, string> = {}): ServerProcess {
  return spawnServer({
    PORT: String(port),
    LOG_LEVEL: 'info', // the "listening" line is info
    MODEL_DIR: modelDir,
    NPC_DIR: npcDir,
    DB_PATH: dbPath,
    INFERENCE_THREADS: '1',
    // The decode buffers stay warm this long after the load, then must be given back like the rest.
    INFERENCE_KV_KEEP_WARM_MS: '2000',
    GUEST_SIGNUP_BURST: '0',
    JOIN_BURST: '1000',
    JOIN_PER_MINUTE: '10000',
    TALK_BURST: '100',
    TALK_PER_SECOND: '100',
    RUN_SPEED: '30',
    RECONNECT_WINDOW_S: '0',
    // The first-token deadline is for players; on a loaded 2-core box the load must not turn into fallbacks.
    NPC_FIRST_TOKEN_DEADLINE_MS: '60000',
    // Every player's line its own model turn at once (not gathered into group rounds): the engine load is the subject.
    NPC_GROUP_CONVERSATIONS: 'false',
    MALLOC_MMAP_THRESHOLD_: '131072',
    ...extra,
  });
}

async function stop(proc: ServerProcess | undefined): Promise<void> {
  if (!proc || proc.child.exitCode !== null) return;
  proc.child.kill('SIGTERM');
  const timer = setTimeout(() => proc.child.kill('SIGKILL'), 10_000);
  await proc.exited;
  clearTimeout(timer);
}

describe('native memory under an NPC talk load', () => {
  const root = mkdtempSync(join(tmpdir(), 'wm-memory-'));
  let modelDir: string;
  let npcDir: string;
  let proc: ServerProcess | undefined;
  const clients: WorldClient[] = [];

  beforeAll(() => {
    modelDir = buildUntrainedTwin(ConfigSchema.shape.MODEL_DIR.parse(undefined), join(root, 'model'), 1).dir;
    npcDir = npcDirWith({ bram: stationaryBramGivingOneHorseshoe });
  });
  afterAll(async () => {
    await Promise.allSettled(clients.map((c) => c.leave()));
    await stop(proc);
    rmSync(root, { recursive: true, force: true });
    rmSync(npcDir, { recursive: true, force: true });
  });

  it(`RSS comes back within ${RSS_MARGIN_MIB} MiB of its baseline after ${CLIENTS} players × ${TURNS_EACH} turns`, { timeout: 150_000 }, async () => {
    const port = await freePort();
    // A database file, as deployed: an in-memory database's turn log would be RSS the load legitimately keeps.
    proc = startServer(port, modelDir, npcDir, join(root, 'memory.sqlite'));
    await waitForOutput(proc, /worldmind server listening/, 30_000);
    const endpoint = `ws://127.0.0.1:${port}`;

    for (let i = 0; i < CLIENTS; i++) clients.push(await connect(endpoint, `Smith${i}`, { reconnect: { enabled: false } }));
    await Promise.all(clients.map((c, i) => walkUpTo(c, 'bram', { x: FORGE.x - (i % 4), z: FORGE.z + Math.floor(i / 4) }, 3, 20_000)));
    const warmUp = await talkFully(clients[0]!, 'Good morning, smith.');
    expect(warmUp.finishReason).toBe('stop');
    const baseline = await steadyRss(port);

    // The load: every player's turns back to back, all players at once (batched by the engine).
    let peak = baseline;
    const sampler = setInterval(() => void rss(port).then((v) => (peak = Math.max(peak, v)), () => undefined), 250);
    const outcomes = await Promise.all(
      clients.map(async (client, i) => {
        const finishes: string[] = [];
        for (let t = 0; t < TURNS_EACH; t++) finishes.push((await talkFully(client, `Question ${t} from smith ${i}: what do you forge today?`)).finishReason);
        return finishes;
      }),
    ).finally(() => clearInterval(sampler));
    const finishes = outcomes.flat();
    // The load really ran on the model: every turn answered by it, not by a fallback line.
    expect(finishes).toHaveLength(CLIENTS * TURNS_EACH);
    expect(finishes.filter((f) => f !== 'stop' && f !== 'length')).toEqual([]);
    const text = await metrics(port);
    // …and batched: decode steps with more than one sequence happened.
    const batched = [...text.matchAll(/^worldmind_engine_decode_steps_total\{size="(\d+)"\} (\d+)/gm)].filter(([, size, n]) => Number(size) > 1 && Number(n) > 0);
    expect(batched.length).toBeGreaterThan(0);

    await Promise.all(clients.splice(0).map((c) => c.leave()));

    // Bounded wait for RSS to come back; the series goes into the failure message.
    const series: number[] = [];
    const limit = baseline + RSS_MARGIN_MIB * MIB;
    const deadline = Date.now() + SETTLE_BOUND_MS;
    for (;;) {
      series.push(await rss(port));
      if (series.at(-1)! <= limit || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    const mib = (v: number) => (v / MIB).toFixed(1);
    const story = `baseline ${mib(baseline)} MiB, peak ${mib(peak)} MiB, after the load: ${series.map(mib).join(' → ')} MiB`;
    console.info(`memory after load: ${story}`);
    expect(series.at(-1)!, story).toBeLessThanOrEqual(limit);
  });
});

describe('the KV budget', () => {
  let proc: ServerProcess | undefined;
  let client: WorldClient | undefined;
  let npcDir: string | undefined;
  afterAll(async () => {
    await client?.leave().catch(() => undefined);
    await stop(proc);
    if (npcDir) rmSync(npcDir, { recursive: true, force: true });
  });

  it('is enforced at admission: a turn whose worst-case KV exceeds INFERENCE_KV_BUDGET_MB is refused, and the NPC says a fallback line', { timeout: 60_000 }, async () => {
    npcDir = npcDirWith({ bram: stationaryBramGivingOneHorseshoe });
    const port = await freePort();
    // 1 MiB holds 256 tokens of this model's KV (4 KiB a token); an NPC prompt is several hundred.
    proc = startServer(port, ConfigSchema.shape.MODEL_DIR.parse(undefined), npcDir, ':memory:', { INFERENCE_KV_BUDGET_MB: '1' });
    await waitForOutput(proc, /worldmind server listening/, 30_000);
    client = await connect(`ws://127.0.0.1:${port}`, 'Ada', { reconnect: { enabled: false } });
    await walkUpTo(client, 'bram', FORGE, 3, 20_000);
    const result = await talkFully(client, 'Good morning, smith.');
    expect(result.finishReason).toBe('fallback');
    const text = await metrics(port);
    expect(metricTotal(text, 'worldmind_engine_generated_tokens_total')).toBe(0);
    // The engine said why, in the server's log.
    expect(proc.output()).toMatch(/never-fits|KV budget/);
  });
});
