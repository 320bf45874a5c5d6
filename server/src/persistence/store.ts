/**
 * The world's store: player accounts, conversation turns, player and NPC inventories, NPC trust in each
 * player, and the per-turn log that makes NPC turns replayable. Every `playerId` is an account id.
 *
 * One interface, two backends: SQLite (`sqlite-store.ts`, embedded, the default: one file) and
 * PostgreSQL (`postgres-store.ts`, with `DATABASE_URL`: several game processes on several machines share
 * it). Every method is asynchronous because PostgreSQL is; every state change is one transaction, so two
 * processes serving the same NPC can never both spend its stock (docs/SCALING.md, "Shared state").
 * `openStore` picks the backend from the configuration.
 */
import type { ChatMessage } from '../inference/tokenizer/index.ts';

export type TurnRole = 'player' | 'npc';

export interface ConversationTurn {
  role: TurnRole;
  text: string;
  /** Milliseconds since the epoch. */
  ts: number;
}

/** One NPC turn, with everything needed to run it again bit for bit. */
export interface TurnLogRecord {
  turnId: string;
  npcId: string;
  playerId: string;
  modelId: string;
  /** Content hash of the model files, so a replay can refuse a different model. */
  modelHash: string;
  seed: number;
  /** The prompt exactly as rendered by the chat template. */
  prompt: string;
  /** The chat messages `prompt` was rendered from; absent for turns logged without them. */
  messages?: ChatMessage[];
  /** Sampling settings as sent to the engine (temperature, topP, maxTokens, …). */
  sampling: Record<string, unknown>;
  output: string;
  /** The parsed action, or null when the turn produced none. */
  action: unknown;
  finishReason: string;
  /** Milliseconds since the epoch. */
  createdAt: number;
}

export type TurnLogInput = Omit<TurnLogRecord, 'turnId' | 'createdAt' | 'messages'> & { turnId?: string; createdAt?: number; messages?: readonly ChatMessage[] };

/** A player's verdict on one NPC turn: 1 = good, -1 = bad. */
export type TurnRatingValue = 1 | -1;

export interface TurnRating {
  turnId: string;
  playerId: string;
  rating: TurnRatingValue;
  comment: string | null;
  /** Milliseconds since the epoch. */
  ratedAt: number;
}

export type TurnRatingInput = Omit<TurnRating, 'comment' | 'ratedAt'> & { comment?: string | null; ratedAt?: number };

/** A rated turn: the turn log record plus its ratings, summed. */
export interface RatedTurn extends TurnLogRecord {
  /** Sum of every rating of the turn (each player counts once; re-rating replaces). */
  netRating: number;
  ratingCount: number;
  /** Non-empty comments, oldest first. */
  comments: string[];
  /** When the turn was last rated (ms since the epoch). */
  lastRatedAt: number;
}

export type TransferResult =
  | { ok: true; npcLeft: number; playerHas: number }
  | { ok: false; reason: 'out_of_stock'; npcLeft: number };

export type SaleResult =
  | { ok: true; npcLeft: number; playerHas: number; playerCoins: number }
  | { ok: false; reason: 'out_of_stock' | 'cannot_pay' };

export type Inventory = Record<string, number>;

/** A player account: guests are known by the hash of their device secret, password accounts by user name. */
export interface AccountRecord {
  id: string;
  kind: 'guest' | 'password';
  /** SHA-256 (hex) of the guest's device secret; kept when a guest registers a password. */
  deviceSecretHash: string | null;
  username: string | null;
  /** `scrypt$N$r$p$salt$hash`, for password accounts. */
  passwordHash: string | null;
  /** Bumped to revoke every session token issued before. */
  sessionGen: number;
  createdAt: number;
  lastSeenAt: number;
}


export class StoreError extends Error {
  override name = 'StoreError';
}

/** The database could not be reached or opened (bad address, refused, timed out): start-up stops with this. */
export class StoreUnavailable extends StoreError {
  override name = 'StoreUnavailable';
}

export interface AccountInput {
  id: string;
  kind: 'guest' | 'password';
  deviceSecretHash?: string | null;
  username?: string | null;
  passwordHash?: string | null;
  now?: number;
}

export interface WorldStore {
  readonly backend: 'sqlite' | 'postgres';
  /** Where the data lives, for logs: the SQLite file, or `postgres://host:port/db` (never the password). */
  readonly where: string;
  readonly isOpen: boolean;
  /** The schema version of the open database (the backend's current version after opening). */
  schemaVersion(): Promise<number>;

  // ── conversation turns ──
  appendTurn(playerId: string, npcId: string, turn: ConversationTurn): Promise<void>;
  /** The newest `limit` turns of a (player, NPC) conversation, oldest first. */
  recentTurns(playerId: string, npcId: string, limit: number): Promise<ConversationTurn[]>;
  countTurns(playerId: string, npcId: string): Promise<number>;

