/**
 * Group conversations end to end: a real server on loopback, real SDK clients, the real default model.
 * Three players around Bram: the lines two of them say while he answers the first are answered by ONE
 * model turn (counted in the turn log and the NPC turn metric), each speaker gets that reply under their
 * own ref, each remembers their own line, a bystander sees the bubble; a full group refuses a newcomer
 * until a member walks away.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TalkError, type TalkResult, type WorldClient } from '../../client-sdk/src/index.ts';
import { connect, startTestServer, waitFor } from '../support/world-server.ts';
import { npcDirWith, walkUpTo } from '../support/npc-fixtures.ts';

const FORGE = { x: 150, z: 70 };

/** Bram at his forge all day, with nothing to give (this suite is about who is answered, not actions). */
function bramAtTheForge(doc: Record<string, unknown>): void {
  doc.schedule = [{ at: '06:00', place: 'forge', activity: 'hammering horseshoes' }];
  doc.sampling = { temperature: 0.7, max_tokens: 40 };
}

/** The NPC turns counted by the server's metrics for an NPC (all finish reasons). */
async function npcTurns(port: number, npc: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  let total = 0;
  for (const m of text.matchAll(new RegExp(`^worldmind_npc_turns_total\\{npc="${npc}",finish="[a-z]+"\\} (\\d+)`, 'gm'))) total += Number(m[1]);
  return total;
}

async function answer(client: WorldClient, line: string): Promise<TalkResult> {
  const turn = client.talk('bram', line);
  for await (const _ of turn) void _;
  return turn.result;
}

