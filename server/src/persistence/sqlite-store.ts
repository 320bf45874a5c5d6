/**
 * The embedded SQLite backend of the world store (better-sqlite3): one file, WAL mode, prepared
 * statements, numbered migrations (`sqlite-migrations.ts`). better-sqlite3 is synchronous: each method
 * runs to completion on the event loop, and every multi-step change is one IMMEDIATE transaction, which
 * takes the file's write lock, so other processes on the same file wait (busy_timeout) instead of
 * interleaving. Open with `':memory:'` for tests.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { randomUUID } from 'node:crypto';
import Database from 'better-sqlite3';
import { TRUST_MAX, TRUST_MIN } from '../npc/trust.ts';
import { migrateSqlite } from './sqlite-migrations.ts';
import { accountFromRow, checkCount, checkRating, checkTrustDelta, turnFromRow, turnLogValues, type AccountRow, type TurnLogRow } from './rows.ts';
import {
  StoreError, type AccountInput, type AccountRecord, type ConversationTurn, type Inventory, type RatedTurn, type SaleResult,
  type TransferResult, type TurnLogInput, type TurnLogRecord, type TurnRating, type TurnRatingInput, type TurnRatingValue, type WorldStore,
} from './store.ts';

export interface SqliteStoreOptions {
  /** Database file; `':memory:'` for a throwaway store. Parent directories are created. */
  path: string;
  /** How long a write waits for another connection's lock before failing. Default 5000 ms. */
  busyTimeoutMs?: number;
}

interface RatedTurnRow extends TurnLogRow {
  net_rating: number; rating_count: number; comments_json: string; last_rated_at: number;
}

interface TurnRatingRow {
  turn_id: string; player_id: string; rating: number; comment: string | null; rated_at: number;
}

export class SqliteStore implements WorldStore {
  readonly backend = 'sqlite' as const;
  readonly path: string;
  readonly #db: Database.Database;
  readonly #s;
  readonly #giveFromNpc: (npcId: string, playerId: string, item: string, count: number) => TransferResult;
  readonly #sellToPlayer: (npcId: string, playerId: string, item: string, coin: string, price: number) => SaleResult;

  static open(pathOrOptions: string | SqliteStoreOptions): SqliteStore {
    return new SqliteStore(typeof pathOrOptions === 'string' ? { path: pathOrOptions } : pathOrOptions);
  }

