import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WorldClient } from '../../client-sdk/src/index.ts';
import { connect, startTestServer, waitFor } from '../support/world-server.ts';

// Spawn points of the town map are 8 units apart around the south gate; Sergeant Roderick (NPC)
// stands at the gate and Bram the blacksmith far away at the forge.
describe('area of interest', () => {
  let server: Awaited<ReturnType<typeof startTestServer>>;
  const clients: WorldClient[] = [];

  beforeAll(async () => {
    server = await startTestServer({ AOI_RADIUS: 15, RUN_SPEED: 20 });
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.leave()));
    await server.shutdown();
  });

  it('replicates only nearby NPCs', async () => {
    const watcher = await connect(server.endpoint, 'Watcher');
    clients.push(watcher);
    await waitFor('the gate guard to be visible', () => watcher.npcs.get('roderick'));
    expect(watcher.npcs.has('bram')).toBe(false);
    expect(watcher.npcs.has('marta')).toBe(false);
  });

  it('avatars leave a view when they walk out of the radius and come back when they return', async () => {
    const watcher = clients[0]!;
    const runner = await connect(server.endpoint, 'Runner');
    clients.push(runner);
    await waitFor('watcher to see runner', () => watcher.avatars.get(runner.sessionId));

    const removed = watcher.next('avatarRemove', 10_000, (a) => a.sessionId === runner.sessionId);
    runner.move({ dir: { x: 0, z: 1 }, run: true });
    await removed;
    expect(watcher.avatars.has(runner.sessionId)).toBe(false);
    // The runner still sees itself, and now sees NPCs near where it went but not the watcher.
    await waitFor('runner to lose sight of the watcher', () => !runner.avatars.has(watcher.sessionId));
    expect(runner.me).toBeDefined();

    runner.move({ stop: true });
    await waitFor('runner to stop', () => runner.me?.anim === 'idle');
    const added = watcher.next('avatarAdd', 10_000, (a) => a.sessionId === runner.sessionId);
    const home = watcher.me!;
    runner.move({ target: { x: home.x, z: home.z + 3 }, run: true });
    const [back] = await added;
    expect(back.name).toBe('Runner');
    // It enters with its cell, somewhere between the radius and the edge of the watcher's neighbourhood.
    const distance = Math.hypot(back.x - home.x, back.z - home.z);
    expect(distance).toBeLessThanOrEqual(server.worldRooms()[0]!.interest.farthestVisible + 1);
  });

  it('keeps per-view sets consistent with distances on the server', async () => {
    const room = server.worldRooms()[0]!;
    const watcher = clients[0]!;
    // Views follow every patch; the watcher and everything near it stand still here.
    const visible = room.interest.visibleTo(watcher.sessionId)!;
    const me = room.state.avatars.get(watcher.sessionId)!;
    for (const e of visible) expect(Math.hypot(e.x - me.x, e.z - me.z)).toBeLessThanOrEqual(room.interest.farthestVisible + 1e-6);
    // And every entity well inside the radius is visible.
    for (const npc of room.state.npcs.values()) {
      if (Math.hypot(npc.x - me.x, npc.z - me.z) < 15) expect(visible.has(npc)).toBe(true);
    }
  });
});
