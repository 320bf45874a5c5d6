/**
 * `npm run cluster -- --games 2`: a local cluster from one command. Starts Redis (unless REDIS_URL or
 * --redis-url names one), then N game processes (server/src/main.ts, as `npm start` runs it) on PORT,
 * PORT+1, …, each with REDIS_URL and its own PUBLIC_ADDRESS. On SIGINT/SIGTERM it stops the game
 * processes first (they disconnect their players and take their rooms out of Redis), then Redis, and
 * leaves no process behind. If a game process dies on its own, the whole cluster is stopped (exit 1).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { parseCliArgs } from '../../server/src/cli-args.ts';
import { LocalRedisError, startLocalRedis, type LocalRedis } from './local-redis.ts';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
/** A game process that has not said it listens within this is a failed start. */
const GAME_START_TIMEOUT_MS = 120_000;
/** A game process's own shutdown is bounded at 10 s (main.ts); past this it is killed. */
const GAME_STOP_TIMEOUT_MS = 15_000;

const USAGE = `usage: npm run cluster -- [--games N] [--port P] [--public-host HOST] [--redis-url URL] [--redis-port P]

Runs a local Worldmind cluster: Redis, then N game processes that share it (rooms, seats, reconnection and
one session per account across processes; see README, "Running several processes").

  --games N          game processes to start (default 2)
  --port P           port of the first game process; the others take P+1, P+2, … (default: PORT, else 2567)
  --public-host H    host clients use to reach the game processes: PUBLIC_ADDRESS=H:<port> (default 127.0.0.1)
  --redis-url URL    use this Redis instead of starting one (default: REDIS_URL, else start redis-server)
  --redis-port P     port for the Redis it starts, on 127.0.0.1 (default: a free port)

Every other variable in the environment (DB_PATH, AUTH_SECRET, NPC_ENABLED, MAX_CLIENTS_PER_ROOM, …) is passed
to each game process; they share DB_PATH (one SQLite file). Logs: each game process's JSON lines with
"proc":"game-<i>" added, and the cluster's own lines ("proc":"cluster"). SIGINT/SIGTERM stops the game
processes, then Redis; exit 0 when everything stopped cleanly.
`;

const port = z.coerce.number().int().min(1).max(65535);
const OptionsSchema = z.object({
  games: z.coerce.number().int().min(1).max(64).default(2),
  port: port.default(2567),
  publicHost: z.string().regex(/^[^\s:/?#]+$|^\[[0-9a-f:]+\]$/i, 'expected a host name or address, without port or scheme').default('127.0.0.1'),
  redisUrl: z.url({ protocol: /^rediss?$/, error: 'expected a redis:// or rediss:// URL' }).optional(),
  redisPort: port.optional(),
});

function log(level: 'info' | 'warn' | 'error', msg: string, fields: Record<string, unknown> = {}): void {
  const levels = { info: 30, warn: 40, error: 50 } as const;
  process.stdout.write(JSON.stringify({ level: levels[level], time: Date.now(), service: 'worldmind', proc: 'cluster', ...fields, msg }) + '\n');
}

async function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port: p } = srv.address() as { port: number };
      srv.close(() => resolve(p));
    });
  });
}

interface Game {
  name: string;
  port: number;
  child: ChildProcess;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stopping: boolean;
}

/** Relays a child's output as JSON lines tagged with its name (its own JSON lines keep their fields). */
function relay(stream: NodeJS.ReadableStream, proc: string, level: number): void {
  createInterface({ input: stream }).on('line', (line) => {
    let out: string;
    try {
      const obj = JSON.parse(line) as unknown;
      out = obj && typeof obj === 'object' && !Array.isArray(obj) ? JSON.stringify({ ...obj, proc }) : JSON.stringify({ level, time: Date.now(), proc, msg: line });
    } catch {
      out = JSON.stringify({ level, time: Date.now(), proc, msg: line });
    }
    process.stdout.write(out + '\n');
  });
}

function startGame(i: number, gamePort: number, env: NodeJS.ProcessEnv): Game {
  const name = `game-${i + 1}`;
  const child = spawn(process.execPath, ['--import', 'tsx', 'server/src/main.ts'], { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const game: Game = {
    name,
    port: gamePort,
    child,
    stopping: false,
    exited: new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal }))),
  };
  relay(child.stdout!, name, 30);
  relay(child.stderr!, name, 50);
  return game;
}

/**
 * Waits until the game process answers /healthz on its port (whatever LOG_LEVEL lets it print), or fails
 * when it exits or the bound passes.
 */
