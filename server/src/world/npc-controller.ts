/**
 * The room's side of NPC brains: accepts a player's `talk`, checks it (range, a place in the NPC's
 * conversation, rate limit, moderation), gathers it into the NPC's group conversation
 * (npc/group-conversation.ts: one model turn answers every line said while the NPC was busy; players who
 * walk away leave), streams the reply to the round's speakers while bystanders see a throttled speech
 * bubble through replicated state, then re-validates the NPC's action against the world
 * (range, cooldowns, stock, the NPC's trust in the player) and executes it authoritatively. Applies the
 * trust rules of the NPC's script (npc/trust.ts): a line moderation refuses and an action carried out
 * change the NPC's persisted trust in that account. Also steps every NPC's body each tick.
 */
import type { Client } from '@colyseus/core';
import {
  ClientMessage,
  ErrorCode,
  ServerMessage,
  type ErrorReply,
  type Avatar,
  type ErrorCodeValue,
  type Npc,
  type NpcActionCall,
  type NpcChunk,
  type NpcTurnEnd,
  type NpcTurnStart,
  type TalkMessage,
} from '@worldmind/shared';
import type { ServerConfig } from '../config.ts';
import type { WorldStore } from '../persistence/store.ts';
import { DialogueRefusal, type TurnOutcome } from '../npc/dialogue.ts';
import { GroupConversation, type GroupLine, type GroupRound } from '../npc/group-conversation.ts';
import type { NpcSystem } from '../npc/npc-system.ts';
import { anyKind, type Execution } from '../npc/actions/index.ts';
import { actionToCall, npcLandmarks, type NpcAction } from '../npc/script-schema.ts';
import { scheduledActivity, type Situation, type SituationEvent } from '../npc/situation.ts';
import { actionGate } from '../npc/trust.ts';
import type { Logger } from '../observability/logger.ts';
import type { MovementParams } from './movement.ts';
import { AmbientTalk } from './npc-ambient-talk.ts';
import { NpcAgent, type GameClock, type PlayerPosition } from './npc-agents.ts';
import type { PathGrid } from './pathfinding.ts';
import type { PlayerLimits } from './player-limits.ts';
import type { WorldMap } from './world-map.ts';
import type { VoiceService } from '../voice/voice-service.ts';

/** Bystanders' speech bubble updates at most this often. */
const BUBBLE_INTERVAL_MS = 200;
/** The bubble stays this long after the NPC finishes speaking. */
const BUBBLE_HOLD_MS = 5_000;
/** How often each NPC looks around for players arriving and leaving (perception). */
const PERCEPTION_INTERVAL_MS = 500;
/** Events an NPC keeps in mind (the prompt's situation block shows the most recent that fit its budget). */
const EVENTS_KEPT = 8;
/** Events older than this (real time) are no longer "recent": the situation block leaves them out. */
const EVENT_RECENT_MS = 5 * 60_000;
/** Events offered to the situation block per turn. */
const EVENTS_SHOWN = 3;
/** Players and NPCs named as nearby, at most. */
const NEARBY_SHOWN = 6;
/** A player leaves an NPC's conversation past this × TALK_RANGE (a little slack: standing at the edge does not flicker in and out). */
const LEAVE_RANGE_FACTOR = 1.25;

export interface NpcPlayer {
  avatar: Avatar;
  /** The player's account id: memory, inventory, turn log and limits are keyed by it. */
  accountId: string;
}

export interface NpcControllerDeps {
  system: NpcSystem;
  config: ServerConfig;
  map: WorldMap;
  /** The world's store (a world service): inventories, stock. */
  store: WorldStore;
  grid: PathGrid;
  movement: MovementParams;
  clock: GameClock;
  log: Logger;
  /** Server-wide limits per account (talk rate, give cooldowns): they survive leave/rejoin. */
  limits: PlayerLimits;
  player(sessionId: string): NpcPlayer | undefined;
  client(sessionId: string): Client | undefined;
  /** Error reply to the sender, counted like any rejected message (strikes). */
  reject(client: Client, code: ErrorCodeValue, message: string, ref: string): void;
  /** Runs `fn` after `ms` on the room clock (cleared when the room is disposed). */
  later(fn: () => void, ms: number): void;
  /** Voice (VOICE_ENABLED): replies are spoken to the speaker and players in hearing. */
  voice?: VoiceService | undefined;
}

