/**
 * Builds and starts a Worldmind game server from a validated configuration. Used by `main.ts` and by
 * the tests, which start real servers on ephemeral loopback ports.
 */
import './node-compat.ts';
import { createRouter, Server } from '@colyseus/core';
import { Encoder } from '@colyseus/schema';
import { monitor } from '@colyseus/monitor';
import { WORLD_ROOM } from '@worldmind/shared';
import { AccountService, DEVELOPMENT_AUTH_SECRET } from './auth/accounts.ts';
import { mountAuthRoutes } from './auth/auth-routes.ts';
import { SessionRegistry } from './auth/sessions.ts';
import { ClusterSessionRegistry } from './cluster/cluster-sessions.ts';
import { connectRedisCluster, RedisUnavailable, type RedisCluster } from './cluster/redis-cluster.ts';
import type { ServerConfig } from './config.ts';
import { mountHttpRoutes } from './http-routes.ts';
import { closeMatchmaking, CorsPolicy } from './http-surface.ts';
import { ClientErrors, colyseusLogger } from './observability/client-errors.ts';
import { createLogger, type Logger } from './observability/logger.ts';
import { createMetrics, type ServerMetrics } from './observability/metrics.ts';
import { checkUwsBinding, createTransport } from './transport.ts';
import { mountStudio } from './studio.ts';
import { mountWebClient } from './web-client.ts';
import { startNpcSystem, type NpcSystem } from './npc/npc-system.ts';
import { startVoice, type VoiceService } from './voice/voice-service.ts';
import { openStore, StoreError, type WorldStore } from './persistence/store.ts';
import { PlayerLimits } from './world/player-limits.ts';
import { loadWorldMap } from './world/world-map.ts';
import { createWorldServices, type WorldServices } from './world/world-services.ts';
import { defineWorldRoom, WorldRoom } from './world/world-room.ts';

export interface RunningServer {
  port: number;
  host: string;
  config: ServerConfig;
  log: Logger;
  metrics: ServerMetrics;
  /** NPC brains (dialogue with its engine, scripts, metrics), when NPC_ENABLED. */
  npc: NpcSystem | undefined;
  /** The database: accounts, inventories, memories, the turn log (a world service, NPCs or not). */
  store: WorldStore;
  /** The world services every room and the NPC system share: map, store, game clock, path grid. */
  services: WorldServices;
  /** Voice (speech synthesis and recognition), when VOICE_ENABLED and an engine is installed. */
  voice: VoiceService | undefined;
  /** Accounts and session tokens. */
  accounts: AccountService;
  /** Live sessions per account. */
  sessions: SessionRegistry;
  /** Stops accepting players, disconnects everyone, disposes rooms. Safe to call twice. */
  shutdown(): Promise<void>;
  /** Live world rooms in this process (for tests and benchmarks). */
  worldRooms(): WorldRoom[];
}

export class StartupError extends Error {
  override name = 'StartupError';
}

export interface StartOptions {
  /** The built browser client to serve (default web/dist); tests build their own copy. */
  webDir?: string;
}

