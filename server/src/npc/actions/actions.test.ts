import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { loadModelText } from '../../inference/model/index.ts';
import { SqliteStore } from '../../persistence/sqlite-store.ts';
import { compileActionGrammar, legalCallBodies } from '../action-grammar.ts';
import { formatActionCall, parseReply } from '../action-syntax.ts';
import { actionFromCall, actionToCall, describeAction, isActionAllowed, legalActions, NpcScriptSchema, type NpcActions } from '../script-schema.ts';
import { ACTION_TYPES, ACTIONS, anyKind, defineAction, type ActionKind, type NpcActionType } from './index.ts';
import { TOWN_COIN } from './trade.ts';
import { walkTo } from './walk-to.ts';

const root = fileURLToPath(new URL('../../../../', import.meta.url));

// Type-level exhaustiveness (checked by `tsc`, which covers test files): a kind without its executor, or a
// table missing a kind, does not compile.
// @ts-expect-error — no `execute`
defineAction({ type: 'open_door', domain: z.boolean(), call: z.strictObject({ type: z.literal('open_door') }), args: () => [], parse: () => undefined, wireArgs: () => ({}), legal: () => [], promptLine: () => '' });
// @ts-expect-error — `point_at` (and others) missing from the table
void ({ walk_to: walkTo } satisfies { readonly [K in NpcActionType]: ActionKind<K, z.ZodType, z.ZodType<{ type: K }>> });

/** Every kind, in a script that allows all of them. */
const everything: NpcActions = {
  walk_to: { landmark: ['forge', 'well'] },
  give_item: { item: ['horseshoe'] },
  emote: ['wave', 'point'],
  follow: true,
  stop: true,
  trade: { price: { salt_pouch: 3, map: 12 } },
  point_at: { landmark: ['gate', 'chapel'] },
};

describe('the action registry', () => {
  it('has one complete kind per action type, in the documented order', () => {
    expect(Object.keys(ACTIONS)).toEqual([...ACTION_TYPES]);
    for (const type of ACTION_TYPES) {
      const kind = anyKind(type)!;
      expect(kind.type).toBe(type);
      for (const member of ['args', 'parse', 'wireArgs', 'legal', 'promptLine', 'execute'] as const) expect(typeof kind[member], `${type}.${member}`).toBe('function');
    }
    expect(anyKind('teleport')).toBeUndefined();
  });

  it('round-trips every legal call through its text and wire forms', () => {
    const all = legalActions(everything);
    expect(new Set(all.map((a) => a.type))).toEqual(new Set(ACTION_TYPES));
    for (const action of all) {
      expect(isActionAllowed(everything, action)).toBe(true);
      const parsed = parseReply(`Here. ${formatActionCall(action)}`);
      expect(parsed).toMatchObject({ malformed: false, action, speech: 'Here.' });
      expect(actionFromCall(actionToCall(action))).toEqual(action);
    }
    expect(formatActionCall({ type: 'trade', item: 'salt_pouch', price: 3 })).toBe('[[trade salt_pouch 3]]');
    expect(formatActionCall({ type: 'point_at', landmark: 'gate' })).toBe('[[point_at gate]]');
    expect(actionToCall({ type: 'trade', item: 'map', price: 12 })).toEqual({ name: 'trade', args: { item: 'map', price: '12' } });
    expect(describeAction({ type: 'trade', item: 'map', price: 12 })).toBe('trade(map, 12)');
    // A price the script does not name is not allowed; a malformed price does not parse.
    expect(isActionAllowed(everything, { type: 'trade', item: 'map', price: 1 })).toBe(false);
    expect(parseReply('Fine. [[trade map 0]]').malformed).toBe(true);
    expect(parseReply('Fine. [[trade map]]').malformed).toBe(true);
    expect(parseReply('Fine. [[point_at]]').malformed).toBe(true);
    expect(parseReply('Fine. [[walk_to forge well]]').malformed).toBe(true);
  });

  it('compiles the new kinds into the decode grammar with the default tokenizer', () => {
    const text = loadModelText(`${root}assets/models/default`);
    expect(legalCallBodies(everything)).toContain('trade salt_pouch 3');
    expect(() => compileActionGrammar(everything, text.tokenizer, { maxSpeechTokens: 20 })).not.toThrow();
  });

  it('checks scripts through the kinds (trade prices name inventory items, never the coin)', () => {
    const base = {
      id: 'x', name: 'X', role: 'tester', persona: 'You are X.', style: 'Plain.', greeting: 'Hi.', lore: ['X exists.'],
      home: { x: 0, z: 0 }, fallback: ['Hm.'], inventory: { map: 1 },
    };
    const bad = NpcScriptSchema.safeParse({ ...base, actions: { trade: { price: { map: 2, salt_pouch: 3, [TOWN_COIN]: 1 } }, point_at: { landmark: ['gate', 'gate'] } } });
    expect(bad.success).toBe(false);
    const messages = bad.error!.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    expect(messages).toContain('actions.trade.price.salt_pouch: item "salt_pouch" has a price but is not in the inventory; add it under inventory');
    expect(messages).toContain(`actions.trade.price.${TOWN_COIN}: "${TOWN_COIN}" is the town's coin; it cannot be sold for itself`);
    expect(messages).toContain('actions.point_at.landmark.1: landmark "gate" is listed twice');
    expect(NpcScriptSchema.safeParse({ ...base, actions: { trade: { price: { map: 2 } }, point_at: { landmark: ['gate'] } } }).success).toBe(true);
  });
});

describe('selling for coin (the store side of trade)', () => {
  it('moves coins and the item in one transaction, or nothing at all', async () => {
    const store = SqliteStore.open(':memory:');
    await store.stockNpc('selka', { map: 1 });
    expect(await store.sellToPlayer('selka', 'p1', 'map', TOWN_COIN, 12)).toEqual({ ok: false, reason: 'cannot_pay' });
    await store.addPlayerItem('p1', TOWN_COIN, 30);
    expect(await store.sellToPlayer('selka', 'p1', 'map', TOWN_COIN, 12)).toEqual({ ok: true, npcLeft: 0, playerHas: 1, playerCoins: 18 });
    expect(await store.sellToPlayer('selka', 'p1', 'map', TOWN_COIN, 12)).toEqual({ ok: false, reason: 'out_of_stock' });
    expect(await store.playerInventory('p1')).toEqual({ [TOWN_COIN]: 18, map: 1 }); // the failed sale took no coins
    expect(await store.npcInventory('selka')).toEqual({ [TOWN_COIN]: 12, map: 0 });
    await store.close();
  });
});
