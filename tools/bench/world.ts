/**
 * `npm run bench:world -- [--avatars 50,200,500] [--seconds 8] [--warmup 20] [--rounds 3] [--json]`
 *
 * For each avatar count, runs the same moving crowd against a fresh server with area of interest and
 * with full-state sync, interleaved (AOI, full, AOI, full… `--rounds` times each), and reports the
 * server's frame time (simulation step + patch: interest refresh, per-view encoding, send) and the bytes
 * each client receives per second (and the distinct views the room encodes per patch: its interest
 * groups) as the median of the rounds with their spread (min–max); each ratio
 * is the median of the rounds' own ratios (a slow moment of the machine hits both sides of a round).
 * Then, at `--inference-avatars` (default 200; 0 skips it) with AOI, the frame time with the server's
 * inference engine idle vs saturated (`--inference-concurrency` generations in flight, engine on one
 * thread), interleaved the same way. The machine's load average during the runs is printed beside: the
 * box is shared, and absolute figures move with it. The server runs in a child process (one core), the
 * bots here (the other core).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { availableParallelism, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseCliArgs } from '../../server/src/cli-args.ts';
import { WorldClient } from '../../client-sdk/src/index.ts';
import { loadWorldMap } from '../../server/src/world/world-map.ts';
import { percentile, round, table } from './stats.ts';

const USAGE = `usage: npm run bench:world -- [--avatars 50,200,500] [--seconds 8] [--warmup 20] [--rounds 3] [--json]
                              [--inference-avatars 200] [--inference-concurrency 32] [--inference-seconds 20]

For each avatar count, a moving crowd against a fresh server (in a child process) with and without area
of interest, interleaved --rounds times: medians and spreads of the server's frame time and the bytes per
client per second, and the median of each round's ratio; then the frame time at --inference-avatars with
the inference engine idle vs saturated (--inference-concurrency generations; --inference-avatars 0 skips
that part). The machine's load average is printed beside.
`;

const { values: args } = parseCliArgs('bench:world', USAGE, {
  options: {
    avatars: { type: 'string', default: '50,200,500' },
    seconds: { type: 'string', default: '8' },
    warmup: { type: 'string', default: '20' },
    rounds: { type: 'string', default: '3' },
    json: { type: 'boolean', default: false },
    'inference-avatars': { type: 'string', default: '200' },
    'inference-concurrency': { type: 'string', default: '32' },
    // p99 of 20 Hz frames needs a longer window than the byte counts do to be more than one outlier.
    'inference-seconds': { type: 'string', default: '20' },
  },
});

const counts = args.avatars.split(',').map((n) => Number(n.trim()));
const rounds = Math.max(1, Math.floor(Number(args.rounds)));
const measureMs = Number(args.seconds) * 1000;
const warmupMs = Number(args.warmup) * 1000;
const map = loadWorldMap(fileURLToPath(new URL('../../assets/world/town.json', import.meta.url)), 0.5);
const log = (line: string) => process.stderr.write(line + '\n');

interface RunResult {
  tick_ms_p50: number;
  tick_ms_p99: number;
  bytes_per_client_s: number;
  clients: number;
  /** The machine's 1-minute load average at the end of the measured window. */
  load: number;
  /** Distinct views the room encodes per patch (its interest groups; 1 in full sync). */
  views: number;
}

function startServerProcess(aoi: boolean, npc = false): Promise<{ child: ChildProcess; port: number }> {
  const child = fork(fileURLToPath(new URL('./world-server-run.ts', import.meta.url)), [], {
    execArgv: ['--import', 'tsx', ...(process.env.BENCH_PROFILE ? ['--cpu-prof', '--cpu-prof-dir=' + process.env.BENCH_PROFILE] : [])],
    // The engine gets one thread: on two cores the other belongs to the game loop (and the bots).
    env: { ...process.env, BENCH_AOI: String(aoi), BENCH_NPC: String(npc), INFERENCE_THREADS: process.env.INFERENCE_THREADS ?? '1' },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('bench server did not start within 30 s')), 30_000);
    child.once('exit', (code) => reject(new Error(`bench server exited early (code ${code})`)));
    child.on('message', (msg: { event: string; port?: number }) => {
      if (msg.event === 'ready') {
        clearTimeout(timer);
        resolve({ child, port: msg.port! });
      }
    });
  });
}