  // ── inventories ──
  playerInventory(playerId: string): Promise<Inventory>;
  npcInventory(npcId: string): Promise<Inventory>;
  /**
   * Gives an NPC its starting stock. `'missing'` (default) only adds items it has never had, so counts
   * already given away stay given away across restarts; `'replace'` resets the NPC to exactly `items`.
   */
  stockNpc(npcId: string, items: Inventory, mode?: 'missing' | 'replace'): Promise<void>;
  /** Atomically moves `count` of `item` from the NPC to the player; fails cleanly when the NPC has too few. */
  giveFromNpc(npcId: string, playerId: string, item: string, count?: number): Promise<TransferResult>;
  /** Atomically sells one `item` from the NPC to the player for `price` of `coin` (paid into the NPC's stock). */
  sellToPlayer(npcId: string, playerId: string, item: string, coin: string, price: number): Promise<SaleResult>;
  /** Adds items to a player; returns how many they have now. */
  addPlayerItem(playerId: string, item: string, count?: number): Promise<number>;
  /** Removes items from a player; false (and nothing changed) when the player has fewer. */
  takePlayerItem(playerId: string, item: string, count?: number): Promise<boolean>;

  // ── relationships ──
  /** How much `npcId` trusts the player (TRUST_MIN…TRUST_MAX; 0 when nothing has happened between them). */
  trust(playerId: string, npcId: string): Promise<number>;
  /** Changes the NPC's trust in the player by `delta`, kept within TRUST_MIN…TRUST_MAX; returns the new trust. */
  changeTrust(playerId: string, npcId: string, delta: number, now?: number): Promise<number>;

  // ── turn log (replay) ──
  /**
   * Records a turn; returns its id (generated when not given). Pass `messages` (what `prompt` was
   * rendered from) so the turn can become a fine-tuning sample; turns logged without them cannot.
   */
  logTurn(rec: TurnLogInput): Promise<string>;
  getTurn(turnId: string): Promise<TurnLogRecord | undefined>;
  /** The player key a logged turn belongs to, or undefined for an unknown turn. */
  turnOwner(turnId: string): Promise<string | undefined>;
  /** Newest first; `limit` -1 = all (default 50). */
  listTurns(filter?: { npcId?: string; playerId?: string; limit?: number }): Promise<TurnLogRecord[]>;

  // ── turn ratings (player feedback) ──
  /**
   * Records a player's rating of a turn; a second rating by the same player replaces the first. The
   * caller checks the turn exists and is the player's (the room does).
   */
  rateTurn(input: TurnRatingInput): Promise<TurnRating>;
  /** Every rating of one turn, oldest first. */
  turnRatings(turnId: string): Promise<TurnRating[]>;
  /**
   * Rated turns joined with the turn log (npc, prompt, messages, output, action, …), oldest turn first.
   * `minNetRating` keeps only turns whose summed rating reaches it; `limit` -1 (default) = all.
   */
  listRatedTurns(filter?: { npcId?: string; minNetRating?: number; limit?: number }): Promise<RatedTurn[]>;

  // ── accounts (identity) ──
  /** Creates an account; throws StoreError when the id, device secret hash or user name is taken. */
  createAccount(input: AccountInput): Promise<AccountRecord>;
  account(id: string): Promise<AccountRecord | undefined>;
  accountByDeviceSecretHash(hash: string): Promise<AccountRecord | undefined>;
  accountByUsername(username: string): Promise<AccountRecord | undefined>;
  /** Gives an account a user name and password (a guest upgrading keeps its id, so its inventory and memories). */
  setCredentials(id: string, username: string, passwordHash: string): Promise<void>;
  touchAccount(id: string, now?: number): Promise<void>;
  /** Revokes every session token the account holds (tokens carry the generation they were issued in). */
  bumpSessionGeneration(id: string): Promise<number>;
  /** Revokes one token until it would have expired anyway (then it is pruned). */
  revokeToken(jti: string, accountId: string, expiresAt: number): Promise<void>;
  isTokenRevoked(jti: string): Promise<boolean>;
  /** Drops revocations of tokens that have expired anyway. Returns how many. */
  pruneRevokedTokens(now?: number): Promise<number>;

  /** Closes the database (SQLite: checkpoints the WAL; PostgreSQL: ends the pool). Safe to call twice. */
  close(): Promise<void>;
}

export interface StoreConfig {
  /** SQLite file (`:memory:` for a throwaway store); used when `databaseUrl` is unset. */
  dbPath: string;
  /** `postgres://…`: the store lives in PostgreSQL instead. */
  databaseUrl?: string | undefined;
  /** PostgreSQL connections this process keeps at most. Default 10. */
  poolSize?: number;
  /** How long connecting (and each query waiting for a connection) may take before failing. Default 5000 ms. */
  connectTimeoutMs?: number;
  /** PostgreSQL: an idle pooled connection failed (the pool replaces it); for the log. */
  onBackgroundError?: (err: Error) => void;
}

/** Opens the configured backend: PostgreSQL when `databaseUrl` is set, else SQLite. Migrates it to the current schema. */
export async function openStore(config: StoreConfig): Promise<WorldStore> {
  if (config.databaseUrl) {
    const { PostgresStore } = await import('./postgres-store.ts');
    return PostgresStore.open({
      url: config.databaseUrl,
      ...(config.poolSize !== undefined ? { poolSize: config.poolSize } : {}),
      ...(config.connectTimeoutMs !== undefined ? { connectTimeoutMs: config.connectTimeoutMs } : {}),
      ...(config.onBackgroundError ? { onBackgroundError: config.onBackgroundError } : {}),
    });
  }
  const { SqliteStore } = await import('./sqlite-store.ts');
  try {
    return SqliteStore.open(config.dbPath);
  } catch (err) {
    if (err instanceof StoreError) throw err;
    // An unwritable directory, a file that is not a database…: one line for the operator, not a stack.
    throw new StoreUnavailable(`cannot open the SQLite store at ${config.dbPath}: ${(err as Error).message}`);
  }
}
