/**
 * MAX_SESSIONS_PER_ACCOUNT across game processes (REDIS_URL). Each process keeps its own
 * SessionRegistry for the sessions it hosts (ending one is a room call there); this subclass mirrors
 * them into the Colyseus presence (Redis):
 *
 * - `worldmind:sessions:<accountId>`: a hash, one field per live session (`<process>|<roomId>|<sessionId>`),
 *   valued with a cluster-wide join sequence number (`INCR worldmind:session-seq`);
 * - after registering a join, the process reads the account's hash and ends everything beyond the limit,
 *   oldest sequence first: its own sessions directly, other processes' with an `end` notice on the
 *   `worldmind:sessions` channel, which only the owning process acts on.
 *
 * Redis runs commands one at a time, so of two concurrent joins of one account the one that reads the
 * hash last sees both entries and ends the older: the newest login wins, as in one process. An entry left
 * by a process that crashed is simply the oldest and is dropped on the account's next join (the hash also
 * expires a day after the last join). Revocation (sign out) ends the account's sessions on every process
 * the same way. Every join is also announced, so other processes drop what they cached for that account
 * (`onRemoteJoin`, e.g. NPC conversation memory), and read it back from the store if the player returns.
 */
import type { Presence } from '@colyseus/core';
import { WorldCloseCode } from '@worldmind/shared';
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { SessionRegistry, type LiveSession } from '../auth/sessions.ts';
import type { Logger } from '../observability/logger.ts';

export const SESSIONS_CHANNEL = 'worldmind:sessions';
const SEQUENCE_KEY = 'worldmind:session-seq';
const ENTRY_TTL_S = 24 * 3600;
/** Stopping waits this long at most for presence commands still in flight. */
const DRAIN_TIMEOUT_MS = 3_000;

export const sessionsKey = (accountId: string) => `worldmind:sessions:${accountId}`;

const NoticeSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('joined'), accountId: z.string().min(1), from: z.string().min(1) }),
  z.object({ kind: z.literal('end'), accountId: z.string().min(1), entry: z.string().min(1), code: z.number().int(), reason: z.string() }),
]);
type Notice = z.infer<typeof NoticeSchema>;

const EntrySchema = z.object({ seq: z.number().int(), jti: z.string() });

export interface ClusterSessionOptions {
  maxPerAccount: number;
  presence: Presence;
  log: Logger;
  /** Another process admitted a session of this account: forget what this process cached about it. */
  onRemoteJoin?: (accountId: string) => void;
}

export class ClusterSessionRegistry extends SessionRegistry {
  /** This process in entry names; not Colyseus's processId, which is not known until its set-up resolves. */
  readonly tag = randomUUID();
  readonly #presence: Presence;
  readonly #log: Logger;
  readonly #onRemoteJoin: ((accountId: string) => void) | undefined;
  /** entry → session, for the sessions this process hosts. */
  readonly #local = new Map<string, LiveSession>();
  readonly #pending = new Set<Promise<void>>();
  readonly #listener = (data: unknown) => this.#onNotice(data);
  #started = false;

  constructor(opts: ClusterSessionOptions) {
    super(opts.maxPerAccount);
    this.#presence = opts.presence;
    this.#log = opts.log;
    this.#onRemoteJoin = opts.onRemoteJoin;
  }

  /** Subscribes to the cluster's session notices (before the server accepts players). */
  async start(): Promise<void> {
    await this.#presence.subscribe(SESSIONS_CHANNEL, this.#listener);
    this.#started = true;
  }

