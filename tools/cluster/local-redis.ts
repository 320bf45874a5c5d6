/**
 * A redis-server child process for a local cluster and for tests: loopback only, no persistence (Redis
 * holds only the cluster's presence — room listings, seats, session entries — which the game processes
 * rebuild, so nothing is worth saving), a temporary working directory, and a bounded start and stop.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

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
  let out = '';
  let spawnError: Error | undefined;
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  child.once('error', (err) => (spawnError = err));
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.once('error', () => resolve());
  });
  const running = () => child.pid !== undefined && child.exitCode === null && child.signalCode === null && !spawnError;

  let stopping: Promise<void> | undefined;
  const stop = (stopTimeoutMs = 5_000) => {
    stopping ??= (async () => {
      if (running()) {
        child.kill('SIGTERM');
        const done = await Promise.race([exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), stopTimeoutMs))]);
        if (!done) {
          child.kill('SIGKILL');
          await Promise.race([exited, new Promise((r) => setTimeout(r, 2_000))]);
        }
      }
      rmSync(dir, { recursive: true, force: true });
    })();
    return stopping;
  };

  const deadline = Date.now() + timeoutMs;
  while (!/Ready to accept connections/i.test(out)) {
    if (spawnError) {
      await stop();
      throw new LocalRedisError(`cannot run ${REDIS_SERVER}: ${spawnError.message} (Debian: apt-get install -y redis-server)`);
    }
    if (!running()) {
      await stop();
      throw new LocalRedisError(`redis-server exited before it was ready (port ${opts.port} in use?):\n${out.trim()}`);
    }
    if (Date.now() > deadline) {
      await stop();
      throw new LocalRedisError(`redis-server was not ready within ${timeoutMs} ms:\n${out.trim()}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  return { port: opts.port, url: `redis://${bind}:${opts.port}`, child, output: () => out, stop };
}
