/**
 * State shared across machines (DATABASE_URL): two real game processes (`server/src/main.ts`, as `npm
 * start` runs it) on loopback, sharing one real PostgreSQL (test/support/postgres-server.ts), with real SDK
 * clients. Each process is its own server (no Redis: what they share here is the store alone).
 *
 * Both processes start at once against a new database (the migration runs once, under its lock). An item
 * Bram hands out in one process is in the player's inventory when they sign in to the other with the same
 * device secret (accounts, inventories and the turn log live in the database); his stock stays spent
 * there; after every process is stopped (SIGTERM) and one is started again, the inventory, the stock and
 * the conversation memory are all still there. The NPCs run on the default model's untrained twin (a
 * random model picks between [[none]] and the give about evenly), Bram able only to hand over his one
 * horseshoe.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WorldClient } from '../../client-sdk/src/index.ts';
import { ConfigSchema } from '../../server/src/config.ts';
import { openStore, type WorldStore } from '../../server/src/persistence/store.ts';
import { buildUntrainedTwin } from '../../tools/eval/baseline.ts';
import { npcDirWith, stationaryBramGivingOneHorseshoe, walkUpTo } from '../support/npc-fixtures.ts';
import { postgresAvailable, startPostgres, type TestPostgres } from '../support/postgres-server.ts';
import { freePort, spawnServer, waitForOutput, type ServerProcess } from '../support/server-process.ts';
import { connect, waitFor } from '../support/world-server.ts';

const FORGE = { x: 150, z: 70 };
const havePostgres = postgresAvailable();
if (!havePostgres && process.env.CI === 'true') throw new Error('PostgreSQL is not installed (apt-get install -y postgresql); CI must run the shared-store suite');

interface GameProcess extends ServerProcess {
  endpoint: string;
}

/** SIGTERM (main.ts's ordered shutdown), bounded, then SIGKILL; the exit code. */
async function stopProcess(p: ServerProcess): Promise<number | null> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return p.child.exitCode;
  p.child.kill('SIGTERM');
  const done = await Promise.race([p.exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 15_000))]);
  if (!done) {
    p.child.kill('SIGKILL');
    await Promise.race([p.exited, new Promise((r) => setTimeout(r, 3_000))]);
  }
  return p.child.exitCode;
}