/** The round an NPC is answering: cancelled when nobody who spoke in it is still in the world. */
interface ActiveRound {
  abort: AbortController;
  listeners: Set<string>;
}

/** How to answer one line of a conversation: the speaker's ref, account and name. */
interface LineReply {
  ref: string;
  accountId: string;
  /** Display name (untrusted): how the other speakers' lines are attributed in the prompt. */
  name: string;
  /** For a spoken line: what the server heard. */
  transcript?: string;
}

/** A player as NPCs perceive them: where they are and their (normalised, still untrusted) display name. */
export interface PerceivedPlayer extends PlayerPosition {
  name: string;
}

export class NpcController {
  readonly agents = new Map<string, NpcAgent>();
  /** Per NPC: its conversation with the players around it (npc/group-conversation.ts). */
  readonly #groups = new Map<string, GroupConversation<LineReply>>();
  /** Per NPC: the round it is answering now (NPC_GROUP_CONVERSATIONS=false: per `npcId|sessionId`, each player's own turn). */
  readonly #rounds = new Map<string, ActiveRound>();
  /** NPC-to-NPC exchanges (NPC_AMBIENT_TALK). */
  #ambient: AmbientTalk | undefined;
  readonly #bubbleClearAt = new Map<string, number>();
  /** Per NPC: recent events it witnessed, oldest first. */
  readonly #events = new Map<string, { at: number; event: SituationEvent }[]>();
  /** Per NPC: session id → display name of the players it currently sees. */
  readonly #seen = new Map<string, Map<string, string>>();
  #players: ReadonlyMap<string, PerceivedPlayer> = new Map();
  #lastLook = 0;

