import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, sleep, startTestServer, waitFor } from '../support/world-server.ts';

/** Cuts the TCP connection under the SDK without a close handshake, like a network drop. */
function severConnection(room: { connection: unknown }): void {
  const ws = (room.connection as { transport: { ws: { terminate?: () => void; close: () => void } } }).transport.ws;
  if (ws.terminate) ws.terminate();
  else ws.close();
}

describe('reconnection', () => {
  let server: Awaited<ReturnType<typeof startTestServer>>;

  beforeAll(async () => {
    server = await startTestServer({ RECONNECT_WINDOW_S: 5 });
  });
  afterAll(async () => {
    await server.shutdown();
  });

  it('a dropped client that comes back within the window keeps its avatar; others see no leave/join', async () => {
    const observer = await connect(server.endpoint, 'Observer');
    const traveller = await connect(server.endpoint, 'Traveller', { reconnect: { minUptimeMs: 0, minDelayMs: 50, maxDelayMs: 200 } });
    await waitFor('observer sees traveller', () => observer.avatars.get(traveller.sessionId));

    // Move so the kept avatar is recognisably the same one, not a fresh spawn.
    traveller.move({ target: { x: traveller.me!.x + 2, z: traveller.me!.z + 2 } });
    await waitFor('traveller to arrive', () => traveller.me?.anim === 'idle' && traveller.me.z > 21 && traveller.me);
    const before = { ...traveller.me! };
    const sessionId = traveller.sessionId;

    const flicker: string[] = [];
    let armed = false; // avatarAdd first replays what is already in view; only later adds are flicker
    observer.on('avatarRemove', (a) => a.sessionId === sessionId && flicker.push('remove'));
    observer.on('avatarAdd', (a) => armed && a.sessionId === sessionId && flicker.push('add'));
    armed = true;

    const reconnected = traveller.next('reconnect', 10_000);
    severConnection(traveller.room);
    await waitFor('others to see the avatar held as disconnected', () => observer.avatars.get(sessionId)?.connected === false);
    await reconnected;
    await waitFor('avatar connected again', () => observer.avatars.get(sessionId)?.connected === true);

    expect(traveller.sessionId).toBe(sessionId);
    const after = server.worldRooms()[0]!.state.avatars.get(sessionId)!;
    expect(after.x).toBeCloseTo(before.x, 3);
    expect(after.z).toBeCloseTo(before.z, 3);
    expect(flicker).toEqual([]);

    // The reconnected client is fully functional: it moves and its view still updates.
    const z0 = after.z;
    traveller.move({ dir: { x: 0, z: 1 } });
    await waitFor('observer sees the reconnected traveller move', () => (observer.avatars.get(sessionId)?.z ?? 0) > z0 + 0.5);
    await waitFor('traveller sees itself move', () => (traveller.me?.z ?? 0) > z0 + 0.5);
    await traveller.leave();
    await observer.leave();
  });

  it('a client that does not come back loses its avatar when the window ends', async () => {
    const observer = await connect(server.endpoint, 'Observer2');
    const ghost = await connect(server.endpoint, 'Ghost', { reconnect: { enabled: false } });
    await waitFor('observer sees ghost', () => observer.avatars.get(ghost.sessionId));
    const gone = observer.next('avatarRemove', 10_000, (a) => a.sessionId === ghost.sessionId);
    const droppedAt = Date.now();
    severConnection(ghost.room);
    await waitFor('ghost held as disconnected', () => observer.avatars.get(ghost.sessionId)?.connected === false);
    await gone;
    expect(Date.now() - droppedAt).toBeGreaterThanOrEqual(4_000);
    await sleep(10);
    expect(server.worldRooms()[0]!.state.avatars.has(ghost.sessionId)).toBe(false);
    await observer.leave();
  });
});
