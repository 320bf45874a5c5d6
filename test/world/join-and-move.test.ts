import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WorldClient } from '../../client-sdk/src/index.ts';
import { connect, signedInRawClient, startTestServer, waitFor } from '../support/world-server.ts';

describe('joining the world and moving', () => {
  let server: Awaited<ReturnType<typeof startTestServer>>;
  const clients: WorldClient[] = [];

  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.leave()));
    await server.shutdown();
  });

  it('two SDK clients join the same world, see each other and see movement', async () => {
    const alice = await connect(server.endpoint, 'Alice');
    const bob = await connect(server.endpoint, 'Bob');
    clients.push(alice, bob);
    expect(alice.roomId).toBe(bob.roomId);

    await waitFor('Alice to see Bob', () => alice.avatars.get(bob.sessionId));
    await waitFor('Bob to see Alice', () => bob.avatars.get(alice.sessionId));
    expect(alice.me?.name).toBe('Alice');
    expect(bob.avatars.get(alice.sessionId)?.name).toBe('Alice');
    expect(alice.welcome?.worldName).toBe('Emberfall');
    expect(alice.welcome?.landmarks.some((l) => l.id === 'forge')).toBe(true);

    // Late subscribers still hear about everything already in view.
    const seenLate: string[] = [];
    bob.on('avatarAdd', (a) => seenLate.push(a.name));
    expect(seenLate.sort()).toEqual(['Alice', 'Bob']);

    const start = { ...bob.avatars.get(alice.sessionId)! };
    alice.move({ dir: { x: 0, z: 1 } });
    const moved = await waitFor('Bob to see Alice walk north', () => {
      const seen = bob.avatars.get(alice.sessionId);
      return seen && seen.z > start.z + 1 ? seen : undefined;
    });
    expect(moved.anim).toBe('walk');
    expect(Math.abs(moved.x - start.x)).toBeLessThan(1e-3);

    alice.move({ stop: true });
    await waitFor('Alice to stop', () => bob.avatars.get(alice.sessionId)?.anim === 'idle');
    const stoppedAt = bob.avatars.get(alice.sessionId)!.z;
    await new Promise((r) => setTimeout(r, 300));
    expect(bob.avatars.get(alice.sessionId)!.z).toBeCloseTo(stoppedAt, 3);
  });

  it('walks to a target point and stops there', async () => {
    const walker = await connect(server.endpoint, 'Walker');
    clients.push(walker);
    const me = await waitFor('own avatar', () => walker.me);
    const target = { x: me.x + 3, z: me.z + 2 };
    walker.move({ target, run: true });
    const arrived = await waitFor('arrival at target', () => {
      const a = walker.me;
      return a && Math.hypot(a.x - target.x, a.z - target.z) < 0.1 && a.anim === 'idle' ? a : undefined;
    });
    expect(arrived.x).toBeCloseTo(target.x, 1);
  });

  it('a raw @colyseus/sdk client (not the project SDK) can join "world" and read state', async () => {
    const raw = await signedInRawClient(server.endpoint);
    const room = await raw.joinOrCreate('world', { name: 'RawBot' });
    try {
      // Without the project's schema classes the SDK decodes by reflection.
      await waitFor('raw client state with its avatar', () => (room.state as any)?.avatars?.get(room.sessionId));
      const avatar = (room.state as any).avatars.get(room.sessionId);
      expect(avatar.name).toBe('RawBot');
      // Positions travel as int16 centimetres (shared/src/state.ts).
      const startZ = avatar.zCm;
      room.send('move', { dir: { x: 0, z: 1 } });
      await waitFor('raw client avatar to move', () => (room.state as any).avatars.get(room.sessionId).zCm > startZ + 50);
    } finally {
      await room.leave();
    }
  });

  it('refuses a join without a valid display name', async () => {
    await expect(connect(server.endpoint, '')).rejects.toThrow(/display name is empty/);
    const raw = await signedInRawClient(server.endpoint);
    await expect(raw.joinOrCreate('world', { name: 'x'.repeat(200) })).rejects.toThrow(/longer than 24/);
  });
});
