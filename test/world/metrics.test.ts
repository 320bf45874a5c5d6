import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, signedInRawClient, startTestServer, waitFor } from '../support/world-server.ts';

async function scrape(port: number): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(5_000) });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/text\/plain/);
  return res.text();
}

function value(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(series + ' '));
  return line ? Number(line.slice(series.length + 1)) : NaN;
}

describe('GET /metrics', () => {
  let server: Awaited<ReturnType<typeof startTestServer>>;

  beforeAll(async () => {
    server = await startTestServer({ MONITOR_ENABLED: true });
  });
  afterAll(async () => {
    await server.shutdown();
  });

  it('exposes the world series and they move when players join, move and misbehave', async () => {
    const before = await scrape(server.port);
    for (const name of ['worldmind_ccu', 'worldmind_rooms', 'worldmind_tick_duration_seconds', 'worldmind_messages_in_total', 'worldmind_bytes_sent_total', 'worldmind_bytes_per_client_per_second', 'worldmind_state_patch_bytes']) {
      expect(before).toContain(`# TYPE ${name} `);
    }
    expect(value(before, 'worldmind_ccu')).toBe(0);

    const a = await connect(server.endpoint, 'Metra');
    const b = await connect(server.endpoint, 'Metro');
    const z0 = (await waitFor('own avatar', () => a.me)).z;
    a.move({ dir: { x: 0, z: 1 } });
    await waitFor('movement replicated', () => (b.avatars.get(a.sessionId)?.z ?? 0) > z0 + 0.5);
    const raw = await signedInRawClient(server.endpoint);
    const room = await raw.joinOrCreate('world', { name: 'Bad' });
    room.onMessage('*', () => undefined);
    room.send('move', { warp: 1 });

    let text = '';
    await waitFor('rejected message in metrics', () => {
      void scrape(server.port).then((t) => (text = t));
      return text.includes('worldmind_messages_rejected_total{type="move",code="invalid_message"} 1') && text;
    });
    expect(value(text, 'worldmind_ccu')).toBe(3);
    expect(value(text, 'worldmind_rooms{type="world"}')).toBe(1);
    expect(value(text, 'worldmind_messages_in_total{type="move"}')).toBeGreaterThanOrEqual(2);
    expect(value(text, 'worldmind_bytes_sent_total')).toBeGreaterThan(value(before, 'worldmind_bytes_sent_total'));
    expect(value(text, 'worldmind_state_patch_bytes_count')).toBeGreaterThan(0);
    expect(value(text, 'worldmind_tick_duration_seconds_count{room="world"}')).toBeGreaterThan(0);
    await room.leave();
    await a.leave();
    await b.leave();
    await waitFor('ccu back to zero', () => {
      void scrape(server.port).then((t) => (text = t));
      return value(text, 'worldmind_ccu') === 0;
    });
  });

  it('serves the @colyseus/monitor API when enabled', async () => {
    const a = await connect(server.endpoint, 'Monitored');
    const res = await fetch(`http://127.0.0.1:${server.port}/monitor/api`, { signal: AbortSignal.timeout(5_000) });
    const body = (await res.json()) as { rooms: { name: string; clients: number }[] };
    expect(body.rooms.find((r) => r.name === 'world')?.clients).toBe(1);
    await a.leave();
  });

  it('answers /healthz', async () => {
    const res = await fetch(`http://127.0.0.1:${server.port}/healthz`, { signal: AbortSignal.timeout(5_000) });
    expect(await res.json()).toEqual({ status: 'ok' });
  });
});
