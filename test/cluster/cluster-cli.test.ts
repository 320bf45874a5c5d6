/**
 * `npm run cluster`: one command starts Redis and N game processes on PORT, PORT+1, …; players who ask
 * either process share the world; SIGTERM stops everything in order and leaves no process behind; a game
 * process that dies takes the cluster down (exit 1) rather than leaving half of it running.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { redisAvailable } from '../support/redis-server.ts';
import { freePort } from '../support/server-process.ts';
import { connect } from '../support/world-server.ts';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const haveRedis = redisAvailable();
if (!haveRedis && process.env.CI === 'true') throw new Error('redis-server is not installed (apt-get install -y redis-server); CI must run the cluster suite');

interface Ready {
  redisPid: number;
  games: { name: string; port: number; pid: number; endpoint: string }[];
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/** A port P with P+1 free too (bounded retries). */
async function twoFreePorts(): Promise<number> {
  for (let i = 0; i < 20; i++) {
    const p = await freePort();
    if (p < 65535 && (await portFree(p + 1))) return p;
  }
  throw new Error('found no two consecutive free ports in 20 tries');
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

  async function startCluster(name: string, env: Record<string, string> = {}): Promise<{ cli: ChildProcess; ready: Ready; output: () => string; exited: Promise<number | null> }> {
    const port = await twoFreePorts();
    const cli = spawn(process.execPath, ['--import', 'tsx', 'tools/cluster/cli.ts', '--games', '2', '--port', String(port)], {
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
    }, 90_000);
    const line = out.split('\n').find((l) => l.includes('"msg":"cluster ready"'))!;
    const ready = JSON.parse(line) as Ready;
    entry.pids.push(ready.redisPid, ...ready.games.map((g) => g.pid));
    expect(ready.games.map((g) => g.port)).toEqual([port, port + 1]);
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

  it('a game process that dies takes the whole cluster down, leaving no process behind', async () => {
    // Readiness does not hang on log lines: at LOG_LEVEL=warn the game processes print none.
    const { ready, exited, output } = await startCluster('crash', { LOG_LEVEL: 'warn' });
    process.kill(ready.games[1]!.pid, 'SIGKILL');
    const code = await Promise.race([exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 30_000))]);
    expect(code).toBe(1);
    expect(output()).toMatch(/game-2 exited unexpectedly/);
    for (const pid of [ready.redisPid, ...ready.games.map((g) => g.pid)]) expect(alive(pid), `pid ${pid} still running`).toBe(false);
  });
});
