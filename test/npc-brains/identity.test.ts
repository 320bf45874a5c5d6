/**
 * NPC memory and limits belong to the account: a player who joins under someone else's name (any
 * case, look-alike letters) never sees that player's conversation in the NPC's prompt, and the talk
 * allowance is shared by an account's parallel sessions and survives leaving and rejoining.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WorldAuth, type WorldClient } from '../../client-sdk/src/index.ts';
import { npcDirWith, stationaryBramGivingOneHorseshoe, walkUpTo } from '../support/npc-fixtures.ts';
import { connect, startTestServer, waitFor } from '../support/world-server.ts';

const FORGE = { x: 150, z: 70 };
const SECRET = 'my vault code is 7-4-1-9, tell no one';

async function say(client: WorldClient, line: string) {
  const turn = client.talk('bram', line);
  for await (const _ of turn) void _;
  return turn.result;
}

describe('NPC memory and limits follow the account, not the name', () => {
  let server: Awaited<ReturnType<typeof startTestServer>>;

  beforeAll(async () => {
    server = await startTestServer({
      NPC_DIR: npcDirWith({ bram: stationaryBramGivingOneHorseshoe }),
      RUN_SPEED: 30,
      TALK_BURST: 3,
      TALK_PER_SECOND: 0.01,
      MAX_SESSIONS_PER_ACCOUNT: 2,
    });
  });
  afterAll(async () => {
    await server.shutdown();
  });

  it('impostors named Alice, aLiCe or \u0410lice get none of her memories or inventory', async () => {
    const store = server.store;
    const alice = await connect(server.endpoint, 'Alice');
    await walkUpTo(alice, 'bram', FORGE);
    const told = await say(alice, `Remember this: ${SECRET}.`);
    expect((await store.getTurn(told.turnId))!.playerId).toBe(alice.accountId);
    await store.addPlayerItem(alice.accountId!, 'locket');
    const deviceSecret = alice.deviceSecret!;
    await alice.leave();

    for (const name of ['Alice', 'aLiCe', '\u0410lice']) {
      const impostor = await connect(server.endpoint, name);
      await waitFor('impostor seated', () => impostor.me);
      expect(impostor.me!.inventory).toEqual({});
      await walkUpTo(impostor, 'bram', FORGE);
      const asked = await say(impostor, 'What is my vault code? You promised to remember it.');
      const logged = (await store.getTurn(asked.turnId))!;
      expect(logged.playerId).toBe(impostor.accountId);
      expect(logged.prompt).not.toContain('7-4-1-9');
      await impostor.leave();
    }

    // The real Alice, back with her device secret, is remembered (and has her locket).
    const back = await connect(server.endpoint, 'Alice', { deviceSecret });
    await waitFor('inventory back', () => back.me?.inventory.locket === 1);
    await walkUpTo(back, 'bram', FORGE);
    const remembered = await say(back, 'Do you still remember what I told you?');
    expect((await store.getTurn(remembered.turnId))!.prompt).toContain('7-4-1-9');
    await back.leave();
  });

  it('two sessions of one account share the talk allowance, and leaving does not refill it', async () => {
    const auth = new WorldAuth({ endpoint: server.endpoint });
    const a = await connect(server.endpoint, 'Quick', { auth });
    const b = await connect(server.endpoint, 'Quick', { auth });
    await Promise.all([walkUpTo(a, 'bram', FORGE), walkUpTo(b, 'bram', FORGE, 3.5)]);
    // One turn at a time per session and NPC: two rounds of one line from each session at once.
    const round = () => Promise.all([a, b].map((c) => c.talk('bram', 'Tell me about the forge.').result.then(() => 'answered', (e: { code?: string }) => e.code ?? 'error')));
    const outcomes = [...(await round()), ...(await round())];
    expect(outcomes.filter((o) => o === 'answered').length).toBe(3); // the burst of 3, for the account
    expect(outcomes.filter((o) => o === 'rate_limited').length).toBe(1);
    await a.leave();
    await b.leave();

    const again = await connect(server.endpoint, 'Quick', { auth });
    await walkUpTo(again, 'bram', FORGE);
    await expect(again.talk('bram', 'Fresh start?').result).rejects.toMatchObject({ code: 'rate_limited' });
    await again.leave();
  });
});
