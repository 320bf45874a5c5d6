/**
 * Group conversations: the players around one NPC share one conversation, answered one round at a time.
 * While the NPC answers a round, the lines that arrive are gathered; when it finishes, ONE model turn
 * answers all of them (not one turn per player). This module is the bookkeeping only — who is in the
 * conversation, which lines wait, who is answered next — with no room, clock or model: the room
 * (world/npc-controller.ts) feeds it lines and runs each round it hands out.
 *
 * Limits (all explicit, from config): at most `maxPlayers` members at once (a newcomer beyond it is
 * refused until a place frees); one line per player per round (a second one while the first waits or is
 * being answered is refused, as a single player's was before groups); at most `maxLinesPerRound` lines
 * gathered for one round; a member silent for `idleMs` leaves; the room removes a member who walks out of
 * range or leaves the world.
 *
 * Turn order: a round answers every gathered line at once, and its reply addresses one speaker — the
 * one the NPC answered least recently (never answered first; ties: who spoke first). That speaker's line
 * goes last (it is the line the model answers) and any action targets them; the others' lines come before
 * it in the order they were said. So no player is talked past twice while another waits.
 */

export interface GroupLimits {
  /** Players in one NPC's conversation at once (NPC_GROUP_MAX_PLAYERS). */
  maxPlayers: number;
  /** Lines gathered into one round at most (NPC_GROUP_MAX_LINES); more are refused until it starts. */
  maxLinesPerRound: number;
  /** A member who has said nothing for this long leaves the conversation (NPC_GROUP_IDLE_S, in ms). */
  idleMs: number;
}

export interface GroupLine<T> {
  sessionId: string;
  /** The line as moderation let it through. */
  text: string;
  /** When it was said (ms; any monotonic clock the caller uses consistently). */
  at: number;
  /** The caller's handle for answering this line (who to stream the reply to, the client's ref…). */
  reply: T;
}

export interface GroupRound<T> {
  /** The lines this round answers, in the order the NPC hears them; the last is the addressed speaker's. */
  lines: GroupLine<T>[];
  /** Rounds handed out so far by this conversation, this one included. */
  number: number;
}

/** Why a line was not taken: the group is full, the player already has a line waiting or being answered, or the round is full. */
export type GroupRefusal = 'full' | 'busy' | 'round_full';

interface Member {
  lastLineAt: number;
  /** Round number in which the NPC last addressed this player (0 = never). */
  addressedIn: number;
}

export class GroupConversation<T> {
  readonly #members = new Map<string, Member>();
  #pending: GroupLine<T>[] = [];
  #round: GroupRound<T> | undefined;
  #rounds = 0;

  constructor(private readonly limits: GroupLimits) {}

  /** Session ids of the players in the conversation, in the order they joined. */
  get members(): string[] {
    return [...this.#members.keys()];
  }

  /** The round being answered now, if any. */
  get current(): GroupRound<T> | undefined {
    return this.#round;
  }

  /** Lines gathered for the next round. */
  get pending(): readonly GroupLine<T>[] {
    return this.#pending;
  }

  /** Nothing left: no member, no line waiting, no round in flight (the caller may drop the conversation). */
  get empty(): boolean {
    return this.#members.size === 0 && this.#pending.length === 0 && !this.#round;
  }

  /** Whether `sessionId` could say a line now, without taking it: a refusal, or null. */
  refusal(sessionId: string): GroupRefusal | null {
    if (!this.#members.has(sessionId) && this.#members.size >= this.limits.maxPlayers) return 'full';
    if (this.#pending.some((l) => l.sessionId === sessionId) || this.#round?.lines.some((l) => l.sessionId === sessionId)) return 'busy';
    if (this.#pending.length >= this.limits.maxLinesPerRound) return 'round_full';
    return null;
  }

  /** Takes a line (joining its speaker to the conversation): null, or why it was refused. */
  offer(line: GroupLine<T>): GroupRefusal | null {
    const refused = this.refusal(line.sessionId);
    if (refused) return refused;
    const member = this.#members.get(line.sessionId);
    if (member) member.lastLineAt = line.at;
    else this.#members.set(line.sessionId, { lastLineAt: line.at, addressedIn: 0 });
    this.#pending.push(line);
    return null;
  }

  /**
   * The next round to answer, when none is in flight and lines wait: every gathered line, the addressed
   * speaker's last. Undefined otherwise. The round stays current until `endRound`.
   */
  nextRound(): GroupRound<T> | undefined {
    if (this.#round || this.#pending.length === 0) return undefined;
    const lines = this.#pending;
    this.#pending = [];
    const addressedIn = (l: GroupLine<T>) => this.#members.get(l.sessionId)?.addressedIn ?? 0;
    let addressed = lines[0]!;
    for (const line of lines) if (addressedIn(line) < addressedIn(addressed)) addressed = line;
    const number = ++this.#rounds;
    const member = this.#members.get(addressed.sessionId);
    if (member) member.addressedIn = number;
    this.#round = { lines: [...lines.filter((l) => l !== addressed), addressed], number };
    return this.#round;
  }

  /** The round in flight is over (answered, failed or cancelled). */
  endRound(): void {
    this.#round = undefined;
  }

  /** A player leaves the conversation: returns their lines that were still waiting (now dropped). */
  leave(sessionId: string): GroupLine<T>[] {
    this.#members.delete(sessionId);
    const dropped = this.#pending.filter((l) => l.sessionId === sessionId);
    if (dropped.length > 0) this.#pending = this.#pending.filter((l) => l.sessionId !== sessionId);
    return dropped;
  }

  /** Members silent for `idleMs` (and with nothing waiting or being answered) leave; returns who left. */
  pruneIdle(now: number): string[] {
    const left: string[] = [];
    for (const [sessionId, member] of this.#members) {
      if (now - member.lastLineAt < this.limits.idleMs) continue;
      if (this.#pending.some((l) => l.sessionId === sessionId) || this.#round?.lines.some((l) => l.sessionId === sessionId)) continue;
      this.#members.delete(sessionId);
      left.push(sessionId);
    }
    return left;
  }
}
