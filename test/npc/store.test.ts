/**
 * The world store, one suite over both backends (`describe.each`): SQLite on real files in temp dirs, and a
 * real PostgreSQL (test/support/postgres-server.ts: initdb, a free loopback port, a new database per test).
 * Persistence across close/reopen, atomic NPC → player transfers (clean failure when out of stock,
 * rollback on a failed write, no double spending between two processes or between concurrent calls in
 * one), the replay turn log, ratings, trust, accounts, and memory restored after a restart. Then what
 * only one backend has: SQLite's WAL mode and file migrations, PostgreSQL's migration lock and start-up
 * errors.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ConversationMemory } from '../../server/src/npc/memory.ts';
import { POSTGRES_SCHEMA_VERSION } from '../../server/src/persistence/postgres-migrations.ts';
import { SQLITE_SCHEMA_VERSION } from '../../server/src/persistence/sqlite-migrations.ts';
import { SqliteStore } from '../../server/src/persistence/sqlite-store.ts';
import { openStore, StoreError, StoreUnavailable, type StoreConfig, type WorldStore } from '../../server/src/persistence/store.ts';
import { postgresAvailable, startPostgres, type TestPostgres } from '../support/postgres-server.ts';
import { freePort } from '../support/server-process.ts';
import { tempDir } from './fixtures.ts';

const storeModule = fileURLToPath(new URL('../../server/src/persistence/store.ts', import.meta.url));
const havePostgres = postgresAvailable();
if (!havePostgres && process.env.CI === 'true') throw new Error('PostgreSQL is not installed (apt-get install -y postgresql); CI must run the PostgreSQL store suite');

/** What the shared suite needs from a backend: a fresh empty store's configuration, and a way to break writes. */
interface Backend {
  name: 'sqlite' | 'postgres';
  available: boolean;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** The configuration of a new, empty store (a new file, or a new database). */
  fresh(): Promise<StoreConfig>;
  /** Makes every insert into player_inventory fail, from another connection, the way a full disk or constraint would. */
  breakPlayerInserts(config: StoreConfig): Promise<void>;
}

function sqliteBackend(): Backend {
  let tmp: ReturnType<typeof tempDir> | undefined;
  let n = 0;
  return {
    name: 'sqlite',
    available: true,
    async start() {
      tmp = tempDir('wm-store-');
    },
    async stop() {
      tmp?.cleanup();
    },
    async fresh() {
      return { dbPath: join(tmp!.dir, `t${++n}`, 'world.db') }; // parent directory created on open
    },
    async breakPlayerInserts(config) {
      const raw = new Database(config.dbPath);
      raw.exec(`CREATE TRIGGER fail_player_insert BEFORE INSERT ON player_inventory BEGIN SELECT RAISE(ABORT, 'disk on fire'); END;`);
      raw.close();
    },
  };
}

function postgresBackend(): Backend {
  let server: TestPostgres | undefined;
  let n = 0;
  return {
    name: 'postgres',
    available: havePostgres,
    async start() {
      server = await startPostgres();
    },
    async stop() {
      await server?.stop();
    },
    async fresh() {
      return { dbPath: ':unused:', databaseUrl: await server!.createDatabase(`t${++n}`), poolSize: 4 };
    },
    async breakPlayerInserts(config) {
      const raw = new pg.Client({ connectionString: config.databaseUrl, connectionTimeoutMillis: 5_000 });
      await raw.connect();
      try {
        await raw.query(`CREATE FUNCTION fail_insert() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'disk on fire'; END $$;
                         CREATE TRIGGER fail_player_insert BEFORE INSERT ON player_inventory FOR EACH ROW EXECUTE FUNCTION fail_insert();`);
      } finally {
        await raw.end();
      }
    },
  };
}