describe.skipIf(!havePostgres)('state shared across game processes in PostgreSQL (DATABASE_URL)', () => {
  let postgres: TestPostgres | undefined;
  let probe: WorldStore | undefined;
  const procs: GameProcess[] = [];
  const clients: WorldClient[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'wm-shared-store-'));
  let env: Record<string, string>;

  const startGame = async (): Promise<GameProcess> => {
    const port = await freePort();
    const proc = spawnServer({ ...env, PORT: String(port) });
    const p: GameProcess = Object.assign(proc, { port, endpoint: `ws://127.0.0.1:${port}` });
    procs.push(p);
    return p;
  };

  beforeAll(async () => {
    postgres = await startPostgres();
    const model = buildUntrainedTwin(ConfigSchema.shape.MODEL_DIR.parse(undefined), join(dir, 'model'), 1);
    writeFileSync(join(dir, 'blocker'), ''); // a file where DB_PATH needs a directory: SQLite cannot open there
    env = {
      DATABASE_URL: postgres.url,
      DATABASE_POOL_SIZE: '4',
      // Not used with DATABASE_URL: a path SQLite cannot open (the start would fail) proves it stays unused.
      DB_PATH: join(dir, 'blocker', 'world.sqlite'),
      MODEL_DIR: model.dir,
      NPC_DIR: npcDirWith({ bram: stationaryBramGivingOneHorseshoe }),
      INFERENCE_THREADS: '1',
      RUN_SPEED: '30',
      TALK_BURST: '100',
      TALK_PER_SECOND: '100',
      NPC_GIVE_COOLDOWN_S: '0',
      NPC_AMBIENT_TALK: 'false',
      GUEST_SIGNUP_BURST: '0',
      JOIN_BURST: '100',
    };
    probe = await openStore({ dbPath: ':unused:', databaseUrl: postgres.url, poolSize: 1 });
  }, 120_000);

  afterAll(async () => {
    const bounded = <T>(p: Promise<T>) => Promise.race([p, new Promise((r) => setTimeout(r, 3_000))]);
    for (const c of clients) await bounded(c.leave().catch(() => undefined));
    for (const p of procs) await stopProcess(p);
    await probe?.close();
    await postgres?.stop();
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  let deviceSecret = '';
  let accountId = '';
  let turnsWithBram = 0;

  it('two processes started at once share one new database; an item handed out in one is in the inventory the other loads', async () => {
    // Both at once: each migrates the empty database under the advisory lock, and only one does the work.
    const [a, b] = await Promise.all([startGame(), startGame()]);
    await Promise.all([waitForOutput(a, /worldmind server listening/, 90_000), waitForOutput(b, /worldmind server listening/, 90_000)]);
    expect(a.output()).toMatch(/"store":"postgres postgres:\/\/127\.0\.0\.1:\d+\/worldmind"/);

    const ada = await connect(a.endpoint, 'Ada');
    clients.push(ada);
    deviceSecret = ada.deviceSecret!;
    accountId = ada.accountId!;
    await walkUpTo(ada, 'bram', FORGE);
    let given = false;
    // The random model chooses between [[none]] and the give about evenly: bounded at 40 turns.
    for (let attempt = 0; attempt < 40 && !given; attempt++) {
      const turn = ada.talk('bram', attempt % 2 ? 'Could I have a horseshoe for luck?' : 'Anything for luck?');
      for await (const _ of turn) void _;
      given = (await turn.result).action?.name === 'give_item';
    }
    expect(given).toBe(true);
    await waitFor('the horseshoe in Ada\'s replicated inventory', () => ada.me?.inventory.horseshoe === 1, 10_000);
    await ada.leave();

    // The same account signs in to the other process (its device secret, checked against the shared
    // accounts table), and the room there seats her with the inventory from the shared database.
    const again = await connect(b.endpoint, 'Ada', { deviceSecret });
    clients.push(again);
    expect(again.accountId).toBe(accountId);
    await waitFor('the horseshoe in the inventory the other process loaded', () => again.me?.inventory.horseshoe === 1, 10_000);
    // Bram's stock is spent for every process: B's own start-up stocking ("missing" items only) gave none back.
    expect(await probe!.npcInventory('bram')).toEqual({ horseshoe: 0 });
    expect(await probe!.playerInventory(accountId)).toEqual({ horseshoe: 1 });
    turnsWithBram = await probe!.countTurns(accountId, 'bram');
    expect(turnsWithBram).toBeGreaterThanOrEqual(2); // her lines and his replies, written through by process A
    expect((await probe!.listTurns({ playerId: accountId, limit: -1 })).length).toBe(turnsWithBram / 2);
    await again.leave();
  }, 300_000);

  it('SIGTERM of every process loses nothing: a process started again serves the same inventory, stock and memory', async () => {
    expect(accountId).not.toBe('');
    for (const p of procs) expect(await stopProcess(p)).toBe(0);
    const c = await startGame();
    await waitForOutput(c, /worldmind server listening/, 90_000);
    const back = await connect(c.endpoint, 'Ada', { deviceSecret });
    clients.push(back);
    expect(back.accountId).toBe(accountId);
    await waitFor('the horseshoe in the inventory after the restart', () => back.me?.inventory.horseshoe === 1, 10_000);
    expect(await probe!.npcInventory('bram')).toEqual({ horseshoe: 0 });
    // Bram still remembers her: the turns the restarted process recalls are the ones written before.
    expect(await probe!.countTurns(accountId, 'bram')).toBe(turnsWithBram);
    await walkUpTo(back, 'bram', FORGE);
    const turn = back.talk('bram', 'Do you remember me?');
    for await (const _ of turn) void _;
    const result = await turn.result;
    const logged = (await probe!.getTurn(result.turnId))!;
    // The prompt of this turn carried her earlier conversation from the database (memory recall).
    const earlier = await probe!.recentTurns(accountId, 'bram', turnsWithBram);
    expect(logged.messages!.map((m) => m.content).join('\n')).toContain(earlier.find((t) => t.role === 'player')!.text);
    expect(await probe!.countTurns(accountId, 'bram')).toBe(turnsWithBram + 2);
  }, 300_000);
});
