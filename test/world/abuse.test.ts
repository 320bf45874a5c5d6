import type { Room } from '@colyseus/sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ErrorReply } from '../../shared/src/index.ts';
import { closed, connect, signedInRawClient, sleep, startTestServer, waitFor } from '../support/world-server.ts';

function collectErrors(room: Room): ErrorReply[] {
  const errors: ErrorReply[] = [];
  room.onMessage('error', (e: ErrorReply) => errors.push(e));
  room.onMessage('welcome', () => undefined);
  room.onMessage('chat', () => undefined);
  return errors;
}

describe('bad input', () => {
  let server: Awaited<ReturnType<typeof startTestServer>>;

  beforeAll(async () => {
    server = await startTestServer({ MAX_INVALID_MESSAGES: 5, MAX_PAYLOAD_BYTES: 4096, MAX_MESSAGES_PER_SECOND: 40 });
  });
  afterAll(async () => {
    await server.shutdown();
  });

  it('answers malformed and unknown messages with an error and keeps the room serving others', async () => {
    const bystander = await connect(server.endpoint, 'Bystander');
    const raw = await signedInRawClient(server.endpoint);
    const room = await raw.joinOrCreate('world', { name: 'Fuzzer' });
    room.reconnection.enabled = false;
    const errors = collectErrors(room);

    room.send('move', { dir: { x: 'north' } });
    room.send('move', { teleport: { x: 1, z: 1 } });
    room.send('chat', { text: 'x'.repeat(300) });
    room.send('fly', { up: true });
    await waitFor('four error replies', () => errors.length >= 4 && errors);
    expect(errors.map((e) => e.code)).toEqual(['invalid_message', 'invalid_message', 'invalid_message', 'unknown_message']);
    expect(errors[0]!.message).toMatch(/dir\.x/);
    expect(errors[2]!.message).toMatch(/longer than 280/);
    expect(errors[3]!.message).toMatch(/unknown message type "fly"/);

    // The fuzzer is still connected and can move; the bystander's world still runs.
    const before = bystander.me!.z;
    bystander.move({ dir: { x: 0, z: 1 } });
    await waitFor('bystander to move', () => bystander.me!.z > before + 0.5);
    room.send('move', { dir: { x: 1, z: 0 } });
    // A raw client reads the wire: positions in int16 centimetres (shared/src/state.ts).
    const start = (room.state as any).avatars.get(room.sessionId).xCm;
    await waitFor('fuzzer to move after its errors', () => (room.state as any).avatars.get(room.sessionId).xCm > start + 50);
    await room.leave();
    await bystander.leave();
  });

  it('disconnects a client that keeps sending bad messages', async () => {
    const raw = await signedInRawClient(server.endpoint);
    const room = await raw.joinOrCreate('world', { name: 'Spammer' });
    room.reconnection.enabled = false;
    collectErrors(room);
    const done = closed(room);
    for (let i = 0; i < 8; i++) room.send('move', { nope: i });
    expect(await done).toBe(4400);
  });

  it('closes the connection of a client sending an oversized frame, nobody else', async () => {
    const bystander = await connect(server.endpoint, 'Bystander2');
    const raw = await signedInRawClient(server.endpoint);
    const room = await raw.joinOrCreate('world', { name: 'Bloater' });
    room.reconnection.enabled = false;
    collectErrors(room);
    const done = closed(room);
    room.send('chat', { text: 'y'.repeat(10_000) });
    expect(await done).not.toBe(4000);
    const before = bystander.me!.x;
    bystander.move({ dir: { x: 1, z: 0 } });
    await waitFor('bystander still served', () => bystander.me!.x > before + 0.5);
    await bystander.leave();
  });

  it('disconnects a client flooding past maxMessagesPerSecond', async () => {
    const raw = await signedInRawClient(server.endpoint);
    const room = await raw.joinOrCreate('world', { name: 'Flooder' });
    room.reconnection.enabled = false;
    collectErrors(room);
    const done = closed(room);
    for (let i = 0; i < 100; i++) room.send('move', { dir: { x: 1, z: 0 } });
    await expect(done).resolves.toBeTypeOf('number');
    await sleep(50);
    expect(server.worldRooms()[0]!.state.avatars.has(room.sessionId)).toBe(false);
  });
});
