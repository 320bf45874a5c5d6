/**
 * Several game processes over one Redis (REDIS_URL). Colyseus's own pieces do the cluster work:
 * - RedisPresence: pub/sub and shared keys — remote room calls between processes (seat reservations,
 *   reconnection checks, remote room creation), the per-process room counts the matchmaker balances on,
 *   and our own session notices (cluster-sessions.ts);
 * - RedisDriver: the room listings every process's matchmaker reads, so `joinOrCreate("world")` on any
 *   process finds a shard with a free seat on any process, or opens one on the process with the fewest
 *   rooms (while one process opens it, concurrent requests wait for it instead of opening their own);
 * - publicAddress (PUBLIC_ADDRESS): put in every seat reservation for a room of this process, so a client
 *   that asked any process connects its WebSocket straight to the process hosting its room.
 * Without REDIS_URL none of this is loaded and the server keeps Colyseus's in-process defaults.
 */
import { RedisDriver } from '@colyseus/redis-driver';
import { RedisPresence } from '@colyseus/redis-presence';
import { Redis } from 'ioredis';

/** How long start-up waits for Redis before it gives up with a clear error (never forever). */
export const REDIS_CONNECT_TIMEOUT_MS = 5_000;

export interface RedisCluster {
  presence: RedisPresence;
  driver: RedisDriver;
  publicAddress: string;
  /** The URL with any password masked, for logs and errors. */
  where: string;
  /**
   * Closes both connections (for start-up failures: a running Colyseus server closes them itself on
   * shutdown). Safe to call after Colyseus did: the second close does nothing.
   */
  close(): Promise<void>;
}

export class RedisUnavailable extends Error {
  override name = 'RedisUnavailable';
}

/** `redis://user:secret@host:6379/0` → `redis://user:***@host:6379/0`. */
export function maskRedisUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparseable URL)';
  }
}

/**
 * Checks that Redis answers within `timeoutMs` on a probe connection of its own (no retries, no offline
 * queue): ioredis's defaults would otherwise queue commands and retry for ever, and Colyseus's matchmaker
 * set-up would wait on them silently.
 */
export async function checkRedis(url: string, timeoutMs = REDIS_CONNECT_TIMEOUT_MS): Promise<void> {
  const probe = new Redis(url, { lazyConnect: true, connectTimeout: timeoutMs, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false });
  probe.on('error', () => undefined); // the awaited connect() below reports the failure
  let timer: NodeJS.Timeout | undefined;
  try {
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    });
    await Promise.race([probe.connect().then(() => probe.ping()), timeout]);
  } catch (err) {
    throw new RedisUnavailable(`cannot reach Redis at ${maskRedisUrl(url)} (REDIS_URL): ${err instanceof Error ? err.message : String(err)}`);
  } finally {
    clearTimeout(timer);
    probe.disconnect();
  }
}

/**
 * Colyseus's RedisPresence whose shutdown may run more than once. Colyseus's `Server.gracefullyShutdown`
 * shuts the presence down, and a failed start-up closes the cluster again: the stock `shutdown()` sends
 * QUIT on both connections and leaves their promises unhandled, so a second QUIT on a closing connection
 * rejects with "Connection is closed." — an unhandled rejection that killed the process before it could
 * say why it failed to start (seen when a game process's port was taken).
 */
class ClusterPresence extends RedisPresence {
  private shutDown = false;

  override shutdown(): void {
    if (this.shutDown) return;
    this.shutDown = true;
    for (const connection of [this.sub, this.pub]) connection.quit().catch(() => connection.disconnect());
  }
}

/** Colyseus's RedisDriver whose shutdown may run more than once (see ClusterPresence): later calls share the first. */
class ClusterDriver extends RedisDriver {
  private shutDown: Promise<void> | undefined;

  override shutdown(): Promise<void> {
    this.shutDown ??= super.shutdown().catch(() => undefined);
    return this.shutDown;
  }
}

/** Checks Redis, then builds the presence and driver a Colyseus `Server` takes. */
export async function connectRedisCluster(url: string, publicAddress: string | undefined): Promise<RedisCluster> {
  if (!publicAddress) throw new RedisUnavailable('PUBLIC_ADDRESS is required with REDIS_URL: the host:port clients use to reach this process');
  await checkRedis(url);
  const presence = new ClusterPresence(url);
  const driver = new ClusterDriver(url);
  return {
    presence,
    driver,
    publicAddress,
    where: maskRedisUrl(url),
    async close() {
      presence.shutdown();
      await driver.shutdown();
    },
  };
}