async function waitListening(game: Game, host: string): Promise<void> {
  const deadline = Date.now() + GAME_START_TIMEOUT_MS;
  const url = `http://${host}:${game.port}/healthz`;
  for (;;) {
    if (game.child.exitCode !== null || game.child.signalCode !== null) throw new Error(`${game.name} (port ${game.port}) exited during start-up (exit ${game.child.exitCode ?? game.child.signalCode}); its lines above say why`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1_000) });
      if (res.ok && ((await res.json()) as { status?: string }).status === 'ok' && game.child.exitCode === null) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${game.name} (port ${game.port}) did not answer ${url} within ${GAME_START_TIMEOUT_MS / 1000} s`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function stopGame(game: Game): Promise<boolean> {
  game.stopping = true;
  if (game.child.exitCode !== null || game.child.signalCode !== null) return game.child.exitCode === 0;
  game.child.kill('SIGTERM');
  const result = await Promise.race([game.exited, new Promise<undefined>((r) => setTimeout(() => r(undefined), GAME_STOP_TIMEOUT_MS))]);
  if (result) return result.code === 0;
  log('error', `${game.name} did not stop within ${GAME_STOP_TIMEOUT_MS / 1000} s; killing it`, { pid: game.child.pid });
  game.child.kill('SIGKILL');
  await Promise.race([game.exited, new Promise((r) => setTimeout(r, 3_000))]);
  return false;
}

async function main(): Promise<void> {
  const { values } = parseCliArgs('cluster', USAGE, {
    options: {
      games: { type: 'string' },
      port: { type: 'string' },
      'public-host': { type: 'string' },
      'redis-url': { type: 'string' },
      'redis-port': { type: 'string' },
    },
  });
  const parsed = OptionsSchema.safeParse({
    games: values.games,
    port: values.port ?? (process.env.PORT || undefined),
    publicHost: values['public-host'],
    redisUrl: values['redis-url'] ?? (process.env.REDIS_URL || undefined),
    redisPort: values['redis-port'],
  });
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `  --${String(i.path[0]).replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())}: ${i.message}`);
    process.stderr.write(`cluster: invalid options:\n${problems.join('\n')}\n${USAGE}`);
    process.exit(2);
  }
  const opts = parsed.data;
  if (opts.port + opts.games - 1 > 65535) {
    process.stderr.write(`cluster: --port ${opts.port} with --games ${opts.games} runs past port 65535\n`);
    process.exit(2);
  }

  let redis: LocalRedis | undefined;
  const games: Game[] = [];
  let shuttingDown: Promise<void> | undefined;
  // Last resort (an exception in this process): no child outlives it.
  process.on('exit', () => {
    for (const g of games) if (g.child.exitCode === null && g.child.signalCode === null) g.child.kill('SIGKILL');
    if (redis && redis.child.exitCode === null && redis.child.signalCode === null) redis.child.kill('SIGKILL');
  });

  const shutdown = (why: string, exitCode: number) => {
    shuttingDown ??= (async () => {
      log('info', `stopping the cluster (${why}): game processes first, then Redis`);
      const clean = await Promise.all(games.map(stopGame));
      if (redis) await redis.stop();
      const ok = clean.every(Boolean);
      log(ok ? 'info' : 'warn', ok ? 'cluster stopped' : 'cluster stopped; some game processes did not exit cleanly');
      process.exit(ok ? exitCode : Math.max(exitCode, 1));
    })();
    return shuttingDown;
  };
  process.on('SIGINT', () => void shutdown('SIGINT', 0));
  process.on('SIGTERM', () => void shutdown('SIGTERM', 0));

  try {
    let redisUrl = opts.redisUrl;
    if (redisUrl === undefined) {
      redis = await startLocalRedis({ port: opts.redisPort ?? (await freeLoopbackPort()), detached: true });
      redisUrl = redis.url;
      log('info', 'redis started', { redis: redisUrl, pid: redis.child.pid });
      redis.child.once('exit', (code, signal) => {
        if (!shuttingDown) {
          log('error', `redis exited unexpectedly (exit ${code ?? signal})`);
          void shutdown('redis exited', 1);
        }
      });
    }
    for (let i = 0; i < opts.games; i++) {
      const gamePort = opts.port + i;
      const env = { ...process.env, PORT: String(gamePort), REDIS_URL: redisUrl, PUBLIC_ADDRESS: `${opts.publicHost}:${gamePort}` };
      const game = startGame(i, gamePort, env);
      games.push(game);
      void game.exited.then(({ code, signal }) => {
        if (!game.stopping && !shuttingDown) {
          log('error', `${game.name} exited unexpectedly (exit ${code ?? signal}); stopping the cluster`);
          void shutdown(`${game.name} exited`, 1);
        }
      });
      // One after the other: the first creates the shared SQLite file's schema before the others open it.
      // HOST 0.0.0.0 (the default) listens on loopback too.
      const host = !process.env.HOST || process.env.HOST === '0.0.0.0' ? '127.0.0.1' : process.env.HOST === '::' ? '[::1]' : process.env.HOST;
      await waitListening(game, host.includes(':') && !host.startsWith('[') ? `[${host}]` : host);
    }
    log('info', 'cluster ready', {
      redis: redisUrl,
      redisPid: redis?.child.pid,
      games: games.map((g) => ({ name: g.name, port: g.port, pid: g.child.pid, endpoint: `ws://${opts.publicHost}:${g.port}` })),
    });
  } catch (err) {
    if (shuttingDown) return;
    const message = err instanceof LocalRedisError || err instanceof Error ? err.message : String(err);
    log('error', `cluster start failed: ${message}`);
    await shutdown('start-up failed', 1);
  }
}

main().catch((err: unknown) => {
  log('error', `cluster failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  process.exit(1);
});
