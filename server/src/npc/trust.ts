/**
 * Relationships: how much an NPC trusts one player account, a whole number from TRUST_MIN to TRUST_MAX
 * (0 until something happens), persisted per account × NPC in the store (`npc_trust`). This module is the
 * one home of the rules: the range, the script's `trust:` block (what moves trust, what it gates), and the
 * gate itself. The room applies the changes (world/npc-controller.ts), the prompt states a non-zero trust
 * (situation.ts), the grammar and the room's re-check both use `actionGate`.
 *
 * The rule set (each change configurable per script):
 * - the player says something to the NPC that moderation refuses (rude, or an injection attempt):
 *   `moderated`, default −1;
 * - the NPC carries out an action of kind K for the player: `after.K`; by default only `trade` (the
 *   player paid the NPC's price), +1. Other kinds change nothing unless the script says so.
 * An action kind listed in `requires` is legal for a player only at that trust or more.
 */
import { z } from 'zod';

export const TRUST_MIN = -3;
export const TRUST_MAX = 3;

/** Trust after `delta`, kept in range. */
export function clampTrust(value: number): number {
  return Math.max(TRUST_MIN, Math.min(TRUST_MAX, value));
}

const level = (what: string) =>
  z.number().int(`${what} is a whole number`).min(TRUST_MIN, `${what} is at least ${TRUST_MIN}`).max(TRUST_MAX, `${what} is at most ${TRUST_MAX}`);

/** What an executed action changes by default: a purchase (the player paid the NPC's price) earns trust. */
export const DEFAULT_TRUST_AFTER: Readonly<Record<string, number>> = { trade: 1 };
/** What a line refused by moderation changes by default. */
export const DEFAULT_TRUST_MODERATED = -1;

/**
 * The script's `trust:` block. `actionKinds` are the registry's names (passed in so this module does not
 * depend on the registry, which the schema joins).
 */
export function trustSchema<K extends string>(actionKinds: readonly [K, ...K[]]) {
  const kind = z.enum(actionKinds, { error: `expected an action kind (${actionKinds.join(', ')})` });
  return z.strictObject({
    requires: z.partialRecord(kind, level('a required trust')).default({})
      .describe(`action kind → the least trust (${TRUST_MIN}…${TRUST_MAX}) a player needs for this NPC to do it, e.g. {give_item: 1}; below it the call is not offered to the model and the room refuses it`),
    after: z.partialRecord(kind, level('a trust change')).default({ ...DEFAULT_TRUST_AFTER } as Partial<Record<K, number>>)
      .describe('action kind → how trust changes when this NPC carries out that action for the player; default {trade: 1}'),
    moderated: level('a trust change').default(DEFAULT_TRUST_MODERATED)
      .describe('how trust changes when a line the player says to this NPC is refused by moderation; default -1'),
  }).describe(`how this NPC's trust in each player (${TRUST_MIN}…${TRUST_MAX}, starting at 0) changes, and which actions need it`);
}

export interface TrustRules {
  requires: Partial<Record<string, number>>;
  after: Partial<Record<string, number>>;
  moderated: number;
}

/** The rules of a script without a `trust:` block. */
export const DEFAULT_TRUST_RULES: TrustRules = { requires: {}, after: { ...DEFAULT_TRUST_AFTER }, moderated: DEFAULT_TRUST_MODERATED };

/** Whether the rules let this NPC do an action of `kind` for a player it trusts `trust`. */
export function actionGate(rules: Pick<TrustRules, 'requires'>, trust: number): (kind: string) => boolean {
  return (kind) => trust >= (rules.requires[kind] ?? TRUST_MIN);
}

/** True when some action kind needs trust (the grammar then depends on the player). */
export function hasGates(rules: Pick<TrustRules, 'requires'>): boolean {
  return Object.keys(rules.requires).length > 0;
}
