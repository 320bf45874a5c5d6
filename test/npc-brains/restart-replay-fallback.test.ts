import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import type { WorldClient } from '../../client-sdk/src/index.ts';
import { SqliteStore } from '../../server/src/persistence/sqlite-store.ts';
import { ConfigSchema } from '../../server/src/config.ts';
import { buildUntrainedTwin } from '../../tools/eval/baseline.ts';
import { npcDirWith, stationaryBramGivingOneHorseshoe, stationaryBramWithOneHorseshoe, walkUpTo } from '../support/npc-fixtures.ts';
import { freePort, spawnServer, waitForOutput } from '../support/server-process.ts';
import { connect, waitFor } from '../support/world-server.ts';

const run = promisify(execFile);
const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const FORGE = { x: 150, z: 70 };

/** Server processes of the running test: a failed test must not leave one running after the suite. */
const started = new Set<ReturnType<typeof spawnServer>>();
afterEach(() => {
  for (const proc of started) if (proc.child.exitCode === null && proc.child.signalCode === null) proc.child.kill('SIGKILL');
  started.clear();
});

async function startProcess(env: Record<string, string>) {
  const port = await freePort();
  const proc = spawnServer({ PORT: String(port), RUN_SPEED: '30', TALK_BURST: '100', TALK_PER_SECOND: '100', NPC_GIVE_COOLDOWN_S: '0', ...env });
  started.add(proc);
  await waitForOutput(proc, /worldmind server listening/);
  return { proc, endpoint: `ws://127.0.0.1:${port}` };
}

async function stop(proc: ReturnType<typeof spawnServer>) {
  proc.child.kill('SIGTERM');
  const exit = await proc.exited;
  expect(exit.code).toBe(0);
}

describe('NPC state survives a restart, and turns replay bit for bit', () => {
  it('keeps inventories and memories across a SIGTERM restart; npc:replay reproduces a logged turn', async () => {
    const dbPath = join(mkdtempSync(join(tmpdir(), 'wm-db-')), 'world.sqlite');
    // Persistence and replay are the subject, not the model's taste: the default model's untrained twin
    // picks between [[none]] and the give almost evenly, so the gift comes within a bounded number of turns.
    const model = buildUntrainedTwin(ConfigSchema.shape.MODEL_DIR.parse(undefined), join(mkdtempSync(join(tmpdir(), 'wm-twin-')), 'model'), 1);
    const npcDir = npcDirWith({ bram: stationaryBramGivingOneHorseshoe });
    // No NPC-to-NPC talk: a turn replays bit for bit only if it ran alone in its batches (a batch's shape
    // changes the float rounding), and Marta's schedule brings her to Bram's forge for an ambient exchange.
    const env = { DB_PATH: dbPath, NPC_DIR: npcDir, MODEL_DIR: model.dir, NPC_AMBIENT_TALK: 'false' };

    // First life: Ada talks until Bram hands over his horseshoe, then tells him something memorable
    // (last, so it is in the recalled memory however many turns the gift took).
    let server = await startProcess(env);
    let ada: WorldClient = await connect(server.endpoint, 'Ada');
    await walkUpTo(ada, 'bram', FORGE);
    for (let i = 0; i < 40 && ada.me?.inventory.horseshoe !== 1; i++) {
      const t = ada.talk('bram', 'Anything for luck?');
      await t.result;
      await new Promise((r) => setTimeout(r, 150));
    }
    await waitFor('horseshoe given', () => ada.me?.inventory.horseshoe === 1);
    const firstTurn = ada.talk('bram', 'Remember me: I am Ada, the cartographer from Greyfell.');
    for await (const _ of firstTurn) void _;
    const firstTurnId = (await firstTurn.result).turnId;
    const deviceSecret = ada.deviceSecret!;
    expect(deviceSecret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    await ada.leave();
    await stop(server.proc);

    // Second life: the same player (same guest account, by its device secret) has the horseshoe, and
    // Bram's prompt remembers her line.
    server = await startProcess(env);
    ada = await connect(server.endpoint, 'Ada', { deviceSecret });
    await waitFor('inventory restored on join', () => ada.me?.inventory.horseshoe === 1);
    await walkUpTo(ada, 'bram', FORGE);
    const later = ada.talk('bram', 'Do you remember who I am?');
    const laterId = (await later.result).turnId;
    await ada.leave();
    await stop(server.proc);

    const store = SqliteStore.open(dbPath);
    try {
      expect((await store.getTurn(laterId))!.prompt).toContain('the cartographer from Greyfell');
      expect(await store.npcInventory('bram')).toEqual({ horseshoe: 0 });
    } finally {
      await store.close();
    }

    // Replay the very first turn from the log: same output, bit for bit.
    const { stdout } = await run(process.execPath, ['--import', 'tsx', 'tools/npc-replay.ts', firstTurnId, '--json'], {
      cwd: repoRoot,
      env: { ...process.env, DB_PATH: dbPath, NPC_DIR: npcDir, MODEL_DIR: model.dir },
      timeout: 60_000,
    });
    const report = JSON.parse(stdout.trim().split('\n').at(-1)!) as { identical: boolean; logged: string; replayed: string };
    expect(report.replayed).toBe(report.logged);
    expect(report.identical).toBe(true);
  });

  it('says scripted fallback lines instead of going silent when the engine is overloaded', async () => {
    // Every line its own turn at once (in a group conversation six players at one NPC are two rounds, no overload).
    const { proc, endpoint } = await startProcess({ INFERENCE_MAX_QUEUE: '1', INFERENCE_MAX_BATCH: '1', NPC_GROUP_CONVERSATIONS: 'false', NPC_DIR: npcDirWith({ bram: stationaryBramWithOneHorseshoe }) });
    const fallbackLines = [
      "Hold that thought. The iron's hot and it won't wait.",
      "Hm. Ask me again when I've put the hammer down.",
      "Can't hear you over the bellows. Come back in a moment.",
      '*grunts and keeps hammering*',
    ];
    try {
      const players = await Promise.all(Array.from({ length: 6 }, (_, i) => connect(endpoint, `Crowd${i}`)));
      await Promise.all(players.map((p) => walkUpTo(p, 'bram', FORGE, 3.5, 20_000)));
      const results = await Promise.all(players.map((p) => p.talk('bram', 'Tell me everything about the war at the bridge!').result));
      const fallbacks = results.filter((r) => r.finishReason === 'fallback');
      expect(fallbacks.length).toBeGreaterThan(0);
      for (const r of fallbacks) expect(fallbackLines).toContain(r.text);
      for (const r of results) expect(r.text.length).toBeGreaterThan(0); // nobody got silence
      await Promise.all(players.map((p) => p.leave()));
    } finally {
      await stop(proc);
    }
  });
});
