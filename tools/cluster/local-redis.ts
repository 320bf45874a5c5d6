/**
 * A redis-server child process for a local cluster and for tests: loopback only, no persistence (Redis
 * holds only the cluster's presence — room listings, seats, session entries — which the game processes
 * rebuild, so nothing is worth saving), a temporary working directory, and a bounded start and stop.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { superviseServiceChild } from './service-child.ts';

export const REDIS_SERVER = process.env.REDIS_SERVER_PATH ?? 'redis-server';

export interface LocalRedis {
  port: number;
  url: string;
  child: ChildProcess;
  output(): string;
  /** SIGTERM, then SIGKILL if it has not exited within `timeoutMs`; removes the working directory. Safe to call twice. */
  stop(timeoutMs?: number): Promise<void>;
}

export interface LocalRedisOptions {
  port: number;
  bind?: string;
  /** How long to wait for "Ready to accept connections". */
  timeoutMs?: number;
  /**
   * Its own process group: a Ctrl-C in the terminal then reaches the game processes but not Redis, which
   * must outlive them (their shutdown removes their rooms from it). The cluster stops it last.
   */
  detached?: boolean;
}

/** Whether redis-server can be run here. */
export function redisServerAvailable(): boolean {
  return spawnSync(REDIS_SERVER, ['--version'], { stdio: 'ignore' }).status === 0;
}

export class LocalRedisError extends Error {
  override name = 'LocalRedisError';
}

export async function startLocalRedis(opts: LocalRedisOptions): Promise<LocalRedis> {
  const bind = opts.bind ?? '127.0.0.1';
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const dir = mkdtempSync(join(tmpdir(), 'wm-redis-'));
  const child = spawn(REDIS_SERVER, ['--port', String(opts.port), '--bind', bind, '--save', '', '--appendonly', 'no', '--dir', dir], {
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: opts.detached ?? false,
  });
  const service = superviseServiceChild(child, { stopSignal: 'SIGTERM', stopTimeoutMs: 5_000, dir, name: `redis-server (port ${opts.port})`, installHint: 'Debian: apt-get install -y redis-server' });
  await service.waitUntilReady(/Ready to accept connections/i, Date.now() + timeoutMs, (reason) => new LocalRedisError(reason));
  return { port: opts.port, url: `redis://${bind}:${opts.port}`, child, output: service.output, stop: service.stop };
}
