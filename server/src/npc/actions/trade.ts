/**
 * `[[trade <item> <price>]]`: the NPC sells the player one item for its price in the town's coin
 * (coppers, the `copper` item): the coins leave the player's inventory and join the NPC's stock, the item
 * goes the other way, in one transaction. The price is the script's — the grammar only offers the calls
 * the script lists, so no line a player types can change it.
 */
import { z } from 'zod';
import { defineAction, playerInReach, slug } from './kind.ts';

/** The town's coin: the item id prices are paid in. */
export const TOWN_COIN = 'copper';

export const trade = defineAction({
  type: 'trade',
  domain: z.strictObject({
    price: z.record(slug('an item id'), z.number().int('a price is a whole number of coppers').min(1, 'a price is at least 1 copper').max(9999))
      .refine((p) => Object.keys(p).length > 0, 'list at least one item with its price')
      .describe(`item id → its price in ${TOWN_COIN}s (the town's coin); each item must be in the inventory`),
  }).describe(`sell the player one item for its price in ${TOWN_COIN}s`),
  // (The price is coerced: the wire form carries arguments as strings.)
  call: z.strictObject({ type: z.literal('trade'), item: slug('an item id'), price: z.coerce.number().int().min(1) }),
  args: (a) => [a.item, String(a.price)],
  parse: ([item, price, ...rest]) => (item && price && /^[1-9][0-9]{0,3}$/.test(price) && rest.length === 0 ? { type: 'trade', item, price: Number(price) } : undefined),
  wireArgs: (a) => ({ item: a.item, price: String(a.price) }),
  callItems: (a) => [a.item],
  legal: (d) => Object.entries(d.price).map(([item, price]) => ({ type: 'trade' as const, item, price })),
  promptLine: (d) => `[[trade <item> <price>]] — sell the player one item for its price in ${TOWN_COIN}s, paid from what they carry; prices: ${Object.entries(d.price).map(([item, price]) => `${item} ${price}`).join(', ')}`,
  checkScript: (d, script, issue) => {
    for (const item of Object.keys(d.price)) {
      if (item === TOWN_COIN) issue(['actions', 'trade', 'price', item], `"${TOWN_COIN}" is the town's coin; it cannot be sold for itself`);
      else if (!(item in script.inventory)) issue(['actions', 'trade', 'price', item], `item "${item}" has a price but is not in the inventory; add it under inventory`);
    }
  },
  execute: async (a, ctx) => {
    const { agent, player, store } = ctx;
    if (!playerInReach(ctx)) return { ok: false, why: 'the player walked away' };
    const result = await store.sellToPlayer(agent.npc.id, player.accountId, a.item, TOWN_COIN, a.price);
    if (!result.ok) return { ok: false, why: result.reason === 'cannot_pay' ? `the player has fewer than ${a.price} ${TOWN_COIN}s` : `${a.item} is out of stock` };
    player.avatar.inventory.set(a.item, result.playerHas);
    if (result.playerCoins > 0) player.avatar.inventory.set(TOWN_COIN, result.playerCoins);
    else player.avatar.inventory.delete(TOWN_COIN);
    ctx.witnessGift(a.item);
    return { ok: true };
  },
});
