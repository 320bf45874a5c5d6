import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, signedInRawClient, sleep, startTestServer, waitFor } from '../support/world-server.ts';

describe('authoritative movement', () => {
  let server: Awaited<ReturnType<typeof startTestServer>>;

  beforeAll(async () => {
    server = await startTestServer({ RUN_SPEED: 8, WALK_SPEED: 4, MAX_MESSAGES_PER_SECOND: 200 });
  });
  afterAll(async () => {
    await server.shutdown();
  });

  it('clamps speed no matter how often or how hard a client pushes', async () => {
    const raw = await signedInRawClient(server.endpoint);
    const room = await raw.joinOrCreate('world', { name: 'Cheater' });
    const serverRoom = server.worldRooms()[0]!;
    const avatar = () => serverRoom.state.avatars.get(room.sessionId)!;
    const start = { x: avatar().x, z: avatar().z };
    const samples: { t: number; x: number; z: number }[] = [];
    const began = performance.now();
    // ~150 messages per second for 1.5 s, each asking for an absurd direction magnitude.
    while (performance.now() - began < 1500) {
      room.send('move', { dir: { x: 1e9, z: 1e9 }, run: true });
      room.send('move', { dir: { x: 0.5, z: 1e12 }, run: true });
      samples.push({ t: performance.now(), x: avatar().x, z: avatar().z });
      await sleep(13);
    }
    const elapsed = (performance.now() - began) / 1000;
    const end = avatar();
    const travelled = Math.hypot(end.x - start.x, end.z - start.z);
    expect(travelled).toBeGreaterThan(1); // it did move
    // One fixed step of slack for timing between the first intent and the first sample.
    expect(travelled).toBeLessThanOrEqual(8 * (elapsed + 0.1));
    for (let i = 1; i < samples.length; i++) {
      const a = samples[i - 1]!;
      const b = samples[i]!;
      const dt = (b.t - a.t) / 1000;
      expect(Math.hypot(b.x - a.x, b.z - a.z)).toBeLessThanOrEqual(8 * (dt + 0.1) + 1e-3);
    }
    await room.leave();
  });

  it('keeps avatars inside the walls and out of buildings', async () => {
    const c = await connect(server.endpoint, 'WallWalker');
    await waitFor('own avatar', () => c.me);
    // South of the spawn is the town wall (z 8..11) and the river to the west: walk into both.
    c.move({ dir: { x: -1, z: -1 }, run: true });
    await sleep(1500);
    const serverRoom = server.worldRooms()[0]!;
    const a = serverRoom.state.avatars.get(c.sessionId)!;
    expect(a.z).toBeGreaterThanOrEqual(11 + 0.5 - 1e-4); // stopped by the south wall
    expect(a.x).toBeGreaterThanOrEqual(0.5);
    await c.leave();
  });
});
