/**
 * The SQLite store on real files in temp dirs: persistence across close/reopen, schema versioning,
 * atomic NPC → player transfers (clean failure when out of stock, rollback on a failed write, no double
 * spending between two processes), the replay turn log, and memory restored after a restart.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConversationMemory } from '../../server/src/npc/memory.ts';
import { SCHEMA_VERSION, StoreError, WorldStore } from '../../server/src/persistence/store.ts';
import { tempDir } from './fixtures.ts';

const storeModule = fileURLToPath(new URL('../../server/src/persistence/store.ts', import.meta.url));

describe('WorldStore', () => {
  let tmp: ReturnType<typeof tempDir>;
  let file: string;
  const open: WorldStore[] = [];
  const openStore = () => {
    const s = WorldStore.open(file);
    open.push(s);
    return s;
  };

  beforeEach(() => {
    tmp = tempDir('wm-store-');
    file = join(tmp.dir, 'data', 'world.db'); // parent directory created on open
  });
  afterEach(() => {
    for (const s of open.splice(0)) s.close();
    tmp.cleanup();
  });

  it('opens in WAL mode at the current schema version; close is idempotent', () => {
    const s = openStore();
    expect(s.journalMode).toBe('wal');
    expect(s.schemaVersion).toBe(SCHEMA_VERSION);
    s.close();
    s.close();
    expect(s.isOpen).toBe(false);
    const mem = WorldStore.open(':memory:');
    expect(mem.schemaVersion).toBe(SCHEMA_VERSION);
    mem.close();
  });

  it('refuses a database from a newer server', () => {
    openStore().close();
    const raw = new Database(file);
    raw.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    raw.close();
    expect(() => WorldStore.open(file)).toThrow(StoreError);
  });

  it('keeps turns, inventories and the turn log across a close and reopen', () => {
    const a = openStore();
    a.appendTurn('alice', 'bram', { role: 'player', text: 'Fix my sword?', ts: 1000 });
    a.appendTurn('alice', 'bram', { role: 'npc', text: 'Come back at noon.', ts: 1001 });
    a.appendTurn('bob', 'bram', { role: 'player', text: 'Hello', ts: 1002 });
    a.stockNpc('bram', { horseshoe: 2, whetstone: 1 });
    expect(a.giveFromNpc('bram', 'alice', 'horseshoe')).toEqual({ ok: true, npcLeft: 1, playerHas: 1 });
    const turnId = a.logTurn({
      npcId: 'bram', playerId: 'alice', modelId: 'tiny-llama', modelHash: 'sha256:abc', seed: 42, prompt: '<|system|>You are Bram…',
      sampling: { temperature: 0.7, topP: 0.9, maxTokens: 96 }, output: 'Take it, lad.', action: { type: 'give_item', item: 'horseshoe' }, finishReason: 'stop',
    });
    a.close();

    const b = openStore();
    expect(b.recentTurns('alice', 'bram', 10)).toEqual([
      { role: 'player', text: 'Fix my sword?', ts: 1000 },
      { role: 'npc', text: 'Come back at noon.', ts: 1001 },
    ]);
    expect(b.recentTurns('alice', 'bram', 1)).toEqual([{ role: 'npc', text: 'Come back at noon.', ts: 1001 }]);
    expect(b.countTurns('bob', 'bram')).toBe(1);
    expect(b.playerInventory('alice')).toEqual({ horseshoe: 1 });
    expect(b.npcInventory('bram')).toEqual({ horseshoe: 1, whetstone: 1 });
    // Re-stocking at start-up only adds items the NPC never had: what was given away stays given away.
    b.stockNpc('bram', { horseshoe: 2, whetstone: 1, nail: 5 });
    expect(b.npcInventory('bram')).toEqual({ horseshoe: 1, nail: 5, whetstone: 1 });
    const logged = b.getTurn(turnId)!;
    expect(logged).toMatchObject({ turnId, seed: 42, modelHash: 'sha256:abc', sampling: { temperature: 0.7, topP: 0.9, maxTokens: 96 }, action: { type: 'give_item', item: 'horseshoe' }, finishReason: 'stop' });
    expect(logged.createdAt).toBeGreaterThan(0);
    expect(b.listTurns({ npcId: 'bram' }).map((t) => t.turnId)).toEqual([turnId]);
    expect(b.listTurns({ playerId: 'bob' })).toEqual([]);
    b.stockNpc('bram', { horseshoe: 3 }, 'replace');
    expect(b.npcInventory('bram')).toEqual({ horseshoe: 3 });
  });

  it('a transfer fails cleanly when the NPC has none left, and never goes negative', () => {
    const s = openStore();
    s.stockNpc('marta', { bread: 1 });
    expect(s.giveFromNpc('marta', 'p1', 'bread').ok).toBe(true);
    expect(s.giveFromNpc('marta', 'p2', 'bread')).toEqual({ ok: false, reason: 'out_of_stock', npcLeft: 0 });
    expect(s.giveFromNpc('marta', 'p2', 'candle')).toEqual({ ok: false, reason: 'out_of_stock', npcLeft: 0 });
    s.stockNpc('marta', { bread: 2 }, 'replace');
    expect(s.giveFromNpc('marta', 'p2', 'bread', 3)).toEqual({ ok: false, reason: 'out_of_stock', npcLeft: 2 });
    expect(s.playerInventory('p2')).toEqual({});
    expect(() => s.giveFromNpc('marta', 'p2', 'bread', 0)).toThrow(StoreError);
    expect(s.takePlayerItem('p1', 'bread', 2)).toBe(false);
    expect(s.takePlayerItem('p1', 'bread')).toBe(true);
    expect(s.playerInventory('p1')).toEqual({});
    expect(s.addPlayerItem('p1', 'coin', 5)).toBe(5);
  });

  it('a transfer whose second write fails leaves the NPC\'s stock untouched (one transaction)', () => {
    const s = openStore();
    s.stockNpc('selka', { map: 2 });
    // Make the player-side write fail, from a second connection, the way a full disk or constraint would.
    const raw = new Database(file);
    raw.exec(`CREATE TRIGGER fail_player_insert BEFORE INSERT ON player_inventory BEGIN SELECT RAISE(ABORT, 'disk on fire'); END;`);
    raw.close();
    expect(() => s.giveFromNpc('selka', 'p1', 'map')).toThrow(/disk on fire/);
    expect(s.npcInventory('selka')).toEqual({ map: 2 });
    expect(s.playerInventory('p1')).toEqual({});
  });

  it('two processes giving from the same stock at once never give more than there is', async () => {
    const s = openStore();
    s.stockNpc('finn', { apple: 300 });
    // Both workers start their loops at the same moment (after their own start-up), so the writes interleave.
    const startAt = Date.now() + 1500;
    const worker = (player: string) =>
      new Promise<number>((resolve, reject) => {
        const code = `
          import { WorldStore } from ${JSON.stringify(storeModule)};
          const s = WorldStore.open(${JSON.stringify(file)});
          let got = 0;
          while (Date.now() < ${startAt});
          for (let i = 0; i < 200; i++) if (s.giveFromNpc('finn', ${JSON.stringify(player)}, 'apple').ok) got++;
          s.close();
          console.log(got);`;
        const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'pipe'] });
        let out = '';
        let err = '';
        child.stdout.on('data', (d) => (out += d));
        child.stderr.on('data', (d) => (err += d));
        child.on('exit', (c) => (c === 0 ? resolve(Number(out.trim())) : reject(new Error(`worker exited ${c}: ${err}`))));
      });
    const [a, b] = await Promise.all([worker('p1'), worker('p2')]);
    expect(a + b).toBe(300);
    expect(Math.min(a, b)).toBeGreaterThan(0);
    expect(s.npcInventory('finn')).toEqual({ apple: 0 });
    expect(s.playerInventory('p1')).toEqual({ apple: a });
    expect(s.playerInventory('p2')).toEqual({ apple: b });
  });

  it('migrates a database file from schema version 1: old turns keep working, ratings and messages are added', () => {
    const v1 = join(tmp.dir, 'v1.db');
    const raw = new Database(v1);
    raw.exec(V1_SCHEMA);
    raw.prepare(`INSERT INTO turn_log VALUES ('old-turn', 'bram', 'alice', 'm', 'h', 1, 'prompt', '{}', 'Hm. [[none]]', NULL, 'stop', 5)`).run();
    raw.pragma('user_version = 1');
    raw.close();
    const s = WorldStore.open(v1);
    open.push(s);
    expect(s.schemaVersion).toBe(SCHEMA_VERSION);
    const old = s.getTurn('old-turn')!;
    expect(old.output).toBe('Hm. [[none]]');
    expect(old.messages).toBeUndefined(); // logged before messages were kept
    s.rateTurn({ turnId: 'old-turn', playerId: 'alice', rating: 1 });
    expect(s.listRatedTurns().map((t) => [t.turnId, t.netRating])).toEqual([['old-turn', 1]]);
  });

  it('keeps each NPC\'s trust in each account: 0 by default, changed within -3…3, across a reopen; v3 files gain the table', () => {
    let s = openStore();
    expect(s.trust('alice', 'bram')).toBe(0);
    expect(s.changeTrust('alice', 'bram', 1)).toBe(1);
    expect(s.changeTrust('alice', 'bram', 5)).toBe(3); // clamped at the top
    expect(s.changeTrust('alice', 'bram', -1)).toBe(2); // from the clamped value, not from 6
    expect(s.changeTrust('alice', 'marta', -9)).toBe(-3);
    expect(s.trust('bob', 'bram')).toBe(0); // per account × NPC
    expect(() => s.changeTrust('alice', 'bram', 0.5)).toThrow(StoreError);
    s.close();
    s = openStore();
    expect([s.trust('alice', 'bram'), s.trust('alice', 'marta'), s.trust('bob', 'bram')]).toEqual([2, -3, 0]);

    // A database at schema version 3 (before relationships) is migrated in place and starts at 0.
    const v3 = join(tmp.dir, 'v3.db');
    const raw = new Database(v3);
    raw.exec(V1_SCHEMA);
    raw.pragma('user_version = 1');
    raw.close();
    const a = WorldStore.open(v3);
    a.close(); // now at the current version; roll back to 3 by dropping the table, as a v3 server left it
    const back = new Database(v3);
    back.exec('DROP TABLE npc_trust');
    back.pragma('user_version = 3');
    back.close();
    const b = WorldStore.open(v3);
    open.push(b);
    expect(b.schemaVersion).toBe(SCHEMA_VERSION);
    expect(b.trust('alice', 'bram')).toBe(0);
    expect(b.changeTrust('alice', 'bram', -1)).toBe(-1);
  });

  it('records turn ratings: a re-rating replaces, ratings sum per turn, joined with the turn log', () => {
    const s = openStore();
    const messages = [{ role: 'system' as const, content: 'You are Bram.' }, { role: 'user' as const, content: 'Hello' }];
    const base = { npcId: 'bram', modelId: 'm', modelHash: 'h', seed: 1, prompt: 'p', sampling: {}, action: null, finishReason: 'stop' };
    s.logTurn({ ...base, turnId: 't1', playerId: 'alice', output: 'Hm. [[emote nod]]', action: { type: 'emote', emote: 'nod' }, messages, createdAt: 10 });
    s.logTurn({ ...base, turnId: 't2', playerId: 'alice', output: 'Go away. [[none]]', createdAt: 20 });
    s.logTurn({ ...base, turnId: 't3', npcId: 'marta', playerId: 'bob', output: 'Stew? [[none]]', createdAt: 30 });
    expect(s.turnOwner('t1')).toBe('alice');
    expect(s.turnOwner('nope')).toBeUndefined();
    expect(s.getTurn('t1')!.messages).toEqual(messages);

    s.rateTurn({ turnId: 't1', playerId: 'alice', rating: -1, ratedAt: 100 });
    s.rateTurn({ turnId: 't1', playerId: 'alice', rating: 1, comment: '  good  ', ratedAt: 200 }); // replaces
    s.rateTurn({ turnId: 't1', playerId: 'carol', rating: 1, comment: '', ratedAt: 300 });
    s.rateTurn({ turnId: 't2', playerId: 'alice', rating: -1, comment: 'rude', ratedAt: 400 });
    s.rateTurn({ turnId: 't3', playerId: 'bob', rating: 1, ratedAt: 500 });
    expect(s.turnRatings('t1')).toEqual([
      { turnId: 't1', playerId: 'alice', rating: 1, comment: 'good', ratedAt: 200 },
      { turnId: 't1', playerId: 'carol', rating: 1, comment: null, ratedAt: 300 },
    ]);
    expect(() => s.rateTurn({ turnId: 't1', playerId: 'alice', rating: 2 as 1 })).toThrow(StoreError);

    const rated = s.listRatedTurns();
    expect(rated.map((t) => [t.turnId, t.netRating, t.ratingCount])).toEqual([['t1', 2, 2], ['t2', -1, 1], ['t3', 1, 1]]);
    expect(rated[0]).toMatchObject({ npcId: 'bram', prompt: 'p', output: 'Hm. [[emote nod]]', action: { type: 'emote', emote: 'nod' }, messages, comments: ['good'], lastRatedAt: 300 });
    expect(rated[1]!.comments).toEqual(['rude']);
    expect(s.listRatedTurns({ minNetRating: 1 }).map((t) => t.turnId)).toEqual(['t1', 't3']);
    expect(s.listRatedTurns({ npcId: 'marta' }).map((t) => t.turnId)).toEqual(['t3']);
  });

  it('backs conversation memory: a restarted server recalls each player\'s own history', () => {
    const countTokens = (t: string) => t.split(/\s+/).length;
    const s1 = openStore();
    const before = new ConversationMemory({ countTokens, store: s1 });
    before.remember('alice', 'marta', { role: 'player', text: 'I would like a room', ts: 1 });
    before.remember('alice', 'marta', { role: 'npc', text: 'Here is your key, love', ts: 2 });
    before.remember('bob', 'marta', { role: 'player', text: 'Any news?', ts: 3 });
    s1.close();

    const s2 = openStore();
    const after = new ConversationMemory({ countTokens, store: s2 });
    expect(after.recall('alice', 'marta', 1000).turns.map((t) => t.text)).toEqual(['I would like a room', 'Here is your key, love']);
    expect(after.recall('bob', 'marta', 1000).turns.map((t) => t.text)).toEqual(['Any news?']);
    expect(after.recall('carol', 'marta', 1000).turns).toEqual([]);
  });
});

describe('WorldStore accounts', () => {
  it('creates accounts keyed by id, unique device secret hashes and user names; sessions can be revoked', () => {
    const s = WorldStore.open(':memory:');
    try {
      const guest = s.createAccount({ id: 'acct_g', kind: 'guest', deviceSecretHash: 'h1', now: 5 });
      expect(guest).toMatchObject({ id: 'acct_g', kind: 'guest', deviceSecretHash: 'h1', username: null, sessionGen: 0, createdAt: 5 });
      expect(s.accountByDeviceSecretHash('h1')?.id).toBe('acct_g');
      expect(() => s.createAccount({ id: 'acct_h', kind: 'guest', deviceSecretHash: 'h1' })).toThrow(StoreError);
      expect(() => s.createAccount({ id: 'acct_g', kind: 'guest', deviceSecretHash: 'h2' })).toThrow(StoreError);

      s.setCredentials('acct_g', 'ada', 'scrypt$…');
      expect(s.account('acct_g')).toMatchObject({ kind: 'password', username: 'ada', deviceSecretHash: 'h1' });
      s.createAccount({ id: 'acct_p', kind: 'password', username: 'bob', passwordHash: 'x' });
      expect(() => s.setCredentials('acct_p', 'ada', 'y')).toThrow(/taken/);
      expect(s.accountByUsername('bob')?.id).toBe('acct_p');

      expect(s.bumpSessionGeneration('acct_g')).toBe(1);
      expect(() => s.bumpSessionGeneration('acct_nobody')).toThrow(StoreError);
      s.revokeToken('jti-1', 'acct_g', 1_000);
      s.revokeToken('jti-2', 'acct_g', 3_000);
      expect(s.isTokenRevoked('jti-1')).toBe(true);
      expect(s.pruneRevokedTokens(2_000)).toBe(1); // jti-1 expired anyway
      expect(s.isTokenRevoked('jti-1')).toBe(false);
      expect(s.isTokenRevoked('jti-2')).toBe(true);
    } finally {
      s.close();
    }
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