describe.each([sqliteBackend(), postgresBackend()])('WorldStore on $name', (backend) => {
  describe.skipIf(!backend.available)(backend.name, () => {
    let config: StoreConfig;
    const open: WorldStore[] = [];
    const openOne = async () => {
      const s = await openStore(config);
      open.push(s);
      return s;
    };

    beforeAll(() => backend.start(), 60_000);
    afterAll(() => backend.stop(), 30_000);
    beforeEach(async () => {
      config = await backend.fresh();
    });
    afterEach(async () => {
      for (const s of open.splice(0)) await s.close();
    });

    it('opens at the current schema version; close is idempotent', async () => {
      const s = await openOne();
      expect(s.backend).toBe(backend.name);
      expect(await s.schemaVersion()).toBe(backend.name === 'sqlite' ? SQLITE_SCHEMA_VERSION : POSTGRES_SCHEMA_VERSION);
      await s.close();
      await s.close();
      expect(s.isOpen).toBe(false);
      const again = await openOne(); // re-opening an up-to-date database migrates nothing
      expect(await again.schemaVersion()).toBe(backend.name === 'sqlite' ? SQLITE_SCHEMA_VERSION : POSTGRES_SCHEMA_VERSION);
    });

    it('keeps turns, inventories and the turn log across a close and reopen', async () => {
      const a = await openOne();
      await a.appendTurn('alice', 'bram', { role: 'player', text: 'Fix my sword?', ts: 1000 });
      await a.appendTurn('alice', 'bram', { role: 'npc', text: 'Come back at noon.', ts: 1001 });
      await a.appendTurn('bob', 'bram', { role: 'player', text: 'Hello', ts: 1002 });
      await a.stockNpc('bram', { horseshoe: 2, whetstone: 1 });
      expect(await a.giveFromNpc('bram', 'alice', 'horseshoe')).toEqual({ ok: true, npcLeft: 1, playerHas: 1 });
      const turnId = await a.logTurn({
        npcId: 'bram', playerId: 'alice', modelId: 'tiny-llama', modelHash: 'sha256:abc', seed: 42, prompt: '<|system|>You are Bram…',
        sampling: { temperature: 0.7, topP: 0.9, maxTokens: 96 }, output: 'Take it, lad.', action: { type: 'give_item', item: 'horseshoe' }, finishReason: 'stop',
      });
      await a.close();

      const b = await openOne();
      expect(await b.recentTurns('alice', 'bram', 10)).toEqual([
        { role: 'player', text: 'Fix my sword?', ts: 1000 },
        { role: 'npc', text: 'Come back at noon.', ts: 1001 },
      ]);
      expect(await b.recentTurns('alice', 'bram', 1)).toEqual([{ role: 'npc', text: 'Come back at noon.', ts: 1001 }]);
      expect(await b.countTurns('bob', 'bram')).toBe(1);
      expect(await b.playerInventory('alice')).toEqual({ horseshoe: 1 });
      expect(await b.npcInventory('bram')).toEqual({ horseshoe: 1, whetstone: 1 });
      // Re-stocking at start-up only adds items the NPC never had: what was given away stays given away.
      await b.stockNpc('bram', { horseshoe: 2, whetstone: 1, nail: 5 });
      expect(await b.npcInventory('bram')).toEqual({ horseshoe: 1, nail: 5, whetstone: 1 });
      const logged = (await b.getTurn(turnId))!;
      expect(logged).toMatchObject({ turnId, seed: 42, modelHash: 'sha256:abc', sampling: { temperature: 0.7, topP: 0.9, maxTokens: 96 }, action: { type: 'give_item', item: 'horseshoe' }, finishReason: 'stop' });
      expect(logged.createdAt).toBeGreaterThan(0);
      expect(typeof logged.createdAt).toBe('number');
      expect((await b.listTurns({ npcId: 'bram' })).map((t) => t.turnId)).toEqual([turnId]);
      expect(await b.listTurns({ playerId: 'bob' })).toEqual([]);
      await b.stockNpc('bram', { horseshoe: 3 }, 'replace');
      expect(await b.npcInventory('bram')).toEqual({ horseshoe: 3 });
    });

    it('a transfer fails cleanly when the NPC has none left, and never goes negative', async () => {
      const s = await openOne();
      await s.stockNpc('marta', { bread: 1 });
      expect((await s.giveFromNpc('marta', 'p1', 'bread')).ok).toBe(true);
      expect(await s.giveFromNpc('marta', 'p2', 'bread')).toEqual({ ok: false, reason: 'out_of_stock', npcLeft: 0 });
      expect(await s.giveFromNpc('marta', 'p2', 'candle')).toEqual({ ok: false, reason: 'out_of_stock', npcLeft: 0 });
      await s.stockNpc('marta', { bread: 2 }, 'replace');
      expect(await s.giveFromNpc('marta', 'p2', 'bread', 3)).toEqual({ ok: false, reason: 'out_of_stock', npcLeft: 2 });
      expect(await s.playerInventory('p2')).toEqual({});
      await expect(s.giveFromNpc('marta', 'p2', 'bread', 0)).rejects.toThrow(StoreError);
      expect(await s.takePlayerItem('p1', 'bread', 2)).toBe(false);
      expect(await s.takePlayerItem('p1', 'bread')).toBe(true);
      expect(await s.playerInventory('p1')).toEqual({});
      expect(await s.addPlayerItem('p1', 'coin', 5)).toBe(5);
    });

    it('sells for coin in one transaction, or changes nothing at all', async () => {
      const s = await openOne();
      await s.stockNpc('selka', { map: 1 });
      expect(await s.sellToPlayer('selka', 'p1', 'map', 'coin', 12)).toEqual({ ok: false, reason: 'cannot_pay' });
      await s.addPlayerItem('p1', 'coin', 30);
      expect(await s.sellToPlayer('selka', 'p1', 'map', 'coin', 12)).toEqual({ ok: true, npcLeft: 0, playerHas: 1, playerCoins: 18 });
      expect(await s.sellToPlayer('selka', 'p1', 'map', 'coin', 12)).toEqual({ ok: false, reason: 'out_of_stock' });
      expect(await s.playerInventory('p1')).toEqual({ coin: 18, map: 1 }); // the failed sale took no coins
      expect(await s.npcInventory('selka')).toEqual({ coin: 12, map: 0 });
    });

    it('a transfer whose second write fails leaves the NPC\'s stock untouched (one transaction)', async () => {
      const s = await openOne();
      await s.stockNpc('selka', { map: 2 });
      await backend.breakPlayerInserts(config);
      await expect(s.giveFromNpc('selka', 'p1', 'map')).rejects.toThrow(/disk on fire/);
      expect(await s.npcInventory('selka')).toEqual({ map: 2 });
      expect(await s.playerInventory('p1')).toEqual({});
    });

    it('many gives from the same stock at once in one process never give more than there is', async () => {
      const s = await openOne();
      await s.stockNpc('finn', { pear: 25 });
      const results = await Promise.all(Array.from({ length: 40 }, (_, i) => s.giveFromNpc('finn', `p${i % 4}`, 'pear')));
      expect(results.filter((r) => r.ok)).toHaveLength(25);
      expect(await s.npcInventory('finn')).toEqual({ pear: 0 });
      const held = await Promise.all([0, 1, 2, 3].map(async (i) => (await s.playerInventory(`p${i}`)).pear ?? 0));
      expect(held.reduce((a, b) => a + b, 0)).toBe(25);
    });

    it('two processes giving from the same stock at once never give more than there is', async () => {
      const s = await openOne();
      await s.stockNpc('finn', { apple: 300 });
      // Both workers start their loops at the same moment (after their own start-up), so the writes interleave.
      const startAt = Date.now() + 2500;
      const worker = (player: string) =>
        new Promise<number>((resolve, reject) => {
          const code = `
            import { openStore } from ${JSON.stringify(storeModule)};
            const s = await openStore(${JSON.stringify(config)});
            let got = 0;
            while (Date.now() < ${startAt}) await new Promise((r) => setTimeout(r, 5));
            for (let i = 0; i < 200; i++) if ((await s.giveFromNpc('finn', ${JSON.stringify(player)}, 'apple')).ok) got++;
            await s.close();
            console.log(got);`;
          const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'pipe'] });
          let out = '';
          let err = '';
          const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
          child.stdout.on('data', (d) => (out += d));
          child.stderr.on('data', (d) => (err += d));
          child.on('exit', (c) => {
            clearTimeout(timer);
            if (c === 0) resolve(Number(out.trim()));
            else reject(new Error(`worker exited ${c}: ${err}`));
          });
        });
      const [a, b] = await Promise.all([worker('p1'), worker('p2')]);
      expect(a + b).toBe(300);
      expect(Math.min(a, b)).toBeGreaterThan(0);
      expect(await s.npcInventory('finn')).toEqual({ apple: 0 });
      expect(await s.playerInventory('p1')).toEqual({ apple: a });
      expect(await s.playerInventory('p2')).toEqual({ apple: b });
    }, 90_000);

    it('keeps each NPC\'s trust in each account: 0 by default, changed within -3…3, across a reopen', async () => {
      let s = await openOne();
      expect(await s.trust('alice', 'bram')).toBe(0);
      expect(await s.changeTrust('alice', 'bram', 1)).toBe(1);
      expect(await s.changeTrust('alice', 'bram', 5)).toBe(3); // clamped at the top
      expect(await s.changeTrust('alice', 'bram', -1)).toBe(2); // from the clamped value, not from 6
      expect(await s.changeTrust('alice', 'marta', -9)).toBe(-3);
      expect(await s.trust('bob', 'bram')).toBe(0); // per account × NPC
      await expect(s.changeTrust('alice', 'bram', 0.5)).rejects.toThrow(StoreError);
      // Concurrent changes all count (one statement each).
      await Promise.all([s.changeTrust('carol', 'bram', 1), s.changeTrust('carol', 'bram', 1), s.changeTrust('carol', 'bram', -1)]);
      expect(await s.trust('carol', 'bram')).toBe(1);
      await s.close();
      s = await openOne();
      expect([await s.trust('alice', 'bram'), await s.trust('alice', 'marta'), await s.trust('bob', 'bram')]).toEqual([2, -3, 0]);
    });

    it('records turn ratings: a re-rating replaces, ratings sum per turn, joined with the turn log', async () => {
      const s = await openOne();
      const messages = [{ role: 'system' as const, content: 'You are Bram.' }, { role: 'user' as const, content: 'Hello' }];
      const base = { npcId: 'bram', modelId: 'm', modelHash: 'h', seed: 1, prompt: 'p', sampling: {}, action: null, finishReason: 'stop' };
      await s.logTurn({ ...base, turnId: 't1', playerId: 'alice', output: 'Hm. [[emote nod]]', action: { type: 'emote', emote: 'nod' }, messages, createdAt: 10 });
      await s.logTurn({ ...base, turnId: 't2', playerId: 'alice', output: 'Go away. [[none]]', createdAt: 20 });
      await s.logTurn({ ...base, turnId: 't3', npcId: 'marta', playerId: 'bob', output: 'Stew? [[none]]', createdAt: 30 });
      expect(await s.turnOwner('t1')).toBe('alice');
      expect(await s.turnOwner('nope')).toBeUndefined();
      expect((await s.getTurn('t1'))!.messages).toEqual(messages);
      expect((await s.getTurn('t2'))!.messages).toBeUndefined();
      expect((await s.listTurns({ limit: -1 })).map((t) => t.turnId)).toEqual(['t3', 't2', 't1']); // newest first
      expect((await s.listTurns({ limit: 1 })).map((t) => t.turnId)).toEqual(['t3']);

      await s.rateTurn({ turnId: 't1', playerId: 'alice', rating: -1, ratedAt: 100 });
      await s.rateTurn({ turnId: 't1', playerId: 'alice', rating: 1, comment: '  good  ', ratedAt: 200 }); // replaces
      await s.rateTurn({ turnId: 't1', playerId: 'carol', rating: 1, comment: '', ratedAt: 300 });
      await s.rateTurn({ turnId: 't2', playerId: 'alice', rating: -1, comment: 'rude', ratedAt: 400 });
      await s.rateTurn({ turnId: 't3', playerId: 'bob', rating: 1, ratedAt: 500 });
      expect(await s.turnRatings('t1')).toEqual([
        { turnId: 't1', playerId: 'alice', rating: 1, comment: 'good', ratedAt: 200 },
        { turnId: 't1', playerId: 'carol', rating: 1, comment: null, ratedAt: 300 },
      ]);
      await expect(s.rateTurn({ turnId: 't1', playerId: 'alice', rating: 2 as 1 })).rejects.toThrow(StoreError);

      const rated = await s.listRatedTurns();
      expect(rated.map((t) => [t.turnId, t.netRating, t.ratingCount])).toEqual([['t1', 2, 2], ['t2', -1, 1], ['t3', 1, 1]]);
      expect(rated[0]).toMatchObject({ npcId: 'bram', prompt: 'p', output: 'Hm. [[emote nod]]', action: { type: 'emote', emote: 'nod' }, messages, comments: ['good'], lastRatedAt: 300 });
      expect(rated[1]!.comments).toEqual(['rude']);
      expect(rated[2]!.comments).toEqual([]);
      expect((await s.listRatedTurns({ minNetRating: 1 })).map((t) => t.turnId)).toEqual(['t1', 't3']);
      expect((await s.listRatedTurns({ npcId: 'marta' })).map((t) => t.turnId)).toEqual(['t3']);
      expect((await s.listRatedTurns({ limit: 1 })).map((t) => t.turnId)).toEqual(['t1']);
    });

    it('backs conversation memory: a restarted server recalls each player\'s own history', async () => {
      const countTokens = (t: string) => t.split(/\s+/).length;
      const s1 = await openOne();
      const before = new ConversationMemory({ countTokens, store: s1 });
      await before.remember('alice', 'marta', { role: 'player', text: 'I would like a room', ts: 1 });
      await before.remember('alice', 'marta', { role: 'npc', text: 'Here is your key, love', ts: 2 });
      await before.remember('bob', 'marta', { role: 'player', text: 'Any news?', ts: 3 });
      await s1.close();

      const s2 = await openOne();
      const after = new ConversationMemory({ countTokens, store: s2 });
      expect((await after.recall('alice', 'marta', 1000)).turns.map((t) => t.text)).toEqual(['I would like a room', 'Here is your key, love']);
      expect((await after.recall('bob', 'marta', 1000)).turns.map((t) => t.text)).toEqual(['Any news?']);
      expect((await after.recall('carol', 'marta', 1000)).turns).toEqual([]);
    });

    it('creates accounts keyed by id, unique device secret hashes and user names; sessions can be revoked', async () => {
      const s = await openOne();
      const guest = await s.createAccount({ id: 'acct_g', kind: 'guest', deviceSecretHash: 'h1', now: 5 });
      expect(guest).toMatchObject({ id: 'acct_g', kind: 'guest', deviceSecretHash: 'h1', username: null, sessionGen: 0, createdAt: 5, lastSeenAt: 5 });
      expect((await s.accountByDeviceSecretHash('h1'))?.id).toBe('acct_g');
      await expect(s.createAccount({ id: 'acct_h', kind: 'guest', deviceSecretHash: 'h1' })).rejects.toThrow(StoreError);
      await expect(s.createAccount({ id: 'acct_g', kind: 'guest', deviceSecretHash: 'h2' })).rejects.toThrow(StoreError);

      await s.setCredentials('acct_g', 'ada', 'scrypt$…');
      expect(await s.account('acct_g')).toMatchObject({ kind: 'password', username: 'ada', deviceSecretHash: 'h1' });
      await s.createAccount({ id: 'acct_p', kind: 'password', username: 'bob', passwordHash: 'x' });
      await expect(s.setCredentials('acct_p', 'ada', 'y')).rejects.toThrow(/taken/);
      await expect(s.setCredentials('acct_nobody', 'zed', 'y')).rejects.toThrow(StoreError);
      expect((await s.accountByUsername('bob'))?.id).toBe('acct_p');
      await s.touchAccount('acct_g', 99);
      expect((await s.account('acct_g'))!.lastSeenAt).toBe(99);

      expect(await s.bumpSessionGeneration('acct_g')).toBe(1);
      await expect(s.bumpSessionGeneration('acct_nobody')).rejects.toThrow(StoreError);
      await s.revokeToken('jti-1', 'acct_g', 1_000);
      await s.revokeToken('jti-1', 'acct_g', 1_000); // twice is fine
      await s.revokeToken('jti-2', 'acct_g', 3_000);
      expect(await s.isTokenRevoked('jti-1')).toBe(true);
      expect(await s.pruneRevokedTokens(2_000)).toBe(1); // jti-1 expired anyway
      expect(await s.isTokenRevoked('jti-1')).toBe(false);
      expect(await s.isTokenRevoked('jti-2')).toBe(true);
    });
  });
});

