/**
 * The PostgreSQL backend of the world store (node-postgres `pg`), used when `DATABASE_URL` is set: game
 * processes on any number of machines share one database.
 *
 * Who owns an NPC's state: no game process does for longer than one change. Each change to an NPC's
 * stock (give, sale, stocking) is one transaction that first takes a transaction-scoped advisory lock
 * on that NPC (`pg_advisory_xact_lock`): a lease that lasts exactly as long as the change and is
 * released by COMMIT or ROLLBACK, or by the server if the process dies — so at any moment at most one
 * process holds an NPC's state writable, and nothing is ever left locked by a crashed process. Inside
 * it the stock check is the UPDATE's own guard (`… WHERE count >= n`), so even without the lease the
 * last item can never be given twice. Player-only changes (an item added, a coin spent, trust) are
 * single guarded or upserting statements, atomic on their own.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { TRUST_MAX, TRUST_MIN } from '../npc/trust.ts';
import { migratePostgres } from './postgres-migrations.ts';
import { accountFromRow, checkCount, checkRating, checkTrustDelta, turnFromRow, turnLogValues, type AccountRow, type TurnLogRow } from './rows.ts';
import {
  StoreError, StoreUnavailable, type AccountInput, type AccountRecord, type ConversationTurn, type Inventory, type RatedTurn, type SaleResult,
  type TransferResult, type TurnLogInput, type TurnLogRecord, type TurnRating, type TurnRatingInput, type TurnRatingValue, type WorldStore,
} from './store.ts';

export interface PostgresStoreOptions {
  /** `postgres://user:password@host:port/database` (libpq-style query parameters such as `sslmode` work too). */
  url: string;
  /** Connections this process keeps at most. Default 10. */
  poolSize?: number;
  /** Bound on connecting, and on a query waiting for a free connection. Default 5000 ms. */
  connectTimeoutMs?: number;
  /** Bound on any one statement, lock waits included (server-side statement_timeout). Default 15000 ms. */
  statementTimeoutMs?: number;
  /** An idle pooled connection failed (e.g. the server restarted); the pool replaces it. For the log. */
  onBackgroundError?: (err: Error) => void;
}

/** Advisory-lock namespace of the per-NPC state lease (the first key of pg_advisory_xact_lock(int, int)). 'WMnp'. */
const NPC_LOCK = 0x574d6e70;
const UNIQUE_VIOLATION = '23505';
const INT8_OID = 20;

/**
 * BIGINT (int8) columns — timestamps, counts — come back from pg as strings by default, since they may
 * exceed 2^53; every one here is a millisecond time or a count far below that, so read them as numbers.
 */
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID && format !== 'binary' ? (value: string) => Number(value) : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

type Queryable = Pick<pg.PoolClient, 'query'>;

interface RatedTurnRow extends TurnLogRow {
  net_rating: number; rating_count: number; comments: string[] | null; last_rated_at: number;
}

export class PostgresStore implements WorldStore {
  readonly backend = 'postgres' as const;
  readonly where: string;
  readonly #pool: pg.Pool;
  #open = true;

  /** Connects (bounded by `connectTimeoutMs`) and migrates; throws StoreUnavailable when the database cannot be reached. */
  static async open(opts: PostgresStoreOptions): Promise<PostgresStore> {
    const store = new PostgresStore(opts);
    const connectTimeoutMs = opts.connectTimeoutMs ?? 5000;
    let client: pg.PoolClient;
    try {
      client = await store.#pool.connect();
    } catch (err) {
      await store.close();
      throw new StoreUnavailable(`cannot connect to PostgreSQL at ${store.where} within ${connectTimeoutMs} ms: ${(err as Error).message || String(err)}`);
    }
    try {
      await migratePostgres(client);
    } catch (err) {
      client.release();
      await store.close();
      if (err instanceof StoreError) throw err;
      throw new StoreUnavailable(`cannot open the PostgreSQL store at ${store.where}: ${(err as Error).message}`);
    }
    client.release();
    return store;
  }

