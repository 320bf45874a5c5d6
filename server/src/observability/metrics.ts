/**
 * Prometheus metrics for the game server (prom-client). One registry per server; `GET /metrics`
 * serves it. Transport-level byte counts come from a hook on the uWebSockets client's send path, so
 * they include everything a player receives: state patches, messages and handshakes.
 */
import { Protocol } from '@colyseus/core';
import { uWebSocketClient } from '@colyseus/uwebsockets-transport';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface WorldStats {
  rooms: number;
  clients: number;
}

export interface ServerMetrics {
  registry: Registry;
  tickDuration: Histogram<'room'>;
  patchDuration: Histogram<'room'>;
  messagesIn: Counter<'type'>;
  messagesRejected: Counter<'type' | 'code'>;
  /** Live world numbers, read at scrape time. */
  setWorldStats(read: () => WorldStats): void;
}

const PROTOCOL_CODE_MASK = 0x1f; // as in @colyseus/shared-types

type SendHook = (bytes: number, protocolCode: number, count: number) => void;
const sendHooks = new Set<SendHook>();
let transportInstrumented = false;

/** Wraps the uWS client's `raw` send once per process; every server's metrics subscribe to it. */
function instrumentTransport(): void {
  if (transportInstrumented) return;
  transportInstrumented = true;
  const proto = uWebSocketClient.prototype as unknown as { raw: (data: Uint8Array, ...rest: unknown[]) => unknown; readyState: number };
  const originalRaw = proto.raw;
  proto.raw = function (this: typeof proto, data: Uint8Array, ...rest: unknown[]) {
    if (this.readyState === 1 && data) {
      const code = data[0]! & PROTOCOL_CODE_MASK;
      for (const hook of sendHooks) hook(data.byteLength, code, 1);
    }
    return originalRaw.call(this, data, ...rest);
  };
}

/** Counts a frame the transport fanned out natively (a uWebSockets.js publish) as `count` sends of it. */
export function countFannedOut(data: Uint8Array, count: number): void {
  if (count <= 0) return;
  const code = data[0]! & PROTOCOL_CODE_MASK;
  for (const hook of sendHooks) hook(data.byteLength, code, count);
}

export function createMetrics(): ServerMetrics {
  const registry = new Registry();
  // prom-client's own names already start with process_ / nodejs_: the prefix is only the namespace.
  collectDefaultMetrics({ register: registry, prefix: 'worldmind_' });
  let readWorld: () => WorldStats = () => ({ rooms: 0, clients: 0 });

  // Read-at-scrape gauges each collect their own value: prom-client reads a scrape's metrics
  // concurrently, so one gauge must not rely on another having filled it in.
  new Gauge({
    name: 'worldmind_ccu',
    help: 'Connected players across all rooms of this process',
    registers: [registry],
    collect() {
      this.set(readWorld().clients);
    },
  });
  new Gauge({
    name: 'worldmind_rooms',
    help: 'Live rooms by type',
    labelNames: ['type'] as const,
    registers: [registry],
    collect() {
      this.set({ type: 'world' }, readWorld().rooms);
    },
  });
  new Gauge({
    name: 'worldmind_bytes_per_client_per_second',
    help: 'Bytes sent per connected client per second since the previous scrape',
    registers: [registry],
    collect() {
      const clients = readWorld().clients;
      const now = performance.now();
      const seconds = (now - lastScrape) / 1000;
      this.set(seconds > 0 && clients > 0 ? sentSinceScrape / seconds / clients : 0);
      sentSinceScrape = 0;
      lastScrape = now;
    },
  });
  const bytesSent = new Counter({ name: 'worldmind_bytes_sent_total', help: 'Bytes sent to clients (all frames)', registers: [registry] });
  const messagesOut = new Counter({ name: 'worldmind_messages_out_total', help: 'Frames sent to clients by kind', labelNames: ['kind'] as const, registers: [registry] });
  const patchBytes = new Histogram({
    name: 'worldmind_state_patch_bytes',
    help: 'Size of each state patch frame sent to a client',
    buckets: [16, 64, 256, 1024, 4096, 16384, 65536],
    registers: [registry],
  });
  const tickDuration = new Histogram({
    name: 'worldmind_tick_duration_seconds',
    help: 'Duration of one fixed simulation step, by room type',
    labelNames: ['room'] as const,
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1],
    registers: [registry],
  });
  const patchDuration = new Histogram({
    name: 'worldmind_patch_duration_seconds',
    help: 'Duration of one state patch (area-of-interest refresh, per-view encoding, send), by room type',
    labelNames: ['room'] as const,
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1],
    registers: [registry],
  });
  const messagesIn = new Counter({ name: 'worldmind_messages_in_total', help: 'Messages received from clients by type', labelNames: ['type'] as const, registers: [registry] });
  const messagesRejected = new Counter({
    name: 'worldmind_messages_rejected_total',
    help: 'Client messages answered with an error, by type and code',
    labelNames: ['type', 'code'] as const,
    registers: [registry],
  });

  let sentSinceScrape = 0;
  let lastScrape = performance.now();
  instrumentTransport();
  const kinds: Record<number, string> = {
    [Protocol.ROOM_STATE_PATCH]: 'state_patch',
    [Protocol.ROOM_STATE]: 'full_state',
    [Protocol.ROOM_DATA]: 'message',
    [Protocol.ROOM_DATA_BYTES]: 'message',
  };
  sendHooks.add((bytes, code, count) => {
    bytesSent.inc(bytes * count);
    sentSinceScrape += bytes * count;
    messagesOut.inc({ kind: kinds[code] ?? 'other' }, count);
    if (code === Protocol.ROOM_STATE_PATCH) for (let i = 0; i < count; i++) patchBytes.observe(bytes);
  });

  return {
    registry,
    tickDuration,
    patchDuration,
    messagesIn,
    messagesRejected,
    setWorldStats: (read) => {
      readWorld = read;
    },
  };
}
