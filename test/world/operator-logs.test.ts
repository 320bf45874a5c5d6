/**
 * Logs and metrics an operator can trust (issue 9, part 5), against a real server process on loopback:
 * every line it prints is one JSON object; client-caused errors are counted by reason and logged as
 * rate-limited warnings, never as error stacks; metric names follow Prometheus conventions; /monitor
 * answers with and without its trailing slash.
 */
import type { Room } from '@colyseus/sdk';
import { Client as RawClient } from '@colyseus/sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, spawnServer, waitForOutput, type ServerProcess } from '../support/server-process.ts';
import { logLines, nonJsonLines, rawRoomData, seriesValue } from '../support/log-lines.ts';
import { closed, connect, signedInRawClient, waitFor } from '../support/world-server.ts';

describe('operator logs and metrics (server process)', () => {
  let proc: ServerProcess;
  let port: number;
  let endpoint: string;
  const scrape = async () => (await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(5_000) })).text();

  beforeAll(async () => {
    port = await freePort();
    proc = spawnServer({ PORT: String(port), NPC_ENABLED: 'false', MONITOR_ENABLED: 'true', GUEST_SIGNUP_BURST: '0', LOG_LEVEL: 'info' });
    await waitForOutput(proc, /worldmind server listening/);
    endpoint = `ws://127.0.0.1:${port}`;
  });
  afterAll(async () => {
    proc.child.kill('SIGTERM');
    await proc.exited;
  });

  it('turns undecodable msgpack into one rate-limited warning and a counter, closes only the senders', async () => {
    const bystander = await connect(endpoint, 'Bystander');
    const senders = 5;
    for (let i = 0; i < senders; i++) {
      const raw = await signedInRawClient(endpoint);
      const room = await raw.joinOrCreate('world', { name: `Garbler${i}` });
      room.reconnection.enabled = false;
      room.onMessage('*', () => undefined);
      const done = closed(room);
      // 0xc1 is never valid msgpack.
      (room as unknown as { connection: { send(data: Uint8Array): void } }).connection.send(rawRoomData('move', new Uint8Array([0xc1, 0xc1, 0xff])));
      expect(await done).toBe(4002); // Colyseus's WITH_ERROR
    }
    // The bystander is still served.
    const before = bystander.me!.x;
    bystander.move({ dir: { x: 1, z: 0 } });
    await waitFor('bystander still moving', () => bystander.me!.x > before + 0.5);
    await bystander.leave();

    let text = '';
    await waitFor('malformed messages counted', () => {
      void scrape().then((t) => (text = t));
      return seriesValue(text, 'worldmind_client_errors_total{reason="malformed_message"}') === senders;
    });
    expect(text).toContain('# TYPE worldmind_client_errors_total counter');
    const lines = logLines(proc.output());
    const warnings = lines.filter((l) => l.reason === 'malformed_message');
    expect(warnings).toHaveLength(1); // the other four fall within the interval: counted, not printed
    expect(warnings[0]!.level).toBe(40);
    expect(lines.filter((l) => l.level >= 50)).toEqual([]);
    expect(proc.output()).not.toMatch(/\n\s+at /); // no stack trace anywhere
    expect(nonJsonLines(proc.output())).toEqual([]);
  });

  it('counts a message type that is not UTF-8 (the schema decoder prints it to the console) without a console line', async () => {
    const before = seriesValue(await scrape(), 'worldmind_client_errors_total{reason="malformed_message"}') || 0;
    const raw = await signedInRawClient(endpoint);
    const room = await raw.joinOrCreate('world', { name: 'Mojibake' });
    room.reconnection.enabled = false;
    const errors: { code: string }[] = [];
    room.onMessage('*', (type, message) => {
      if (type === 'error') errors.push(message as { code: string });
    });
    // ROOM_DATA, a 3-byte type that is not UTF-8, an empty msgpack map.
    (room as unknown as { connection: { send(data: Uint8Array): void } }).connection.send(new Uint8Array([13, 0xa3, 0xff, 0xfe, 0xfd, 0x80]));
    await waitFor('an error reply', () => errors.length > 0);
    expect(errors[0]!.code).toBe('unknown_message'); // answered, not disconnected
    let text = '';
    await waitFor('counted', () => {
      void scrape().then((t) => (text = t));
      return seriesValue(text, 'worldmind_client_errors_total{reason="malformed_message"}') === before + 1;
    });
    await room.leave();
    const lines = logLines(proc.output());
    expect(lines.filter((l) => l.module === 'console')).toEqual([]);
    expect(nonJsonLines(proc.output())).toEqual([]);
  });

  it('counts refused joins by reason instead of logging each', async () => {
    const anonymous = new RawClient(endpoint);
    for (let i = 0; i < 3; i++) await expect(anonymous.joinOrCreate('world', { name: 'Nobody' })).rejects.toThrow(/not signed in/);
    const raw = await signedInRawClient(endpoint);
    await expect(raw.joinOrCreate('world', { name: 'Bad\u202Ename' })).rejects.toThrow(/bidirectional/);
    let text = '';
    await waitFor('refused joins counted', () => {
      void scrape().then((t) => (text = t));
      return seriesValue(text, 'worldmind_client_errors_total{reason="join_refused"}') === 4 && text;
    });
    expect(logLines(proc.output()).filter((l) => l.reason === 'join_refused').length).toBeLessThanOrEqual(1);
    expect(nonJsonLines(proc.output())).toEqual([]);
  });

  it('counts floods and repeated rejected messages as client errors, one warning each', async () => {
    const flooder = await (await signedInRawClient(endpoint)).joinOrCreate('world', { name: 'Flooder' });
    flooder.reconnection.enabled = false;
    flooder.onMessage('*', () => undefined);
    const flooded = closed(flooder);
    for (let i = 0; i < 100; i++) flooder.send('move', { dir: { x: 1, z: 0 } });
    await flooded;
    const spammer = await (await signedInRawClient(endpoint)).joinOrCreate('world', { name: 'Spammer' });
    spammer.reconnection.enabled = false;
    spammer.onMessage('*', () => undefined);
    const kicked = closed(spammer);
    for (let i = 0; i < 12; i++) spammer.send('move', { nope: i });
    expect(await kicked).toBe(4400);
    let text = '';
    await waitFor('floods and rejections counted', () => {
      void scrape().then((t) => (text = t));
      return seriesValue(text, 'worldmind_client_errors_total{reason="message_flood"}') === 1 && seriesValue(text, 'worldmind_client_errors_total{reason="repeated_rejections"}') === 1;
    });
    const lines = logLines(proc.output());
    expect(lines.filter((l) => l.reason === 'message_flood')).toHaveLength(1);
    expect(lines.filter((l) => l.reason === 'repeated_rejections')).toHaveLength(1);
    expect(nonJsonLines(proc.output())).toEqual([]);
  });

  it('names metrics by Prometheus conventions: one prefix, _total counters, seconds', async () => {
    const text = await scrape();
    expect(text).toContain('# TYPE worldmind_process_cpu_user_seconds_total counter');
    expect(text).toContain('# TYPE worldmind_nodejs_eventloop_lag_seconds gauge');
    expect(text).not.toMatch(/worldmind_process_process_|worldmind_process_nodejs_/);
    const types = [...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map(([, name, type]) => ({ name: name!, type: type! }));
    expect(types.length).toBeGreaterThan(20);
    for (const { name, type } of types) {
      expect(name).toMatch(/^worldmind_/);
      if (type === 'counter') expect(name, `counter ${name}`).toMatch(/_total$/);
      expect(name, `${name} is in milliseconds`).not.toMatch(/_ms$|_milliseconds/);
    }
  });

  it('serves /monitor with and without the trailing slash', async () => {
    const bare = await fetch(`http://127.0.0.1:${port}/monitor`, { redirect: 'manual', signal: AbortSignal.timeout(5_000) });
    expect(bare.status).toBe(308);
    expect(bare.headers.get('location')).toBe('/monitor/');
    for (const path of ['/monitor', '/monitor/']) {
      const res = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(5_000) });
      expect(res.status, path).toBe(200);
      expect(await res.text()).toMatch(/<!DOCTYPE html>/i);
    }
    const api = await fetch(`http://127.0.0.1:${port}/monitor/api`, { signal: AbortSignal.timeout(5_000) });
    expect(api.status).toBe(200);
    expect((await fetch(`http://127.0.0.1:${port}/monitorx`, { signal: AbortSignal.timeout(5_000) })).status).toBe(404);
  });
});