  /** Stops listening and waits (bounded) for the presence commands still in flight. */
  async stop(): Promise<void> {
    if (this.#started) {
      this.#started = false;
      await Promise.resolve(this.#presence.unsubscribe(SESSIONS_CHANNEL, this.#listener)).catch((err: unknown) => this.#log.warn({ err }, 'could not unsubscribe from session notices'));
    }
    await this.settled(DRAIN_TIMEOUT_MS);
  }

  /** Resolves when every presence command issued so far has finished (or `timeoutMs` passed). */
  async settled(timeoutMs = DRAIN_TIMEOUT_MS): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)));
    await Promise.race([Promise.allSettled([...this.#pending]).then(() => undefined), timeout]);
    clearTimeout(timer);
  }

  override add(session: LiveSession): LiveSession[] {
    // This process's own sessions beyond the limit end at once, as without Redis.
    const evicted = super.add(session);
    for (const old of evicted) this.#forgetLocal(entryOf(this.tag, old), old.accountId);
    const entry = entryOf(this.tag, session);
    this.#local.set(entry, session);
    this.#track('registering a session', this.#registerJoin(session, entry));
    return evicted;
  }

  override remove(roomId: string, sessionId: string, accountId: string): void {
    super.remove(roomId, sessionId, accountId);
    this.#forgetLocal(`${this.tag}|${roomId}|${sessionId}`, accountId);
  }

  override endSessions(accountId: string, jti: string | undefined, reason: string): number {
    const ended = super.endSessions(accountId, jti, reason);
    this.#track('ending sessions on other processes', this.#endRemote(accountId, jti, reason));
    return ended;
  }

  #forgetLocal(entry: string, accountId: string): void {
    if (!this.#local.delete(entry)) return;
    this.#track('forgetting a session', Promise.resolve(this.#presence.hdel(sessionsKey(accountId), entry)).then(() => undefined));
  }

  async #registerJoin(session: LiveSession, entry: string): Promise<void> {
    const key = sessionsKey(session.accountId);
    const seq = await this.#presence.incr(SEQUENCE_KEY);
    await this.#presence.hset(key, entry, JSON.stringify({ seq, jti: session.jti }));
    await this.#presence.expire(key, ENTRY_TTL_S);
    // The join failed or ended while the entry was being written: take it back out.
    if (!this.#local.has(entry)) {
      await this.#presence.hdel(key, entry);
      return;
    }
    await this.#presence.publish(SESSIONS_CHANNEL, { kind: 'joined', accountId: session.accountId, from: this.tag } satisfies Notice);
    const entries = await this.#entries(session.accountId);
    const over = entries.slice(0, Math.max(0, entries.length - this.maxPerAccount));
    for (const old of over) {
      await this.#end(session.accountId, old.entry, WorldCloseCode.SessionTakenOver, 'signed in elsewhere: this session was taken over by a newer one');
    }
  }

  async #endRemote(accountId: string, jti: string | undefined, reason: string): Promise<void> {
    for (const e of await this.#entries(accountId)) {
      if (e.entry.startsWith(`${this.tag}|`) || (jti !== undefined && e.jti !== jti)) continue;
      await this.#end(accountId, e.entry, WorldCloseCode.SessionRevoked, reason);
    }
  }

  /** The account's live sessions in the cluster, oldest join first. */
  async #entries(accountId: string): Promise<{ entry: string; seq: number; jti: string }[]> {
    const all = await this.#presence.hgetall(sessionsKey(accountId));
    const list: { entry: string; seq: number; jti: string }[] = [];
    for (const [entry, value] of Object.entries(all ?? {})) {
      const parsed = EntrySchema.safeParse(safeJson(value));
      if (parsed.success) list.push({ entry, ...parsed.data });
      else this.#log.warn({ accountId, entry }, 'ignoring a malformed session entry in Redis');
    }
    return list.sort((a, b) => a.seq - b.seq);
  }

  /** Ends one session wherever it runs: here directly, elsewhere through its process. */
  async #end(accountId: string, entry: string, code: number, reason: string): Promise<void> {
    await this.#presence.hdel(sessionsKey(accountId), entry);
    if (!this.#endLocal(entry, code, reason)) {
      await this.#presence.publish(SESSIONS_CHANNEL, { kind: 'end', accountId, entry, code, reason } satisfies Notice);
    }
  }

  #endLocal(entry: string, code: number, reason: string): boolean {
    const session = this.#local.get(entry);
    if (!session) return false;
    this.#local.delete(entry);
    super.remove(session.roomId, session.sessionId, session.accountId);
    session.end(code, reason);
    return true;
  }

  #onNotice(data: unknown): void {
    const parsed = NoticeSchema.safeParse(data);
    if (!parsed.success) {
      this.#log.warn({ data }, 'ignoring a malformed session notice');
      return;
    }
    const notice = parsed.data;
    if (notice.kind === 'joined') {
      if (notice.from !== this.tag) this.#onRemoteJoin?.(notice.accountId);
      return;
    }
    if (this.#endLocal(notice.entry, notice.code, notice.reason)) {
      this.#log.info({ accountId: notice.accountId, code: notice.code }, 'session ended by another process');
    }
  }

  /** Presence commands run in the background of synchronous room calls; a failure is logged, never dropped. */
  #track(what: string, work: Promise<void>): void {
    const p = work.catch((err: unknown) => this.#log.warn({ err }, `cluster sessions: failed ${what} in Redis`)).finally(() => this.#pending.delete(p));
    this.#pending.add(p);
  }
}

function entryOf(tag: string, s: Pick<LiveSession, 'roomId' | 'sessionId'>): string {
  return `${tag}|${s.roomId}|${s.sessionId}`;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
