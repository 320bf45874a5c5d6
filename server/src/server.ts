/**
 * Builds and starts a Worldmind game server from a validated configuration. Used by `main.ts` and by
 * the tests, which start real servers on ephemeral loopback ports.
 */
import './node-compat.ts';
import { createRouter, Server } from '@colyseus/core';
import { Encoder } from '@colyseus/schema';
import { monitor } from '@colyseus/monitor';
import { WORLD_ROOM } from '@worldmind/shared';
import type { ServerConfig } from './config.ts';
import { mountHttpRoutes } from './http-routes.ts';
import { createLogger, type Logger } from './observability/logger.ts';
import { createMetrics, type ServerMetrics } from './observability/metrics.ts';
import { checkUwsBinding, createTransport } from './transport.ts';
import { loadWorldMap } from './world/world-map.ts';
import { defineWorldRoom, WorldRoom } from './world/world-room.ts';

export interface RunningServer {
  port: number;
  host: string;
  config: ServerConfig;
  log: Logger;
  metrics: ServerMetrics;
  /** Stops accepting players, disconnects everyone, disposes rooms. Safe to call twice. */
  shutdown(): Promise<void>;
  /** Live world rooms in this process (for tests and benchmarks). */
  worldRooms(): WorldRoom[];
}

export class StartupError extends Error {
  override name = 'StartupError';
}

export async function startServer(config: ServerConfig, log: Logger = createLogger(config.LOG_LEVEL)): Promise<RunningServer> {
  const binding = checkUwsBinding();
  if (!binding.native) {
    if (!config.ALLOW_UWS_FALLBACK) {
      throw new StartupError(`${binding.detail}. Refusing to start on the slow fallback; set ALLOW_UWS_FALLBACK=true to allow it.`);
    }
    log.warn(binding.detail + '; running on the slow fallback because ALLOW_UWS_FALLBACK=true');
  }

  const map = loadWorldMap(config.WORLD_MAP, 0.5);
  // A full state of a crowded room exceeds the 8 KiB default encode buffer; size it once up front
  // instead of letting the encoder warn and regrow.
  Encoder.BUFFER_SIZE = Math.max(Encoder.BUFFER_SIZE, 256 * 1024);
  const transport = createTransport(config.MAX_PAYLOAD_BYTES);
  // Colyseus's own SIGTERM handler calls process.exit; main.ts owns signals so shutdown can be ordered.
  const server = new Server({ transport, gracefullyShutdown: false, greet: false });
  const rooms = new Set<WorldRoom>();
  const metrics = createMetrics();
  metrics.setWorldStats(() => {
    let clients = 0;
    for (const room of rooms) clients += room.clients.length;
    return { rooms: rooms.size, clients };
  });
  // Colyseus's room inspector (UI + API at /monitor) can kick players and dispose rooms: opt-in only.
  if (config.MONITOR_ENABLED) server.router = createRouter({ ...monitor() });
  server.define(WORLD_ROOM, defineWorldRoom({ config, map, log, rooms, metrics }));
  mountHttpRoutes(transport, metrics, log);

  await server.listen(config.PORT, config.HOST);
  const port = transport.boundPort;
  if (!port) {
    await server.gracefullyShutdown(false).catch(() => undefined);
    throw new StartupError(`could not listen on ${config.HOST}:${config.PORT} (port in use or address not available)`);
  }
  log.info({ port, host: config.HOST, map: map.id, transport: binding.detail }, 'worldmind server listening');

  let stopping: Promise<void> | undefined;
  return {
    port,
    host: config.HOST,
    config,
    log,
    metrics,
    shutdown() {
      stopping ??= (async () => {
        log.info('shutting down');
        await server.gracefullyShutdown(false);
        log.info('shutdown complete');
      })();
      return stopping;
    },
    worldRooms() {
      return [...rooms];
    },
  };
}

