/**
 * A real redis-server for tests (Debian package `redis-server`; .ci/run installs it): its own free
 * loopback port, no persistence (no RDB snapshots, no AOF, a temporary working directory), stopped by
 * `stop()` — SIGTERM, then SIGKILL if it has not exited within the bound. Every wait is bounded.
 * (The process handling is the local cluster's, tools/cluster/local-redis.ts.)
 */
import { redisServerAvailable, startLocalRedis, type LocalRedis } from '../../tools/cluster/local-redis.ts';
import { freePort } from './server-process.ts';

export type TestRedis = LocalRedis;

/** Whether redis-server can be run here (suites skip without it, except under CI=true where they fail). */
export function redisAvailable(): boolean {
  return redisServerAvailable();
}

export async function startRedis(timeoutMs = 10_000): Promise<TestRedis> {
  return startLocalRedis({ port: await freePort(), timeoutMs });
}