  constructor(private readonly deps: NpcControllerDeps) {
    if (deps.config.NPC_AMBIENT_TALK && deps.config.NPC_AMBIENT_TALK_PER_HOUR > 0) {
      const lastBubble = new Map<string, number>();
      this.#ambient = new AmbientTalk({
        config: deps.config,
        clock: deps.clock,
        dialogue: deps.system.dialogue,
        script: (npcId) => deps.system.script(npcId),
        // Free: no player conversation (gathering, answering or, without groups, any player's turn) and not following a player.
        free: (npcId) => !this.#groups.has(npcId) && ![...this.#rounds.keys()].some((k) => k === npcId || k.startsWith(`${npcId}|`)) && !this.agents.get(npcId)?.following,
        situation: (agent, partner) => Promise.resolve(this.#ambientSituation(agent, partner)),
        speaking: (agent, text) => {
          const now = Date.now();
          if (now - (lastBubble.get(agent.npc.id) ?? 0) < BUBBLE_INTERVAL_MS) return;
          lastBubble.set(agent.npc.id, now);
          agent.npc.speech = text;
          this.#holdBubble(agent); // a line cut short (a player spoke up) still clears
        },
        said: (agent, text, listener) => {
          agent.npc.speech = text;
          this.#holdBubble(agent);
          // Standing NPCs turn to each other (one walking by keeps its course).
          for (const [who, to] of [[agent, listener], [listener, agent]] as const) {
            if (who.body.anim === 'idle') who.body.heading = Math.atan2(to.body.x - who.body.x, to.body.z - who.body.z);
          }
          // Every other NPC in hearing overhears it, like player chat: a rumour it may pass on.
          const radius = deps.config.CHAT_RADIUS;
          for (const other of this.agents.values()) {
            if (other !== agent && Math.hypot(other.body.x - agent.body.x, other.body.z - agent.body.z) <= radius) this.#witness(other.npc.id, { kind: 'chat', player: agent.npc.name, text });
          }
        },
        log: deps.log,
      });
    }
  }

  addNpc(npc: Npc): void {
    const agent = new NpcAgent(npc, () => this.deps.system.script(npc.id), this.deps.map, this.deps.grid, this.deps.movement, this.deps.clock);
    this.agents.set(npc.id, agent);
  }

  step(dt: number, now: number, players: ReadonlyMap<string, PerceivedPlayer>): void {
    this.#players = players;
    for (const agent of this.agents.values()) agent.step(dt, now, players);
    if (now - this.#lastLook >= PERCEPTION_INTERVAL_MS) {
      this.#lastLook = now;
      this.#lookAround();
      this.#leaveWhenAway(now);
      this.#ambient?.consider([...this.agents.values()]);
    }
  }

  /**
   * Players farther than LEAVE_RANGE_FACTOR × TALK_RANGE from an NPC (or gone quiet for NPC_GROUP_IDLE_S)
   * leave its conversation; a line of theirs still waiting for the next round is dropped with a reply.
   */
  #leaveWhenAway(now: number): void {
    const range = this.deps.config.TALK_RANGE * LEAVE_RANGE_FACTOR;
    for (const [npcId, group] of this.#groups) {
      const agent = this.agents.get(npcId);
      for (const sessionId of group.members) {
        const p = this.#players.get(sessionId);
        if (p && agent && Math.hypot(p.x - agent.body.x, p.z - agent.body.z) <= range) continue;
        for (const line of group.leave(sessionId)) {
          const reply: ErrorReply = { type: ClientMessage.Talk, ref: line.reply.ref, code: ErrorCode.TooFar, message: `you walked away from ${agent?.npc.name ?? npcId}` };
          this.deps.client(sessionId)?.send(ServerMessage.Error, reply);
        }
      }
      group.pruneIdle(now);
      if (group.empty) this.#groups.delete(npcId);
    }
  }

  /** Players coming into and going out of each NPC's hearing (CHAT_RADIUS) become witnessed events. */
  #lookAround(): void {
    const radius = this.deps.config.CHAT_RADIUS;
    for (const agent of this.agents.values()) {
      const before = this.#seen.get(agent.npc.id) ?? new Map<string, string>();
      const now = new Map<string, string>();
      for (const [sessionId, p] of this.#players) {
        if (Math.hypot(p.x - agent.body.x, p.z - agent.body.z) <= radius) now.set(sessionId, p.name);
      }
      for (const [sessionId, name] of now) if (!before.has(sessionId)) this.#witness(agent.npc.id, { kind: 'player_arrived', player: name });
      for (const [sessionId, name] of before) if (!now.has(sessionId)) this.#witness(agent.npc.id, { kind: 'player_left', player: name });
      this.#seen.set(agent.npc.id, now);
    }
  }

  #witness(npcId: string, event: SituationEvent): void {
    const list = this.#events.get(npcId) ?? [];
    list.push({ at: Date.now(), event });
    if (list.length > EVENTS_KEPT) list.splice(0, list.length - EVENTS_KEPT);
    this.#events.set(npcId, list);
  }

  /** Every NPC within hearing of a point witnesses the event. */
  #witnessNear(x: number, z: number, event: (npcId: string) => SituationEvent): void {
    const radius = this.deps.config.CHAT_RADIUS;
    for (const agent of this.agents.values()) {
      if (Math.hypot(agent.body.x - x, agent.body.z - z) <= radius) this.#witness(agent.npc.id, event(agent.npc.id));
    }
  }

  /** A player said something in proximity chat: NPCs in hearing may have overheard it. */
  overheard(player: PerceivedPlayer, text: string): void {
    this.#witnessNear(player.x, player.z, () => ({ kind: 'chat', player: player.name, text }));
  }

  /**
   * What an NPC perceives as `speaker` talks to it, from the authoritative state: game time and its
   * scheduled activity, who is near, what the speaker carries, and the recent events its script notices.
   */
  async situation(agent: NpcAgent, speakerSessionId: string, speaker: NpcPlayer): Promise<Situation> {
    const inventory: Record<string, number> = {};
    speaker.avatar.inventory.forEach((count, item) => {
      if (count > 0) inventory[item] = count;
    });
    const trust = await this.deps.store.trust(speaker.accountId, agent.npc.id);
    return {
      ...this.#perceive(agent, { sessionId: speakerSessionId }),
      speaker: speaker.avatar.name,
      inventory,
      // Only a non-zero trust is stated: a trust-0 prompt stays what the model was trained on.
      ...(trust !== 0 ? { trust } : {}),
    };
  }

  /** What an NPC perceives as another NPC talks to it (an ambient exchange): the partner is the speaker and carries nothing. */
  #ambientSituation(agent: NpcAgent, partner: NpcAgent): Situation {
    return { ...this.#perceive(agent, { npc: partner }), speaker: partner.npc.name, inventory: {} };
  }

  /** Time, activity, place, who is near (but the speaker) and recent noticed events, as `agent` perceives them now. */
  #perceive(agent: NpcAgent, speaker: { sessionId?: string; npc?: NpcAgent }): Omit<Situation, 'speaker' | 'inventory' | 'trust'> {
    const { deps } = this;
    const script = deps.system.script(agent.npc.id);
    const time = deps.clock();
    const radius = deps.config.CHAT_RADIUS;
    const near = (x: number, z: number) => Math.hypot(x - agent.body.x, z - agent.body.z);
    const players = [...this.#players]
      .filter(([id, p]) => id !== speaker.sessionId && near(p.x, p.z) <= radius)
      .sort(([, a], [, b]) => near(a.x, a.z) - near(b.x, b.z))
      .slice(0, NEARBY_SHOWN)
      .map(([, p]) => p.name);
    const npcs = [...this.agents.values()]
      .filter((other) => other !== agent && other !== speaker.npc && near(other.body.x, other.body.z) <= radius)
      .sort((a, b) => near(a.body.x, a.body.z) - near(b.body.x, b.body.z))
      .slice(0, NEARBY_SHOWN)
      .map((other) => other.npc.name);
    const notices = new Set(script?.notices ?? []);
    const since = Date.now() - EVENT_RECENT_MS;
    const events = (this.#events.get(agent.npc.id) ?? []).filter((e) => e.at >= since && notices.has(e.event.kind)).slice(-EVENTS_SHOWN).map((e) => e.event);
    const scheduled = script ? scheduledActivity(script, time) : {};
    const place = scheduled.placeId && script ? npcLandmarks(script, deps.map.landmarks).find((l) => l.id === scheduled.placeId)?.name : undefined;
    return {
      time,
      ...(scheduled.activity ? { activity: scheduled.activity } : {}),
      ...(place ? { place } : {}),
      players,
      npcs,
      events,
    };
  }

  /** A player left for good: they leave every conversation; a round nobody who spoke in is left to hear is cancelled (frees the engine's KV at once). */
  playerLeft(sessionId: string): void {
    for (const group of this.#groups.values()) group.leave(sessionId);
    for (const round of this.#rounds.values()) {
      round.listeners.delete(sessionId);
      if (round.listeners.size === 0) round.abort.abort();
    }
    for (const agent of this.agents.values()) if (agent.following === sessionId) agent.stop();
  }

  /** Cancels every turn in flight (room shutting down). */
  dispose(): void {
    for (const round of this.#rounds.values()) round.abort.abort();
    this.#ambient?.dispose();
  }

  /** The checks a line must pass before it is heard (NPC here, in range, a place in its conversation): a refusal, or null. */
  precheck(sessionId: string, npcId: string): { code: ErrorCodeValue; message: string } | null {
    const { deps } = this;
    const agent = this.agents.get(npcId);
    const script = deps.system.script(npcId);
    const player = deps.player(sessionId);
    if (!agent || !script || !player) return { code: ErrorCode.UnknownNpc, message: `there is no NPC "${npcId}" here` };
    const distance = Math.hypot(agent.body.x - player.avatar.x, agent.body.z - player.avatar.z);
    if (distance > deps.config.TALK_RANGE) return { code: ErrorCode.TooFar, message: `${script.name} is too far away to hear you (${distance.toFixed(1)} > ${deps.config.TALK_RANGE})` };
    if (!deps.config.NPC_GROUP_CONVERSATIONS) return this.#rounds.has(`${npcId}|${sessionId}`) ? { code: ErrorCode.Busy, message: `${script.name} is still answering you` } : null;
    switch (this.#groups.get(npcId)?.refusal(sessionId)) {
      case 'busy':
        return { code: ErrorCode.Busy, message: `${script.name} is still answering you` };
      case 'full':
        return { code: ErrorCode.Busy, message: `${script.name} is talking with ${deps.config.NPC_GROUP_MAX_PLAYERS} people already; wait for one to leave` };
      case 'round_full':
        return { code: ErrorCode.Busy, message: `${script.name} has more to answer than it can at once; say it again in a moment` };
      default:
        return null;
    }
  }

  /**
   * A spoken line is about to be transcribed: the same checks as a typed line, and it takes the player's
   * talk rate now (transcription costs CPU, so a flood is refused before it), not again in `talk`.
   */
  admitSpoken(sessionId: string, npcId: string): { code: ErrorCodeValue; message: string } | null {
    const refused = this.precheck(sessionId, npcId);
    if (refused) return refused;
    const player = this.deps.player(sessionId)!;
    if (!this.deps.limits.talk.tryTake(player.accountId)) return { code: ErrorCode.RateLimited, message: 'you are talking to NPCs too fast' };
    return null;
  }

  /**
   * A player's line to an NPC. `spoken.transcript` when it was spoken (talk_voice) and this is what was
   * heard; such a line already took its talk rate in `admitSpoken`. The line joins the NPC's conversation
   * (npc/group-conversation.ts): answered at once when the NPC is free, else with every line gathered
   * while it answers, in one model turn.
   */
  async talk(client: Client, message: TalkMessage, spoken?: { transcript: string }): Promise<void> {
    const { deps } = this;
    const { npcId, ref } = message;
    const refuse = (code: ErrorCodeValue, text: string) => {
      deps.system.metrics.refusals.inc({ code });
      deps.reject(client, code, text, ref);
    };
    const refused = this.precheck(client.sessionId, npcId);
    if (refused) return refuse(refused.code, refused.message);
    const script = deps.system.script(npcId)!;
    const player = deps.player(client.sessionId)!;
    if (!spoken && !deps.limits.talk.tryTake(player.accountId)) return refuse(ErrorCode.RateLimited, 'you are talking to NPCs too fast');

    let text: string;
    try {
      // Each line is moderated as it arrives, so a rude one is refused to its speaker alone.
      text = await deps.system.dialogue.moderateLine(message.text);
    } catch (error) {
      if (!(error instanceof DialogueRefusal)) throw error;
      // A rude line or an injection attempt costs the player this NPC's trust (script: trust.moderated).
      await this.#changeTrust(npcId, player.accountId, script.trust.moderated, 'moderated line');
      return refuse(ErrorCode.Moderated, error.message);
    }
    // The world moved on while moderation ran: check again, then take the line.
    const again = this.precheck(client.sessionId, npcId);
    if (again) return refuse(again.code, again.message);
    const reply: LineReply = { ref, accountId: player.accountId, name: player.avatar.name, ...(spoken ? { transcript: spoken.transcript } : {}) };
    this.#ambient?.interrupt(npcId); // players come first
    if (!deps.config.NPC_GROUP_CONVERSATIONS) return this.#answerAlone(npcId, { sessionId: client.sessionId, text, at: Date.now(), reply });
    const group = this.#groups.get(npcId) ?? new GroupConversation<LineReply>({ maxPlayers: deps.config.NPC_GROUP_MAX_PLAYERS, maxLinesPerRound: deps.config.NPC_GROUP_MAX_LINES, idleMs: deps.config.NPC_GROUP_IDLE_S * 1000 });
    this.#groups.set(npcId, group);
    group.offer({ sessionId: client.sessionId, text, at: Date.now(), reply });
    this.#nextRound(npcId);
  }

  /**
   * NPC_GROUP_CONVERSATIONS=false: the line is its own model turn at once, beside any other player's turn
   * with the same NPC (one at a time per player and NPC), as before group conversations.
   */
  #answerAlone(npcId: string, line: GroupLine<LineReply>): void {
    const key = `${npcId}|${line.sessionId}`;
    const active: ActiveRound = { abort: new AbortController(), listeners: new Set([line.sessionId]) };
    this.#rounds.set(key, active);
    void this.#answer(npcId, { lines: [line], number: 0 }, active)
      .catch((error: unknown) => this.deps.log.error({ err: error, npcId }, 'NPC turn failed'))
      .finally(() => this.#rounds.delete(key));
  }

  /** Starts the NPC's next round when it is free and lines wait; when it ends, the next one. */
  #nextRound(npcId: string): void {
    const group = this.#groups.get(npcId);
    const round = group?.nextRound();
    if (!group || !round) return;
    const active: ActiveRound = { abort: new AbortController(), listeners: new Set(round.lines.map((l) => l.sessionId)) };
    this.#rounds.set(npcId, active);
    void this.#answer(npcId, round, active)
      .catch((error: unknown) => this.deps.log.error({ err: error, npcId }, 'NPC turn failed'))
      .finally(() => {
        group.endRound();
        this.#rounds.delete(npcId);
        if (group.empty) this.#groups.delete(npcId);
        this.#nextRound(npcId);
      });
  }

  /**
   * One model turn answering a round: the addressed speaker's line last (their memory, situation and
   * trust; any action is theirs), the others' lines before it. Every speaker of the round gets the reply
   * stream under their own `ref`; bystanders see the bubble.
   */
  async #answer(npcId: string, round: GroupRound<LineReply>, active: ActiveRound): Promise<void> {
    const { deps } = this;
    const agent = this.agents.get(npcId);
    const script = deps.system.script(npcId);
    const addressed = round.lines.at(-1)!;
    const player = deps.player(addressed.sessionId);
    const sendAll = <T>(type: string, payload: (line: GroupLine<LineReply>) => T) => {
      for (const line of round.lines) deps.client(line.sessionId)?.send(type, payload(line));
    };
    if (!agent || !script || !player) {
      // The NPC's script went away (hot reload) or the addressed player left the world before the round began.
      sendAll(ServerMessage.Error, (line) => ({ type: ClientMessage.Talk, ref: line.reply.ref, code: ErrorCode.Busy, message: 'the conversation moved on; say it again' }) satisfies ErrorReply);
      return;
    }
    agent.beginTalk(addressed.sessionId, Date.now());
    let voice: ReturnType<VoiceService['speak']>;
    try {
      const situation = await this.situation(agent, addressed.sessionId, player);
      const others = round.lines.slice(0, -1).map((l) => ({ playerId: l.reply.accountId, name: l.reply.name, text: l.text }));
      const handle = await deps.system.dialogue.startTurn({
        script,
        playerId: addressed.reply.accountId,
        text: addressed.text,
        moderated: true,
        situation,
        trust: situation.trust ?? 0,
        signal: active.abort.signal,
        ...(others.length > 0 ? { others } : {}),
      });
      const base = (line: GroupLine<LineReply>) => ({ ref: line.reply.ref, turnId: handle.turnId, npcId });
      sendAll(ServerMessage.NpcTurnStart, (line) => ({ ...base(line), ...(line.reply.transcript !== undefined ? { transcript: line.reply.transcript } : {}) }) satisfies NpcTurnStart);
      // Spoken sentence by sentence as the text streams (server/src/voice/spoken-reply.ts).
      voice = deps.voice?.speak({ turnId: handle.turnId, npcId, voice: script.voice, send: (frame) => this.#sendAudio(agent, addressed.sessionId, frame) });
      let said = '';
      let lastBubble = 0;
      for await (const text of handle.chunks) {
        said += text;
        sendAll(ServerMessage.NpcChunk, (line) => ({ ...base(line), text }) satisfies NpcChunk);
        voice?.push(text);
        const now = Date.now();
        if (now - lastBubble >= BUBBLE_INTERVAL_MS) {
          agent.npc.speech = said.trim();
          lastBubble = now;
        }
      }
      const outcome = await handle.outcome;
      if (outcome.finishReason === 'cancelled') voice?.cancel();
      else voice?.end();
      agent.npc.speech = outcome.speech;
      this.#holdBubble(agent);
      agent.endTalk(Date.now());
      // Actions target the player who asked (the addressed speaker).
      const executed = outcome.action ? await this.#execute(agent, outcome.action, addressed.sessionId, player) : null;
      this.#record(npcId, outcome, executed);
      sendAll(ServerMessage.NpcTurnEnd, (line) => ({
        ...base(line),
        text: outcome.speech,
        action: line === addressed ? executed : null,
        finishReason: outcome.finishReason,
        tokens: outcome.tokens,
        ...(Number.isFinite(outcome.ttftMs) ? { ttftMs: Math.round(outcome.ttftMs) } : {}),
        durationMs: Math.round(outcome.durationMs),
      }) satisfies NpcTurnEnd);
    } catch (error) {
      voice?.cancel();
      agent.endTalk(Date.now());
      throw error;
    }
  }

  /** An npc_audio frame to the speaker and every player in hearing (CHAT_RADIUS) of the NPC right now. */
  #sendAudio(agent: NpcAgent, speakerSessionId: string, frame: Uint8Array): void {
    const radius = this.deps.config.CHAT_RADIUS;
    const to = new Set([speakerSessionId]);
    for (const [sessionId, p] of this.#players) if (Math.hypot(p.x - agent.body.x, p.z - agent.body.z) <= radius) to.add(sessionId);
    for (const sessionId of to) this.deps.client(sessionId)?.sendBytes(ServerMessage.NpcAudio, frame);
  }

  #record(npcId: string, outcome: TurnOutcome, executed: NpcActionCall | null): void {
    const m = this.deps.system.metrics;
    m.turns.inc({ npc: npcId, finish: outcome.finishReason });
    if (Number.isFinite(outcome.ttftMs)) m.ttft.observe({ npc: npcId }, outcome.ttftMs / 1000);
    if (outcome.action) m.actions.inc({ action: outcome.action.type, outcome: executed ? 'executed' : 'refused' });
  }

  /**
   * Re-validates a (grammar-legal) action against the world as it is now and executes it. Returns the
   * executed call, or null when the room refuses it (logged).
   */
  async #execute(agent: NpcAgent, action: NpcAction, sessionId: string, player: NpcPlayer): Promise<NpcActionCall | null> {
    const { deps } = this;
    const now = Date.now();
    const refuse = (why: string) => {
      deps.log.info({ npcId: agent.npc.id, action, why }, 'NPC action refused by the room');
      return null;
    };
    // The kind's own executor (npc/actions/<kind>.ts); anything without one is refused, never reported done.
    const kind = anyKind(action.type);
    if (!kind) return refuse(`no executor for action "${String(action.type)}"`);
    // Trust gates, re-checked against the store as it is now (the grammar used the trust at the turn's
    // start; a moderated line in another turn may have lowered it since).
    const script = deps.system.script(agent.npc.id);
    if (!script) return refuse('the NPC has no script');
    const trust = await deps.store.trust(player.accountId, agent.npc.id);
    if (!actionGate(script.trust, trust)(action.type)) return refuse(`${action.type} needs trust ${script.trust.requires[action.type]}; the player has ${trust}`);
    let verdict: Execution;
    try {
      verdict = await kind.execute(action, {
        agent,
        player,
        sessionId,
        now,
        config: deps.config,
        store: deps.store,
        limits: deps.limits,
        playerPresent: () => deps.player(sessionId) !== undefined,
        witnessGift: (item) => {
          const giver = agent.npc;
          this.#witnessNear(giver.x, giver.z, (npcId) => ({ kind: 'item_given', player: player.avatar.name, item, ...(npcId === giver.id ? {} : { by: giver.name }) }));
        },
      });
    } catch (error) {
      deps.log.error({ err: error, npcId: agent.npc.id, action }, 'NPC action failed');
      return refuse('the executor failed');
    }
    if (!verdict.ok) return refuse(verdict.why);
    await this.#changeTrust(agent.npc.id, player.accountId, script.trust.after[action.type] ?? 0, `${action.type} carried out`);
    return actionToCall(action);
  }

  /** Applies a trust change of the NPC's rules (npc/trust.ts) and logs it; 0 changes nothing. */
  async #changeTrust(npcId: string, accountId: string, delta: number, why: string): Promise<void> {
    if (delta === 0) return;
    const trust = await this.deps.store.changeTrust(accountId, npcId, delta);
    this.deps.log.debug({ npcId, accountId, delta, trust, why }, 'NPC trust changed');
  }

  #holdBubble(agent: NpcAgent): void {
    const clearAt = Date.now() + BUBBLE_HOLD_MS;
    this.#bubbleClearAt.set(agent.npc.id, clearAt);
    this.deps.later(() => {
      if (this.#bubbleClearAt.get(agent.npc.id) === clearAt) agent.npc.speech = '';
    }, BUBBLE_HOLD_MS);
  }
}
