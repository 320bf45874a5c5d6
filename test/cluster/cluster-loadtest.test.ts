/**
 * `npm run loadtest -- --target …` against a real `npm run cluster -- --games 2 --inference 1` on loopback:
 * bots join through both game processes, shards small enough that the matchmaker opens one on each process;
 * the report has a row per game process (its own CCU and tick times, read from its /metrics) and one for the
 * inference service (decode batch sizes and tokens, read from its /metrics) that served an NPC turn made
 * during the window. Then SIGTERM stops the cluster, and neither command leaves a process behind.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import type { ClusterReport } from '../../loadtest/src/cluster.ts';
import { OptionsError, parseOptions } from '../../loadtest/src/options.ts';
import { ConfigSchema } from '../../server/src/config.ts';
import { buildUntrainedTwin } from '../../tools/eval/baseline.ts';
import { npcDirWith, stationaryBramGivingOneHorseshoe, walkUpTo } from '../support/npc-fixtures.ts';
import { redisAvailable } from '../support/redis-server.ts';
import { consecutiveFreePorts } from '../support/server-process.ts';
import { connect } from '../support/world-server.ts';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const haveRedis = redisAvailable();
if (!haveRedis && process.env.CI === 'true') throw new Error('redis-server is not installed (apt-get install -y redis-server); CI must run the cluster suite');

async function waitUntil(what: string, check: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** Processes still alive in a process group (zombies are dead already); '' when none. */
function groupLeftovers(pgid: number): string {
  try {
    return execFileSync('ps', ['-o', 'pid=,stat=,args=', '-g', String(pgid)], { encoding: 'utf8' })
      .split('\n')
      .filter((line) => line.trim() && !/^\s*\d+\s+Z/.test(line))
      .join('\n')
      .trim();
  } catch {
    return ''; // ps exits 1 when the group is empty
  }
}

describe('loadtest --target options', () => {
  const base = ['--players', '10', '--duration', '5'];
  it('takes the game processes and inference services as lists, one bot process per game process', () => {
    const o = parseOptions([...base, '--target', 'ws://127.0.0.1:2567, ws://127.0.0.1:2568/', '--inference-metrics', 'http://127.0.0.1:2569']);
    expect(o).toMatchObject({ targets: ['ws://127.0.0.1:2567', 'ws://127.0.0.1:2568'], endpoint: 'ws://127.0.0.1:2567', inferenceMetrics: ['http://127.0.0.1:2569'], processes: 2 });
    expect(parseOptions(['--players', '1', '--duration', '5', '--target', 'ws://127.0.0.1:2567,ws://127.0.0.1:2568']).processes).toBe(1);
    expect(parseOptions(base)).toMatchObject({ targets: undefined, inferenceMetrics: [] });
  });

  it('refuses remote hosts, duplicates and options that do not combine, naming each problem', () => {
    const problems = (args: string[]) => {
      try {
        parseOptions([...base, ...args]);
      } catch (err) {
        expect(err).toBeInstanceOf(OptionsError);
        return (err as Error).message;
      }
      throw new Error(`accepted ${args.join(' ')}`);
    };
    expect(problems(['--target', 'ws://10.0.0.5:2567'])).toMatch(/--target "ws:\/\/10.0.0.5:2567": refusing to load a non-loopback host/);
    expect(problems(['--target', 'ws://127.0.0.1:2567', '--inference-metrics', 'http://10.0.0.7:2568'])).toMatch(/--inference-metrics .*non-loopback/);
    expect(problems(['--target', 'ws://127.0.0.1:2567,ws://127.0.0.1:2567'])).toMatch(/listed twice/);
    expect(problems(['--target', 'ws://127.0.0.1:2567', '--endpoint', 'ws://127.0.0.1:2567'])).toMatch(/--endpoint and --target/);
    expect(problems(['--inference-metrics', 'http://127.0.0.1:2569'])).toMatch(/only applies with --target/);
    expect(problems(['--target', ','])).toMatch(/at least one game process/);
    expect(() => parseOptions(['--soak', '1', '--target', 'ws://127.0.0.1:2567'])).toThrow(/--soak reads one server/);
  });
});