describe('SQLite store only', () => {
  let tmp: ReturnType<typeof tempDir>;
  let file: string;
  beforeEach(() => {
    tmp = tempDir('wm-store-');
    file = join(tmp.dir, 'data', 'world.db');
  });
  afterEach(() => tmp.cleanup());

  it('opens in WAL mode; an in-memory store works too', async () => {
    const s = SqliteStore.open(file);
    expect(s.journalMode).toBe('wal');
    await s.close();
    const mem = await openStore({ dbPath: ':memory:' });
    expect(await mem.schemaVersion()).toBe(SQLITE_SCHEMA_VERSION);
    await mem.close();
  });

  it('refuses a database from a newer server', async () => {
    await SqliteStore.open(file).close();
    const raw = new Database(file);
    raw.pragma(`user_version = ${SQLITE_SCHEMA_VERSION + 1}`);
    raw.close();
    expect(() => SqliteStore.open(file)).toThrow(StoreError);
    await expect(openStore({ dbPath: file })).rejects.toThrow(/newer than this server/);
  });

  it('migrates a database file from schema version 1: old turns keep working, ratings and messages are added', async () => {
    const v1 = join(tmp.dir, 'v1.db');
    const raw = new Database(v1);
    raw.exec(V1_SCHEMA);
    raw.prepare(`INSERT INTO turn_log VALUES ('old-turn', 'bram', 'alice', 'm', 'h', 1, 'prompt', '{}', 'Hm. [[none]]', NULL, 'stop', 5)`).run();
    raw.pragma('user_version = 1');
    raw.close();
    const s = SqliteStore.open(v1);
    try {
      expect(await s.schemaVersion()).toBe(SQLITE_SCHEMA_VERSION);
      const old = (await s.getTurn('old-turn'))!;
      expect(old.output).toBe('Hm. [[none]]');
      expect(old.messages).toBeUndefined(); // logged before messages were kept
      await s.rateTurn({ turnId: 'old-turn', playerId: 'alice', rating: 1 });
      expect((await s.listRatedTurns()).map((t) => [t.turnId, t.netRating])).toEqual([['old-turn', 1]]);
    } finally {
      await s.close();
    }
  });

  it('a v3 file (before relationships) gains the trust table and starts at 0', async () => {
    const v3 = join(tmp.dir, 'v3.db');
    const raw = new Database(v3);
    raw.exec(V1_SCHEMA);
    raw.pragma('user_version = 1');
    raw.close();
    await SqliteStore.open(v3).close(); // now at the current version; roll back to 3 as a v3 server left it
    const back = new Database(v3);
    back.exec('DROP TABLE npc_trust');
    back.pragma('user_version = 3');
    back.close();
    const b = SqliteStore.open(v3);
    try {
      expect(await b.schemaVersion()).toBe(SQLITE_SCHEMA_VERSION);
      expect(await b.trust('alice', 'bram')).toBe(0);
      expect(await b.changeTrust('alice', 'bram', -1)).toBe(-1);
    } finally {
      await b.close();
    }
  });

  it('two processes opening a new file at once migrate it once (the version is read inside the write lock)', async () => {
    const code = `
      import { openStore } from ${JSON.stringify(storeModule)};
      const s = await openStore({ dbPath: ${JSON.stringify(file)} });
      console.log(await s.schemaVersion());
      await s.close();`;
    const run = () =>
      new Promise<string>((resolve, reject) => {
        const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'pipe'] });
        let out = '';
        let err = '';
        const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
        child.stdout.on('data', (d) => (out += d));
        child.stderr.on('data', (d) => (err += d));
        child.on('exit', (c) => {
          clearTimeout(timer);
          if (c === 0) resolve(out.trim());
          else reject(new Error(`exited ${c}: ${err}`));
        });
      });
    expect(await Promise.all([run(), run(), run()])).toEqual([String(SQLITE_SCHEMA_VERSION), String(SQLITE_SCHEMA_VERSION), String(SQLITE_SCHEMA_VERSION)]);
  }, 90_000);
});