function request<T>(child: ChildProcess, cmd: object, event: string, timeoutMs: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "${event}" from bench server within ${timeoutMs} ms`)), timeoutMs);
    const onMessage = (msg: { event: string }) => {
      if (msg.event !== event) return;
      clearTimeout(timer);
      child.off('message', onMessage);
      resolve(msg as T);
    };
    child.on('message', onMessage);
    child.send(cmd);
  });
}

function randomTarget(rand: () => number) {
  const b = map.bounds;
  return { x: b.minX + 15 + rand() * (b.maxX - b.minX - 30), z: b.minZ + 15 + rand() * (b.maxZ - b.minZ - 30) };
}

/** Deterministic PRNG so every run sends the same crowd on the same walks. */
function mulberry32(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function runOnce(avatars: number, aoi: boolean, saturate = 0, npc = false, windowMs = measureMs): Promise<RunResult & { generated_tok_s: number }> {
  const { child, port } = await startServerProcess(aoi, npc);
  const endpoint = `ws://127.0.0.1:${port}`;
  const bots: WorldClient[] = [];
  const rand = mulberry32(avatars);
  try {
    for (let i = 0; i < avatars; i += 50) {
      const batch = Array.from({ length: Math.min(50, avatars - i) }, (_, j) =>
        WorldClient.connect({ endpoint, name: `bot${i + j}`, replicateState: false, reconnect: { enabled: false }, joinTimeoutMs: 30_000 }),
      );
      bots.push(...(await Promise.all(batch)));
    }
    // Every bot walks or runs to a random point of the town, and picks the next one when it should
    // have arrived (headless bots do not decode their own position), so the crowd spreads out.
    const timers: ReturnType<typeof setTimeout>[] = [];
    bots.forEach((bot, i) => {
      let at = map.spawnPoints[i % map.spawnPoints.length]!;
      const leg = () => {
        const target = randomTarget(rand);
        const run = rand() < 0.5;
        bot.move({ target, run });
        const seconds = Math.hypot(target.x - at.x, target.z - at.z) / (run ? 8 : 4);
        at = target;
        timers[i] = setTimeout(leg, seconds * 1000 + rand() * 1000);
      };
      leg();
    });
    await new Promise((r) => setTimeout(r, warmupMs));
    const bytesBefore = bots.map((b) => b.network.bytesReceived);
    const started = performance.now();
    const { frames, clients, generated, views } = await request<{ frames: number[]; clients: number; generated: number; views: number }>(child, { cmd: 'measure', ms: windowMs, saturate }, 'frames', windowMs + 60_000);
    const seconds = (performance.now() - started) / 1000;
    const bytes = bots.map((b, i) => (b.network.bytesReceived - bytesBefore[i]!) / seconds);
    timers.forEach(clearTimeout);
    return {
      tick_ms_p50: round(percentile(frames, 50), 3),
      tick_ms_p99: round(percentile(frames, 99), 3),
      bytes_per_client_s: round(bytes.reduce((a, b) => a + b, 0) / bytes.length, 0),
      clients,
      generated_tok_s: round(generated / seconds, 1),
      load: round(loadavg()[0]!, 2),
      views,
    };
  } finally {
    await Promise.all(bots.map((b) => b.leave()));
    await request(child, { cmd: 'stop' }, 'never', 5_000).catch(() => undefined);
    child.kill('SIGKILL');
  }
}

/** Median and spread (min–max) of one figure over the rounds. */
interface Spread {
  median: number;
  min: number;
  max: number;
}

function spread(values: number[], digits = 2): Spread {
  return { median: round(percentile(values, 50), digits), min: round(Math.min(...values), digits), max: round(Math.max(...values), digits) };
}

const show = (s: Spread) => (s.min === s.max ? String(s.median) : `${s.median} (${s.min}–${s.max})`);

/** Runs A and B alternately, `rounds` times each (A, B, A, B…): a slow spell of the machine hits both. */
async function interleaved<T>(what: string, a: () => Promise<T>, b: () => Promise<T>): Promise<{ a: T[]; b: T[] }> {
  const out = { a: [] as T[], b: [] as T[] };
  for (let r = 1; r <= rounds; r++) {
    log(`bench:world: ${what}, round ${r}/${rounds}: A…`);
    out.a.push(await a());
    log(`bench:world: ${what}, round ${r}/${rounds}: B…`);
    out.b.push(await b());
  }
  return out;
}

