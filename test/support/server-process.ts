/**
 * Runs `server/src/main.ts` as a real child process (the way `npm start` does) and waits, with a
 * bound, for it to listen.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/** The kernel's range for the local ports of outgoing connections (Linux default when unreadable). */
function ephemeralPorts(): { low: number; high: number } {
  try {
    const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (Number.isInteger(low) && Number.isInteger(high)) return { low: low!, high: high! };
  } catch {
    // not Linux: fall through
  }
  return { low: 32768, high: 60999 };
}

/**
 * A port P with P+1 … P+n-1 free too, for the cluster CLI (game processes on PORT, PORT+1, …). Drawn
 * below the ephemeral range: the neighbours of a port the kernel handed out (freePort) are ports any
 * outgoing connection — a Redis client, a test's client — may take as its local port before the
 * process gets to listen there, and a game process then fails to start. Bounded retries.
 */
export async function consecutiveFreePorts(n: number): Promise<number> {
  const { low } = ephemeralPorts();
  const floor = 20_000;
  const span = low - n - floor;
  for (let i = 0; i < 20; i++) {
    const p = span > 0 ? floor + Math.floor(Math.random() * span) : await freePort();
    let all = p + n - 1 <= 65535;
    for (let k = 0; all && k < n; k++) all = await portFree(p + k);
    if (all) return p;
  }
  throw new Error(`found no ${n} consecutive free ports in 20 tries`);
}

export interface ServerProcess {
  child: ChildProcess;
  port: number;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function spawnServer(env: Record<string, string>): ServerProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', 'server/src/main.ts'], {
    cwd: repoRoot,
    env: { ...process.env, LOG_LEVEL: 'info', HOST: '127.0.0.1', DB_PATH: ':memory:', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  return { child, port: Number(env.PORT ?? 0), output: () => out, exited };
}

export async function waitForOutput(proc: ServerProcess, pattern: RegExp, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pattern.test(proc.output())) {
    if (proc.child.exitCode !== null) throw new Error(`server exited early:\n${proc.output()}`);
    if (Date.now() > deadline) throw new Error(`server did not print ${pattern} within ${timeoutMs} ms:\n${proc.output()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