export async function startServer(config: ServerConfig, log: Logger = createLogger(config.LOG_LEVEL), options: StartOptions = {}): Promise<RunningServer> {
  const binding = checkUwsBinding();
  if (!binding.native) {
    if (!config.ALLOW_UWS_FALLBACK) {
      throw new StartupError(`${binding.detail}. Refusing to start on the slow fallback; set ALLOW_UWS_FALLBACK=true to allow it.`);
    }
    log.warn(binding.detail + '; running on the slow fallback because ALLOW_UWS_FALLBACK=true');
  }
  if (config.AUTH_SECRET === undefined) {
    if (process.env.NODE_ENV === 'production') {
      throw new StartupError('AUTH_SECRET is not set and NODE_ENV=production: refusing to sign session tokens with the development secret; set AUTH_SECRET to 32+ random characters');
    }
    log.warn('AUTH_SECRET is not set: session tokens are signed with the public development secret (fine for development, refused when NODE_ENV=production)');
  }

  const map = loadWorldMap(config.WORLD_MAP, 0.5);
  // A full state of a crowded room exceeds the 8 KiB default encode buffer; size it once up front
  // instead of letting the encoder warn and regrow.
  Encoder.BUFFER_SIZE = Math.max(Encoder.BUFFER_SIZE, 256 * 1024);
  // Several processes (REDIS_URL): Colyseus's Redis presence and driver, checked before the Server is
  // built (its matchmaker set-up starts in the constructor and would wait on an unreachable Redis).
  let cluster: RedisCluster | undefined;
  if (config.REDIS_URL !== undefined) {
    try {
      cluster = await connectRedisCluster(config.REDIS_URL, config.PUBLIC_ADDRESS);
    } catch (err) {
      if (err instanceof RedisUnavailable) throw new StartupError(err.message);
      throw err;
    }
  }
  // The store before the Server too: a database that cannot be reached stops the start with one clear
  // line (bounded by DATABASE_CONNECT_TIMEOUT_MS), before anything listens.
  let store: WorldStore;
  try {
    store = await openStore({
      dbPath: config.DB_PATH,
      databaseUrl: config.DATABASE_URL,
      poolSize: config.DATABASE_POOL_SIZE,
      connectTimeoutMs: config.DATABASE_CONNECT_TIMEOUT_MS,
      onBackgroundError: (err) => log.warn({ err: err.message }, 'an idle PostgreSQL connection failed; the pool replaces it'),
    });
  } catch (err) {
    await cluster?.close();
    if (err instanceof StoreError) throw new StartupError(err.message); // unreachable, or a schema newer than this server
    throw err;
  }
  const transport = createTransport(config.MAX_PAYLOAD_BYTES);
  // Colyseus's own SIGTERM handler calls process.exit; main.ts owns signals so shutdown can be ordered.
  // Colyseus logs through pino too (its default is console, which prints multi-line stacks).
  const server = new Server({
    transport,
    gracefullyShutdown: false,
    greet: false,
    logger: colyseusLogger(log.child({ module: 'colyseus' })),
    ...(cluster ? { presence: cluster.presence, driver: cluster.driver, publicAddress: cluster.publicAddress } : {}),
  });
  const rooms = new Set<WorldRoom>();
  const metrics = createMetrics();
  const clientErrors = new ClientErrors(metrics, log.child({ module: 'client-errors' }));
  metrics.setWorldStats(() => {
    let clients = 0;
    for (const room of rooms) clients += room.clients.length;
    return { rooms: rooms.size, clients };
  });
  // Colyseus's room inspector (UI + API at /monitor) can kick players and dispose rooms: opt-in only.
  if (config.MONITOR_ENABLED) server.router = createRouter({ ...monitor() });
  // World services first: rooms use them with or without NPC brains, which use them too.
  // The NPCs' bodies come from their scripts (each declares its home); a broken script is logged and left out.
  const services = createWorldServices(config, map, store, log.child({ module: 'npc-placement' }));
  let npc;
  try {
    npc = config.NPC_ENABLED ? await startNpcSystem(config, services, log, metrics) : undefined;
  } catch (err) {
    await store.close();
    await cluster?.close();
    throw err;
  }
  // Voice speaks NPC replies and hears players' lines to NPCs: it needs NPC brains.
  const voiceLog = log.child({ module: 'voice' });
  if (config.VOICE_ENABLED && !npc) voiceLog.warn('VOICE_ENABLED=true but NPC_ENABLED=false: there are no NPC replies to speak or lines to hear; voice stays off');
  const voice = npc ? startVoice({ config, log: voiceLog, registry: metrics.registry, scripts: () => npc.scripts(), landmarks: map.landmarks }) : undefined;
  const accounts = new AccountService({ store, secret: config.AUTH_SECRET ?? DEVELOPMENT_AUTH_SECRET, tokenTtlS: config.AUTH_TOKEN_TTL_S });
  // With REDIS_URL the session limit holds across processes (cluster-sessions.ts); a join elsewhere also
  // drops this process's cached NPC memory of that account, so a returning player's history is re-read.
  const sessions = cluster
    ? new ClusterSessionRegistry({ maxPerAccount: config.MAX_SESSIONS_PER_ACCOUNT, presence: cluster.presence, log: log.child({ module: 'cluster-sessions' }), onRemoteJoin: (accountId) => npc?.dialogue.memory.forget(accountId) })
    : new SessionRegistry(config.MAX_SESSIONS_PER_ACCOUNT);
  if (sessions instanceof ClusterSessionRegistry) await sessions.start();
  const limits = new PlayerLimits(config);
  server.define(WORLD_ROOM, defineWorldRoom({ config, log, rooms, metrics, clientErrors, ...services, auth: { accounts, sessions, limits }, publish: (topic, frame) => transport.publish(topic, frame), ...(npc ? { npc } : {}), ...(voice ? { voice } : {}) }));
  // The HTTP surface: join-only matchmaking, CORS per CORS_ORIGINS, the accounts API, metrics and
  // health; anything else is a 404 (see WorldTransport.bindRouter).
  closeMatchmaking();
  const cors = new CorsPolicy(config.CORS_ORIGINS);
  cors.install();
  mountAuthRoutes(transport.app, { accounts, sessions, config, cors, log: log.child({ module: 'auth' }) });
  transport.adminToken = config.ADMIN_TOKEN;
  mountHttpRoutes(transport, metrics, log, config.ADMIN_TOKEN);
  // The browser client (/, /assets/*, /world/map.json) and, when enabled, the designer view (/studio).
  const web = mountWebClient(transport.app, { ...(options.webDir ? { dir: options.webDir } : {}), map, studioEnabled: config.STUDIO_ENABLED, adminToken: config.ADMIN_TOKEN, log: log.child({ module: 'web' }) });
  if (config.STUDIO_ENABLED) {
    mountStudio(transport.app, { npc, store, map, config, log: log.child({ module: 'studio' }), authorized: web.authorized });
    log.warn('STUDIO_ENABLED=true: the designer view at /studio shows every turn\'s prompt and can run the model' + (config.ADMIN_TOKEN ? ' (admin token required)' : ' to anyone who can reach this port'));
  }

  await server.listen(config.PORT, config.HOST);
  const port = transport.boundPort;
  if (!port) {
    await server.gracefullyShutdown(false).catch(() => undefined);
    await npc?.close().catch(() => undefined);
    await store.close();
    await cluster?.close();
    throw new StartupError(`could not listen on ${config.HOST}:${config.PORT} (port in use or address not available)`);
  }
  log.info({ port, host: config.HOST, map: map.id, transport: binding.detail, store: `${store.backend} ${store.where}`, ...(cluster ? { redis: cluster.where, publicAddress: cluster.publicAddress } : {}) }, 'worldmind server listening');

  let stopping: Promise<void> | undefined;
  return {
    port,
    host: config.HOST,
    config,
    log,
    metrics,
    npc,
    voice,
    store,
    services,
    accounts,
    sessions,
    shutdown() {
      stopping ??= (async () => {
        log.info('shutting down');
        // Before the rooms go: Colyseus closes the presence connection at the end of its shutdown.
        if (sessions instanceof ClusterSessionRegistry) await sessions.stop();
        await server.gracefullyShutdown(false);
        // After the rooms: their last turns are cancelled and logged before the engine and store close.
        await npc?.close();
        voice?.close();
        await store.close();
        log.info('shutdown complete');
      })();
      return stopping;
    },
    worldRooms() {
      return [...rooms];
    },
  };
}