const loads: number[] = [];
const rows: {
  avatars: number;
  aoi: { tick_ms_p50: Spread; tick_ms_p99: Spread; bytes_per_client_s: Spread; views: Spread };
  full: { tick_ms_p50: Spread; tick_ms_p99: Spread; bytes_per_client_s: Spread; views: Spread };
  bytes_ratio: Spread;
  tick_p99_ratio: Spread;
}[] = [];
for (const avatars of counts) {
  const { a: aoi, b: full } = await interleaved(`${avatars} avatars, A = AOI, B = full-state sync`, () => runOnce(avatars, true), () => runOnce(avatars, false));
  loads.push(...aoi.map((r) => r.load), ...full.map((r) => r.load));
  const side = (runs: RunResult[]) => ({
    tick_ms_p50: spread(runs.map((r) => r.tick_ms_p50)),
    tick_ms_p99: spread(runs.map((r) => r.tick_ms_p99)),
    bytes_per_client_s: spread(runs.map((r) => r.bytes_per_client_s), 0),
    views: spread(runs.map((r) => r.views), 0),
  });
  rows.push({
    avatars,
    aoi: side(aoi),
    full: side(full),
    bytes_ratio: spread(aoi.map((r, i) => full[i]!.bytes_per_client_s / r.bytes_per_client_s)),
    tick_p99_ratio: spread(aoi.map((r, i) => full[i]!.tick_ms_p99 / r.tick_ms_p99)),
  });
}

const machine = () => `machine: ${availableParallelism()} cores, 1-min load average during the runs ${show(spread(loads))}`;
console.log(`medians of ${rounds} interleaved rounds (min–max)`);
console.log(
  table(
    ['avatars', 'AOI views', 'AOI tick p50 ms', 'AOI tick p99 ms', 'AOI B/client/s', 'full tick p50 ms', 'full tick p99 ms', 'full B/client/s', 'bytes full/AOI', 'tick p99 full/AOI'],
    rows.map((r) => [r.avatars, show(r.aoi.views), show(r.aoi.tick_ms_p50), show(r.aoi.tick_ms_p99), show(r.aoi.bytes_per_client_s), show(r.full.tick_ms_p50), show(r.full.tick_ms_p99), show(r.full.bytes_per_client_s), show(r.bytes_ratio), show(r.tick_p99_ratio)]),
  ),
);
console.log(machine());
const inferenceAvatars = Number(args['inference-avatars']);
const concurrency = Number(args['inference-concurrency']);
if (inferenceAvatars === 0) {
  // --inference-avatars 0: only the AOI / full-sync table (a quick run).
  if (args.json) console.log(JSON.stringify({ rounds, rows, load: spread(loads), cores: availableParallelism() }));
  process.exit(0);
}
const inferenceMs = Number(args['inference-seconds']) * 1000;
const engine = await interleaved(
  `${inferenceAvatars} avatars, A = inference engine idle, B = ${concurrency} generations in flight`,
  () => runOnce(inferenceAvatars, true, 0, true, inferenceMs),
  () => runOnce(inferenceAvatars, true, concurrency, true, inferenceMs),
);
loads.push(...engine.a.map((r) => r.load), ...engine.b.map((r) => r.load));
const idle = { p50: spread(engine.a.map((r) => r.tick_ms_p50)), p99: spread(engine.a.map((r) => r.tick_ms_p99)), tok: spread(engine.a.map((r) => r.generated_tok_s), 1) };
const saturated = { p50: spread(engine.b.map((r) => r.tick_ms_p50)), p99: spread(engine.b.map((r) => r.tick_ms_p99)), tok: spread(engine.b.map((r) => r.generated_tok_s), 1) };
const engineRatio = spread(engine.a.map((r, i) => engine.b[i]!.tick_ms_p99 / r.tick_ms_p99));
console.log('');
console.log(
  table(
    ['avatars (AOI)', 'engine', 'tick p50 ms', 'tick p99 ms', 'generated tok/s'],
    [
      [inferenceAvatars, 'idle', show(idle.p50), show(idle.p99), show(idle.tok)],
      [inferenceAvatars, `saturated (${concurrency} in flight)`, show(saturated.p50), show(saturated.p99), show(saturated.tok)],
    ],
  ),
);
console.log(`tick p99 saturated/idle: ${show(engineRatio)}`);
console.log(machine());
const result = {
  rounds,
  rows,
  inference_load: { tick_ms_p99_idle: idle.p99, tick_ms_p99_saturated: saturated.p99, ratio: engineRatio },
  load: spread(loads),
  cores: availableParallelism(),
};
if (args.json) console.log(JSON.stringify(result));
process.exit(0);
