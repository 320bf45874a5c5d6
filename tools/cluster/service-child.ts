/**
 * A local service's child process (redis-server, postgres) under supervision: its output collected, a
 * bounded wait for the line that says it is ready, and a bounded stop (its own stop signal, then SIGKILL)
 * that also removes its working directory. local-redis.ts and local-postgres.ts differ only in how they
 * start the process and what "ready" looks like.
 */
import type { ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';

export interface ServiceChild {
  output(): string;
  /** Stop signal, then SIGKILL if it has not exited within `timeoutMs`; removes the directory. Safe to call twice. */
  stop(timeoutMs?: number): Promise<void>;
  /** Resolves once `ready` matches the output; stops the child and throws `fail(reason)` if it exits, cannot run or is late. */
  waitUntilReady(ready: RegExp, deadline: number, fail: (reason: string) => Error): Promise<void>;
}

export function superviseServiceChild(child: ChildProcess, opts: { stopSignal: NodeJS.Signals; stopTimeoutMs: number; dir: string; name: string; installHint?: string }): ServiceChild {
  let out = '';
  let spawnError: Error | undefined;
  child.stdout?.on('data', (d) => (out += d));
  child.stderr?.on('data', (d) => (out += d));
  child.once('error', (err) => (spawnError = err));
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.once('error', () => resolve());
  });
  const running = () => child.pid !== undefined && child.exitCode === null && child.signalCode === null && !spawnError;

  let stopping: Promise<void> | undefined;
  const stop = (timeoutMs = opts.stopTimeoutMs) => {
    stopping ??= (async () => {
      if (running()) {
        child.kill(opts.stopSignal);
        const done = await Promise.race([exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), timeoutMs))]);
        if (!done) {
          child.kill('SIGKILL');
          await Promise.race([exited, new Promise((r) => setTimeout(r, 2_000))]);
        }
      }
      rmSync(opts.dir, { recursive: true, force: true });
    })();
    return stopping;
  };

  const waitUntilReady = async (ready: RegExp, deadline: number, fail: (reason: string) => Error) => {
    while (!ready.test(out)) {
      if (spawnError) {
        await stop();
        throw fail(`cannot run ${opts.name}: ${spawnError.message}${opts.installHint ? ` (${opts.installHint})` : ''}`);
      }
      if (!running()) {
        await stop();
        throw fail(`${opts.name} exited before it was ready (port in use?):\n${out.trim()}`);
      }
      if (Date.now() > deadline) {
        await stop();
        throw fail(`${opts.name} was not ready in time:\n${out.trim()}`);
      }
      await new Promise((r) => setTimeout(r, 25));
    }
  };

  return { output: () => out, stop, waitUntilReady };
}