  constructor(opts: SqliteStoreOptions) {
    this.path = opts.path;
    if (opts.path !== ':memory:' && opts.path !== '') mkdirSync(dirname(opts.path), { recursive: true });
    const db = new Database(opts.path);
    this.#db = db;
    try {
      db.pragma(`busy_timeout = ${Math.max(0, Math.floor(opts.busyTimeoutMs ?? 5000))}`);
      db.pragma('journal_mode = WAL'); // (an in-memory database stays in 'memory' mode)
      db.pragma('synchronous = NORMAL'); // durable across process crashes in WAL mode; fsync at checkpoints
      migrateSqlite(db);
    } catch (err) {
      db.close();
      throw err;
    }

    this.#s = {
      appendTurn: db.prepare<[string, string, string, string, number]>('INSERT INTO conversation_turns (player_id, npc_id, role, text, ts) VALUES (?, ?, ?, ?, ?)'),
      recentTurns: db.prepare<[string, string, number], ConversationTurn>(
        'SELECT role, text, ts FROM (SELECT id, role, text, ts FROM conversation_turns WHERE player_id = ? AND npc_id = ? ORDER BY id DESC LIMIT ?) ORDER BY id ASC',
      ),
      countTurns: db.prepare<[string, string], { n: number }>('SELECT COUNT(*) AS n FROM conversation_turns WHERE player_id = ? AND npc_id = ?'),
      playerInventory: db.prepare<[string], { item: string; count: number }>('SELECT item, count FROM player_inventory WHERE player_id = ? AND count > 0 ORDER BY item'),
      npcInventory: db.prepare<[string], { item: string; count: number }>('SELECT item, count FROM npc_inventory WHERE npc_id = ? ORDER BY item'),
      npcCount: db.prepare<[string, string], { count: number }>('SELECT count FROM npc_inventory WHERE npc_id = ? AND item = ?'),
      playerCount: db.prepare<[string, string], { count: number }>('SELECT count FROM player_inventory WHERE player_id = ? AND item = ?'),
      stockMissing: db.prepare<[string, string, number]>('INSERT OR IGNORE INTO npc_inventory (npc_id, item, count) VALUES (?, ?, ?)'),
      stockReplace: db.prepare<[string, string, number]>('INSERT INTO npc_inventory (npc_id, item, count) VALUES (?, ?, ?) ON CONFLICT (npc_id, item) DO UPDATE SET count = excluded.count'),
      clearNpc: db.prepare<[string]>('DELETE FROM npc_inventory WHERE npc_id = ?'),
      takeFromNpc: db.prepare<[number, string, string, number]>('UPDATE npc_inventory SET count = count - ? WHERE npc_id = ? AND item = ? AND count >= ?'),
      addToPlayer: db.prepare<[string, string, number]>(
        'INSERT INTO player_inventory (player_id, item, count) VALUES (?, ?, ?) ON CONFLICT (player_id, item) DO UPDATE SET count = count + excluded.count',
      ),
      takeFromPlayer: db.prepare<[number, string, string, number]>('UPDATE player_inventory SET count = count - ? WHERE player_id = ? AND item = ? AND count >= ?'),
      addToNpc: db.prepare<[string, string, number]>(
        'INSERT INTO npc_inventory (npc_id, item, count) VALUES (?, ?, ?) ON CONFLICT (npc_id, item) DO UPDATE SET count = count + excluded.count',
      ),
      logTurn: db.prepare<[string, string, string, string, string, number, string, string, string, string | null, string, number, string | null]>(
        `INSERT INTO turn_log (turn_id, npc_id, player_id, model_id, model_hash, seed, prompt, sampling_json, output_text, action_json, finish_reason, created_at, messages_json)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      getTurn: db.prepare<[string], TurnLogRow>('SELECT * FROM turn_log WHERE turn_id = ?'),
      turnOwner: db.prepare<[string], { player_id: string }>('SELECT player_id FROM turn_log WHERE turn_id = ?'),
      listTurns: db.prepare<[string | null, string | null, string | null, string | null, number], TurnLogRow>(
        'SELECT * FROM turn_log WHERE (? IS NULL OR npc_id = ?) AND (? IS NULL OR player_id = ?) ORDER BY created_at DESC, rowid DESC LIMIT ?',
      ),
      rateTurn: db.prepare<[string, string, number, string | null, number]>(
        `INSERT INTO turn_ratings (turn_id, player_id, rating, comment, rated_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (turn_id, player_id) DO UPDATE SET rating = excluded.rating, comment = excluded.comment, rated_at = excluded.rated_at`,
      ),
      turnRatings: db.prepare<[string], TurnRatingRow>('SELECT * FROM turn_ratings WHERE turn_id = ? ORDER BY rated_at, player_id'),
      listRatedTurns: db.prepare<[string | null, string | null, number | null, number | null, number], RatedTurnRow>(
        `SELECT t.*, r.net_rating, r.rating_count, r.comments_json, r.last_rated_at
           FROM (SELECT turn_id, SUM(rating) AS net_rating, COUNT(*) AS rating_count, MAX(rated_at) AS last_rated_at,
                        json_group_array(comment) FILTER (WHERE comment IS NOT NULL AND comment <> '') AS comments_json
                   FROM (SELECT * FROM turn_ratings ORDER BY rated_at, player_id) GROUP BY turn_id) AS r
           JOIN turn_log AS t ON t.turn_id = r.turn_id
          WHERE (? IS NULL OR t.npc_id = ?) AND (? IS NULL OR r.net_rating >= ?)
          ORDER BY t.created_at, t.turn_id LIMIT ?`,
      ),
      createAccount: db.prepare<[string, string, string | null, string | null, string | null, number, number]>(
        'INSERT INTO accounts (id, kind, device_secret_hash, username, password_hash, created_at, last_seen_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
      ),
      accountById: db.prepare<[string], AccountRow>('SELECT * FROM accounts WHERE id = ?'),
      accountByDevice: db.prepare<[string], AccountRow>('SELECT * FROM accounts WHERE device_secret_hash = ?'),
      accountByUsername: db.prepare<[string], AccountRow>('SELECT * FROM accounts WHERE username = ?'),
      setCredentials: db.prepare<[string, string, string]>("UPDATE accounts SET kind = 'password', username = ?, password_hash = ? WHERE id = ?"),
      touchAccount: db.prepare<[number, string]>('UPDATE accounts SET last_seen_at = ? WHERE id = ?'),
      bumpSessionGen: db.prepare<[string], { session_gen: number }>('UPDATE accounts SET session_gen = session_gen + 1 WHERE id = ? RETURNING session_gen'),
      revokeToken: db.prepare<[string, string, number]>('INSERT OR IGNORE INTO revoked_tokens (jti, account_id, expires_at) VALUES (?, ?, ?)'),
      isRevoked: db.prepare<[string], { one: number }>('SELECT 1 AS one FROM revoked_tokens WHERE jti = ?'),
      pruneRevoked: db.prepare<[number]>('DELETE FROM revoked_tokens WHERE expires_at < ?'),
      trust: db.prepare<[string, string], { trust: number }>('SELECT trust FROM npc_trust WHERE player_id = ? AND npc_id = ?'),
      // One statement, so two changes at once (another connection, another process) both count.
      changeTrust: db.prepare<[string, string, number, number, number, number, number, number, number], { trust: number }>(
        `INSERT INTO npc_trust (player_id, npc_id, trust, updated_at) VALUES (?, ?, max(?, min(?, ?)), ?)
         ON CONFLICT (player_id, npc_id) DO UPDATE SET trust = max(?, min(?, trust + ?)), updated_at = excluded.updated_at
         RETURNING trust`,
      ),
    };

    // One transaction: the NPC's count only drops if the player's rises, and a concurrent giver
    // (another connection) can never take the last item twice — the guarded UPDATE is the check.
    this.#giveFromNpc = db.transaction((npcId: string, playerId: string, item: string, count: number): TransferResult => {
      const taken = this.#s.takeFromNpc.run(count, npcId, item, count);
      if (taken.changes === 0) return { ok: false, reason: 'out_of_stock', npcLeft: this.#s.npcCount.get(npcId, item)?.count ?? 0 };
      this.#s.addToPlayer.run(playerId, item, count);
      return { ok: true, npcLeft: this.#s.npcCount.get(npcId, item)!.count, playerHas: this.#s.playerCount.get(playerId, item)!.count };
    }).immediate as (npcId: string, playerId: string, item: string, count: number) => TransferResult;

    // A sale: the player's coins go to the NPC and one item comes back, or nothing changes at all.
    const rollback = new Error('sale rolled back');
    const sale = db.transaction((npcId: string, playerId: string, item: string, coin: string, price: number): SaleResult => {
      if (this.#s.takeFromPlayer.run(price, playerId, coin, price).changes === 0) return { ok: false, reason: 'cannot_pay' };
      if (this.#s.takeFromNpc.run(1, npcId, item, 1).changes === 0) throw rollback;
      this.#s.addToNpc.run(npcId, coin, price);
      this.#s.addToPlayer.run(playerId, item, 1);
      return { ok: true, npcLeft: this.#s.npcCount.get(npcId, item)!.count, playerHas: this.#s.playerCount.get(playerId, item)!.count, playerCoins: this.#s.playerCount.get(playerId, coin)?.count ?? 0 };
    }).immediate as (npcId: string, playerId: string, item: string, coin: string, price: number) => SaleResult;
    this.#sellToPlayer = (npcId, playerId, item, coin, price) => {
      try {
        return sale(npcId, playerId, item, coin, price);
      } catch (err) {
        if (err === rollback) return { ok: false, reason: 'out_of_stock' };
        throw err;
      }
    };
  }

  get where(): string {
    return this.path;
  }

  /** The schema version of the open database (equals SQLITE_SCHEMA_VERSION after opening). */
  async schemaVersion(): Promise<number> {
    return this.#db.pragma('user_version', { simple: true }) as number;
  }

  get journalMode(): string {
    return this.#db.pragma('journal_mode', { simple: true }) as string;
  }

  get isOpen(): boolean {
    return this.#db.open;
  }

  // ── conversation turns ────────────────────────────────────────────────────────────────────────

  async appendTurn(playerId: string, npcId: string, turn: ConversationTurn): Promise<void> {
    this.#s.appendTurn.run(playerId, npcId, turn.role, turn.text, Math.round(turn.ts));
  }

  /** The newest `limit` turns of a (player, NPC) conversation, oldest first. */
  async recentTurns(playerId: string, npcId: string, limit: number): Promise<ConversationTurn[]> {
    return this.#s.recentTurns.all(playerId, npcId, Math.max(0, Math.floor(limit)));
  }

  async countTurns(playerId: string, npcId: string): Promise<number> {
    return this.#s.countTurns.get(playerId, npcId)!.n;
  }

  // ── inventories ───────────────────────────────────────────────────────────────────────────────

  async playerInventory(playerId: string): Promise<Inventory> {
    return Object.fromEntries(this.#s.playerInventory.all(playerId).map((r) => [r.item, r.count]));
  }

  async npcInventory(npcId: string): Promise<Inventory> {
    return Object.fromEntries(this.#s.npcInventory.all(npcId).map((r) => [r.item, r.count]));
  }

  /**
   * Gives an NPC its starting stock. `'missing'` (default) only adds items it has never had, so counts
   * already given away stay given away across restarts; `'replace'` resets the NPC to exactly `items`.
   */
  async stockNpc(npcId: string, items: Inventory, mode: 'missing' | 'replace' = 'missing'): Promise<void> {
    for (const [item, count] of Object.entries(items)) checkCount(count, `stock of ${item}`, true);
    this.#db.transaction(() => {
      if (mode === 'replace') this.#s.clearNpc.run(npcId);
      const stmt = mode === 'replace' ? this.#s.stockReplace : this.#s.stockMissing;
      for (const [item, count] of Object.entries(items)) stmt.run(npcId, item, count);
    })();
  }

  /** Atomically moves `count` of `item` from the NPC to the player; fails cleanly when the NPC has too few. */
  async giveFromNpc(npcId: string, playerId: string, item: string, count = 1): Promise<TransferResult> {
    checkCount(count, 'count', false);
    return this.#giveFromNpc(npcId, playerId, item, count);
  }

  /** Atomically sells one `item` from the NPC to the player for `price` of `coin` (paid into the NPC's stock). */
  async sellToPlayer(npcId: string, playerId: string, item: string, coin: string, price: number): Promise<SaleResult> {
    checkCount(price, 'price', false);
    return this.#sellToPlayer(npcId, playerId, item, coin, price);
  }

  async addPlayerItem(playerId: string, item: string, count = 1): Promise<number> {
    checkCount(count, 'count', false);
    this.#s.addToPlayer.run(playerId, item, count);
    return this.#s.playerCount.get(playerId, item)!.count;
  }

  /** Removes items from a player; false (and nothing changed) when the player has fewer. */
  async takePlayerItem(playerId: string, item: string, count = 1): Promise<boolean> {
    checkCount(count, 'count', false);
    return this.#s.takeFromPlayer.run(count, playerId, item, count).changes === 1;
  }

  // ── relationships ─────────────────────────────────────────────────────────────────────────────

  /** How much `npcId` trusts the player (TRUST_MIN…TRUST_MAX; 0 when nothing has happened between them). */
  async trust(playerId: string, npcId: string): Promise<number> {
    return this.#s.trust.get(playerId, npcId)?.trust ?? 0;
  }

  /** Changes the NPC's trust in the player by `delta`, kept within TRUST_MIN…TRUST_MAX; returns the new trust. */
  async changeTrust(playerId: string, npcId: string, delta: number, now = Date.now()): Promise<number> {
    checkTrustDelta(delta);
    return this.#s.changeTrust.get(playerId, npcId, TRUST_MIN, TRUST_MAX, delta, now, TRUST_MIN, TRUST_MAX, delta)!.trust;
  }

  // ── turn log (replay) ─────────────────────────────────────────────────────────────────────────

  /**
   * Records a turn; returns its id (generated when not given). Pass `messages` (what `prompt` was
   * rendered from) so the turn can become a fine-tuning sample; turns logged without them cannot.
   */
  async logTurn(rec: TurnLogInput): Promise<string> {
    const { turnId, values } = turnLogValues(rec, randomUUID);
    this.#s.logTurn.run(...values);
    return turnId;
  }

  async getTurn(turnId: string): Promise<TurnLogRecord | undefined> {
    const row = this.#s.getTurn.get(turnId);
    return row ? turnFromRow(row) : undefined;
  }

  /** The player key a logged turn belongs to, or undefined for an unknown turn. */
  async turnOwner(turnId: string): Promise<string | undefined> {
    return this.#s.turnOwner.get(turnId)?.player_id;
  }

  /** Newest first. */
  async listTurns(filter: { npcId?: string; playerId?: string; limit?: number } = {}): Promise<TurnLogRecord[]> {
    const npc = filter.npcId ?? null;
    const player = filter.playerId ?? null;
    return this.#s.listTurns.all(npc, npc, player, player, filter.limit ?? 50).map(turnFromRow);
  }

  // ── turn ratings (player feedback) ────────────────────────────────────────────────────────────

  /**
   * Records a player's rating of a turn; a second rating by the same player replaces the first. The
   * caller checks the turn exists and is the player's (the room does).
   */
  async rateTurn(input: TurnRatingInput): Promise<TurnRating> {
    checkRating(input.rating);
    const comment = input.comment?.trim() || null;
    const ratedAt = Math.round(input.ratedAt ?? Date.now());
    this.#s.rateTurn.run(input.turnId, input.playerId, input.rating, comment, ratedAt);
    return { turnId: input.turnId, playerId: input.playerId, rating: input.rating, comment, ratedAt };
  }

  /** Every rating of one turn, oldest first. */
  async turnRatings(turnId: string): Promise<TurnRating[]> {
    return this.#s.turnRatings.all(turnId).map((r) => ({
      turnId: r.turn_id, playerId: r.player_id, rating: r.rating as TurnRatingValue, comment: r.comment, ratedAt: r.rated_at,
    }));
  }

  /**
   * Rated turns joined with the turn log (npc, prompt, messages, output, action, …), oldest turn first.
   * `minNetRating` keeps only turns whose summed rating reaches it.
   */
  async listRatedTurns(filter: { npcId?: string; minNetRating?: number; limit?: number } = {}): Promise<RatedTurn[]> {
    const npc = filter.npcId ?? null;
    const min = filter.minNetRating ?? null;
    return this.#s.listRatedTurns.all(npc, npc, min, min, filter.limit ?? -1).map((r) => ({
      ...turnFromRow(r),
      netRating: r.net_rating,
      ratingCount: r.rating_count,
      comments: r.comments_json ? (JSON.parse(r.comments_json) as string[]) : [],
      lastRatedAt: r.last_rated_at,
    }));
  }

  // ── accounts (identity) ───────────────────────────────────────────────────────────────────────

  /** Creates an account; throws StoreError when the device secret hash or user name is taken. */
  async createAccount(input: AccountInput): Promise<AccountRecord> {
    const now = Math.round(input.now ?? Date.now());
    try {
      this.#s.createAccount.run(input.id, input.kind, input.deviceSecretHash ?? null, input.username ?? null, input.passwordHash ?? null, now, now);
    } catch (err) {
      if ((err as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE' || (err as { code?: string }).code === 'SQLITE_CONSTRAINT_PRIMARYKEY') {
        throw new StoreError(`account already exists: ${(err as Error).message}`);
      }
      throw err;
    }
    return accountFromRow(this.#s.accountById.get(input.id)!);
  }

  async account(id: string): Promise<AccountRecord | undefined> {
    const row = this.#s.accountById.get(id);
    return row ? accountFromRow(row) : undefined;
  }

  async accountByDeviceSecretHash(hash: string): Promise<AccountRecord | undefined> {
    const row = this.#s.accountByDevice.get(hash);
    return row ? accountFromRow(row) : undefined;
  }

  async accountByUsername(username: string): Promise<AccountRecord | undefined> {
    const row = this.#s.accountByUsername.get(username);
    return row ? accountFromRow(row) : undefined;
  }

  /** Gives an account a user name and password (a guest upgrading keeps its id, so its inventory and memories). */
  async setCredentials(id: string, username: string, passwordHash: string): Promise<void> {
    try {
      if (this.#s.setCredentials.run(username, passwordHash, id).changes !== 1) throw new StoreError(`no account ${id}`);
    } catch (err) {
      if ((err as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE') throw new StoreError(`user name ${username} is taken`);
      throw err;
    }
  }

  async touchAccount(id: string, now = Date.now()): Promise<void> {
    this.#s.touchAccount.run(Math.round(now), id);
  }

  /** Revokes every session token the account holds (tokens carry the generation they were issued in). */
  async bumpSessionGeneration(id: string): Promise<number> {
    const row = this.#s.bumpSessionGen.get(id);
    if (!row) throw new StoreError(`no account ${id}`);
    return row.session_gen;
  }

  /** Revokes one token until it would have expired anyway (then it is pruned). */
  async revokeToken(jti: string, accountId: string, expiresAt: number): Promise<void> {
    this.#s.revokeToken.run(jti, accountId, Math.round(expiresAt));
  }

  async isTokenRevoked(jti: string): Promise<boolean> {
    return this.#s.isRevoked.get(jti) !== undefined;
  }

  /** Drops revocations of tokens that have expired anyway. Returns how many. */
  async pruneRevokedTokens(now = Date.now()): Promise<number> {
    return this.#s.pruneRevoked.run(Math.round(now)).changes;
  }

  /** Closes the database (checkpointing the WAL). Safe to call twice. */
  async close(): Promise<void> {
    if (this.#db.open) this.#db.close();
  }
}