describe('a group conversation around one NPC', () => {
  let server: Awaited<ReturnType<typeof startTestServer>>;
  let ada: WorldClient;
  let bea: WorldClient;
  let cai: WorldClient;
  let dan: WorldClient;

  beforeAll(async () => {
    server = await startTestServer({
      NPC_DIR: npcDirWith({ bram: bramAtTheForge }),
      GAME_START_TIME: '14:00',
      GAME_MINUTES_PER_SECOND: 0,
      NPC_AMBIENT_TALK: false, // only the players' turns in the log
      NPC_GROUP_MAX_PLAYERS: 3,
      RUN_SPEED: 30,
      TALK_BURST: 100,
      TALK_PER_SECOND: 100,
    });
    [ada, bea, cai, dan] = (await Promise.all(['Ada', 'Bea', 'Cai', 'Dan'].map((name) => connect(server.endpoint, name)))) as [WorldClient, WorldClient, WorldClient, WorldClient];
    await Promise.all([walkUpTo(ada, 'bram', FORGE), walkUpTo(bea, 'bram', FORGE, 3), walkUpTo(cai, 'bram', FORGE, 3.5)]);
    // Dan stands by, in view but out of the conversation (beyond 1.25 × TALK_RANGE).
    dan.move({ target: FORGE, run: true });
    await waitFor('Dan near the forge', () => {
      const bram = dan.npcs.get('bram');
      return bram && dan.me && Math.hypot(dan.me.x - bram.x, dan.me.z - bram.z) < 15;
    }, 15_000);
    dan.move({ stop: true });
  }, 90_000);
  afterAll(async () => {
    await Promise.all([ada, bea, cai, dan].map((c) => c?.leave()));
    await server?.shutdown();
  });

  it('answers the lines said while it was busy with ONE model turn, addressed to one speaker, heard by all', async () => {
    const before = (await server.store.listTurns({ npcId: 'bram' })).length;
    // Ada's line starts a round at once; Bea's and Cai's arrive while Bram answers her and are gathered.
    const turns = [ada.talk('bram', 'Good afternoon, Bram!'), bea.talk('bram', 'Where can I find a bed for the night?'), cai.talk('bram', 'Is the river bridge safe to cross?')];
    const bubbleSeen = waitFor('the bubble, seen by a bystander', () => dan.npcs.get('bram')?.speech, 60_000);
    const [a, b, c] = await Promise.all(turns.map(async (t) => {
      for await (const _ of t) void _;
      return t.result;
    }));
    expect(await bubbleSeen).not.toBe('');

    // Two rounds for three lines: Bea and Cai share one reply (the same turn, the same text).
    expect(b!.turnId).toBe(c!.turnId);
    expect(a!.turnId).not.toBe(b!.turnId);
    expect(b!.text).toBe(c!.text);
    const logged = (await server.store.listTurns({ npcId: 'bram' })).slice(0, -before || undefined);
    expect(logged.map((t) => t.turnId).sort()).toEqual([a!.turnId, b!.turnId].sort());
    expect(await npcTurns(server.port, 'bram')).toBe(2);

    // Round 2's prompt: the other speaker's line as a named user message, then the addressed line, last.
    const round = (await server.store.getTurn(b!.turnId))!;
    const messages = round.messages!;
    const lines = { [bea.accountId!]: ['Bea', 'Where can I find a bed for the night?'], [cai.accountId!]: ['Cai', 'Is the river bridge safe to cross?'] };
    const [addressedName, addressedLine] = lines[round.playerId]!;
    const otherName = addressedName === 'Bea' ? 'Cai' : 'Bea';
    const otherLine = addressedName === 'Bea' ? lines[cai.accountId!]![1] : lines[bea.accountId!]![1];
    expect(messages.at(-1)).toEqual({ role: 'user', content: addressedLine });
    expect(messages.at(-2)).toEqual({ role: 'user', content: `"${otherName}" says: ${otherLine}` });
    // The situation block speaks of the addressed player; player text never lands in a system message but quoted.
    expect(messages.find((m) => m.role === 'system' && m.content.startsWith('What you notice now'))!.content).toContain(`"${addressedName}" is talking to you`);
    // Ada's lone line is the one-player prompt: no other speaker's line in it.
    const first = (await server.store.getTurn(a!.turnId))!.messages!;
    expect(first.at(-1)).toEqual({ role: 'user', content: 'Good afternoon, Bram!' });
    expect(first.some((m) => m.role === 'user' && / says: /.test(m.content))).toBe(false);

    // Each speaker remembers their own line (and the reply), never the others'.
    const memory = server.npc!.dialogue.memory;
    for (const [client, line] of [[bea, 'Where can I find a bed for the night?'], [cai, 'Is the river bridge safe to cross?']] as const) {
      const recalled = (await memory.recall(client.accountId!, 'bram', 10_000)).turns.map((t) => t.text);
      expect(recalled[0]).toBe(line);
      expect(recalled).toHaveLength(2);
    }
    expect((await memory.recall(ada.accountId!, 'bram', 10_000)).turns.map((t) => t.text)[0]).toBe('Good afternoon, Bram!');
  }, 120_000);

  it('a full group refuses a newcomer until a member walks out of range', async () => {
    await walkUpTo(dan, 'bram', FORGE, 3.5);
    await expect(dan.talk('bram', 'May I join you?').result).rejects.toMatchObject({ code: 'busy', message: expect.stringContaining('talking with 3 people') });

    // Cai walks off toward the well; past 1.25 × TALK_RANGE he leaves Bram's conversation.
    cai.move({ target: { x: FORGE.x - 20, z: FORGE.z + 10 }, run: true });
    await waitFor('Cai away', () => {
      const bram = cai.npcs.get('bram');
      return !bram || (cai.me && Math.hypot(cai.me.x - bram.x, cai.me.z - bram.z) > 6);
    }, 15_000);
    // His place frees at the next perception sweep: Dan's line is then taken (bounded retries, no timing).
    let result: TalkResult | undefined;
    for (const deadline = Date.now() + 10_000; !result; ) {
      try {
        result = await answer(dan, 'May I join you now?');
      } catch (err) {
        if (!(err instanceof TalkError && err.code === 'busy') || Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    expect(result.text.length).toBeGreaterThan(0);
    await expect(cai.talk('bram', 'Still there?').result).rejects.toMatchObject({ code: 'too_far' });
  }, 60_000);
});