  private constructor(opts: PostgresStoreOptions) {
    this.where = describeUrl(opts.url);
    this.#pool = new pg.Pool({
      connectionString: opts.url,
      max: opts.poolSize ?? 10,
      connectionTimeoutMillis: opts.connectTimeoutMs ?? 5000,
      statement_timeout: opts.statementTimeoutMs ?? 15_000,
      // The client-side bound too, for a server or network that stops answering altogether.
      query_timeout: (opts.statementTimeoutMs ?? 15_000) + 5_000,
      idleTimeoutMillis: 30_000,
      application_name: 'worldmind',
      types,
    });
    // An idle client's error (server restart, network cut) is emitted on the pool; unhandled, it would
    // crash the process. The pool drops that client and connects a new one for the next query.
    this.#pool.on('error', (err) => opts.onBackgroundError?.(err));
  }

  get isOpen(): boolean {
    return this.#open;
  }

  async schemaVersion(): Promise<number> {
    return (await this.#pool.query<{ version: number }>('SELECT version FROM worldmind_schema')).rows[0]?.version ?? 0;
  }

  /** Runs `work` in one transaction on one pooled connection: COMMIT when it returns, ROLLBACK when it throws. */
  async #transaction<T>(work: (client: Queryable) => Promise<T>): Promise<T> {
    const client = await this.#pool.connect();
    try {
      await client.query('BEGIN');
      const result = await work(client);
      await client.query('COMMIT');
      return result;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  /** The NPC's state lease for the rest of this transaction (see the file comment). */
  async #leaseNpc(client: Queryable, npcId: string): Promise<void> {
    await client.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [NPC_LOCK, npcId]);
  }

  async #rows<R extends pg.QueryResultRow>(sql: string, values: unknown[] = []): Promise<R[]> {
    return (await this.#pool.query<R>(sql, values)).rows;
  }

  // ── conversation turns ────────────────────────────────────────────────────────────────────────

  async appendTurn(playerId: string, npcId: string, turn: ConversationTurn): Promise<void> {
    await this.#pool.query('INSERT INTO conversation_turns (player_id, npc_id, role, text, ts) VALUES ($1, $2, $3, $4, $5)', [playerId, npcId, turn.role, turn.text, Math.round(turn.ts)]);
  }

  async recentTurns(playerId: string, npcId: string, limit: number): Promise<ConversationTurn[]> {
    return this.#rows<ConversationTurn>(
      'SELECT role, text, ts FROM (SELECT id, role, text, ts FROM conversation_turns WHERE player_id = $1 AND npc_id = $2 ORDER BY id DESC LIMIT $3) AS newest ORDER BY id ASC',
      [playerId, npcId, Math.max(0, Math.floor(limit))],
    );
  }

  async countTurns(playerId: string, npcId: string): Promise<number> {
    return (await this.#rows<{ n: number }>('SELECT COUNT(*) AS n FROM conversation_turns WHERE player_id = $1 AND npc_id = $2', [playerId, npcId]))[0]!.n;
  }

  // ── inventories ───────────────────────────────────────────────────────────────────────────────

  async playerInventory(playerId: string): Promise<Inventory> {
    const rows = await this.#rows<{ item: string; count: number }>('SELECT item, count FROM player_inventory WHERE player_id = $1 AND count > 0 ORDER BY item COLLATE "C"', [playerId]);
    return Object.fromEntries(rows.map((r) => [r.item, r.count]));
  }

  async npcInventory(npcId: string): Promise<Inventory> {
    const rows = await this.#rows<{ item: string; count: number }>('SELECT item, count FROM npc_inventory WHERE npc_id = $1 ORDER BY item COLLATE "C"', [npcId]);
    return Object.fromEntries(rows.map((r) => [r.item, r.count]));
  }

  async stockNpc(npcId: string, items: Inventory, mode: 'missing' | 'replace' = 'missing'): Promise<void> {
    for (const [item, count] of Object.entries(items)) checkCount(count, `stock of ${item}`, true);
    await this.#transaction(async (c) => {
      await this.#leaseNpc(c, npcId);
      if (mode === 'replace') await c.query('DELETE FROM npc_inventory WHERE npc_id = $1', [npcId]);
      for (const [item, count] of Object.entries(items)) {
        await c.query(
          mode === 'replace'
            ? 'INSERT INTO npc_inventory (npc_id, item, count) VALUES ($1, $2, $3) ON CONFLICT (npc_id, item) DO UPDATE SET count = excluded.count'
            : 'INSERT INTO npc_inventory (npc_id, item, count) VALUES ($1, $2, $3) ON CONFLICT (npc_id, item) DO NOTHING',
          [npcId, item, count],
        );
      }
    });
  }

  async giveFromNpc(npcId: string, playerId: string, item: string, count = 1): Promise<TransferResult> {
    checkCount(count, 'count', false);
    return this.#transaction(async (c): Promise<TransferResult> => {
      await this.#leaseNpc(c, npcId);
      const taken = await takeFromNpc(c, npcId, item, count);
      if (taken === undefined) return { ok: false, reason: 'out_of_stock', npcLeft: await npcCount(c, npcId, item) };
      return { ok: true, npcLeft: taken, playerHas: await addToPlayer(c, playerId, item, count) };
    });
  }

  async sellToPlayer(npcId: string, playerId: string, item: string, coin: string, price: number): Promise<SaleResult> {
    checkCount(price, 'price', false);
    const outOfStock = new Error('sale rolled back');
    try {
      return await this.#transaction(async (c): Promise<SaleResult> => {
        await this.#leaseNpc(c, npcId);
        const coinsLeft = await takeFromPlayer(c, playerId, coin, price);
        if (coinsLeft === undefined) return { ok: false, reason: 'cannot_pay' };
        const npcLeft = await takeFromNpc(c, npcId, item, 1);
        if (npcLeft === undefined) throw outOfStock; // the coins go back: ROLLBACK
        await addToNpc(c, npcId, coin, price);
        const playerHas = await addToPlayer(c, playerId, item, 1);
        return { ok: true, npcLeft, playerHas, playerCoins: coinsLeft };
      });
    } catch (err) {
      if (err === outOfStock) return { ok: false, reason: 'out_of_stock' };
      throw err;
    }
  }

  async addPlayerItem(playerId: string, item: string, count = 1): Promise<number> {
    checkCount(count, 'count', false);
    return addToPlayer(this.#pool, playerId, item, count);
  }

  async takePlayerItem(playerId: string, item: string, count = 1): Promise<boolean> {
    checkCount(count, 'count', false);
    return (await takeFromPlayer(this.#pool, playerId, item, count)) !== undefined;
  }

  // ── relationships ─────────────────────────────────────────────────────────────────────────────

  async trust(playerId: string, npcId: string): Promise<number> {
    return (await this.#rows<{ trust: number }>('SELECT trust FROM npc_trust WHERE player_id = $1 AND npc_id = $2', [playerId, npcId]))[0]?.trust ?? 0;
  }

  async changeTrust(playerId: string, npcId: string, delta: number, now = Date.now()): Promise<number> {
    checkTrustDelta(delta);
    // One statement: two changes at once (any process) both count; the row lock orders them.
    const rows = await this.#rows<{ trust: number }>(
      `INSERT INTO npc_trust (player_id, npc_id, trust, updated_at) VALUES ($1, $2, GREATEST($3::int, LEAST($4::int, $5::int)), $6)
       ON CONFLICT (player_id, npc_id) DO UPDATE SET trust = GREATEST($3::int, LEAST($4::int, npc_trust.trust + $5::int)), updated_at = excluded.updated_at
       RETURNING trust`,
      [playerId, npcId, TRUST_MIN, TRUST_MAX, delta, Math.round(now)],
    );
    return rows[0]!.trust;
  }

  // ── turn log (replay) ─────────────────────────────────────────────────────────────────────────

  async logTurn(rec: TurnLogInput): Promise<string> {
    const { turnId, values } = turnLogValues(rec, randomUUID);
    await this.#pool.query(
      `INSERT INTO turn_log (turn_id, npc_id, player_id, model_id, model_hash, seed, prompt, sampling_json, output_text, action_json, finish_reason, created_at, messages_json)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
      values,
    );
    return turnId;
  }

  async getTurn(turnId: string): Promise<TurnLogRecord | undefined> {
    const row = (await this.#rows<TurnLogRow>('SELECT * FROM turn_log WHERE turn_id = $1', [turnId]))[0];
    return row ? turnFromRow(row) : undefined;
  }

  async turnOwner(turnId: string): Promise<string | undefined> {
    return (await this.#rows<{ player_id: string }>('SELECT player_id FROM turn_log WHERE turn_id = $1', [turnId]))[0]?.player_id;
  }

  async listTurns(filter: { npcId?: string; playerId?: string; limit?: number } = {}): Promise<TurnLogRecord[]> {
    const rows = await this.#rows<TurnLogRow>(
      'SELECT * FROM turn_log WHERE ($1::text IS NULL OR npc_id = $1) AND ($2::text IS NULL OR player_id = $2) ORDER BY created_at DESC, seq DESC LIMIT $3',
      [filter.npcId ?? null, filter.playerId ?? null, sqlLimit(filter.limit ?? 50)],
    );
    return rows.map(turnFromRow);
  }

  // ── turn ratings (player feedback) ────────────────────────────────────────────────────────────

  async rateTurn(input: TurnRatingInput): Promise<TurnRating> {
    checkRating(input.rating);
    const comment = input.comment?.trim() || null;
    const ratedAt = Math.round(input.ratedAt ?? Date.now());
    await this.#pool.query(
      `INSERT INTO turn_ratings (turn_id, player_id, rating, comment, rated_at) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (turn_id, player_id) DO UPDATE SET rating = excluded.rating, comment = excluded.comment, rated_at = excluded.rated_at`,
      [input.turnId, input.playerId, input.rating, comment, ratedAt],
    );
    return { turnId: input.turnId, playerId: input.playerId, rating: input.rating, comment, ratedAt };
  }

  async turnRatings(turnId: string): Promise<TurnRating[]> {
    const rows = await this.#rows<{ turn_id: string; player_id: string; rating: number; comment: string | null; rated_at: number }>(
      'SELECT * FROM turn_ratings WHERE turn_id = $1 ORDER BY rated_at, player_id COLLATE "C"',
      [turnId],
    );
    return rows.map((r) => ({ turnId: r.turn_id, playerId: r.player_id, rating: r.rating as TurnRatingValue, comment: r.comment, ratedAt: r.rated_at }));
  }

  async listRatedTurns(filter: { npcId?: string; minNetRating?: number; limit?: number } = {}): Promise<RatedTurn[]> {
    const rows = await this.#rows<RatedTurnRow>(
      `SELECT t.*, r.net_rating, r.rating_count, r.comments, r.last_rated_at
         FROM (SELECT turn_id, SUM(rating)::int AS net_rating, COUNT(*)::int AS rating_count, MAX(rated_at) AS last_rated_at,
                      json_agg(comment ORDER BY rated_at, player_id COLLATE "C") FILTER (WHERE comment IS NOT NULL AND comment <> '') AS comments
                 FROM turn_ratings GROUP BY turn_id) AS r
         JOIN turn_log AS t ON t.turn_id = r.turn_id
        WHERE ($1::text IS NULL OR t.npc_id = $1) AND ($2::int IS NULL OR r.net_rating >= $2)
        ORDER BY t.created_at, t.turn_id COLLATE "C" LIMIT $3`,
      [filter.npcId ?? null, filter.minNetRating ?? null, sqlLimit(filter.limit ?? -1)],
    );
    return rows.map((r) => ({ ...turnFromRow(r), netRating: r.net_rating, ratingCount: r.rating_count, comments: r.comments ?? [], lastRatedAt: r.last_rated_at }));
  }

  // ── accounts (identity) ───────────────────────────────────────────────────────────────────────

  async createAccount(input: AccountInput): Promise<AccountRecord> {
    const now = Math.round(input.now ?? Date.now());
    try {
      const rows = await this.#rows<AccountRow>(
        'INSERT INTO accounts (id, kind, device_secret_hash, username, password_hash, created_at, last_seen_at) VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING *',
        [input.id, input.kind, input.deviceSecretHash ?? null, input.username ?? null, input.passwordHash ?? null, now],
      );
      return accountFromRow(rows[0]!);
    } catch (err) {
      if ((err as { code?: string }).code === UNIQUE_VIOLATION) throw new StoreError(`account already exists: ${(err as Error).message}`);
      throw err;
    }
  }

  async account(id: string): Promise<AccountRecord | undefined> {
    const row = (await this.#rows<AccountRow>('SELECT * FROM accounts WHERE id = $1', [id]))[0];
    return row ? accountFromRow(row) : undefined;
  }

  async accountByDeviceSecretHash(hash: string): Promise<AccountRecord | undefined> {
    const row = (await this.#rows<AccountRow>('SELECT * FROM accounts WHERE device_secret_hash = $1', [hash]))[0];
    return row ? accountFromRow(row) : undefined;
  }

  async accountByUsername(username: string): Promise<AccountRecord | undefined> {
    const row = (await this.#rows<AccountRow>('SELECT * FROM accounts WHERE username = $1', [username]))[0];
    return row ? accountFromRow(row) : undefined;
  }

  async setCredentials(id: string, username: string, passwordHash: string): Promise<void> {
    let changed: number;
    try {
      changed = (await this.#pool.query("UPDATE accounts SET kind = 'password', username = $1, password_hash = $2 WHERE id = $3", [username, passwordHash, id])).rowCount ?? 0;
    } catch (err) {
      if ((err as { code?: string }).code === UNIQUE_VIOLATION) throw new StoreError(`user name ${username} is taken`);
      throw err;
    }
    if (changed !== 1) throw new StoreError(`no account ${id}`);
  }

  async touchAccount(id: string, now = Date.now()): Promise<void> {
    await this.#pool.query('UPDATE accounts SET last_seen_at = $1 WHERE id = $2', [Math.round(now), id]);
  }

  async bumpSessionGeneration(id: string): Promise<number> {
    const row = (await this.#rows<{ session_gen: number }>('UPDATE accounts SET session_gen = session_gen + 1 WHERE id = $1 RETURNING session_gen', [id]))[0];
    if (!row) throw new StoreError(`no account ${id}`);
    return row.session_gen;
  }

  async revokeToken(jti: string, accountId: string, expiresAt: number): Promise<void> {
    await this.#pool.query('INSERT INTO revoked_tokens (jti, account_id, expires_at) VALUES ($1, $2, $3) ON CONFLICT (jti) DO NOTHING', [jti, accountId, Math.round(expiresAt)]);
  }

  async isTokenRevoked(jti: string): Promise<boolean> {
    return (await this.#rows('SELECT 1 FROM revoked_tokens WHERE jti = $1', [jti])).length > 0;
  }

  async pruneRevokedTokens(now = Date.now()): Promise<number> {
    return (await this.#pool.query('DELETE FROM revoked_tokens WHERE expires_at < $1', [Math.round(now)])).rowCount ?? 0;
  }

  async close(): Promise<void> {
    if (!this.#open) return;
    this.#open = false;
    await this.#pool.end();
  }
}

/** Takes `count` from the NPC if it has that many; the count left, or undefined (nothing changed) when it has fewer. */
async function takeFromNpc(c: Queryable, npcId: string, item: string, count: number): Promise<number | undefined> {
  const r = await c.query<{ count: number }>('UPDATE npc_inventory SET count = count - $1 WHERE npc_id = $2 AND item = $3 AND count >= $1 RETURNING count', [count, npcId, item]);
  return r.rows[0]?.count;
}

async function takeFromPlayer(c: Queryable, playerId: string, item: string, count: number): Promise<number | undefined> {
  const r = await c.query<{ count: number }>('UPDATE player_inventory SET count = count - $1 WHERE player_id = $2 AND item = $3 AND count >= $1 RETURNING count', [count, playerId, item]);
  return r.rows[0]?.count;
}

async function addToPlayer(c: Queryable, playerId: string, item: string, count: number): Promise<number> {
  const r = await c.query<{ count: number }>(
    'INSERT INTO player_inventory (player_id, item, count) VALUES ($1, $2, $3) ON CONFLICT (player_id, item) DO UPDATE SET count = player_inventory.count + excluded.count RETURNING count',
    [playerId, item, count],
  );
  return r.rows[0]!.count;
}

async function addToNpc(c: Queryable, npcId: string, item: string, count: number): Promise<void> {
  await c.query('INSERT INTO npc_inventory (npc_id, item, count) VALUES ($1, $2, $3) ON CONFLICT (npc_id, item) DO UPDATE SET count = npc_inventory.count + excluded.count', [npcId, item, count]);
}

async function npcCount(c: Queryable, npcId: string, item: string): Promise<number> {
  return (await c.query<{ count: number }>('SELECT count FROM npc_inventory WHERE npc_id = $1 AND item = $2', [npcId, item])).rows[0]?.count ?? 0;
}

/** SQLite's LIMIT -1 (no limit) is PostgreSQL's LIMIT NULL. */
function sqlLimit(limit: number): number | null {
  return limit < 0 ? null : Math.floor(limit);
}

/** The URL without credentials, for logs and errors. */
function describeUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return 'postgres://(unparseable URL)';
  }
}
