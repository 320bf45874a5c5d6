/**
 * What one NPC action kind is, in one place: its script schema (the argument domain a designer lists
 * under `actions:`), its call (one concrete action), the call's text syntax, the line the persona prompt
 * gives it, the legal calls it enumerates for the decode grammar, its script and map checks, and its
 * executor in the room. Each kind is one module in this folder; `index.ts` gathers them in one table
 * whose type requires every member — a kind without an executor does not compile.
 */
import { z } from 'zod';
import type { ServerConfig } from '../../config.ts';
import type { WorldStore } from '../../persistence/store.ts';
import type { NpcAgent } from '../../world/npc-agents.ts';
import type { PlayerLimits } from '../../world/player-limits.ts';
import type { Avatar } from '@worldmind/shared';

/** Lower-case slug used for NPC, item and landmark ids. */
export const SLUG = /^[a-z][a-z0-9_-]*$/;
export const slug = (what: string) => z.string().regex(SLUG, `${what} must be a lower-case id (letters, digits, - and _), e.g. "forge"`);

/** Emotes the room knows how to play. A closed list so a typo is caught here, not at run time. */
export const EMOTES = [
  'wave', 'bow', 'nod', 'shrug', 'laugh', 'cheer', 'point', 'salute', 'frown', 'think', 'sigh', 'wink',
  'clap', 'dance', 'kneel', 'sit', 'cross_arms', 'hammer', 'pour', 'count_coins', 'play_lute', 'sing',
] as const;
export type Emote = (typeof EMOTES)[number];

/** What the persona prompt needs to know of the world (prompt.ts's WorldFacts). */
export interface PromptWorld {
  landmarks: readonly { id: string; name: string }[];
}

/** Reports a script problem at a path under the script's root. */
export type IssueSink = (path: (string | number)[], message: string) => void;

/** The parts of a script a kind's checks may read. */
export interface ScriptView {
  inventory: Record<string, number>;
}

/** What a kind's map checks may ask. */
export interface MapView {
  /** Reports a problem when `id` is not a landmark of the map. */
  checkLandmark(id: string, path: (string | number)[]): void;
}

/** The player an action is for. */
export interface ActionPlayer {
  avatar: Avatar;
  accountId: string;
}

/** Everything an executor may use: the NPC's body, the player, the world services, limits, perception. */
export interface ExecuteContext {
  agent: NpcAgent;
  player: ActionPlayer;
  sessionId: string;
  now: number;
  config: ServerConfig;
  store: WorldStore;
  limits: PlayerLimits;
  /** Whether the player is still in the room. */
  playerPresent(): boolean;
  /** NPCs near the NPC witness it handing the player an item (perception). */
  witnessGift(item: string): void;
}

/**
 * An executor's verdict: done, or refused by the world as it is now (logged; never reported executed).
 * Executors that change the store return it as a promise (the store is asynchronous); the room awaits it.
 */
export type Execution = { ok: true } | { ok: false; why: string };

export interface ActionKind<T extends string, DomainSchema extends z.ZodType, CallSchema extends z.ZodType<{ type: T }>> {
  readonly type: T;
  /** The script field `actions.<type>`: what this NPC may do of this kind (absent = nothing). */
  readonly domain: DomainSchema;
  /** One concrete call, `{ type: '<type>', …arguments }`. */
  readonly call: CallSchema;
  /** The call's arguments as written after its name, e.g. ['forge'] for `[[walk_to forge]]`. */
  args(action: z.output<CallSchema>): string[];
  /** A call from its written arguments; undefined when they do not make one of this kind. */
  parse(args: readonly string[]): z.output<CallSchema> | undefined;
  /** Wire form arguments (`NpcActionCall.args` in shared/). */
  wireArgs(action: z.output<CallSchema>): Record<string, string>;
  /** Every call the domain allows, in a stable order (the grammar's alternatives, in this order). */
  legal(domain: z.output<DomainSchema>): z.output<CallSchema>[];
  /** The persona prompt's line for this kind, e.g. `[[follow]] — follow the player until told to stop`. */
  promptLine(domain: z.output<DomainSchema>, world: PromptWorld): string;
  /** Checks across fields of the script (e.g. items in the inventory, duplicates). */
  checkScript?(domain: z.output<DomainSchema>, script: ScriptView, issue: IssueSink): void;
  /** Checks against the world map (the domain's and an example call's landmarks). */
  checkMap?(domain: z.output<DomainSchema>, map: MapView): void;
  /** The places the call goes to or points at (map checks; call grounding leans a line's named places to these). */
  callLandmarks?(action: z.output<CallSchema>): string[];
  /** The items the call hands over (call grounding leans a line's named items to these). */
  callItems?(action: z.output<CallSchema>): string[];
  /** Re-validates the call against the world as it is now and carries it out. */
  execute(action: z.output<CallSchema>, ctx: ExecuteContext): Execution | Promise<Execution>;
}

/** Declares a kind (keeps its precise schema types for the registry). */
export function defineAction<T extends string, D extends z.ZodType, C extends z.ZodType<{ type: T }>>(kind: ActionKind<T, D, C>): ActionKind<T, D, C> {
  return kind;
}

/** Reports list entries that occur twice. */
export function duplicates(list: readonly string[] | undefined, path: (string | number)[], what: string, issue: IssueSink): void {
  const seen = new Set<string>();
  list?.forEach((v, i) => {
    if (seen.has(v)) issue([...path, i], `${what} "${v}" is listed twice`);
    seen.add(v);
  });
}

/** The player has walked further than this × TALK_RANGE from the NPC: hand-overs are refused. */
export const HANDOVER_RANGE_FACTOR = 1.5;

export function playerInReach(ctx: ExecuteContext): boolean {
  const { agent, player, config } = ctx;
  return Math.hypot(agent.body.x - player.avatar.x, agent.body.z - player.avatar.z) <= config.TALK_RANGE * HANDOVER_RANGE_FACTOR;
}
