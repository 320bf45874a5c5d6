/**
 * DATABASE_URL at start-up, with the real `server/src/main.ts` as `npm start` runs it: a malformed URL is a
 * configuration error naming the variable; a database that cannot be reached stops the process with one
 * line naming it (without its password) and exit 1 — within the connect bound, never a hang. Without
 * DATABASE_URL, a SQLite file that cannot be opened is one line too.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { freePort, spawnServer } from '../support/server-process.ts';

/** The process's exit, or a failure if it is still running after `timeoutMs` (then it is killed). */
async function exitOf(proc: ReturnType<typeof spawnServer>, timeoutMs: number): Promise<{ code: number | null }> {
  const timer = setTimeout(() => proc.child.kill('SIGKILL'), timeoutMs);
  const exit = await proc.exited;
  clearTimeout(timer);
  if (exit.signal === 'SIGKILL') throw new Error(`the server was still running after ${timeoutMs} ms:\n${proc.output()}`);
  return exit;
}

describe('DATABASE_URL at start-up', () => {
  it('a malformed URL is refused as configuration, naming the variable', async () => {
    const proc = spawnServer({ PORT: String(await freePort()), NPC_ENABLED: 'false', DATABASE_URL: 'mysql://db.example/worldmind' });
    expect((await exitOf(proc, 30_000)).code).toBe(1);
    expect(proc.output()).toMatch(/invalid configuration:\n\s+DATABASE_URL="mysql:\/\/db\.example\/worldmind": expected a postgres:\/\/ or postgresql:\/\/ URL/);
  }, 40_000);

  it('an unreachable database stops the start with one clear line, within the connect bound', async () => {
    const dbPort = await freePort(); // nothing listens there
    const proc = spawnServer({
      PORT: String(await freePort()),
      NPC_ENABLED: 'false',
      DATABASE_URL: `postgres://worldmind:hunter2@127.0.0.1:${dbPort}/worldmind`,
      DATABASE_CONNECT_TIMEOUT_MS: '2000',
    });
    expect((await exitOf(proc, 30_000)).code).toBe(1);
    expect(proc.output()).toContain(`worldmind: cannot connect to PostgreSQL at postgres://127.0.0.1:${dbPort}/worldmind within 2000 ms`);
    expect(proc.output()).not.toContain('hunter2');
    expect(proc.output()).not.toMatch(/listening/);
  }, 40_000);

  it('without DATABASE_URL, a SQLite file that cannot be opened stops the start with one line naming it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wm-db-start-'));
    try {
      writeFileSync(join(dir, 'blocker'), ''); // a file where the database's directory should be
      const dbPath = join(dir, 'blocker', 'world.sqlite');
      const proc = spawnServer({ PORT: String(await freePort()), NPC_ENABLED: 'false', DB_PATH: dbPath });
      expect((await exitOf(proc, 30_000)).code).toBe(1);
      expect(proc.output()).toContain(`worldmind: cannot open the SQLite store at ${dbPath}:`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 40_000);
});
