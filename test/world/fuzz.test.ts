/**
 * Property-based fuzzing (fast-check) of everything a client can send, through a real server process on
 * loopback: every client message type (shaped near its schema, arbitrary values, numeric and unknown
 * types, byte payloads, raw protocol frames with garbage) and the join options. Properties: the server
 * answers or closes the sender — only the sender: a bystander stays connected and served — it never
 * dies, and nothing a client sends makes it print a line that is not JSON, an error-level line or a
 * stack trace. Bounded: a few hundred inputs, well under 30 s. FUZZ_SEED=<n> replays a run.
 */
import type { Room } from '@colyseus/sdk';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WorldClient } from '../../client-sdk/src/index.ts';
import { logLines, nonJsonLines, rawRoomData } from '../support/log-lines.ts';
import { freePort, spawnServer, waitForOutput, type ServerProcess } from '../support/server-process.ts';
import { connect, signedInRawClient, sleep, waitFor } from '../support/world-server.ts';

const seed = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : undefined;
const params = (numRuns: number) => ({ numRuns, ...(seed !== undefined ? { seed } : {}) });

const NPC_IDS = ['bram', 'finn', 'marta', 'roderick', 'selka'];
const PROBE = 'fuzz_probe';

// ---- what a client can send ---------------------------------------------------------------------------

/** Any value msgpack can carry, including the awkward ones (NaN, -0, BigInt, Maps, dates, typed arrays). */
const anyValue = fc.anything({ maxDepth: 3, maxKeys: 5, withBigInt: true, withMap: true, withDate: true, withTypedArray: true, withNullPrototype: false, withSparseArray: false, withBoxedValues: false });
const weirdNumber = fc.oneof(fc.double(), fc.integer(), fc.constantFrom(0, -0, Number.NaN, Infinity, -Infinity, 1e308, -1e308, 2 ** 53, 10_001));
/** Text with controls, bidi overrides, zero-width characters, lone surrogates, and the limits' edges. */
const weirdText = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.constantFrom('', ' ', '\u0000', '\u202Eevil', 'a\u200Bb', '\uD800', 'x'.repeat(280), 'x'.repeat(281), 'x'.repeat(2_000), '{"__proto__":1}', 'constructor'),
);

const move = fc.oneof(
  fc.record({ dir: fc.record({ x: weirdNumber, z: weirdNumber }), run: fc.option(fc.oneof(fc.boolean(), anyValue), { nil: undefined }) }, { requiredKeys: ['dir'] }),
  fc.record({ target: fc.record({ x: weirdNumber, z: weirdNumber }) }),
  fc.record({ stop: fc.oneof(fc.constant(true), anyValue) }),
  fc.dictionary(fc.constantFrom('dir', 'target', 'stop', 'run', 'x', 'teleport'), anyValue, { maxKeys: 3 }),
);
const chat = fc.oneof(fc.record({ text: weirdText }), fc.record({ text: anyValue }), fc.record({ text: weirdText, extra: anyValue }));
const talk = fc.oneof(
  fc.record({ npcId: fc.oneof(fc.constantFrom(...NPC_IDS), weirdText), text: weirdText, ref: weirdText }),
  fc.record({ npcId: anyValue, text: anyValue, ref: anyValue }, { requiredKeys: [] }),
);
const rateTurn = fc.oneof(
  fc.record({ turnId: weirdText, rating: fc.oneof(fc.constantFrom(1, -1, 0, 2), weirdNumber), comment: fc.option(weirdText, { nil: undefined }), ref: weirdText }, { requiredKeys: ['turnId', 'rating', 'ref'] }),
  fc.record({ turnId: anyValue, rating: anyValue, ref: anyValue }, { requiredKeys: [] }),
);

type Frame =
  | { kind: 'send'; type: string | number; payload: unknown }
  | { kind: 'bytes'; type: string | number; bytes: Uint8Array }
  | { kind: 'raw'; bytes: Uint8Array };

