/**
 * The action registry: every action kind an NPC script may allow, one module each, in the documented
 * order (the order of the persona's lines and of the grammar's alternatives). The table's type maps
 * every name in ACTION_TYPES to a complete `ActionKind` — a missing kind, or a kind without its schema,
 * syntax, prompt line, legal calls or executor, is a compile error.
 *
 * Adding a kind: write `<kind>.ts` here (see `point-at.ts`), add it to ACTION_TYPES and to ACTIONS, and
 * describe it in assets/npcs/README.md. Nothing else changes.
 */
import type { z } from 'zod';
import { emote } from './emote.ts';
import { follow } from './follow.ts';
import { giveItem } from './give-item.ts';
import type { ActionKind, ExecuteContext, Execution, IssueSink, MapView, PromptWorld, ScriptView } from './kind.ts';
import { pointAt } from './point-at.ts';
import { stop } from './stop.ts';
import { trade } from './trade.ts';
import { walkTo } from './walk-to.ts';

export type { ActionKind, ExecuteContext, Execution } from './kind.ts';
export { defineAction } from './kind.ts';
export { EMOTES, type Emote } from './kind.ts';

/** Every action kind a script may allow; the order is the documented one. */
export const ACTION_TYPES = ['walk_to', 'give_item', 'emote', 'follow', 'stop', 'trade', 'point_at'] as const;
export type NpcActionType = (typeof ACTION_TYPES)[number];

export const ACTIONS = {
  walk_to: walkTo,
  give_item: giveItem,
  emote,
  follow,
  stop,
  trade,
  point_at: pointAt,
} as const satisfies { readonly [K in NpcActionType]: ActionKind<K, z.ZodType, z.ZodType<{ type: K }>> };

type Kinds = typeof ACTIONS;
/** One concrete action of any kind. */
export type NpcAction = { [K in NpcActionType]: z.output<Kinds[K]['call']> }[NpcActionType];
/** The script's `actions:` block: each kind's domain, absent = not allowed. */
export type NpcActions = { [K in NpcActionType]?: z.output<Kinds[K]['domain']> };

/** The kind of an action, typed for its own calls (the one cast the table's exhaustiveness makes safe). */
export function kindOf<K extends NpcActionType>(type: K): ActionKind<K, Kinds[K]['domain'], z.ZodType<Extract<NpcAction, { type: K }>>> {
  return ACTIONS[type] as unknown as ActionKind<K, Kinds[K]['domain'], z.ZodType<Extract<NpcAction, { type: K }>>>;
}

/**
 * A kind with its types erased to "any action, any domain": for code that loops over kinds or handles
 * an action whose kind is only known at run time. Undefined for a name that is no kind.
 */
export interface AnyActionKind {
  readonly type: NpcActionType;
  args(action: NpcAction): string[];
  parse(args: readonly string[]): NpcAction | undefined;
  wireArgs(action: NpcAction): Record<string, string>;
  legal(domain: unknown): NpcAction[];
  promptLine(domain: unknown, world: PromptWorld): string;
  checkScript?(domain: unknown, script: ScriptView, issue: IssueSink): void;
  checkMap?(domain: unknown, map: MapView): void;
  callLandmarks?(action: NpcAction): string[];
  callItems?(action: NpcAction): string[];
  execute(action: NpcAction, ctx: ExecuteContext): Execution | Promise<Execution>;
}

export function anyKind(type: string): AnyActionKind | undefined {
  return isActionType(type) ? (ACTIONS[type] as unknown as AnyActionKind) : undefined;
}

export function isActionType(name: string): name is NpcActionType {
  return (ACTION_TYPES as readonly string[]).includes(name);
}
