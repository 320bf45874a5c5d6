/**
 * World services without NPC brains: with NPC_ENABLED=false the store, the game clock and the path grid
 * are still composed by server.ts, and a player's inventory loads, replicates and survives a restart.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { WorldAuth } from '../../client-sdk/src/index.ts';
import { gameClock } from '../../server/src/world/world-services.ts';
import { connect, startTestServer, waitFor } from '../support/world-server.ts';

describe('world services with NPC brains off', () => {
  const dir = mkdtempSync(join(tmpdir(), 'wm-services-'));
  const DB_PATH = join(dir, 'world.sqlite');
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('loads, replicates and persists inventories across a restart, and still keeps the clock and the grid', async () => {
    let server = await startTestServer({ NPC_ENABLED: false, DB_PATH, GAME_START_TIME: '09:15', GAME_MINUTES_PER_SECOND: 0 });
    expect(server.npc).toBeUndefined();
    expect(server.services.store).toBe(server.store);
    expect(server.services.clock()).toBe(9 * 60 + 15);
    expect(server.services.grid.findPath({ x: 104, z: 20 }, { x: 104, z: 70 })?.length).toBeGreaterThan(0);

    const auth = new WorldAuth({ endpoint: server.endpoint });
    await auth.validToken();
    const accountId = auth.accountId!;
    // What an NPC gave this player on another day (or another server) is in the store.
    await server.store.addPlayerItem(accountId, 'horseshoe', 2);
    await server.store.addPlayerItem(accountId, 'copper', 5);
    let ada = await connect(server.endpoint, 'Ada', { auth });
    await waitFor('the inventory in replicated state', () => ada.me?.inventory.horseshoe === 2 && ada.me.inventory.copper === 5);
    const deviceSecret = ada.deviceSecret!;
    await ada.leave();
    await server.shutdown();

    server = await startTestServer({ NPC_ENABLED: false, DB_PATH });
    try {
      ada = await connect(server.endpoint, 'Ada', { deviceSecret });
      expect(ada.accountId).toBe(accountId);
      await waitFor('the inventory after a restart', () => ada.me?.inventory.horseshoe === 2 && ada.me.inventory.copper === 5);
      expect(await server.store.playerInventory(accountId)).toEqual({ copper: 5, horseshoe: 2 });
      await ada.leave();
    } finally {
      await server.shutdown();
    }
  }, 60_000);

  it('runs the game clock from GAME_START_TIME at GAME_MINUTES_PER_SECOND, wrapping at midnight', () => {
    let now = 1_000_000;
    const clock = gameClock({ GAME_START_TIME: '23:30', GAME_MINUTES_PER_SECOND: 2 }, now, () => now);
    expect(clock()).toBe(23 * 60 + 30);
    now += 10_000;
    expect(clock()).toBe(23 * 60 + 50);
    now += 10_000;
    expect(clock()).toBe(10);
  });
});
