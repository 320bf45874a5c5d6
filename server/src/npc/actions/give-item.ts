/** `[[give_item <item>]]`: the NPC hands the player one item from its (persisted) stock. */
import { z } from 'zod';
import { defineAction, duplicates, playerInReach, slug } from './kind.ts';

export const giveItem = defineAction({
  type: 'give_item',
  domain: z.strictObject({
    item: z.array(slug('an item id')).min(1, 'list at least one item').describe('item ids this NPC may hand over; each must be in its inventory'),
  }).describe('hand one item from its inventory to the player'),
  call: z.strictObject({ type: z.literal('give_item'), item: slug('an item id') }),
  args: (a) => [a.item],
  parse: ([item, ...rest]) => (item && rest.length === 0 ? { type: 'give_item', item } : undefined),
  wireArgs: (a) => ({ item: a.item }),
  callItems: (a) => [a.item],
  legal: (d) => d.item.map((item) => ({ type: 'give_item' as const, item })),
  promptLine: (d) => `[[give_item <item>]] — hand the player one item you have; items: ${d.item.join(', ')}`,
  checkScript: (d, script, issue) => {
    duplicates(d.item, ['actions', 'give_item', 'item'], 'item', issue);
    d.item.forEach((item, i) => {
      if (!(item in script.inventory)) issue(['actions', 'give_item', 'item', i], `item "${item}" can be given but is not in the inventory; add it under inventory`);
    });
  },
  execute: async (a, ctx) => {
    const { agent, player, store, limits, config, now } = ctx;
    if (!playerInReach(ctx)) return { ok: false, why: 'the player walked away' };
    const cooldownKey = `${agent.npc.id}|${player.accountId}`;
    if (limits.gives.active(cooldownKey, now)) return { ok: false, why: 'give cooldown' };
    const result = await store.giveFromNpc(agent.npc.id, player.accountId, a.item);
    if (!result.ok) return { ok: false, why: `${a.item} is out of stock` };
    player.avatar.inventory.set(a.item, result.playerHas);
    limits.gives.start(cooldownKey, config.NPC_GIVE_COOLDOWN_S * 1000, now);
    ctx.witnessGift(a.item);
    return { ok: true };
  },
});