describe.skipIf(!havePostgres)('PostgreSQL store only', () => {
  let server: TestPostgres;
  beforeAll(async () => {
    server = await startPostgres();
  }, 60_000);
  afterAll(() => server?.stop(), 30_000);

  it('game processes starting together against one new database migrate it once (advisory lock)', async () => {
    const url = await server.createDatabase('racing');
    const stores = await Promise.all([0, 1, 2, 3].map(() => openStore({ dbPath: ':unused:', databaseUrl: url, poolSize: 2 })));
    try {
      expect(await Promise.all(stores.map((s) => s.schemaVersion()))).toEqual([1, 2, 3, 4].map(() => POSTGRES_SCHEMA_VERSION));
    } finally {
      for (const s of stores) await s.close();
    }
  });

  it('refuses a database from a newer server', async () => {
    const url = await server.createDatabase('newer');
    await (await openStore({ dbPath: ':unused:', databaseUrl: url })).close();
    const raw = new pg.Client({ connectionString: url });
    await raw.connect();
    await raw.query('UPDATE worldmind_schema SET version = version + 1');
    await raw.end();
    await expect(openStore({ dbPath: ':unused:', databaseUrl: url })).rejects.toThrow(/newer than this server/);
  });

  it('an unreachable database fails fast with a clear error naming it (no password), not a hang', async () => {
    const port = await freePort(); // nothing listens there
    const err = await openStore({ dbPath: ':unused:', databaseUrl: `postgres://worldmind:hunter2@127.0.0.1:${port}/worldmind`, connectTimeoutMs: 2_000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreUnavailable);
    expect((err as Error).message).toContain(`postgres://127.0.0.1:${port}/worldmind`);
    expect((err as Error).message).not.toContain('hunter2');
    const missing = await openStore({ dbPath: ':unused:', databaseUrl: `${server.url}_nope`, connectTimeoutMs: 2_000 }).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(StoreUnavailable);
    expect((missing as Error).message).toMatch(/does not exist/);
  });
});

/** The schema a version-1 database file has (the first release's migration), to test upgrading one. */
const V1_SCHEMA = `
  CREATE TABLE conversation_turns (
    id INTEGER PRIMARY KEY AUTOINCREMENT, player_id TEXT NOT NULL, npc_id TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('player', 'npc')), text TEXT NOT NULL, ts INTEGER NOT NULL
  );
  CREATE INDEX conversation_turns_pair ON conversation_turns (player_id, npc_id, id);
  CREATE TABLE player_inventory (player_id TEXT NOT NULL, item TEXT NOT NULL, count INTEGER NOT NULL CHECK (count >= 0), PRIMARY KEY (player_id, item)) WITHOUT ROWID;
  CREATE TABLE npc_inventory (npc_id TEXT NOT NULL, item TEXT NOT NULL, count INTEGER NOT NULL CHECK (count >= 0), PRIMARY KEY (npc_id, item)) WITHOUT ROWID;
  CREATE TABLE turn_log (
    turn_id TEXT PRIMARY KEY, npc_id TEXT NOT NULL, player_id TEXT NOT NULL, model_id TEXT NOT NULL, model_hash TEXT NOT NULL,
    seed INTEGER NOT NULL, prompt TEXT NOT NULL, sampling_json TEXT NOT NULL, output_text TEXT NOT NULL, action_json TEXT,
    finish_reason TEXT NOT NULL, created_at INTEGER NOT NULL
  );
  CREATE INDEX turn_log_npc ON turn_log (npc_id, created_at);
  CREATE INDEX turn_log_player ON turn_log (player_id, created_at);
`;
