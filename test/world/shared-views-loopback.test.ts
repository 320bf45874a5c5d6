/**
 * Shared interest views end to end: a real server on loopback and real SDK clients. Players walk apart
 * and together across interest cells, then stop; every client must end up holding exactly the bodies its
 * group's view shows, at the server's positions (to the centimetre), with its own avatar among them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WorldClient } from '../../client-sdk/src/index.ts';
import { viewMismatch } from '../support/view-check.ts';
import { connect, sleep, startTestServer, waitFor } from '../support/world-server.ts';

describe('shared interest views over loopback', () => {
  let server: Awaited<ReturnType<typeof startTestServer>>;
  const clients: WorldClient[] = [];

  beforeAll(async () => {
    server = await startTestServer({ AOI_RADIUS: 12, RUN_SPEED: 12 });
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.leave()));
    await server.shutdown();
  });

  it('after walks across cells, every client decodes exactly its view at the server positions', async () => {
    for (let i = 0; i < 6; i++) clients.push(await connect(server.endpoint, `Walker${i}`));
    const room = server.worldRooms()[0]!;
    // Fan out from the gate (some cross several cells, some stay near), then half of them come back.
    const dirs = [{ x: 1, z: 1 }, { x: -1, z: 1 }, { x: 0, z: 1 }, { x: 1, z: 0 }, { x: -1, z: 0 }, { x: 0.3, z: 1 }];
    clients.forEach((c, i) => c.move({ dir: dirs[i]!, run: i % 2 === 0 }));
    await sleep(1500);
    clients.forEach((c, i) => (i % 2 === 0 ? c.move({ dir: { x: -dirs[i]!.x, z: -dirs[i]!.z }, run: true }) : c.move({ stop: true })));
    await sleep(800);
    clients.forEach((c) => c.move({ stop: true }));

    const mismatch = (c: WorldClient) => viewMismatch(room, c);
    // Everyone stopped: within the level of detail's longest gap (16 patches) plus delivery, all agree.
    let last: string | undefined;
    await waitFor(
      'every client to hold its view at the server positions',
      () => {
        last = clients.map(mismatch).find((m) => m !== undefined);
        return last === undefined;
      },
      10_000,
    ).catch((err: Error) => {
      throw new Error(`${err.message}: ${last}`);
    });
    expect(room.interest.groupCount).toBeGreaterThan(1);
  });
});
