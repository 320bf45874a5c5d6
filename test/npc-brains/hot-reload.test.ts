import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WorldClient } from '../../client-sdk/src/index.ts';
import { npcDirWith, stationaryBramGivingOneHorseshoe, walkUpTo } from '../support/npc-fixtures.ts';
import { connect, sleep, startTestServer, waitFor } from '../support/world-server.ts';

describe('NPC script hot reload in a running server', () => {
  let server: Awaited<ReturnType<typeof startTestServer>>;
  let ada: WorldClient;
  const dir = npcDirWith({ bram: stationaryBramGivingOneHorseshoe });
  const file = join(dir, 'bram.yaml');

  beforeAll(async () => {
    server = await startTestServer({ NPC_DIR: dir, NPC_HOT_RELOAD: true, RUN_SPEED: 30, TALK_BURST: 100, TALK_PER_SECOND: 100 });
    ada = await connect(server.endpoint, 'Ada');
    await walkUpTo(ada, 'bram', { x: 150, z: 70 });
  });
  afterAll(async () => {
    await ada?.leave();
    await server.shutdown();
  });

  const bodiesOfNextTurn = async () => {
    const { turnId } = await ada.talk('bram', 'What can you do for me?').result;
    return ((await server.store.getTurn(turnId))!.sampling as { grammar: { bodies: string[] } }).grammar.bodies;
  };

  it('picks up an edited script without a restart, and keeps the last good one when an edit breaks it', async () => {
    expect(await bodiesOfNextTurn()).toEqual(['none', 'give_item horseshoe']);

    const good = readFileSync(file, 'utf8').replace(/"actions": \{[^}]*\{[^}]*\}\s*\}/s, '"actions": { "emote": ["wave", "bow"] }');
    expect(good).toContain('"emote": ["wave", "bow"]');
    writeFileSync(file, good);
    await waitFor('the edit to be live', () => server.npc!.script('bram')?.actions.emote?.length === 2, 5_000);
    expect(await bodiesOfNextTurn()).toEqual(['none', 'emote wave', 'emote bow']);

    writeFileSync(file, good.replace('"emote": ["wave", "bow"]', '"emote": ["moonwalk"]'));
    await sleep(600); // past the watcher's debounce
    expect(server.npc!.script('bram')?.actions.emote).toEqual(['wave', 'bow']);
    expect(await bodiesOfNextTurn()).toEqual(['none', 'emote wave', 'emote bow']);
  });
});
