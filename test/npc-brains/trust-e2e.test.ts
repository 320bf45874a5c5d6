/**
 * Relationships end to end: a real server on loopback, real SDK clients, a test-only Bram whose
 * horseshoe needs trust 1 (`trust: {requires: {give_item: 1}}`; the default rules: a moderated line −1, a
 * purchase through [[trade]] +1). The model is the default model's untrained twin, which picks among the
 * grammar's legal calls almost evenly — so a call the grammar does not offer is one the model could not
 * produce, and a call it does offer comes up within a bounded number of turns.
 *
 * What is checked on the turn log (the prompt and the grammar each turn was decoded with), the store
 * (trust, stock) and the SDK's results: at trust 0 the give is neither offered nor executed; trust falls
 * on a moderated line and survives leaving and rejoining; purchases raise it; at trust ≥ 1 the give is
 * offered and carried out; and a give chosen while trust fell during the turn is refused by the room.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WorldAuth, type WorldClient } from '../../client-sdk/src/index.ts';
import { ConfigSchema } from '../../server/src/config.ts';
import { TOWN_COIN } from '../../server/src/npc/actions/trade.ts';
import type { GrammarRecord } from '../../server/src/npc/dialogue.ts';
import { buildUntrainedTwin } from '../../tools/eval/baseline.ts';
import { npcDirWith, walkUpTo } from '../support/npc-fixtures.ts';
import { connect, startTestServer } from '../support/world-server.ts';

const FORGE = { x: 150, z: 70 };
const GIVE = 'give_item horseshoe';
const LINE = 'Could I have a horseshoe for luck, or buy a whetstone?';

/** Bram at home who gives a horseshoe only to players he trusts, sells whetstones, and nods. */
function trustingBram(doc: Record<string, unknown>): void {
  delete doc.schedule;
  delete doc.patrol;
  doc.actions = { give_item: { item: ['horseshoe'] }, emote: ['nod'], trade: { price: { whetstone: 1 } } };
  doc.inventory = { horseshoe: 3, whetstone: 12 };
  doc.examples = [];
  doc.trust = { requires: { give_item: 1 } };
  doc.sampling = { temperature: 1.5, max_tokens: 40 };
}