describe.skipIf(!haveRedis)('npm run loadtest -- --target (a cluster)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'wm-cluster-loadtest-'));
  const children: ChildProcess[] = [];
  /** Redis and the inference service run in process groups of their own: checked by pid. */
  const pids: number[] = [];

  afterAll(() => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) process.kill(-c.pid!, 'SIGKILL');
    for (const c of children) if (groupLeftovers(c.pid!)) process.kill(-c.pid!, 'SIGKILL');
    for (const pid of pids) if (alive(pid)) process.kill(pid, 'SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('reports tick and CCU per game process and batch sizes of the inference service', async () => {
    const model = buildUntrainedTwin(ConfigSchema.shape.MODEL_DIR.parse(undefined), join(dir, 'model'), 1);
    const port = await consecutiveFreePorts(3);
    const cluster = spawn(process.execPath, ['--import', 'tsx', 'tools/cluster/cli.ts', '--games', '2', '--inference', '1', '--port', String(port)], {
      cwd: repoRoot,
      env: {
        ...process.env,
        REDIS_URL: '',
        HOST: '127.0.0.1',
        LOG_LEVEL: 'warn',
        DB_PATH: join(dir, 'cluster.sqlite'),
        MODEL_DIR: model.dir,
        NPC_DIR: npcDirWith({ bram: stationaryBramGivingOneHorseshoe }),
        INFERENCE_THREADS: '1',
        // Four seats a shard: seven players make two shards, and the second opens on the process with fewer rooms.
        MAX_CLIENTS_PER_ROOM: '4',
        GUEST_SIGNUP_BURST: '0',
        RUN_SPEED: '30',
        TALK_BURST: '100',
        TALK_PER_SECOND: '100',
        NPC_FIRST_TOKEN_DEADLINE_MS: '60000',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    children.push(cluster);
    let clusterOut = '';
    cluster.stdout!.on('data', (d) => (clusterOut += d));
    cluster.stderr!.on('data', (d) => (clusterOut += d));
    const clusterExited = new Promise<number | null>((resolve) => cluster.once('exit', (code) => resolve(code)));
    await waitUntil('"cluster ready"', () => {
      if (cluster.exitCode !== null) throw new Error(`cluster exited during start-up:\n${clusterOut}`);
      return /"msg":"cluster ready"/.test(clusterOut);
    }, 150_000);
    const ready = JSON.parse(clusterOut.split('\n').find((l) => l.includes('"msg":"cluster ready"'))!) as {
      redisPid: number;
      games: { endpoint: string; pid: number }[];
      inference: { port: number; pid: number }[];
      loadtest: string;
    };
    pids.push(ready.redisPid, ...ready.inference.map((s) => s.pid));
    const targets = ready.games.map((g) => g.endpoint).join(',');
    const inferenceMetrics = `http://127.0.0.1:${ready.inference[0]!.port}`;
    // The ready line tells the operator exactly this command.
    expect(ready.loadtest).toContain(`--target ${targets} --inference-metrics ${inferenceMetrics}`);

    const loadtest = spawn(
      process.execPath,
      ['--import', 'tsx', 'loadtest/src/cli.ts', '--target', targets, '--inference-metrics', inferenceMetrics, '--players', '6', '--duration', '8', '--talk-every', '0', '--json', '--out', join(dir, 'reports')],
      { cwd: repoRoot, env: { ...process.env, LOG_LEVEL: 'error' }, stdio: ['ignore', 'pipe', 'pipe'], detached: true },
    );
    children.push(loadtest);
    let stdout = '';
    let stderr = '';
    loadtest.stdout!.on('data', (d) => (stdout += d));
    loadtest.stderr!.on('data', (d) => (stderr += d));
    const loadtestExited = new Promise<number | null>((resolve) => loadtest.once('exit', (code) => resolve(code)));

    // One NPC turn inside the measured window, so the service has batches to report (the bots' own talking
    // depends on how long they take to walk to an NPC).
    await waitUntil('the measured phase', () => /measuring for 8 s/.test(stderr) || loadtest.exitCode !== null, 60_000);
    const ada = await connect(ready.games[0]!.endpoint, 'Ada', { reconnect: { enabled: false } });
    await walkUpTo(ada, 'bram', { x: 150, z: 70 });
    const turn = await ada.talk('bram', 'Good day, smith!').result;
    expect(turn.finishReason).not.toBe('fallback');

    const code = await Promise.race([loadtestExited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 90_000))]);
    expect(code, stderr).toBe(0);
    await ada.leave();
    expect(groupLeftovers(loadtest.pid!), 'loadtest processes left behind').toBe('');

    const summary = JSON.parse(stdout.trim().split('\n').at(-1)!) as { joined: number; join_failures: number; tick_ms: { p99: number | null }; cluster: ClusterReport };
    expect(summary).toMatchObject({ joined: 6, join_failures: 0 });
    expect(summary.tick_ms.p99).toBeGreaterThan(0);
    const { games, inference, totals } = summary.cluster;
    expect(games.map((g) => g.endpoint)).toEqual(ready.games.map((g) => g.endpoint.replace(/^ws:/, 'http:')));
    for (const g of games) {
      expect(g.read).toBe(true);
      // Both processes host a shard: each has players of its own and ticked through the window.
      expect(g.ccu.peak, g.endpoint).toBeGreaterThanOrEqual(1);
      expect(g.rooms).toBeGreaterThanOrEqual(1);
      expect(g.ticks).toBeGreaterThan(0);
      expect(g.tick_ms.p99).toBeGreaterThan(0);
    }
    expect(totals.ccu_peak).toBeGreaterThanOrEqual(6);
    // Ada's turn, counted by the process that hosts her shard.
    expect(games.reduce((n, g) => n + (g.npc_turns ?? 0), 0)).toBeGreaterThanOrEqual(1);
    expect(inference).toHaveLength(1);
    expect(inference[0]).toMatchObject({ read: true });
    expect(inference[0]!.requests).toBeGreaterThanOrEqual(1);
    expect(inference[0]!.decode_steps).toBeGreaterThan(0);
    expect(inference[0]!.batch.mean).toBeGreaterThanOrEqual(1);
    expect(inference[0]!.tokens).toBeGreaterThan(0);
    // The human tables come before the JSON line.
    expect(stdout).toMatch(/per game process/);
    expect(stdout).toMatch(/per inference service/);

    cluster.kill('SIGTERM');
    const clusterCode = await Promise.race([clusterExited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 40_000))]);
    expect(clusterCode, clusterOut.slice(-3000)).toBe(0);
    expect(groupLeftovers(cluster.pid!), 'cluster processes left behind').toBe('');
    for (const pid of [...pids, ...ready.games.map((g) => g.pid)]) expect(alive(pid), `pid ${pid} still running`).toBe(false);
  }, 300_000);
});
