/**
 * Rooms across processes (REDIS_URL): two real game processes (`server/src/main.ts`, as `npm start` runs
 * it) on loopback, sharing a real redis-server and one SQLite file, with real SDK clients.
 *
 * One shard holds three players (MAX_CLIENTS_PER_ROOM=3), so the suite can fill it and watch the
 * matchmaker open the next one on the other process. Both processes run NPC brains on the default
 * model's untrained twin (a random model picks between [[none]] and the give about evenly) with Bram
 * able only to hand over his one horseshoe.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client as RawClient, type Room } from '@colyseus/sdk';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WorldAuth, type WorldClient } from '../../client-sdk/src/index.ts';
import { ConfigSchema } from '../../server/src/config.ts';
import { SqliteStore } from '../../server/src/persistence/sqlite-store.ts';
import { buildUntrainedTwin } from '../../tools/eval/baseline.ts';
import { npcDirWith, stationaryBramGivingOneHorseshoe, walkUpTo } from '../support/npc-fixtures.ts';
import { redisAvailable, startRedis, type TestRedis } from '../support/redis-server.ts';
import { freePort, spawnServer, waitForOutput, type ServerProcess } from '../support/server-process.ts';
import { closed, connect, signedInRawClient, waitFor } from '../support/world-server.ts';

const FORGE = { x: 150, z: 70 };
const haveRedis = redisAvailable();
if (!haveRedis && process.env.CI === 'true') throw new Error('redis-server is not installed (apt-get install -y redis-server); CI must run the cluster suite');

interface GameProcess extends ServerProcess {
  endpoint: string;
  name: 'A' | 'B';
}

/** This process's live world rooms, from its own /metrics. */
async function roomsIn(p: GameProcess): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${p.port}/metrics`, { signal: AbortSignal.timeout(5_000) });
  const m = /^worldmind_rooms\{type="world"\} (\d+)$/m.exec(await res.text());
  if (!m) throw new Error(`process ${p.name} reports no worldmind_rooms`);
  return Number(m[1]);
}

/** Stops a process: SIGTERM, bounded, then SIGKILL. */
async function stopProcess(p: ServerProcess): Promise<void> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return;
  p.child.kill('SIGTERM');
  const done = await Promise.race([p.exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 12_000))]);
  if (!done) {
    p.child.kill('SIGKILL');
    await Promise.race([p.exited, new Promise((r) => setTimeout(r, 3_000))]);
  }
}

/** Cuts the TCP connection under the SDK without a close handshake, like a network drop. */
function severConnection(room: { connection: unknown }): void {
  const ws = (room.connection as { transport: { ws: { terminate?: () => void; close: () => void } } }).transport.ws;
  if (ws.terminate) ws.terminate();
  else ws.close();
}

describe.skipIf(!haveRedis)('rooms across processes (Redis presence and driver)', () => {
  let redis: TestRedis | undefined;
  let probe: Redis | undefined;
  const procs: GameProcess[] = [];
  const clients: WorldClient[] = [];
  const rawRooms: Room[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'wm-cluster-'));
  const dbPath = join(dir, 'world.sqlite');
  let a: GameProcess;
  let b: GameProcess;

  beforeAll(async () => {
    redis = await startRedis();
    probe = new Redis(redis.url, { maxRetriesPerRequest: 1, connectTimeout: 5_000 });
    const model = buildUntrainedTwin(ConfigSchema.shape.MODEL_DIR.parse(undefined), join(dir, 'model'), 1);
    const env = {
      REDIS_URL: redis.url,
      DB_PATH: dbPath,
      MODEL_DIR: model.dir,
      NPC_DIR: npcDirWith({ bram: stationaryBramGivingOneHorseshoe }),
      INFERENCE_THREADS: '1',
      MAX_CLIENTS_PER_ROOM: '3',
      RECONNECT_WINDOW_S: '15',
      RUN_SPEED: '30',
      TALK_BURST: '100',
      TALK_PER_SECOND: '100',
      NPC_GIVE_COOLDOWN_S: '0',
      GUEST_SIGNUP_BURST: '0',
      JOIN_BURST: '100',
    };
    // One after the other: the first creates the shared SQLite file's schema.
    for (const name of ['A', 'B'] as const) {
      const port = await freePort();
      const proc = spawnServer({ ...env, PORT: String(port), PUBLIC_ADDRESS: `127.0.0.1:${port}` });
      const p: GameProcess = Object.assign(proc, { port, endpoint: `ws://127.0.0.1:${port}`, name });
      procs.push(p);
      await waitForOutput(p, /worldmind server listening/, 60_000);
    }
    [a, b] = procs as [GameProcess, GameProcess];
  }, 120_000);

  afterAll(async () => {
    const bounded = <T>(p: Promise<T>) => Promise.race([p, new Promise((r) => setTimeout(r, 3_000))]);
    for (const c of clients) await bounded(c.leave().catch(() => undefined));
    for (const r of rawRooms) await bounded(r.leave().catch(() => undefined));
    for (const p of procs) await stopProcess(p);
    probe?.disconnect();
    await redis?.stop();
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  let secondRoom = '';

  /** After the second shard opened: the process hosting the first shard (Bob's), and the other. */
  async function hostAndOther2(): Promise<[GameProcess, GameProcess]> {
    const counts = await Promise.all(procs.map(roomsIn));
    expect(counts).toEqual([1, 1]);
    // Bob's room is the first shard; the process hosting it is the one Bob's WebSocket is connected to.
    const url = String((bob.room.connection as unknown as { transport: { ws: { url: string } } }).transport.ws.url);
    return url.includes(`:${a.port}/`) ? [a, b] : [b, a];
  }

  /** Which process hosts the one shard open so far, and the other. */
  async function hostAndOther(): Promise<[GameProcess, GameProcess]> {
    const counts = await Promise.all(procs.map(roomsIn));
    expect(counts.reduce((x, y) => x + y, 0)).toBe(1);
    return counts[0] === 1 ? [a, b] : [b, a];
  }

  let ada: WorldClient;
  let adaAuth: WorldAuth;
  let bob: WorldClient;
  let cara: Room;

  it('players who ask different processes join the same world shard, see and chat with each other', async () => {
    expect(a.output()).toMatch(/"publicAddress":"127\.0\.0\.1:\d+"/);
    adaAuth = new WorldAuth({ endpoint: a.endpoint });
    ada = await connect(a.endpoint, 'Ada', { auth: adaAuth });
    clients.push(ada);
    bob = await connect(b.endpoint, 'Bob', { reconnect: { minUptimeMs: 0, minDelayMs: 50, maxDelayMs: 200 } });
    clients.push(bob);
    expect(bob.roomId).toBe(ada.roomId);
    // One shard in the whole cluster: one of the two players was sent by its matchmaker to the other process.
    await hostAndOther();

    await waitFor('Ada sees Bob', () => ada.avatars.get(bob.sessionId));
    await waitFor('Bob sees Ada', () => bob.avatars.get(ada.sessionId));
    const bobHears = bob.next('chat', 10_000, (m) => m.text === 'Morning, Bob!');
    ada.say('Morning, Bob!');
    const [heard] = await bobHears;
    expect(heard.name).toBe('Ada');
    const adaHears = ada.next('chat', 10_000, (m) => m.text === 'Morning, Ada.');
    bob.say('Morning, Ada.');
    expect((await adaHears)[0].from).toBe(bob.sessionId);
  });

  it('a dropped player reconnects: by itself to the hosting process, or through the other process\'s matchmaker', async () => {
    const [, other] = await hostAndOther();

    // The SDK's own reconnection (straight to the room's process, at its public address).
    const sessionId = bob.sessionId;
    const reconnected = bob.next('reconnect', 15_000);
    severConnection(bob.room);
    await reconnected;
    expect(bob.sessionId).toBe(sessionId);
    expect(bob.roomId).toBe(ada.roomId);
    await waitFor('Ada sees Bob connected again', () => ada.avatars.get(sessionId)?.connected === true, 10_000);

    // A plain client that lost its room asks the process that does not host it: the matchmaker there
    // checks the reconnection token with the hosting process (Redis) and sends it back to its seat.
    const raw = await signedInRawClient(a.endpoint);
    cara = await raw.joinOrCreate('world', { name: 'Cara' });
    expect(cara.roomId).toBe(ada.roomId);
    const caraSession = cara.sessionId;
    const token = cara.reconnectionToken;
    cara.reconnection.enabled = false;
    const left = closed(cara, 10_000);
    severConnection(cara);
    await left;
    await waitFor('Ada sees Cara held as disconnected', () => ada.avatars.get(caraSession)?.connected === false, 10_000);
    cara = await new RawClient(other.endpoint).reconnect(token);
    rawRooms.push(cara);
    expect(cara.sessionId).toBe(caraSession);
    await waitFor('Ada sees Cara connected again', () => ada.avatars.get(caraSession)?.connected === true, 10_000);
  });

  it('an NPC speaks to a shard of players from both processes; the item it hands out in one process is in the inventory a room of the other process loads; a new login there takes the old session over', async () => {
    const [host, other] = await hostAndOther();
    const firstRoom = ada.roomId;
    await walkUpTo(ada, 'bram', FORGE);
    // Bob, who asked the other process's matchmaker, stands by: he sees Bram's speech bubble.
    await walkUpTo(bob, 'bram', FORGE, 6);
    const bubbles: string[] = [];
    bob.on('npcChange', (npc) => npc.id === 'bram' && npc.speech && bubbles.push(npc.speech));
    let given = false;
    // The random model chooses between [[none]] and the give about evenly: bounded at 40 turns.
    for (let attempt = 0; attempt < 40 && !given; attempt++) {
      const turn = ada.talk('bram', attempt % 2 ? 'Could I have a horseshoe for luck?' : 'Anything for luck?');
      for await (const _ of turn) void _;
      given = (await turn.result).action?.name === 'give_item';
    }
    expect(given).toBe(true);
    await waitFor('the horseshoe in Ada\'s replicated inventory', () => ada.me?.inventory.horseshoe === 1, 10_000);
    expect(bubbles.length).toBeGreaterThan(0);

    // The shard is full (Ada, Bob, Cara), so a new login of Ada's account opens the next shard on the
    // process with fewer rooms — the other one — once the host's room count has reached Redis.
    const deadline = Date.now() + 10_000;
    for (;;) {
      const counts = await probe!.hgetall('roomcount'); // Colyseus's per-process "rooms,ccu", persisted at most once a second
      if (Object.values(counts).length === 2 && Object.values(counts).some((c) => c.startsWith('1,'))) break;
      if (Date.now() > deadline) throw new Error(`room counts never reached Redis: ${JSON.stringify(counts)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const oldSession = ada.sessionId;
    const takenOver = ada.next('leave', 15_000);
    const again = await connect(host.endpoint, 'Ada', { auth: adaAuth });
    clients.push(again);
    expect(again.roomId).not.toBe(firstRoom);
    expect(await roomsIn(other)).toBe(1);
    expect(await roomsIn(host)).toBe(1);
    // The old session, in the other process, ended as taken over (one session per account, cluster-wide).
    const [code] = await takenOver;
    expect(code).toBe(4409);
    await waitFor('Ada\'s avatar gone from the first shard', () => !bob.avatars.has(oldSession), 10_000);
    // The other process read the shared store when it seated her.
    await waitFor('the horseshoe in the inventory the other process loaded', () => again.me?.inventory.horseshoe === 1, 10_000);
    const store = SqliteStore.open(dbPath);
    try {
      expect(await store.npcInventory('bram')).toEqual({ horseshoe: 0 });
      expect(await store.playerInventory(again.accountId!)).toMatchObject({ horseshoe: 1 });
    } finally {
      await store.close();
    }
    secondRoom = again.roomId;
  });

  it('when a game process dies, its players join again through another process', async () => {
    const [host, other] = await hostAndOther2();
    // Bob and Cara are in the first shard, on `host`; Ada's second login is in the second shard, on `other`.
    // Cara's raw client would retry the dead process for a minute with the SDK's default backoff, logging
    // each attempt after this file has ended (vitest then fails the run): she just leaves when it dies.
    cara.reconnection.enabled = false;
    const caraLeft = closed(cara, 10_000);
    host.child.kill('SIGKILL');
    await host.exited;
    await caraLeft;
    const bobLeft = bob.next('leave', 20_000); // the SDK's reconnection attempts to a dead process run out
    // Bob signs in again through the surviving process (its device secret is his account).
    const bobAgain = await connect(other.endpoint, 'Bob', { deviceSecret: bob.deviceSecret! });
    clients.push(bobAgain);
    expect(bobAgain.accountId).toBe(bob.accountId);
    // The dead process's shard is still listed in Redis until a seat reservation to it times out and the
    // health check drops the process's rooms: the matchmaker then seats him in the shard that lives.
    expect(bobAgain.roomId).toBe(secondRoom);
    await waitFor('the second shard sees Bob', () => [...clients].some((c) => c !== bobAgain && c.roomId === secondRoom && c.avatars.has(bobAgain.sessionId)), 10_000);
    await bobLeft.catch(() => undefined);
    expect(await roomsIn(other)).toBe(1);
  });
});