const frame: fc.Arbitrary<Frame> = fc.oneof(
  { weight: 3, arbitrary: move.map((payload) => ({ kind: 'send' as const, type: 'move', payload })) },
  { weight: 2, arbitrary: chat.map((payload) => ({ kind: 'send' as const, type: 'chat', payload })) },
  { weight: 3, arbitrary: talk.map((payload) => ({ kind: 'send' as const, type: 'talk', payload })) },
  { weight: 2, arbitrary: rateTurn.map((payload) => ({ kind: 'send' as const, type: 'rate_turn', payload })) },
  // Any message type (names, numbers, prototype keys) with any payload, or none.
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('send' as const), type: fc.oneof(fc.constantFrom('move', 'chat', 'talk', 'rate_turn', '*', '__proto__', 'constructor', 'toString', ''), fc.string({ maxLength: 20 }), fc.integer({ min: -1000, max: 1000 })), payload: fc.option(anyValue, { nil: undefined }) }) },
  // Byte payloads (ROOM_DATA_BYTES) for known and unknown types.
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('bytes' as const), type: fc.oneof(fc.constantFrom('move', 'chat', 'talk', 'rate_turn'), fc.integer({ min: 0, max: 255 })), bytes: fc.uint8Array({ maxLength: 64 }) }) },
  // Raw frames: a known type with a garbage msgpack payload, or any protocol code with any bytes.
  { weight: 2, arbitrary: fc.record({ type: fc.constantFrom('move', 'chat', 'talk', 'rate_turn'), payload: fc.uint8Array({ minLength: 1, maxLength: 48 }) }).map(({ type, payload }) => ({ kind: 'raw' as const, bytes: rawRoomData(type, payload) })) },
  { weight: 2, arbitrary: fc.tuple(fc.oneof(fc.constantFrom(13, 17, 21, 10, 9, 14, 15, 16, 18, 19, 20, 22, 23), fc.integer({ min: 0, max: 255 })), fc.uint8Array({ maxLength: 48 })).map(([code, rest]) => ({ kind: 'raw' as const, bytes: new Uint8Array([code, ...rest]) })) },
);

function sendFrame(room: Room, f: Frame): void {
  try {
    if (f.kind === 'send') room.send(f.type as string, f.payload);
    else if (f.kind === 'bytes') room.sendBytes(f.type, f.bytes);
    else (room as unknown as { connection: { send(data: Uint8Array): void } }).connection.send(f.bytes);
  } catch {
    // The client library cannot encode it (a BigInt beyond 64 bits) or the connection is closing:
    // nothing reached the server.
  }
}

/** Settles when the server has answered the probe (it read everything before it) or closed the connection. */
function answeredOrClosed(room: Room, timeoutMs = 5_000): Promise<'answered' | 'closed'> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the server neither answered the probe nor closed the connection')), timeoutMs);
    room.onMessage('error', (e: { type?: string }) => {
      if (e.type === PROBE) {
        clearTimeout(timer);
        resolve('answered');
      }
    });
    room.onLeave(() => {
      clearTimeout(timer);
      resolve('closed');
    });
  });
}

