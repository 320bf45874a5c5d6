/**
 * Command-line options of `npm run loadtest`, validated up front: every problem is reported at once
 * and nothing starts. Also the loopback rule: load is only ever aimed at this machine unless the
 * operator says otherwise with `--allow-remote`.
 */
import { availableParallelism } from 'node:os';
import { isIP } from 'node:net';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

/** Where the game server runs when the load tester starts it itself. */
export type ServerPlacement = 'child' | 'in-process';

export interface LoadTestOptions {
  players: number;
  /** Seconds of measured load after everyone has joined. */
  durationS: number;
  /** Average seconds between one bot's NPC conversations; 0 = nobody talks. */
  talkEveryS: number;
  /** Most NPC conversations in flight at once across all bot processes. */
  maxTalkers: number;
  /** Running server to load; undefined = start one. With `--target`, the first game process of the cluster. */
  endpoint: string | undefined;
  /** `--target`: the game processes of a cluster (bots join through them in turn; each one's /metrics is read). */
  targets: string[] | undefined;
  /** `--inference-metrics`: base URLs of the cluster's inference services (batch sizes, tok/s from their /metrics). */
  inferenceMetrics: string[];
  aoi: boolean;
  /** Bot processes. */
  processes: number;
  /** Where a server started by the load tester runs. */
  server: ServerPlacement;
  /** Movement intents per second per walking bot. */
  inputHz: number;
  /** Bots that decode replicated state (steer by their real position, measure state latency, do the talking). */
  tracked: number;
  json: boolean;
  outDir: string;
  allowRemote: boolean;
  seed: number;
  /** Directory for V8 CPU profiles of the server child and bot processes (`--cpu-prof`); undefined = off. */
  cpuProfDir: string | undefined;
  /** Seconds allowed for everyone to join before the measured phase starts anyway. */
  rampTimeoutS: number;
  /** `--soak N`: minutes of load with the server's memory watched (durationS is then N × 60); undefined = a normal run. */
  soakMin: number | undefined;
  /** Soak: seconds to keep watching the server's memory after everyone left. */
  settleS: number;
  /** Soak: seconds between the rows of the memory table. */
  sampleEveryS: number;
  /** `--find-knee`: search the largest player count with tick p99 under the target (knee.ts); undefined = one run. */
  findKnee: { min: number; max: number; targetMs: number; budgetS: number } | undefined;
}

export const USAGE = `usage: npm run loadtest -- --players N --duration S [options]
       npm run loadtest -- --soak MINUTES [--players N] [--settle S] [--sample-every S] [options]
       npm run loadtest -- --find-knee [--knee-min N] [--knee-max N] [--knee-target-ms MS] [--knee-budget S] [options]

  --players N        simulated players (1..5000)
  --duration S       seconds of measured load after everyone joined (1..3600)
  --talk-every S     average seconds between one player's NPC conversations (default 90; 0 = no talking)
  --max-talkers N    NPC conversations in flight at once, all processes together (default 32)
  --endpoint URL     load a running server (ws://127.0.0.1:2567); default: start one
  --target URLS      load a running cluster (npm run cluster): its game processes, comma-separated
                     (ws://127.0.0.1:2567,ws://127.0.0.1:2568); bot processes join through them in turn and
                     every process's /metrics is read: tick, CCU and TTFT per process
  --inference-metrics URLS
                     with --target: the cluster's inference services, comma-separated (http://127.0.0.1:2569):
                     decode batch sizes, tok/s and engine TTFT per service (npm run cluster prints both lists)
  --server WHERE     where a started server runs: child (own process, default) or in-process
  --no-aoi           start the server with full-state sync instead of area of interest
  --processes K      bot processes (default: one per 1000 players)
  --input-hz H       movement intents per second per walking player (default 10)
  --tracked N        players that decode state, measure latency and talk (default 2%, 16..64, ≥ --max-talkers; 16 with --talk-every 0)
  --json             print the report as one JSON line after the table
  --out DIR          where the JSON report and SVG chart go (default loadtest/reports)
  --allow-remote     allow a non-loopback --endpoint
  --seed N           random seed for the crowd (default 1)
  --cpu-prof DIR     write V8 CPU profiles of the server child and the bot processes into DIR

soak (memory under a bounded NPC talk load; the server's RSS is read from its /metrics):
  --soak MINUTES     minutes of load instead of --duration (0.25..60); then --players defaults to 32,
                     --talk-every to 5 and --max-talkers to 16; prints the RSS table and one JSON line
  --settle S         seconds to keep reading RSS after everyone left (default 60)
  --sample-every S   seconds between rows of the RSS table (default 15)

CCU knee (the largest player count with tick p99 under the target; a fresh run per probed count):
  --find-knee        ramp ×1.5 from --knee-min until a count fails, then bisect; --players is set by the
                     search, --duration defaults to 20; prints the probes and one JSON line with the knee
  --knee-min N       first count probed (default 100)
  --knee-max N       largest count probed (default 2000)
  --knee-target-ms MS  tick p99 a count must stay under (default 20)
  --knee-budget S    no new probe starts after S seconds (default 1800)
`;

