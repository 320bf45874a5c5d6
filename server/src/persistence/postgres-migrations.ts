/**
 * The PostgreSQL schema, as numbered migrations tracked in the one-row table `worldmind_schema`, and the
 * migrator. The tables mirror the SQLite ones (sqlite-migrations.ts) column for column, so both backends
 * answer the same queries alike: milliseconds since the epoch are BIGINT (read back as numbers, see
 * postgres-store.ts), JSON stays TEXT so a logged prompt, sampling and action come back byte for byte.
 */
import type { PoolClient } from 'pg';
import { StoreError } from './store.ts';

/** Numbered migrations; index + 1 is the version each one brings the database to. Append only. */
export const POSTGRES_MIGRATIONS: readonly string[] = [
  // 1: everything the SQLite store had at its version 4.
  `
  CREATE TABLE conversation_turns (
    id        BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    player_id TEXT    NOT NULL,
    npc_id    TEXT    NOT NULL,
    role      TEXT    NOT NULL CHECK (role IN ('player', 'npc')),
    text      TEXT    NOT NULL,
    ts        BIGINT  NOT NULL
  );
  CREATE INDEX conversation_turns_pair ON conversation_turns (player_id, npc_id, id);

  CREATE TABLE player_inventory (
    player_id TEXT    NOT NULL,
    item      TEXT    NOT NULL,
    count     INTEGER NOT NULL CHECK (count >= 0),
    PRIMARY KEY (player_id, item)
  );

  CREATE TABLE npc_inventory (
    npc_id TEXT    NOT NULL,
    item   TEXT    NOT NULL,
    count  INTEGER NOT NULL CHECK (count >= 0),
    PRIMARY KEY (npc_id, item)
  );

  CREATE TABLE turn_log (
    turn_id       TEXT    PRIMARY KEY,
    -- Insertion order, the tie-break of turns logged in the same millisecond (SQLite's rowid).
    seq           BIGINT  GENERATED ALWAYS AS IDENTITY,
    npc_id        TEXT    NOT NULL,
    player_id     TEXT    NOT NULL,
    model_id      TEXT    NOT NULL,
    model_hash    TEXT    NOT NULL,
    seed          BIGINT  NOT NULL,
    prompt        TEXT    NOT NULL,
    sampling_json TEXT    NOT NULL,
    output_text   TEXT    NOT NULL,
    action_json   TEXT,
    finish_reason TEXT    NOT NULL,
    created_at    BIGINT  NOT NULL,
    messages_json TEXT
  );
  CREATE INDEX turn_log_npc ON turn_log (npc_id, created_at);
  CREATE INDEX turn_log_player ON turn_log (player_id, created_at);

  CREATE TABLE turn_ratings (
    turn_id   TEXT    NOT NULL,
    player_id TEXT    NOT NULL,
    rating    INTEGER NOT NULL CHECK (rating IN (-1, 1)),
    comment   TEXT,
    rated_at  BIGINT  NOT NULL,
    PRIMARY KEY (turn_id, player_id)
  );
  CREATE INDEX turn_ratings_rated_at ON turn_ratings (rated_at);

  CREATE TABLE accounts (
    id                 TEXT    PRIMARY KEY,
    kind               TEXT    NOT NULL CHECK (kind IN ('guest', 'password')),
    device_secret_hash TEXT    UNIQUE,
    username           TEXT    UNIQUE,
    password_hash      TEXT,
    session_gen        INTEGER NOT NULL DEFAULT 0,
    created_at         BIGINT  NOT NULL,
    last_seen_at       BIGINT  NOT NULL
  );

  CREATE TABLE revoked_tokens (
    jti        TEXT    PRIMARY KEY,
    account_id TEXT    NOT NULL,
    expires_at BIGINT  NOT NULL
  );
  CREATE INDEX revoked_tokens_expiry ON revoked_tokens (expires_at);

  -- npc/trust.ts: TRUST_MIN…TRUST_MAX, literals because a migration is fixed once shipped. No row = 0.
  CREATE TABLE npc_trust (
    player_id  TEXT    NOT NULL,
    npc_id     TEXT    NOT NULL,
    trust      INTEGER NOT NULL CHECK (trust BETWEEN -3 AND 3),
    updated_at BIGINT  NOT NULL,
    PRIMARY KEY (player_id, npc_id)
  );
  `,
];

export const POSTGRES_SCHEMA_VERSION = POSTGRES_MIGRATIONS.length;

/**
 * Advisory-lock namespace (the first key of pg_advisory_xact_lock(int, int)) of the migrator; the
 * NPC state locks use another (postgres-store.ts). 'WMmi'.
 */
const MIGRATION_LOCK = 0x574d6d69;

/**
 * Brings the database to POSTGRES_SCHEMA_VERSION in one transaction that holds a transaction-scoped
 * advisory lock: game processes starting together against one database migrate it exactly once (the
 * others wait on the lock, then read the version the first one wrote). The version is read inside the
 * transaction, after the lock.
 */
export async function migratePostgres(client: PoolClient): Promise<number> {
  await client.query('BEGIN');
  try {
    await client.query('SELECT pg_advisory_xact_lock($1, 0)', [MIGRATION_LOCK]);
    await client.query('CREATE TABLE IF NOT EXISTS worldmind_schema (one BOOLEAN PRIMARY KEY DEFAULT true CHECK (one), version INTEGER NOT NULL)');
    const row = (await client.query<{ version: number }>('SELECT version FROM worldmind_schema')).rows[0];
    const current = row?.version ?? 0;
    if (current > POSTGRES_MIGRATIONS.length) {
      throw new StoreError(`database schema version ${current} is newer than this server understands (${POSTGRES_MIGRATIONS.length}); refusing to open it`);
    }
    for (let v = current; v < POSTGRES_MIGRATIONS.length; v++) await client.query(POSTGRES_MIGRATIONS[v]!);
    await client.query('INSERT INTO worldmind_schema (version) VALUES ($1) ON CONFLICT (one) DO UPDATE SET version = excluded.version', [POSTGRES_MIGRATIONS.length]);
    await client.query('COMMIT');
    return POSTGRES_MIGRATIONS.length;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}
