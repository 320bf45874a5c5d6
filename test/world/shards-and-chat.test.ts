import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChatBroadcast } from '../../shared/src/index.ts';
import { connect, sleep, startTestServer, waitFor } from '../support/world-server.ts';

describe('capacity, sharding and proximity chat', () => {
  let server: Awaited<ReturnType<typeof startTestServer>>;

  // Spawn points (in join order): (96,20), (104,20), (100,26). Chat radius 7.5: the first and third
  // player are 7.2 apart and hear each other; the first and second are 8 apart and do not.
  beforeAll(async () => {
    server = await startTestServer({ MAX_CLIENTS_PER_ROOM: 3, CHAT_RADIUS: 7.5, CHAT_BURST: 3, CHAT_PER_SECOND: 0.1 });
  });
  afterAll(async () => {
    await server.shutdown();
  });

  it('delivers chat only within the radius, and rate-limits it', async () => {
    const a = await connect(server.endpoint, 'Ada');
    const b = await connect(server.endpoint, 'Bea');
    const c = await connect(server.endpoint, 'Cai');
    const heard = { a: [] as ChatBroadcast[], b: [] as ChatBroadcast[], c: [] as ChatBroadcast[] };
    a.on('chat', (m) => heard.a.push(m));
    b.on('chat', (m) => heard.b.push(m));
    c.on('chat', (m) => heard.c.push(m));

    a.say('hello there');
    await waitFor('Cai to hear Ada', () => heard.c.length === 1);
    expect(heard.c[0]).toMatchObject({ from: a.sessionId, name: 'Ada', text: 'hello there' });
    expect(heard.a.length).toBe(1); // the speaker hears itself
    await sleep(200);
    expect(heard.b.length).toBe(0); // too far

    const errors: string[] = [];
    a.on('serverError', (e) => errors.push(e.code));
    a.say('two');
    a.say('three');
    a.say('four'); // burst of 3 used up
    await waitFor('rate limit error', () => errors.includes('rate_limited'));
    await sleep(200);
    expect(heard.c.map((m) => m.text)).toEqual(['hello there', 'two', 'three']);
    expect(() => a.say('z'.repeat(281))).toThrow(/longer than 280/);

    // The room is now full (3): the next player gets a new shard.
    const d = await connect(server.endpoint, 'Dov');
    expect(d.roomId).not.toBe(a.roomId);
    expect(server.worldRooms().length).toBe(2);
    await waitFor('Dov sees itself in the new shard', () => d.me);
    expect(d.avatars.has(a.sessionId)).toBe(false);

    // When someone leaves the first shard, it accepts players again.
    await b.leave();
    await sleep(200);
    const e = await connect(server.endpoint, 'Eve');
    expect(e.roomId).toBe(a.roomId);
    await Promise.all([a, c, d, e].map((x) => x.leave()));
  });
});
