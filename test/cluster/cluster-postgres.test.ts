/**
 * `npm run cluster -- --postgres`: the cluster starts a throwaway PostgreSQL first, every game process
 * gets its DATABASE_URL (one account store for all: a guest made through one process signs in through the
 * other, and the item it holds is in the room the other seats it in), and SIGTERM stops the games, Redis,
 * then the database, leaving no process and no data directory behind.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { openStore } from '../../server/src/persistence/store.ts';
import { postgresAvailable } from '../support/postgres-server.ts';
import { redisAvailable } from '../support/redis-server.ts';
import { consecutiveFreePorts } from '../support/server-process.ts';
import { connect, waitFor } from '../support/world-server.ts';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const runnable = redisAvailable() && postgresAvailable();
if (!runnable && process.env.CI === 'true') throw new Error('redis-server and postgresql must be installed; CI must run the cluster --postgres suite');

interface Ready {
  redisPid: number;
  database: string;
  databasePid: number;
  games: { name: string; port: number; pid: number; endpoint: string }[];
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe.skipIf(!runnable)('npm run cluster -- --postgres', () => {
  let cli: ChildProcess | undefined;
  const pids: number[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'wm-cluster-pg-'));
  writeFileSync(join(dir, 'blocker'), ''); // a file where DB_PATH needs a directory: SQLite cannot open there
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
    if (cli && cli.exitCode === null && cli.signalCode === null) cli.kill('SIGKILL');
    for (const pid of pids) if (alive(pid)) process.kill(pid, 'SIGKILL');
  });

  it('gives every game process the PostgreSQL it started; SIGTERM stops it last and removes it', async () => {
    const port = await consecutiveFreePorts(2);
    cli = spawn(process.execPath, ['--import', 'tsx', 'tools/cluster/cli.ts', '--games', '2', '--port', String(port), '--postgres'], {
      cwd: repoRoot,
      // DB_PATH where SQLite cannot open (a game would fail to start): the games must not use it.
      env: { ...process.env, REDIS_URL: '', DATABASE_URL: '', NPC_ENABLED: 'false', DB_PATH: join(dir, 'blocker', 'world.sqlite'), HOST: '127.0.0.1', LOG_LEVEL: 'info', GUEST_SIGNUP_BURST: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    cli.stdout!.on('data', (d) => (out += d));
    cli.stderr!.on('data', (d) => (out += d));
    const exited = new Promise<number | null>((resolve) => cli!.once('exit', (code) => resolve(code)));
    await waitFor('"cluster ready"', () => {
      if (cli!.exitCode !== null) throw new Error(`cluster exited during start-up:\n${out}`);
      return /"msg":"cluster ready"/.test(out);
    }, 150_000, 50);
    const ready = JSON.parse(out.split('\n').find((l) => l.includes('"msg":"cluster ready"'))!) as Ready;
    pids.push(ready.redisPid, ready.databasePid, ...ready.games.map((g) => g.pid));
    expect(ready.database).toMatch(/^postgres:\/\/[^@]+@127\.0\.0\.1:\d+\/worldmind$/);
    const started = JSON.parse(out.split('\n').find((l) => l.includes('"msg":"postgres started'))!) as { dir: string };
    expect(existsSync(started.dir)).toBe(true);
    for (const g of ['game-1', 'game-2']) {
      expect(out.split('\n').some((l) => l.includes(`"proc":"${g}"`) && l.includes('"store":"postgres postgres://127.0.0.1:'))).toBe(true);
    }

    // A guest made through game-1 holds an item (as an NPC's give would leave it, written to the shared store) …
    const [g1, g2] = ready.games as [Ready['games'][0], Ready['games'][0]];
    const ada = await connect(g1.endpoint, 'Ada', { reconnect: { enabled: false } });
    const store = await openStore({ dbPath: ':unused:', databaseUrl: ready.database, poolSize: 1 });
    try {
      await store.addPlayerItem(ada.accountId!, 'lantern', 2);
    } finally {
      await store.close();
    }
    const deviceSecret = ada.deviceSecret!;
    await ada.leave();
    // … signs in through game-2 with its device secret (the shared accounts table) and is seated with it.
    const again = await connect(g2.endpoint, 'Ada', { deviceSecret, reconnect: { enabled: false } });
    expect(again.accountId).toBe(ada.accountId);
    await waitFor('the lantern in the inventory game-2 loaded', () => again.me?.inventory.lantern === 2, 10_000);

    cli.kill('SIGTERM');
    const code = await Promise.race([exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 40_000))]);
    expect(code).toBe(0);
    for (const pid of pids) expect(alive(pid), `pid ${pid} still running`).toBe(false);
    // The database went last: after both games finished their shutdown.
    const lines = out.split('\n');
    const stoppedAt = lines.findIndex((l) => l.includes('"msg":"cluster stopped"'));
    for (const g of ['game-1', 'game-2']) {
      const done = lines.findIndex((l) => l.includes('"msg":"shutdown complete"') && l.includes(`"proc":"${g}"`));
      expect(done, `${g} shutdown complete`).toBeGreaterThan(-1);
      expect(done).toBeLessThan(stoppedAt);
    }
    expect(existsSync(started.dir)).toBe(false); // the throwaway database is gone
  }, 240_000);
});
