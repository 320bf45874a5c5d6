/**
 * NPC-to-NPC talk end to end: a real server on loopback, a real SDK client, the real default model. Marta's
 * schedule sends her to Bram's forge; once she is in talk range they hold one exchange (a greeting, then
 * three model lines at ambient priority). Each line is a bubble a nearby player sees, each model line is
 * in the turn log with its partner as `npc:<id>` and replays bit for bit through `npm run npc:replay`,
 * each NPC remembers what the other said, and what Bram said reaches Marta's next prompt for a player as
 * something she overheard (a rumour).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WorldClient } from '../../client-sdk/src/index.ts';
import { parseReply } from '../../server/src/npc/action-syntax.ts';
import { connect, startTestServer, waitFor } from '../support/world-server.ts';
import { npcDirWith, walkUpTo } from '../support/npc-fixtures.ts';

const run = promisify(execFile);
const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const FORGE = { x: 150, z: 70 };
const BRAM_GREETING = 'Mind the sparks. You need something mended, or are you just here to watch the iron?';

/** Bram stays at his forge. */
function bramAtHome(doc: Record<string, unknown>): void {
  delete doc.schedule;
  delete doc.patrol;
  doc.sampling = { temperature: 0.7, max_tokens: 40 };
}

/** Marta's schedule takes her from the inn to the forge; she notices overheard talk. */
function martaToTheForge(doc: Record<string, unknown>): void {
  doc.schedule = [{ at: '06:00', place: 'forge', activity: 'fetching a mended pot' }];
  doc.notices = ['player_arrived', 'player_left', 'item_given', 'chat'];
  doc.sampling = { temperature: 0.7, max_tokens: 40 };
}

describe('NPCs that meet on their schedules talk to each other', () => {
  let server: Awaited<ReturnType<typeof startTestServer>>;
  let ada: WorldClient;
  let dbDir: string;
  let npcDir: string;
  const bubbles = new Map<string, Set<string>>();

  beforeAll(async () => {
    dbDir = mkdtempSync(join(tmpdir(), 'wm-ambient-'));
    npcDir = npcDirWith({ bram: bramAtHome, marta: martaToTheForge });
    // Only the two of them in town, so no other pair meets (and every ambient turn runs alone: replayable bit for bit).
    for (const id of ['finn', 'roderick', 'selka']) rmSync(join(npcDir, `${id}.yaml`));
    server = await startTestServer({
      NPC_DIR: npcDir,
      DB_PATH: join(dbDir, 'world.sqlite'),
      GAME_START_TIME: '14:00',
      GAME_MINUTES_PER_SECOND: 0,
      NPC_AMBIENT_TALK: true,
      NPC_AMBIENT_TALK_PER_HOUR: 1,
      NPC_SITUATION_TOKENS: 400,
      RUN_SPEED: 30,
    });
    ada = await connect(server.endpoint, 'Ada');
    ada.on('npcChange', (npc) => {
      if (npc.speech) (bubbles.get(npc.id) ?? bubbles.set(npc.id, new Set()).get(npc.id)!).add(npc.speech);
    });
    // Ada waits by the forge (in view of both, in hearing of Marta) before Marta arrives.
    await walkUpTo(ada, 'bram', FORGE, 3.5);
  }, 60_000);
  afterAll(async () => {
    await ada?.leave();
    await server?.shutdown();
    rmSync(dbDir, { recursive: true, force: true });
  });

  it('holds one exchange: bubbles, logged ambient turns that replay, memories and a rumour', async () => {
    const ambientTurns = async () => {
      const all = [...(await server.store.listTurns({ npcId: 'bram' })), ...(await server.store.listTurns({ npcId: 'marta' }))];
      return all.filter((t) => t.playerId.startsWith('npc:')).sort((a, b) => a.createdAt - b.createdAt || a.turnId.localeCompare(b.turnId));
    };
    // Marta walks ~90 units at walking speed, then three model lines with pauses between them.
    let turns = await ambientTurns();
    for (const deadline = Date.now() + 120_000; turns.length < 3; turns = await ambientTurns()) {
      if (Date.now() > deadline) throw new Error(`only ${turns.length} ambient lines logged within 120 s`);
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(turns).toHaveLength(3);

    // Bram (first in the town's list) opens with his greeting; Marta answers it, then they take turns.
    expect(turns.map((t) => t.npcId)).toEqual(['marta', 'bram', 'marta']);
    expect(turns.map((t) => t.playerId)).toEqual(['npc:bram', 'npc:marta', 'npc:bram']);
    let heard = BRAM_GREETING;
    for (const turn of turns) {
      expect(turn.messages!.at(-1)).toEqual({ role: 'user', content: heard });
      const grammar = (turn.sampling as { grammar: { bodies: string[]; ambient?: boolean } }).grammar;
      expect(grammar).toMatchObject({ bodies: ['none'], ambient: true });
      expect(turn.action).toBeNull();
      heard = parseReply(turn.output).speech;
    }
    // A player nearby saw both speak (the greeting, then model lines) as bubbles.
    await waitFor('both bubbles seen', () => bubbles.get('bram')?.has(BRAM_GREETING) && (bubbles.get('marta')?.size ?? 0) > 0, 10_000);
    // Bram, standing at his forge, turned to Marta as they talked.
    await waitFor('Bram facing Marta', () => {
      const bram = ada.npcs.get('bram');
      const marta = ada.npcs.get('marta');
      if (!bram || !marta) return false;
      const toward = Math.atan2(marta.x - bram.x, marta.z - bram.z);
      return Math.abs(Math.atan2(Math.sin(bram.heading - toward), Math.cos(bram.heading - toward))) < 0.2;
    }, 10_000);

    // Each remembers the other's lines, under the other NPC as partner.
    const memory = server.npc!.dialogue.memory;
    const martaOfBram = (await memory.recall('npc:bram', 'marta', 10_000)).turns;
    expect(martaOfBram.filter((t) => t.role === 'player').map((t) => t.text)).toEqual([BRAM_GREETING, parseReply(turns[1]!.output).speech]);

    // A logged ambient line replays bit for bit, like a player's turn.
    const { stdout } = await run(process.execPath, ['--import', 'tsx', 'tools/npc-replay.ts', turns[1]!.turnId, '--json'], {
      cwd: repoRoot,
      env: { ...process.env, DB_PATH: join(dbDir, 'world.sqlite'), NPC_DIR: npcDir },
      timeout: 60_000,
    });
    const report = JSON.parse(stdout.trim().split('\n').at(-1)!) as { identical: boolean; logged: string; replayed: string };
    expect(report.replayed).toBe(report.logged);
    expect(report.identical).toBe(true);
    // Bounded: both are still free and side by side (many perception sweeps have passed since), but each
    // has had its one exchange this game hour (NPC_AMBIENT_TALK_PER_HOUR = 1; the clock is frozen).
    expect(await ambientTurns()).toHaveLength(3);

    // The rumour: talking to Marta now, she has overheard what Bram said.
    await walkUpTo(ada, 'marta', FORGE, 3);
    const turn = ada.talk('marta', 'What news from the forge?');
    for await (const _ of turn) void _;
    const prompt = (await server.store.getTurn((await turn.result).turnId))!;
    const block = prompt.messages!.find((m) => m.role === 'system' && m.content.startsWith('What you notice now'))!.content;
    expect(block).toContain('"Bram Ironhand" said "Mind the sparks.');
  }, 180_000);
});
