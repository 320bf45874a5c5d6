/**
 * Live sessions per account, across every room of the server: at most MAX_SESSIONS_PER_ACCOUNT at a
 * time. A new session beyond the limit takes over: the oldest are ended (close code 4409), whether
 * connected or holding a seat during their reconnection window. Revoking tokens ends the sessions
 * that joined with them (close code 4401).
 */
import { WorldCloseCode } from '@worldmind/shared';

export interface LiveSession {
  accountId: string;
  /** Id of the session token the player joined with. */
  jti: string;
  roomId: string;
  sessionId: string;
  /** Ends the session: disconnects the client (or cancels its reconnection window). */
  end(code: number, reason: string): void;
}

export class SessionRegistry {
  /** accountId → sessions, oldest first. */
  readonly #byAccount = new Map<string, LiveSession[]>();

  constructor(readonly maxPerAccount: number) {}

  /** Registers a new session and ends the oldest ones beyond the limit; returns those it ended. */
  add(session: LiveSession): LiveSession[] {
    const list = this.#byAccount.get(session.accountId) ?? [];
    list.push(session);
    this.#byAccount.set(session.accountId, list);
    const evicted = list.splice(0, Math.max(0, list.length - this.maxPerAccount));
    for (const old of evicted) old.end(WorldCloseCode.SessionTakenOver, 'signed in elsewhere: this session was taken over by a newer one');
    return evicted;
  }

  /** Forgets a session that ended (no-op when it was already taken over). */
  remove(roomId: string, sessionId: string, accountId: string): void {
    const list = this.#byAccount.get(accountId);
    if (!list) return;
    const i = list.findIndex((s) => s.roomId === roomId && s.sessionId === sessionId);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) this.#byAccount.delete(accountId);
  }

  /** Ends the sessions of an account, or only those joined with token `jti`. Returns how many. */
  endSessions(accountId: string, jti: string | undefined, reason: string): number {
    const list = this.#byAccount.get(accountId);
    if (!list) return 0;
    const ended = list.filter((s) => jti === undefined || s.jti === jti);
    const kept = list.filter((s) => !ended.includes(s));
    if (kept.length > 0) this.#byAccount.set(accountId, kept);
    else this.#byAccount.delete(accountId);
    for (const s of ended) s.end(WorldCloseCode.SessionRevoked, reason);
    return ended.length;
  }

  count(accountId: string): number {
    return this.#byAccount.get(accountId)?.length ?? 0;
  }
}