describe('trust: persisted per account and NPC, stated in the prompt, gating an action', () => {
  let server: Awaited<ReturnType<typeof startTestServer>>;
  let auth: WorldAuth;
  let ada: WorldClient;
  let accountId: string;
  const modelRoot = mkdtempSync(join(tmpdir(), 'wm-twin-'));
  const npcDir = npcDirWith({ bram: trustingBram });

  /** One turn to its end: the SDK's result and the turn as logged (prompt, grammar, chosen action). */
  async function turn(client: WorldClient, line = LINE, onFirstChunk?: () => Promise<void>) {
    const t = client.talk('bram', line);
    let first = true;
    for await (const _ of t) {
      if (first && onFirstChunk) await onFirstChunk();
      first = false;
    }
    const result = await t.result;
    const logged = (await server.store.getTurn(result.turnId))!;
    const grammar = (logged.sampling as { grammar: GrammarRecord }).grammar;
    return { result, logged, grammar, chosen: (logged.action as { type?: string } | null)?.type ?? null };
  }

  beforeAll(async () => {
    const model = buildUntrainedTwin(ConfigSchema.shape.MODEL_DIR.parse(undefined), join(modelRoot, 'model'), 1);
    server = await startTestServer({
      NPC_DIR: npcDir,
      MODEL_DIR: model.dir,
      // The untrained twin's calls are sampled so that, over a few turns, it tries every open call.
      NPC_ACTION_DECODING: 'sample',
      RUN_SPEED: 30,
      TALK_BURST: 100,
      TALK_PER_SECOND: 100,
      // No cooldown: a refused give below can only be the trust re-check (stock and reach are checked too).
      NPC_GIVE_COOLDOWN_S: 0,
      // A second session of the same account says the rude line during a turn (last test).
      MAX_SESSIONS_PER_ACCOUNT: 2,
      // Each rude line is a rejected message (a strike); with short turns the last test can send more than
      // the default 10 within 10 s, and the server would rightly disconnect that session mid-test.
      MAX_INVALID_MESSAGES: 1000,
    });
    auth = new WorldAuth({ endpoint: server.endpoint });
    await auth.validToken();
    accountId = auth.accountId!;
    ada = await connect(server.endpoint, 'Ada', { auth });
    await walkUpTo(ada, 'bram', FORGE);
  }, 60_000);
  afterAll(async () => {
    await ada?.leave();
    await server?.shutdown();
    rmSync(modelRoot, { recursive: true, force: true });
    rmSync(npcDir, { recursive: true, force: true });
  });

  it('at trust 0 the give is not offered, never executed, and the prompt has no trust line', async () => {
    expect(await server.store.trust(accountId, 'bram')).toBe(0);
    // Ada has no coppers, so a chosen trade is refused and trust stays 0 through these turns.
    for (let i = 0; i < 6; i++) {
      const { result, logged, grammar, chosen } = await turn(ada);
      expect(grammar.bodies).toEqual(['none', 'emote nod', 'trade whetstone 1']);
      expect(grammar.trust).toBe(0);
      expect(chosen).not.toBe('give_item');
      expect(result.action?.name).not.toBe('give_item');
      expect(logged.prompt).not.toContain('- Trust:');
    }
    expect((await server.store.npcInventory('bram')).horseshoe).toBe(3);
    expect(await server.store.trust(accountId, 'bram')).toBe(0);
  }, 120_000);

  it('a moderated line lowers trust; it persists across leaving and rejoining and is stated in the prompt', async () => {
    await expect(ada.talk('bram', 'you are a shitty smith').result).rejects.toMatchObject({ code: 'moderated' });
    expect(await server.store.trust(accountId, 'bram')).toBe(-1);
    await ada.leave();
    ada = await connect(server.endpoint, 'Ada', { auth });
    expect(ada.accountId).toBe(accountId);
    await walkUpTo(ada, 'bram', FORGE);
    const { logged, grammar } = await turn(ada);
    expect(logged.prompt).toContain('- Trust: you are wary of "Ada" (-1).');
    expect(grammar.trust).toBe(-1);
    expect(grammar.bodies).not.toContain(GIVE);
  }, 60_000);

  it('purchases raise trust to 1, where the give is offered and carried out', async () => {
    await server.store.addPlayerItem(accountId, TOWN_COIN, 6);
    for (let i = 0; i < 40 && await server.store.trust(accountId, 'bram') < 1; i++) await turn(ada);
    expect(await server.store.trust(accountId, 'bram')).toBeGreaterThanOrEqual(1);
    let given = false;
    for (let i = 0; i < 30 && !given; i++) {
      const { result, logged, grammar } = await turn(ada);
      expect(grammar.bodies).toContain(GIVE);
      expect(logged.prompt).toMatch(/- Trust: you (are starting to trust|trust) "Ada"( completely)? \(\+[123]\)\./);
      given = result.action?.name === 'give_item';
    }
    expect(given).toBe(true);
    expect((await server.store.npcInventory('bram')).horseshoe).toBe(2);
    expect((await server.store.playerInventory(accountId)).horseshoe).toBe(1);
  }, 240_000);

  it('the room re-checks trust: a give chosen after trust fell during the turn is refused', async () => {
    const bea = await connect(server.endpoint, 'Ada at the door', { auth });
    try {
      await walkUpTo(bea, 'bram', FORGE);
      let refused = false;
      for (let i = 0; i < 30 && !refused; i++) {
        // Trust exactly 1 as the turn starts (purchases may have raised it): the give is in its grammar …
        const now = await server.store.trust(accountId, 'bram');
        if (now !== 1) await server.store.changeTrust(accountId, 'bram', 1 - now);
        const stock = (await server.store.npcInventory('bram')).horseshoe;
        let loweredBy = Number.POSITIVE_INFINITY;
        const { result, logged, grammar, chosen } = await turn(ada, LINE, async () => {
          // … and falls to 0 while it is being answered: the same account's other session is rude to Bram.
          await expect(bea.talk('bram', 'shitty forge').result).rejects.toMatchObject({ code: 'moderated' });
          loweredBy = Date.now();
        });
        expect(grammar.trust).toBe(1);
        expect(grammar.bodies).toContain(GIVE);
        expect(await server.store.trust(accountId, 'bram')).toBeLessThanOrEqual(1);
        // Counted only when trust had certainly fallen before the turn was logged (same process clock; the
        // room executes after logging): a very short reply can end before the rude line is even read.
        if (chosen === 'give_item' && loweredBy < logged.createdAt) {
          expect(result.action).toBeNull();
          expect((await server.store.npcInventory('bram')).horseshoe).toBe(stock);
          refused = true;
        }
      }
      expect(refused).toBe(true);
    } finally {
      await bea.leave();
    }
  }, 240_000);
});
