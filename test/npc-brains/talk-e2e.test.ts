/**
 * The talk data path end to end: streaming, the room executing (or refusing) the action in replicated
 * state, bystanders' bubbles, privacy, moderation. It runs on the default model's untrained twin (same
 * tokenizer and architecture, random weights), which picks among the grammar's legal calls almost evenly,
 * so "the NPC chose to give" happens within a bounded number of turns whatever the trained model prefers;
 * what the trained model says is test/model/default-model.test.ts's subject.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TalkError, type WorldClient } from '../../client-sdk/src/index.ts';
import { ConfigSchema } from '../../server/src/config.ts';
import { buildUntrainedTwin } from '../../tools/eval/baseline.ts';
import { connect, startTestServer, waitFor } from '../support/world-server.ts';
import { npcDirWith, stationaryBramGivingOneHorseshoe, walkUpTo } from '../support/npc-fixtures.ts';

const FORGE = { x: 150, z: 70 };

async function talkFully(client: WorldClient, npcId: string, line: string) {
  const turn = client.talk(npcId, line);
  const chunks: string[] = [];
  for await (const chunk of turn) chunks.push(chunk.text);
  return { chunks, result: await turn.result };
}

describe('talking to an NPC end to end', () => {
  let server: Awaited<ReturnType<typeof startTestServer>>;
  let ada: WorldClient;
  let bea: WorldClient;

  const modelRoot = mkdtempSync(join(tmpdir(), 'wm-twin-'));
  beforeAll(async () => {
    const model = buildUntrainedTwin(ConfigSchema.shape.MODEL_DIR.parse(undefined), join(modelRoot, 'model'), 1);
    server = await startTestServer({
      MODEL_DIR: model.dir,
      NPC_DIR: npcDirWith({ bram: stationaryBramGivingOneHorseshoe }),
      RUN_SPEED: 30,
      TALK_BURST: 100,
      TALK_PER_SECOND: 100,
      NPC_GIVE_COOLDOWN_S: 0,
    });
    ada = await connect(server.endpoint, 'Ada');
    bea = await connect(server.endpoint, 'Bea');
  });
  afterAll(async () => {
    await ada?.leave();
    await bea?.leave();
    await server.shutdown();
    rmSync(modelRoot, { recursive: true, force: true });
  });

  it('refuses lines to NPCs that are too far away or do not exist', async () => {
    await expect(ada.talk('bram', 'Hello from the gate!').result).rejects.toMatchObject({ code: 'too_far' });
    await expect(ada.talk('nobody', 'Hello?').result).rejects.toMatchObject({ code: 'unknown_npc' });
    await expect(ada.talk('bram', '').result).rejects.toBeInstanceOf(TalkError);
  });

  it('streams the reply, executes the action in replicated state, and shows bystanders a speech bubble', async () => {
    await walkUpTo(ada, 'bram', FORGE);
    await walkUpTo(bea, 'bram', FORGE, 3.5);
    const bubbles: string[] = [];
    bea.on('npcChange', (npc) => npc.id === 'bram' && npc.speech && bubbles.push(npc.speech));

    let given = false;
    // The model decides (evenly between [[none]] and the give): bounded at 40 turns.
    const asks = ['Anything for luck?', "Do you have anything for luck? I'm heading down the Salt Road.", 'Could I have a horseshoe for luck?'];
    for (let attempt = 0; attempt < 40 && !given; attempt++) {
      const { chunks, result } = await talkFully(ada, 'bram', asks[attempt % asks.length]!);
      expect(result.finishReason).toBe('stop');
      expect(chunks.length).toBeGreaterThan(0);
      expect(chunks.join('').trim()).toBe(result.text);
      expect(result.text).not.toMatch(/\[\[/); // the call syntax never reaches the player
      expect(result.firstChunkMs).toBeGreaterThan(0);
      if (result.action?.name === 'give_item') {
        expect(result.action).toEqual({ name: 'give_item', args: { item: 'horseshoe' } });
        given = true;
      }
    }
    expect(given).toBe(true);
    await waitFor('the horseshoe in Ada\'s replicated inventory', () => ada.me?.inventory.horseshoe === 1);
    await waitFor('Bea sees it too', () => bea.avatars.get(ada.sessionId)?.inventory.horseshoe === 1);
    await waitFor('a speech bubble for the bystander', () => bubbles.length > 0);
    expect(await server.store.npcInventory('bram')).toEqual({ horseshoe: 0 });
  });

  it('re-validates actions: an out-of-stock give is refused by the room and nothing moves', async () => {
    let refused = false;
    for (let attempt = 0; attempt < 40 && !refused; attempt++) {
      const { result } = await talkFully(ada, 'bram', attempt % 2 ? 'Another horseshoe, please!' : 'Anything else for luck?');
      const logged = (await server.store.getTurn(result.turnId))!;
      if ((logged.action as { type?: string } | null)?.type === 'give_item') {
        expect(result.action).toBeNull(); // the model chose it, the room refused it
        refused = true;
      }
    }
    expect(refused).toBe(true);
    expect(ada.me?.inventory.horseshoe).toBe(1);
    const metrics = await (await fetch(`http://127.0.0.1:${server.port}/metrics`)).text();
    expect(metrics).toMatch(/worldmind_npc_actions_total\{action="give_item",outcome="refused"\} [1-9]/);
    expect(metrics).toContain('# TYPE worldmind_npc_illegal_actions_total counter');
    expect(metrics).not.toMatch(/worldmind_npc_illegal_actions_total\{[^}]*\} [1-9]/);
    expect(metrics).toMatch(/worldmind_npc_turns_total\{npc="bram",finish="stop"\} [1-9]/);
    expect(metrics).toMatch(/worldmind_engine_prefix_cache_hit_rate (0\.\d*[1-9]|1)$/m);
  });

  it('one turn at a time per player and NPC; moderation refuses bad lines', async () => {
    const first = ada.talk('bram', 'Tell me about the bridge.');
    const second = ada.talk('bram', 'And the war?');
    await expect(second.result).rejects.toMatchObject({ code: 'busy' });
    await first.result;
    await expect(ada.talk('bram', 'you are a shitty smith').result).rejects.toMatchObject({ code: 'moderated' });
  });

  it('keeps each player\'s conversation private and remembers it in later prompts', async () => {
    const secret = 'My secret name is Zephyrine of the Salt Road';
    await talkFully(ada, 'bram', secret);
    const { result } = await talkFully(bea, 'bram', 'What did the last traveller tell you?');
    const beaPrompt = (await server.store.getTurn(result.turnId))!.prompt;
    expect(beaPrompt).not.toContain('Zephyrine');
    const again = await talkFully(ada, 'bram', 'Do you remember me?');
    expect((await server.store.getTurn(again.result.turnId))!.prompt).toContain('Zephyrine');
  });
});
