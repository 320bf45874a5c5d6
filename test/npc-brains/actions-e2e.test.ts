/**
 * The two actions added through the registry (npc/actions/trade.ts, point-at.ts), end to end: a real
 * server on loopback, the SDK, a test-only script (the shipped scripts do not list these kinds, so their
 * prompts stay what the model was trained on). The model is the default model's untrained twin (same
 * tokenizer and architecture, random weights): the trained model has never seen these calls and nearly
 * always says [[none]], while the twin, its calls sampled (NPC_ACTION_DECODING=sample), picks among the
 * grammar's legal calls almost evenly.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigSchema } from '../../server/src/config.ts';
import { buildUntrainedTwin } from '../../tools/eval/baseline.ts';
import { WorldAuth, type WorldClient } from '../../client-sdk/src/index.ts';
import { TOWN_COIN } from '../../server/src/npc/actions/trade.ts';
import { connect, startTestServer, waitFor } from '../support/world-server.ts';
import { npcDirWith, walkUpTo } from '../support/npc-fixtures.ts';

const MARKET = { x: 104, z: 88 };

/** Selka standing at her stall, able only to sell salt for 3 coppers and to point at the gate or the well. */
function selkaTradesAndPoints(doc: Record<string, unknown>): void {
  delete doc.schedule;
  delete doc.patrol;
  doc.actions = { trade: { price: { salt_pouch: 3 } }, point_at: { landmark: ['gate', 'well'] } };
  doc.inventory = { salt_pouch: 2 };
  doc.examples = [
    { player: 'I want to buy salt.', npc: 'Three coppers a pouch. Here you are.', action: { type: 'trade', item: 'salt_pouch', price: 3 } },
    { player: 'Where is the gate?', npc: 'That way, south.', action: { type: 'point_at', landmark: 'gate' } },
  ];
  doc.sampling = { temperature: 1.5, max_tokens: 40 };
}

async function talkUntil(client: WorldClient, npcId: string, line: string, want: string, attempts = 24) {
  for (let i = 0; i < attempts; i++) {
    const turn = client.talk(npcId, line);
    for await (const _ of turn) void _;
    const result = await turn.result;
    if (result.action?.name === want) return result;
  }
  throw new Error(`${npcId} never chose ${want} in ${attempts} turns`);
}

describe('trade and point_at end to end', () => {
  let server: Awaited<ReturnType<typeof startTestServer>>;
  let ada: WorldClient;
  const modelRoot = mkdtempSync(join(tmpdir(), 'wm-twin-'));

  beforeAll(async () => {
    const model = buildUntrainedTwin(ConfigSchema.shape.MODEL_DIR.parse(undefined), join(modelRoot, 'model'), 1);
    // Her stall stands between the gate road and her spot: talk from across it.
    server = await startTestServer({ NPC_DIR: npcDirWith({ selka: selkaTradesAndPoints }), RUN_SPEED: 30, TALK_BURST: 100, TALK_PER_SECOND: 100, TALK_RANGE: 14, MODEL_DIR: model.dir, NPC_ACTION_DECODING: 'sample' });
    const auth = new WorldAuth({ endpoint: server.endpoint });
    await auth.validToken();
    await server.store.addPlayerItem(auth.accountId!, TOWN_COIN, 4);
    ada = await connect(server.endpoint, 'Ada', { auth });
    await walkUpTo(ada, 'selka', MARKET, 12);
  }, 60_000);
  afterAll(async () => {
    await ada?.leave();
    await server?.shutdown();
    rmSync(modelRoot, { recursive: true, force: true });
  });

  it('trade: the coins go to the NPC and the item to the player, in replicated state and the store; no coins, no sale', async () => {
    const result = await talkUntil(ada, 'selka', 'I want to buy salt.', 'trade');
    expect(result.action).toEqual({ name: 'trade', args: { item: 'salt_pouch', price: '3' } });
    await waitFor('the salt and the change in Ada\'s replicated inventory', () => ada.me?.inventory.salt_pouch === 1 && ada.me.inventory[TOWN_COIN] === 1);
    expect(await server.store.npcInventory('selka')).toEqual({ salt_pouch: 1, [TOWN_COIN]: 3 });
    // One copper left: a chosen trade is refused by the room, reported as no action, and nothing moves.
    let refused = false;
    for (let i = 0; i < 24 && !refused; i++) {
      const turn = ada.talk('selka', 'I want to buy salt.');
      for await (const _ of turn) void _;
      const logged = (await server.store.getTurn((await turn.result).turnId))!;
      if ((logged.action as { type?: string } | null)?.type === 'trade') {
        expect((await turn.result).action).toBeNull();
        refused = true;
      }
    }
    expect(refused).toBe(true);
    expect(await server.store.playerInventory(ada.accountId!)).toEqual({ salt_pouch: 1, [TOWN_COIN]: 1 });
  }, 240_000);

  it('point_at: the NPC turns toward the place and points, without leaving its post', async () => {
    const before = ada.npcs.get('selka')!;
    const start = { x: before.x, z: before.z };
    // The pose as it was when the gesture began: once it ends the routine resumes and may turn the NPC again.
    let pointing: { x: number; z: number; heading: number } | undefined;
    ada.on('npcChange', (npc) => {
      if (npc.id === 'selka' && npc.anim === 'point' && !pointing) pointing = { x: npc.x, z: npc.z, heading: npc.heading };
    });
    const result = await talkUntil(ada, 'selka', 'Where is the gate?', 'point_at');
    const landmark = result.action!.args.landmark!;
    expect(['gate', 'well']).toContain(landmark);
    await waitFor('the point gesture', () => pointing !== undefined);
    const npc = pointing!;
    const { loadWorldMap } = await import('../../server/src/world/world-map.ts');
    const place = loadWorldMap(server.config.WORLD_MAP, 0.5).landmarks.find((l) => l.id === landmark)!;
    const toward = Math.atan2(place.x - npc.x, place.z - npc.z);
    const diff = Math.abs(Math.atan2(Math.sin(npc.heading - toward), Math.cos(npc.heading - toward)));
    expect(diff).toBeLessThan(0.2);
    expect(Math.hypot(npc.x - start.x, npc.z - start.z)).toBeLessThan(0.5);
  }, 240_000);
});
