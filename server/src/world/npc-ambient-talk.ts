/**
 * NPC-to-NPC talk (NPC_AMBIENT_TALK): two NPCs whose routines bring them within TALK_RANGE of each other,
 * both free (no player conversation), hold a short exchange — the first says its script's greeting, then
 * they answer each other with the model, `EXCHANGE_LINES` lines in all. Every model line runs at the
 * engine's ambient priority (the scheduler never prefills one while a player's turn waits), with no
 * action and no fallback line; a player speaking to either NPC ends the exchange at once.
 *
 * Bounded: each NPC takes part in at most NPC_AMBIENT_TALK_PER_HOUR exchanges per game hour. Visible:
 * each line is the speaker's speech bubble (replicated state, like a reply to a player). Logged and
 * replayable like player turns (the turn log keys the partner as `npc:<id>`, see dialogue.ts
 * `npcPartnerId`). Remembered: each NPC's memory of the other holds what was said, and every NPC in
 * hearing witnesses each line like overheard chat — a rumour the listener may pass on to a player.
 */
import type { ServerConfig } from '../config.ts';
import type { NpcDialogue, TurnHandle } from '../npc/dialogue.ts';
import type { NpcScript } from '../npc/script-schema.ts';
import type { Situation } from '../npc/situation.ts';
import type { Logger } from '../observability/logger.ts';
import type { GameClock, NpcAgent } from './npc-agents.ts';

/** Lines in one exchange: the opener's greeting, then model lines taking turns (2 each). */
const EXCHANGE_LINES = 4;
/** Pause after each line, so players can read the bubbles. */
const LINE_PAUSE_MS = 1_500;
/**
 * First-token deadline of an ambient line: it waits behind every player's turn, so it may wait long;
 * past this the exchange just ends (no fallback line).
 */
const AMBIENT_FIRST_TOKEN_DEADLINE_MS = 30_000;
/** NPCs drifting farther apart than this × TALK_RANGE end their exchange. */
const APART_FACTOR = 1.5;

export interface AmbientTalkDeps {
  config: Pick<ServerConfig, 'TALK_RANGE' | 'NPC_AMBIENT_TALK_PER_HOUR'>;
  clock: GameClock;
  dialogue: NpcDialogue;
  script(npcId: string): NpcScript | undefined;
  /** Whether the NPC is free for small talk (no player conversation waiting or being answered). */
  free(npcId: string): boolean;
  /** What `agent` perceives while `partner` talks to it (the partner as the speaker). */
  situation(agent: NpcAgent, partner: NpcAgent): Promise<Situation>;
  /** Shows a line in progress as the NPC's bubble. */
  speaking(agent: NpcAgent, text: string): void;
  /** A finished line, said to `listener`: the bubble holds, and NPCs in hearing witness it. */
  said(agent: NpcAgent, text: string, listener: NpcAgent): void;
  /** Each model line's handle once started (metrics). */
  onTurn?(npcId: string, handle: TurnHandle): void;
  log: Logger;
}

interface Exchange {
  a: NpcAgent;
  b: NpcAgent;
  abort: AbortController;
}

export class AmbientTalk {
  /** NPC id → the exchange it is in. */
  readonly #exchanges = new Map<string, Exchange>();
  /** Exchanges each NPC took part in during the game hour `#hour`. */
  readonly #counts = new Map<string, number>();
  #hour = -1;

  constructor(private readonly deps: AmbientTalkDeps) {}

  /** In an exchange now. */
  busy(npcId: string): boolean {
    return this.#exchanges.has(npcId);
  }

  /** A player speaks to `npcId`: its exchange (if any) ends now, its engine request cancelled. */
  interrupt(npcId: string): void {
    this.#exchanges.get(npcId)?.abort.abort();
  }

  dispose(): void {
    for (const exchange of new Set(this.#exchanges.values())) exchange.abort.abort();
  }

  /** Starts an exchange for each pair of free NPCs in talk range with budget left this game hour (nearest pairs first). */
  consider(agents: readonly NpcAgent[]): void {
    const { deps } = this;
    const hour = Math.floor(deps.clock() / 60);
    if (hour !== this.#hour) {
      this.#hour = hour;
      this.#counts.clear();
    }
    const budget = deps.config.NPC_AMBIENT_TALK_PER_HOUR;
    const can = (agent: NpcAgent) => !this.#exchanges.has(agent.npc.id) && (this.#counts.get(agent.npc.id) ?? 0) < budget && deps.free(agent.npc.id) && deps.script(agent.npc.id) !== undefined;
    const pairs: { a: NpcAgent; b: NpcAgent; distance: number }[] = [];
    for (let i = 0; i < agents.length; i++) {
      for (let j = i + 1; j < agents.length; j++) {
        const a = agents[i]!;
        const b = agents[j]!;
        const distance = Math.hypot(a.body.x - b.body.x, a.body.z - b.body.z);
        if (distance <= deps.config.TALK_RANGE) pairs.push({ a, b, distance });
      }
    }
    pairs.sort((p, q) => p.distance - q.distance);
    for (const { a, b } of pairs) {
      if (!can(a) || !can(b)) continue;
      const exchange: Exchange = { a, b, abort: new AbortController() };
      for (const agent of [a, b]) {
        this.#exchanges.set(agent.npc.id, exchange);
        this.#counts.set(agent.npc.id, (this.#counts.get(agent.npc.id) ?? 0) + 1);
      }
      void this.#run(exchange)
        .catch((err: unknown) => deps.log.error({ err, npcs: [a.npc.id, b.npc.id] }, 'NPC exchange failed'))
        .finally(() => {
          this.#exchanges.delete(a.npc.id);
          this.#exchanges.delete(b.npc.id);
        });
    }
  }

  async #run(exchange: Exchange): Promise<void> {
    const { deps } = this;
    const { a, b, abort } = exchange;
    const opener = deps.script(a.npc.id);
    if (!opener) return;
    let last = opener.greeting;
    deps.said(a, last, b);
    deps.log.debug({ npcs: [a.npc.id, b.npc.id] }, 'NPCs started talking');
    for (let i = 1; i < EXCHANGE_LINES; i++) {
      await pause(LINE_PAUSE_MS, abort.signal);
      const [speaker, listener] = i % 2 === 1 ? [b, a] : [a, b];
      const script = deps.script(speaker.npc.id);
      if (abort.signal.aborted || !script) return;
      if (Math.hypot(a.body.x - b.body.x, a.body.z - b.body.z) > deps.config.TALK_RANGE * APART_FACTOR) return;
      const handle = await deps.dialogue.startAmbientTurn({
        script,
        partnerId: listener.npc.id,
        heard: last,
        situation: await deps.situation(speaker, listener),
        firstTokenDeadlineMs: AMBIENT_FIRST_TOKEN_DEADLINE_MS,
        signal: abort.signal,
      });
      deps.onTurn?.(speaker.npc.id, handle);
      let said = '';
      for await (const text of handle.chunks) {
        said += text;
        deps.speaking(speaker, said.trim());
      }
      const outcome = await handle.outcome;
      if ((outcome.finishReason !== 'stop' && outcome.finishReason !== 'length') || !outcome.speech) return;
      deps.said(speaker, outcome.speech, listener);
      last = outcome.speech;
    }
  }
}

/** Waits `ms`, or less when `signal` aborts. */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