describe('fuzzing the client protocol (server process)', () => {
  let proc: ServerProcess;
  let port: number;
  let endpoint: string;
  let bystander: WorldClient;
  let bystanderLeft = false;

  beforeAll(async () => {
    port = await freePort();
    proc = spawnServer({
      PORT: String(port),
      LOG_LEVEL: 'info',
      NPC_ENABLED: 'true',
      INFERENCE_THREADS: '1',
      GUEST_SIGNUP_BURST: '0',
      JOIN_BURST: '1000',
      JOIN_PER_MINUTE: '10000',
      RECONNECT_WINDOW_S: '0',
    });
    await waitForOutput(proc, /worldmind server listening/, 30_000);
    endpoint = `ws://127.0.0.1:${port}`;
    bystander = await connect(endpoint, 'Bystander', { reconnect: { enabled: false } });
    bystander.on('leave', () => (bystanderLeft = true));
  });
  afterAll(async () => {
    await bystander?.leave().catch(() => undefined);
    proc.child.kill('SIGTERM');
    await proc.exited;
  });

  it('answers or closes only the sender, whatever it sends', async () => {
    let runs = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(frame, { minLength: 1, maxLength: 8 }), async (frames) => {
        runs++;
        const raw = await signedInRawClient(endpoint);
        const room = await raw.joinOrCreate('world', { name: `Fuzz${runs}` });
        room.reconnection.enabled = false;
        room.onMessage('*', () => undefined);
        const outcome = answeredOrClosed(room);
        for (const f of frames) sendFrame(room, f);
        // Last, a message that always gets an error reply: once it arrives, every frame before it was read.
        sendFrame(room, { kind: 'send', type: PROBE, payload: {} });
        await outcome;
        if (room.connection.isOpen) await room.leave().catch(() => undefined);
        expect(proc.child.exitCode).toBeNull();
        expect(bystanderLeft).toBe(false);
      }),
      params(300),
    );
    expect(runs).toBeGreaterThanOrEqual(300);
  }, 60_000);

  it('answers any join options with a seat or a 4xx refusal', async () => {
    const raw = await signedInRawClient(endpoint);
    let seated = 0;
    let refused = 0;
    const options = fc.oneof(
      fc.record({ name: weirdText }),
      fc.record({ name: anyValue }, { requiredKeys: [] }),
      fc.dictionary(fc.oneof(fc.constantFrom('name', 'token', 'accountId', '__proto__', 'constructor', 'aoiRadius'), fc.string({ maxLength: 10 })), anyValue, { maxKeys: 4 }),
      fc.jsonValue({ maxDepth: 2 }),
    );
    await fc.assert(
      fc.asyncProperty(options, async (joinOptions) => {
        let room: Room | undefined;
        try {
          room = await raw.joinOrCreate('world', joinOptions as Record<string, unknown>);
          seated++;
        } catch (err) {
          refused++;
          const code = (err as { code?: unknown }).code;
          expect(typeof code === 'number' && code >= 500, `join refused with ${String(code)}: ${(err as Error).message}`).toBe(false);
        }
        if (room) {
          room.reconnection.enabled = false;
          room.onMessage('*', () => undefined);
          await room.leave().catch(() => undefined);
        }
        expect(proc.child.exitCode).toBeNull();
      }),
      params(150),
    );
    expect(seated).toBeGreaterThan(0);
    expect(refused).toBeGreaterThan(0);
  }, 60_000);

  it('stays up and keeps every log line JSON, with client faults as warnings only', async () => {
    // The bystander still moves: the world loop ran through all of it.
    const before = bystander.me!.x;
    bystander.move({ dir: { x: 1, z: 0 } });
    await waitFor('bystander still served', () => bystander.me!.x > before + 0.5);
    expect(bystanderLeft).toBe(false);
    const health = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(5_000) });
    expect(health.status).toBe(200);
    await sleep(200); // let the last lines flush
    const output = proc.output();
    expect(nonJsonLines(output)).toEqual([]);
    expect(output).not.toMatch(/\n\s+at /);
    const lines = logLines(output);
    expect(lines.filter((l) => l.level >= 50).map((l) => l.msg)).toEqual([]);
    // Client faults are counted, and logged at most once per reason per interval.
    const faults = lines.filter((l) => typeof l.reason === 'string');
    expect(faults.every((l) => l.level === 40)).toBe(true);
    expect(faults.length).toBeLessThanOrEqual(4 * 4);
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(5_000) })).text();
    expect(metrics).toMatch(/worldmind_client_errors_total\{reason="malformed_message"\} [1-9]/);
  });
});
