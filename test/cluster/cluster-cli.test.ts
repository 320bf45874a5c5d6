/**
 * `npm run cluster`: one command starts Redis and N game processes on PORT, PORT+1, …; players who ask
 * either process share the world; SIGTERM stops everything in order and leaves no process behind; a game
 * process that dies takes the cluster down (exit 1) rather than leaving half of it running. With
 * `--inference 1` it also starts an inference service that the game processes' NPC turns go to, restarts it
 * when it dies, and stops it after the game processes and before Redis.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigSchema } from '../../server/src/config.ts';
import { buildUntrainedTwin } from '../../tools/eval/baseline.ts';
import { npcDirWith, stationaryBramGivingOneHorseshoe, walkUpTo } from '../support/npc-fixtures.ts';
import { redisAvailable } from '../support/redis-server.ts';
import { consecutiveFreePorts } from '../support/server-process.ts';
import { connect } from '../support/world-server.ts';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const haveRedis = redisAvailable();
if (!haveRedis && process.env.CI === 'true') throw new Error('redis-server is not installed (apt-get install -y redis-server); CI must run the cluster suite');

interface Ready {
  redisPid: number;
  games: { name: string; port: number; pid: number; endpoint: string }[];
  inference: { name: string; port: number; pid: number; url: string; metrics: string }[];
  loadtest: string;
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

async function waitUntil(what: string, check: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe.skipIf(!haveRedis)('npm run cluster', () => {
  const dir = mkdtempSync(join(tmpdir(), 'wm-cluster-cli-'));
  const started: { cli: ChildProcess; pids: number[] }[] = [];

  afterAll(async () => {
    // Whatever a failed test left running.
    for (const s of started) {
      if (s.cli.exitCode === null && s.cli.signalCode === null) s.cli.kill('SIGKILL');
      for (const pid of s.pids) if (alive(pid)) process.kill(pid, 'SIGKILL');
    }
    rmSync(dir, { recursive: true, force: true });
  });

  async function startCluster(name: string, env: Record<string, string> = {}, inference = 0): Promise<{ cli: ChildProcess; ready: Ready; output: () => string; exited: Promise<number | null> }> {
    // Game ports P, P+1, then the inference services' (by default the ports after the games').
    const port = await consecutiveFreePorts(2 + inference);
    const cli = spawn(process.execPath, ['--import', 'tsx', 'tools/cluster/cli.ts', '--games', '2', '--port', String(port), '--inference', String(inference)], {
      cwd: repoRoot,
      env: { ...process.env, REDIS_URL: '', NPC_ENABLED: 'false', DB_PATH: join(dir, `${name}.sqlite`), HOST: '127.0.0.1', LOG_LEVEL: 'info', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const entry = { cli, pids: [] as number[] };
    started.push(entry);
    let out = '';
    cli.stdout!.on('data', (d) => (out += d));
    cli.stderr!.on('data', (d) => (out += d));
    const exited = new Promise<number | null>((resolve) => cli.once('exit', (code) => resolve(code)));
    await waitUntil('"cluster ready"', () => {
      if (cli.exitCode !== null) throw new Error(`cluster exited during start-up:\n${out}`);
      return /"msg":"cluster ready"/.test(out);
    }, 150_000);
    const line = out.split('\n').find((l) => l.includes('"msg":"cluster ready"'))!;
    const ready = JSON.parse(line) as Ready;
    entry.pids.push(ready.redisPid, ...ready.games.map((g) => g.pid), ...ready.inference.map((s) => s.pid));
    expect(ready.games.map((g) => g.port)).toEqual([port, port + 1]);
    expect(ready.inference.map((s) => s.port)).toEqual(Array.from({ length: inference }, (_, i) => port + 2 + i));
    return { cli, ready, output: () => out, exited };
  }

  it('starts Redis and two game processes that share the world; SIGTERM stops them all in order', async () => {
    const { cli, ready, output, exited } = await startCluster('ordered');
    const [g1, g2] = ready.games as [Ready['games'][0], Ready['games'][0]];
    const ada = await connect(g1.endpoint, 'Ada', { reconnect: { enabled: false } });
    const bob = await connect(g2.endpoint, 'Bob', { reconnect: { enabled: false } });
    expect(bob.roomId).toBe(ada.roomId);
    const adaLeft = ada.next('leave', 20_000);

    cli.kill('SIGTERM');
    const code = await Promise.race([exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 30_000))]);
    expect(code).toBe(0);
    expect((await adaLeft)[0]).toBe(4001); // server shutdown, not a dropped connection
    for (const pid of [ready.redisPid, g1.pid, g2.pid]) expect(alive(pid), `pid ${pid} still running`).toBe(false);
    // Game processes stopped before Redis: each finished its shutdown (rooms out of Redis) before "cluster stopped".
    const lines = output().split('\n');
    const stoppedAt = lines.findIndex((l) => l.includes('"msg":"cluster stopped"'));
    expect(stoppedAt).toBeGreaterThan(0);
    for (const g of ['game-1', 'game-2']) {
      const done = lines.findIndex((l) => l.includes('"msg":"shutdown complete"') && l.includes(`"proc":"${g}"`));
      expect(done, `${g} shutdown complete`).toBeGreaterThan(-1);
      expect(done).toBeLessThan(stoppedAt);
    }
  });

  it('refuses inference ports that overlap the game ports, and bad counts, before starting anything', async () => {
    const run = (args: string[]) =>
      new Promise<{ code: number | null; err: string }>((resolve) => {
        const cli = spawn(process.execPath, ['--import', 'tsx', 'tools/cluster/cli.ts', ...args], { cwd: repoRoot, env: { ...process.env, REDIS_URL: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
        let err = '';
        cli.stderr!.on('data', (d) => (err += d));
        const timer = setTimeout(() => cli.kill('SIGKILL'), 30_000);
        cli.once('exit', (code) => {
          clearTimeout(timer);
          resolve({ code, err });
        });
      });
    const clash = await run(['--games', '2', '--port', '3000', '--inference', '1', '--inference-port', '3001']);
    expect(clash.code).toBe(2);
    expect(clash.err).toMatch(/inference ports 3001 overlap the game ports 3000, 3001/);
    const tooMany = await run(['--inference', '99']);
    expect(tooMany.code).toBe(2);
    expect(tooMany.err).toMatch(/--inference: /);
  });

  it('a game process that dies takes the whole cluster down, leaving no process behind', async () => {
    // Readiness does not hang on log lines: at LOG_LEVEL=warn the game processes print none.
    const { ready, exited, output } = await startCluster('crash', { LOG_LEVEL: 'warn' });
    process.kill(ready.games[1]!.pid, 'SIGKILL');
    const code = await Promise.race([exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 30_000))]);
    expect(code).toBe(1);
    expect(output()).toMatch(/game-2 exited unexpectedly/);
    for (const pid of [ready.redisPid, ...ready.games.map((g) => g.pid)]) expect(alive(pid), `pid ${pid} still running`).toBe(false);
  });
  it('--inference 1: NPC turns go to the service it started, a dead service is restarted, SIGTERM stops games, then the service, then Redis', async () => {
    // The default model's untrained twin (same tokenizer and template, random weights): the subject is where
    // the turn runs, not what the model says.
    const model = buildUntrainedTwin(ConfigSchema.shape.MODEL_DIR.parse(undefined), join(dir, 'model'), 1);
    const { cli, ready, output, exited } = await startCluster(
      'inference',
      {
        NPC_ENABLED: 'true',
        MODEL_DIR: model.dir,
        NPC_DIR: npcDirWith({ bram: stationaryBramGivingOneHorseshoe }),
        RUN_SPEED: '30',
        TALK_BURST: '100',
        TALK_PER_SECOND: '100',
        INFERENCE_THREADS: '1',
        // Far beyond the waits below: a fallback seen before the kill would be a failure, not the clock.
        NPC_FIRST_TOKEN_DEADLINE_MS: '60000',
      },
      1,
    );
    const [service] = ready.inference as [Ready['inference'][0]];
    expect(ready.loadtest).toContain(`--inference-metrics http://127.0.0.1:${service.port}`);
    const requests = async () => {
      const text = await (await fetch(service.metrics, { signal: AbortSignal.timeout(5_000) })).text();
      return [...text.matchAll(/^worldmind_inference_requests_total\{api="engine",outcome="[^"]+"\} (\d+)$/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
    };
    expect(await requests()).toBe(0);

    // A player on the second game process talks to Bram: the turn is generated by the service.
    const ada = await connect(ready.games[1]!.endpoint, 'Ada', { reconnect: { enabled: false } });
    await walkUpTo(ada, 'bram', { x: 150, z: 70 });
    const turn = ada.talk('bram', 'Good day, smith! Anything for luck?');
    const chunks: string[] = [];
    for await (const chunk of turn) chunks.push(chunk.text);
    const result = await turn.result;
    expect(result.finishReason).not.toBe('fallback');
    expect(chunks.length).toBeGreaterThan(0);
    expect(await requests()).toBe(1);

    // The service dies: the cluster restarts it on its port, and the game process uses it again by itself.
    process.kill(service.pid, 'SIGKILL');
    await waitUntil('"inference-1 restarted"', () => /"msg":"inference-1 restarted"/.test(output()), 120_000);
    const restarted = JSON.parse(output().split('\n').find((l) => l.includes('"msg":"inference-1 restarted"'))!) as { pid: number; port: number };
    expect(restarted.port).toBe(service.port);
    expect(restarted.pid).not.toBe(service.pid);
    started.at(-1)!.pids.push(restarted.pid);
    expect(output()).toMatch(/inference-1 exited unexpectedly \(exit SIGKILL\); restarting it/);
    let again: Awaited<typeof turn.result> | undefined;
    // Until the game process has reconnected (backoff up to 2 s) a turn is a scripted fallback: bounded retries.
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      again = await ada.talk('bram', 'Are you back at the anvil?').result;
      if (again.finishReason !== 'fallback') break;
      await new Promise((r) => setTimeout(r, 500));
    }
    expect(again?.finishReason).not.toBe('fallback');
    expect(await requests()).toBe(1); // the fresh process's own counter: this turn was served by it

    const adaLeft = ada.next('leave', 20_000);
    cli.kill('SIGTERM');
    const code = await Promise.race([exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 40_000))]);
    expect(code).toBe(0);
    expect((await adaLeft)[0]).toBe(4001);
    for (const pid of [ready.redisPid, restarted.pid, ...ready.games.map((g) => g.pid)]) expect(alive(pid), `pid ${pid} still running`).toBe(false);
    // Order: both game processes finished their shutdown before the service stopped, and it before "cluster stopped".
    const lines = output().split('\n');
    const serviceStopped = lines.findIndex((l) => l.includes('"msg":"inference service stopped"') && l.includes('"proc":"inference-1"'));
    const stoppedAt = lines.findIndex((l) => l.includes('"msg":"cluster stopped"'));
    expect(serviceStopped).toBeGreaterThan(-1);
    expect(stoppedAt).toBeGreaterThan(serviceStopped);
    for (const g of ['game-1', 'game-2']) {
      const done = lines.findIndex((l) => l.includes('"msg":"shutdown complete"') && l.includes(`"proc":"${g}"`));
      expect(done, `${g} shutdown complete`).toBeGreaterThan(-1);
      expect(done).toBeLessThan(serviceStopped);
    }
  }, 300_000);
});
