/**
 * Group fan-out end to end (server/src/world/group-fanout.ts): a real server on loopback and real SDK
 * clients. A group's patch frame is published once to its uWebSockets.js topic; clients moving between
 * cells get their own frame; a reconnected client and a late joiner are subscribed only once joined. Every
 * client must decode exactly its view at the server's positions, and each socket must be subscribed to
 * exactly the topic of the view it holds. (The room's serializer must be the state's only one: a second
 * serializer reset on the same state once split its changes between two encoders, and a leave never
 * reached the other clients.)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client } from '@colyseus/core';
import type { WorldClient } from '../../client-sdk/src/index.ts';
import type { WorldRoom } from '../../server/src/world/world-room.ts';
import { viewMismatch } from '../support/view-check.ts';
import { connect, sleep, startTestServer, waitFor } from '../support/world-server.ts';

/** Cuts the TCP connection under the SDK without a close handshake, like a network drop. */
function severConnection(room: { connection: unknown }): void {
  const ws = (room.connection as { transport: { ws: { terminate?: () => void; close: () => void } } }).transport.ws;
  if (ws.terminate) ws.terminate();
  else ws.close();
}

/** Each joined client's socket is subscribed to the topic of the group view it holds, and to nothing else. */
function subscriptionMismatch(room: WorldRoom): string | undefined {
  for (const client of room.clients as Client[]) {
    const ws = (client as unknown as { ref: { ws: { getTopics(): string[] } } }).ref.ws;
    const topic = client.view ? room.interest.topicOf(client.view) : undefined;
    const topics = ws.getTopics();
    const want = topic === undefined ? [] : [topic];
    if (topics.join() !== want.join()) return `${client.sessionId} is subscribed to [${topics.join()}], holds the view of [${want.join()}]`;
  }
  return undefined;
}

async function everyoneAgrees(room: WorldRoom, clients: WorldClient[]): Promise<void> {
  let last: string | undefined;
  await waitFor(
    'every client to hold its view at the server positions',
    () => {
      last = clients.map((c) => viewMismatch(room, c)).find((m) => m !== undefined) ?? subscriptionMismatch(room);
      return last === undefined;
    },
    30_000,
  ).catch((err: Error) => {
    throw new Error(`${err.message}: ${last}`);
  });
}

describe('group fan-out over loopback', () => {
  let server: Awaited<ReturnType<typeof startTestServer>>;
  const clients: WorldClient[] = [];

  beforeAll(async () => {
    server = await startTestServer({ AOI_RADIUS: 12, RUN_SPEED: 12, RECONNECT_WINDOW_S: 5 });
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.leave()));
    await server.shutdown();
  });

  it('publishes each group frame once; walkers, a reconnected client and a late joiner all decode their views', async () => {
    for (let i = 0; i < 6; i++) clients.push(await connect(server.endpoint, `Fan${i}`, { reconnect: { minUptimeMs: 0, minDelayMs: 50, maxDelayMs: 200 } }));
    const room = server.worldRooms()[0]!;
    await everyoneAgrees(room, clients);

    // Gathered on one spot, clients share groups (sticky cells may keep arrivals from two sides in two):
    // fewer publications than client frames, nobody sent one by one.
    const spot = { x: clients[0]!.me!.x, z: clients[0]!.me!.z };
    clients.forEach((c) => c.move({ target: spot }));
    await waitFor('everyone on one spot', () => clients.every((c) => c.me?.anim === 'idle' && Math.hypot(c.me.x - spot.x, c.me.z - spot.z) < 0.05), 30_000);
    await everyoneAgrees(room, clients);
    const before = { ...room.fanOutStats! };
    clients[0]!.move({ target: { x: spot.x + 0.5, z: spot.z } }); // a little motion (no cell change): patches to send
    await sleep(400);
    const standing = { ...room.fanOutStats! };
    expect(standing.published - before.published).toBeGreaterThan(0);
    expect(standing.fannedOut - before.fannedOut).toBeGreaterThanOrEqual(2 * (standing.published - before.published));
    expect(room.interest.groupCount).toBeLessThanOrEqual(clients.length / 2);
    expect(standing.direct - before.direct).toBe(0);

    // Walks across cells: moving clients get their own frame in the patch they change groups.
    const dirs = [{ x: 1, z: 1 }, { x: -1, z: 1 }, { x: 0, z: 1 }, { x: 1, z: 0 }, { x: -1, z: 0 }, { x: 0.3, z: 1 }];
    clients.forEach((c, i) => c.move({ dir: dirs[i]!, run: i % 2 === 0 }));
    await sleep(1200);
    clients.forEach((c, i) => (i % 2 === 0 ? c.move({ dir: { x: -dirs[i]!.x, z: -dirs[i]!.z }, run: true }) : c.move({ stop: true })));
    await sleep(600);
    clients.forEach((c) => c.move({ stop: true }));
    await everyoneAgrees(room, clients);
    expect(room.fanOutStats!.direct).toBeGreaterThan(standing.direct);
    expect(room.interest.groupCount).toBeGreaterThan(1);

    // A dropped client comes back (a new socket), moves, and is fanned out to again.
    const traveller = clients[1]!;
    const reconnected = traveller.next('reconnect', 30_000);
    severConnection(traveller.room);
    await reconnected;
    traveller.move({ dir: { x: 1, z: 0 }, run: true });
    await sleep(500);
    traveller.move({ stop: true });

    // A late joiner gets its full state first and only then its group's publications.
    const late = await connect(server.endpoint, 'Late');
    clients.push(late);
    await everyoneAgrees(room, clients);
    const settled = { ...room.fanOutStats! };
    late.move({ dir: { x: 0, z: 1 } });
    await sleep(400);
    late.move({ stop: true });
    await everyoneAgrees(room, clients);
    expect(room.fanOutStats!.fannedOut).toBeGreaterThan(settled.fannedOut);

    // Chat lines ride with the next patch (corked with the listener's frame): all arrive, in order.
    const heard: string[] = [];
    clients[2]!.on('chat', (m) => heard.push(`${m.name}:${m.text}`));
    clients[0]!.say('one');
    clients[0]!.say('two');
    clients[3]!.say('three');
    await waitFor('three chat lines heard', () => heard.length >= 3);
    expect(heard.filter((h) => h.startsWith('Fan0:'))).toEqual(['Fan0:one', 'Fan0:two']);
    expect(heard).toContain('Fan3:three');

    // And a leaver is removed from everyone's state by the published frame.
    await late.leave();
    clients.pop();
    await waitFor('the leaver gone for everyone', () => clients.every((c) => !c.avatars.has(late.sessionId)));
    await everyoneAgrees(room, clients);
  });
});
