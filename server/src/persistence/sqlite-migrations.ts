/**
 * The SQLite schema, as numbered migrations tracked in `PRAGMA user_version`, and the migrator.
 */
import type Database from 'better-sqlite3';
import { StoreError } from './store.ts';

/** Numbered schema migrations; index + 1 is the version each one brings the database to. Append only. */
export const SQLITE_MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE conversation_turns (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    player_id TEXT    NOT NULL,
    npc_id    TEXT    NOT NULL,
    role      TEXT    NOT NULL CHECK (role IN ('player', 'npc')),
    text      TEXT    NOT NULL,
    ts        INTEGER NOT NULL
  );
  CREATE INDEX conversation_turns_pair ON conversation_turns (player_id, npc_id, id);

  CREATE TABLE player_inventory (
    player_id TEXT    NOT NULL,
    item      TEXT    NOT NULL,
    count     INTEGER NOT NULL CHECK (count >= 0),
    PRIMARY KEY (player_id, item)
  ) WITHOUT ROWID;

  CREATE TABLE npc_inventory (
    npc_id TEXT    NOT NULL,
    item   TEXT    NOT NULL,
    count  INTEGER NOT NULL CHECK (count >= 0),
    PRIMARY KEY (npc_id, item)
  ) WITHOUT ROWID;

  CREATE TABLE turn_log (
    turn_id       TEXT    PRIMARY KEY,
    npc_id        TEXT    NOT NULL,
    player_id     TEXT    NOT NULL,
    model_id      TEXT    NOT NULL,
    model_hash    TEXT    NOT NULL,
    seed          INTEGER NOT NULL,
    prompt        TEXT    NOT NULL,
    sampling_json TEXT    NOT NULL,
    output_text   TEXT    NOT NULL,
    action_json   TEXT,
    finish_reason TEXT    NOT NULL,
    created_at    INTEGER NOT NULL
  );
  CREATE INDEX turn_log_npc ON turn_log (npc_id, created_at);
  CREATE INDEX turn_log_player ON turn_log (player_id, created_at);
  `,
  // 2: players rate their NPC turns (fine-tuning feedback); the turn log keeps the structured prompt.
  `
  CREATE TABLE turn_ratings (
    turn_id   TEXT    NOT NULL,
    player_id TEXT    NOT NULL,
    rating    INTEGER NOT NULL CHECK (rating IN (-1, 1)),
    comment   TEXT,
    rated_at  INTEGER NOT NULL,
    PRIMARY KEY (turn_id, player_id)
  ) WITHOUT ROWID;
  CREATE INDEX turn_ratings_rated_at ON turn_ratings (rated_at);

  ALTER TABLE turn_log ADD COLUMN messages_json TEXT;
  `,
  // 3: player accounts. Every player_id above is an account id from here on (rows written before this
  // migration were keyed by display name or a join token, and no account can claim them).
  `
  CREATE TABLE accounts (
    id                 TEXT    PRIMARY KEY,
    kind               TEXT    NOT NULL CHECK (kind IN ('guest', 'password')),
    device_secret_hash TEXT    UNIQUE,
    username           TEXT    UNIQUE,
    password_hash      TEXT,
    session_gen        INTEGER NOT NULL DEFAULT 0,
    created_at         INTEGER NOT NULL,
    last_seen_at       INTEGER NOT NULL
  );

  CREATE TABLE revoked_tokens (
    jti        TEXT    PRIMARY KEY,
    account_id TEXT    NOT NULL,
    expires_at INTEGER NOT NULL
  ) WITHOUT ROWID;
  CREATE INDEX revoked_tokens_expiry ON revoked_tokens (expires_at);
  `,
  // 4: relationships — how much each NPC trusts each player account (npc/trust.ts: TRUST_MIN…TRUST_MAX,
  // written here as literals because a migration is fixed once shipped). No row = 0.
  `
  CREATE TABLE npc_trust (
    player_id  TEXT    NOT NULL,
    npc_id     TEXT    NOT NULL,
    trust      INTEGER NOT NULL CHECK (trust BETWEEN -3 AND 3),
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (player_id, npc_id)
  ) WITHOUT ROWID;
  `,
];

export const SQLITE_SCHEMA_VERSION = SQLITE_MIGRATIONS.length;

/**
 * Brings the database to SQLITE_SCHEMA_VERSION, one IMMEDIATE transaction per step. The version is read
 * inside the step's transaction (which holds the write lock), so two processes opening the same file at
 * once cannot both run the same migration: the second waits, then sees the version the first wrote.
 */
export function migrateSqlite(db: Database.Database): void {
  for (;;) {
    const done = db.transaction((): boolean => {
      const current = db.pragma('user_version', { simple: true }) as number;
      if (current > SQLITE_MIGRATIONS.length) {
        throw new StoreError(`database schema version ${current} is newer than this server understands (${SQLITE_MIGRATIONS.length}); refusing to open it`);
      }
      if (current === SQLITE_MIGRATIONS.length) return true;
      db.exec(SQLITE_MIGRATIONS[current]!);
      db.pragma(`user_version = ${current + 1}`);
      return false;
    }).immediate();
    if (done) return;
  }
}