export const MAX_PLAYERS = 5_000;
/** A soak is a bounded talk load: few players, all of them able to talk, conversations back to back. */
export const SOAK_DEFAULTS = { players: 32, talkEveryS: 5, maxTalkers: 16 } as const;
export const MAX_DURATION_S = 3_600;

export class OptionsError extends Error {
  override name = 'OptionsError';
}

const defaultOutDir = fileURLToPath(new URL('../reports/', import.meta.url));

/** Parses argv (without node and script). Throws OptionsError listing every problem. */
export function parseOptions(argv: string[]): LoadTestOptions {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        players: { type: 'string' },
        duration: { type: 'string' },
        // Defaults depend on --soak: applied below.
        'talk-every': { type: 'string' },
        'max-talkers': { type: 'string' },
        endpoint: { type: 'string' },
        target: { type: 'string' },
        'inference-metrics': { type: 'string' },
        server: { type: 'string', default: 'child' },
        'no-aoi': { type: 'boolean', default: false },
        processes: { type: 'string' },
        'input-hz': { type: 'string', default: '10' },
        tracked: { type: 'string' },
        json: { type: 'boolean', default: false },
        out: { type: 'string', default: defaultOutDir },
        'allow-remote': { type: 'boolean', default: false },
        seed: { type: 'string', default: '1' },
        'cpu-prof': { type: 'string' },
        'ramp-timeout': { type: 'string' },
        soak: { type: 'string' },
        settle: { type: 'string' },
        'sample-every': { type: 'string' },
        'find-knee': { type: 'boolean', default: false },
        'knee-min': { type: 'string', default: '100' },
        'knee-max': { type: 'string', default: '2000' },
        'knee-target-ms': { type: 'string', default: '20' },
        'knee-budget': { type: 'string', default: '1800' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (err) {
    throw new OptionsError((err as Error).message);
  }
  const v = parsed.values;
  if (v.help) throw new OptionsError('');
  const problems: string[] = [];
  const num = (name: string, raw: string | undefined, min: number, max: number, integer: boolean): number => {
    if (raw === undefined) {
      problems.push(`--${name} is required`);
      return Number.NaN;
    }
    const n = Number(raw);
    if (raw.trim() === '' || !Number.isFinite(n) || n < min || n > max || (integer && !Number.isInteger(n))) {
      problems.push(`--${name} ${JSON.stringify(raw)}: expected ${integer ? 'an integer' : 'a number'} from ${min} to ${max}`);
    }
    return n;
  };

  const soakMin = v.soak === undefined ? undefined : num('soak', v.soak, 0.25, MAX_DURATION_S / 60, false);
  const soak = soakMin !== undefined;
  if (soak && v.duration !== undefined) problems.push('--soak and --duration: give one (a soak runs for --soak minutes)');
  if (!soak && (v.settle !== undefined || v['sample-every'] !== undefined)) problems.push('--settle and --sample-every only apply to --soak');
  const knee = v['find-knee'];
  if (knee && soak) problems.push('--find-knee and --soak: give one');
  const findKnee = knee
    ? {
        min: num('knee-min', v['knee-min'], 1, MAX_PLAYERS, true),
        max: num('knee-max', v['knee-max'], 1, MAX_PLAYERS, true),
        targetMs: num('knee-target-ms', v['knee-target-ms'], 1, 10_000, false),
        budgetS: num('knee-budget', v['knee-budget'], 1, 86_400, false),
      }
    : undefined;
  if (findKnee && findKnee.min > findKnee.max) problems.push(`--knee-min ${findKnee.min} is above --knee-max ${findKnee.max}`);
  const players = num('players', v.players ?? (soak ? String(SOAK_DEFAULTS.players) : findKnee ? v['knee-min'] : undefined), 1, MAX_PLAYERS, true);
  const durationS = soak ? soakMin * 60 : num('duration', v.duration ?? (findKnee ? '20' : undefined), 1, MAX_DURATION_S, false);
  const talkEveryS = num('talk-every', v['talk-every'] ?? String(soak ? SOAK_DEFAULTS.talkEveryS : 90), 0, 86_400, false);
  const maxTalkers = num('max-talkers', v['max-talkers'] ?? String(soak ? SOAK_DEFAULTS.maxTalkers : 32), 0, 1_000, true);
  const settleS = num('settle', v.settle ?? '60', 0, 3_600, false);
  const sampleEveryS = num('sample-every', v['sample-every'] ?? '15', 1, 3_600, false);
  if (soak && talkEveryS === 0) problems.push('--soak with --talk-every 0: a soak is an NPC talk load; give --talk-every > 0');
  const inputHz = num('input-hz', v['input-hz'], 1, 30, false);
  const seed = num('seed', v.seed, 0, 2 ** 31 - 1, true);
  const targets = v.target === undefined ? undefined : v.target.split(',').map((t) => t.trim().replace(/\/+$/, '')).filter((t) => t !== '');
  // With --target, one bot process per game process (up to the player count), so joins arrive at every
  // process as through a load balancer.
  const defaultProcesses = Math.max(1, Math.ceil((Number.isFinite(players) ? players : 1) / 1_000), Math.min(targets?.length ?? 1, Number.isFinite(players) ? players : 1));
  const processes = v.processes === undefined ? defaultProcesses : num('processes', v.processes, 1, Math.max(4, availableParallelism() * 4), true);
  // Tracked bots decode state (costly in a crowd: each decodes every avatar it sees, ~0.002 core apiece at
  // 200 players, more in a denser crowd): 2 % of the crowd, 16..64, and enough to hold every allowed
  // conversation. Without talking they only measure state latency, for which 16 are plenty.
  const defaultTracked = Math.min(players, talkEveryS > 0 ? Math.max(Math.min(64, Math.max(16, Math.ceil(players * 0.02))), maxTalkers) : 16);
  const tracked = v.tracked === undefined ? defaultTracked : num('tracked', v.tracked, 0, players, true);
  const defaultRamp = Math.min(300, 30 + Math.ceil((Number.isFinite(players) ? players : 0) / 20));
  const rampTimeoutS = v['ramp-timeout'] === undefined ? defaultRamp : num('ramp-timeout', v['ramp-timeout'], 1, 600, false);
  if (v.server !== 'child' && v.server !== 'in-process') problems.push(`--server ${JSON.stringify(v.server)}: expected child or in-process`);

  let endpoint: string | undefined;
  const inferenceMetrics = v['inference-metrics'] === undefined ? [] : v['inference-metrics'].split(',').map((t) => t.trim().replace(/\/+$/, '')).filter((t) => t !== '');
  if (targets !== undefined) {
    if (v.endpoint !== undefined) problems.push('--endpoint and --target: give one (--target lists every game process of a cluster, --endpoint is one server)');
    if (targets.length === 0) problems.push('--target: expected at least one game process URL (ws://127.0.0.1:2567,…)');
    for (const t of targets) {
      const problem = checkEndpoint(t, v['allow-remote']);
      if (problem) problems.push(problem.replace('--endpoint', '--target'));
    }
    if (new Set(targets).size !== targets.length) problems.push(`--target ${JSON.stringify(v.target)}: a game process is listed twice`);
    if (v['no-aoi']) problems.push('--no-aoi only applies to a server the load tester starts (start the cluster with AOI_ENABLED=false instead)');
    if (soak) problems.push('--soak reads one server\'s memory: use --endpoint with it, not --target');
    endpoint = targets[0];
  } else if (v['inference-metrics'] !== undefined) problems.push('--inference-metrics only applies with --target');
  for (const u of inferenceMetrics) {
    const problem = checkEndpoint(u, v['allow-remote']);
    if (problem) problems.push(problem.replace('--endpoint', '--inference-metrics'));
  }
  if (v.endpoint !== undefined) {
    const problem = checkEndpoint(v.endpoint, v['allow-remote']);
    if (problem) problems.push(problem);
    endpoint = v.endpoint.replace(/\/+$/, '');
    if (v['no-aoi']) problems.push('--no-aoi only applies to a server the load tester starts (drop --endpoint, or start that server with AOI_ENABLED=false)');
  }
  if (Number.isFinite(processes) && Number.isFinite(players) && processes > players) problems.push(`--processes ${processes}: more bot processes than players (${players})`);
  if (problems.length > 0) throw new OptionsError(problems.join('\n'));

  return {
    players,
    durationS,
    talkEveryS,
    maxTalkers,
    endpoint,
    targets,
    inferenceMetrics,
    aoi: !v['no-aoi'],
    processes,
    server: v.server as ServerPlacement,
    inputHz,
    tracked,
    json: v.json,
    outDir: v.out,
    allowRemote: v['allow-remote'],
    seed,
    cpuProfDir: v['cpu-prof'],
    rampTimeoutS,
    soakMin,
    settleS,
    sampleEveryS,
    findKnee,
  };
}

/** True for 127.0.0.0/8, ::1 (and its IPv4-mapped forms) and `localhost`. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost') return true;
  if (isIP(h) === 4) return h.split('.')[0] === '127';
  if (isIP(h) === 6) {
    if (h === '::1' || h === '0:0:0:0:0:0:0:1') return true;
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(h);
    return mapped ? isLoopbackHost(mapped[1]!) : false;
  }
  return false;
}

/** Returns a problem description, or undefined when the endpoint may be loaded. */
export function checkEndpoint(endpoint: string, allowRemote: boolean): string | undefined {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    return `--endpoint ${JSON.stringify(endpoint)}: not a URL (expected e.g. ws://127.0.0.1:2567)`;
  }
  if (!['ws:', 'wss:', 'http:', 'https:'].includes(url.protocol)) return `--endpoint ${JSON.stringify(endpoint)}: expected a ws://, wss://, http:// or https:// URL`;
  if (!allowRemote && !isLoopbackHost(url.hostname)) {
    return `--endpoint ${JSON.stringify(endpoint)}: refusing to load a non-loopback host (${url.hostname}); load tests stay on 127.0.0.0/8, ::1 and localhost unless you pass --allow-remote`;
  }
  return undefined;
}

/** The HTTP base URL of a server's WebSocket endpoint (where /metrics is served). */
export function httpBase(endpoint: string): string {
  const url = new URL(endpoint);
  url.protocol = url.protocol === 'wss:' || url.protocol === 'https:' ? 'https:' : 'http:';
  url.pathname = '';
  return url.toString().replace(/\/+$/, '');
}
