/**
 * `npm run cluster -- --games 2 --inference 1`: a local cluster from one command. Starts Redis (unless
 * REDIS_URL or --redis-url names one), then M inference services (server/src/inference/service/main.ts, as
 * `npm run inference` runs it) on their own ports, waiting until each answers /health, then N game processes
 * (server/src/main.ts, as `npm start` runs it) on PORT, PORT+1, …, each with REDIS_URL, its own
 * PUBLIC_ADDRESS and, with --inference, INFERENCE_URL naming every service. On SIGINT/SIGTERM it stops the
 * game processes first (they disconnect their players and take their rooms out of Redis), then the inference
 * services (the games' last turns are over by then), then Redis, and leaves no process behind. The game
 * processes share DATABASE_URL when it is set (PostgreSQL), else DB_PATH; `--postgres` starts a throwaway
 * PostgreSQL first (tools/cluster/local-postgres.ts) and stops it last.
 *
 * Failures: a game process that dies on its own stops the whole cluster (exit 1) — its players' rooms are
 * gone and a half cluster would hide that. An inference service that dies is restarted on its port (game
 * processes fail its turns in flight to scripted lines and reconnect by themselves, README "Inference
 * service"; the service itself exits 1 when its engine hangs precisely so that a supervisor restarts it, and
 * this is that supervisor); one that dies more than MAX_INFERENCE_RESTARTS times within
 * INFERENCE_RESTART_WINDOW_MS, or does not come back healthy, stops the cluster (exit 1) rather than restart
 * a crash loop forever.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { availableParallelism } from 'node:os';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { parseCliArgs } from '../../server/src/cli-args.ts';
import { startLocalPostgres, type LocalPostgres } from './local-postgres.ts';
import { startLocalRedis, type LocalRedis } from './local-redis.ts';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
/** A game process that has not answered /healthz within this is a failed start. */
const GAME_START_TIMEOUT_MS = 120_000;
/** An inference service loads its model before it listens: a large model on a busy machine takes a while. */
const INFERENCE_START_TIMEOUT_MS = 180_000;
/** A game process's own shutdown is bounded at 10 s (main.ts); past this it is killed. */
const GAME_STOP_TIMEOUT_MS = 15_000;
/** The inference service's own shutdown is bounded at 10 s too (its main.ts). */
const INFERENCE_STOP_TIMEOUT_MS = 15_000;
/** A service restarted more often than this within the window is crash-looping: stop the cluster instead. */
const MAX_INFERENCE_RESTARTS = 3;
const INFERENCE_RESTART_WINDOW_MS = 5 * 60_000;
/** First restart after 1 s, then 2 s, 4 s: a service that dies at once does not spin. */
const INFERENCE_RESTART_DELAY_MS = 1_000;

const USAGE = `usage: npm run cluster -- [--games N] [--inference M] [--port P] [--inference-port P] [--public-host HOST]
                           [--redis-url URL] [--redis-port P] [--postgres]

Runs a local Worldmind cluster: Redis, M inference services, then N game processes that share them (rooms,
seats, reconnection and one session per account across processes; NPC turns on the services; see README,
"Running several processes").

  --games N           game processes to start (default 2)
  --inference M       inference services to start (default 0: every game process runs its own engine, unless
                      INFERENCE_URL names services already running)
  --port P            port of the first game process; the others take P+1, P+2, … (default: PORT, else 2567)
  --inference-port P  port of the first inference service; the others take P+1, … (default: the port after
                      the last game process)
  --public-host H     host clients use to reach the game processes: PUBLIC_ADDRESS=H:<port> (default 127.0.0.1)
  --redis-url URL     use this Redis instead of starting one (default: REDIS_URL, else start redis-server)
  --redis-port P      port for the Redis it starts, on 127.0.0.1 (default: a free port)
  --postgres          start a throwaway PostgreSQL on a free loopback port (initdb in a temporary directory,
                      deleted when the cluster stops) and give the game processes its DATABASE_URL; without
                      it, DATABASE_URL from the environment (a lasting PostgreSQL) reaches every game process

Every other variable in the environment (DB_PATH, AUTH_SECRET, NPC_ENABLED, MODEL_DIR, INFERENCE_API_KEY,
ADMIN_TOKEN, DATABASE_URL, …) is passed to each process; the game processes share DATABASE_URL (one PostgreSQL)
when it is set, else DB_PATH (one SQLite file). With
--inference, INFERENCE_URL is set to the started services (replacing one in the environment), and each service
gets INFERENCE_THREADS = cores / M (at least 1) unless INFERENCE_THREADS is set.

Logs: each process's JSON lines with "proc" added ("game-<i>", "inference-<i>"), and the cluster's own lines
("proc":"cluster"); a "cluster ready" line lists every endpoint and pid. SIGINT/SIGTERM stops the game
processes, then the inference services, then Redis (then the --postgres database); exit 0 when everything stopped cleanly. A game process
that dies stops the cluster (exit 1); an inference service that dies is restarted (at most
${MAX_INFERENCE_RESTARTS} times in ${INFERENCE_RESTART_WINDOW_MS / 60_000} minutes, else the cluster stops, exit 1).
`;

const port = z.coerce.number().int().min(1).max(65535);
const OptionsSchema = z.object({
  games: z.coerce.number().int().min(1).max(64).default(2),
  inference: z.coerce.number().int().min(0).max(16).default(0),
  port: port.default(2567),
  inferencePort: port.optional(),
  publicHost: z.string().regex(/^[^\s:/?#]+$|^\[[0-9a-f:]+\]$/i, 'expected a host name or address, without port or scheme').default('127.0.0.1'),
  redisUrl: z.url({ protocol: /^rediss?$/, error: 'expected a redis:// or rediss:// URL' }).optional(),
  redisPort: port.optional(),
  postgres: z.boolean().default(false),
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

type Exit = { code: number | null; signal: NodeJS.Signals | null };

/** One child process of the cluster: a game process or an inference service (restarts replace `child`). */
interface Member {
  name: string;
  kind: 'game' | 'inference';
  port: number;
  child: ChildProcess;
  exited: Promise<Exit>;
  stopping: boolean;
}

const running = (child: ChildProcess) => child.exitCode === null && child.signalCode === null;

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

const ENTRY = { game: 'server/src/main.ts', inference: 'server/src/inference/service/main.ts' } as const;

function spawnMember(member: Pick<Member, 'name' | 'kind'>, env: NodeJS.ProcessEnv): { child: ChildProcess; exited: Promise<Exit> } {
  const child = spawn(process.execPath, ['--import', 'tsx', ENTRY[member.kind]], {
    cwd: repoRoot,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
    // An inference service gets its own process group, like Redis: a Ctrl-C in the terminal reaches the game
    // processes (and this one) but not the services, which must outlive the games' last turns. This process
    // stops them after the games.
    detached: member.kind === 'inference',
  });
  relay(child.stdout!, member.name, 30);
  relay(child.stderr!, member.name, 50);
  return { child, exited: new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal }))) };
}

/**
 * Waits until the member answers its health path with status "ok" (whatever LOG_LEVEL lets it print), or
 * fails when it exits or the bound passes.
 */
async function waitHealthy(member: Member, host: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const url = `http://${host}:${member.port}${member.kind === 'game' ? '/healthz' : '/health'}`;
  const child = member.child;
  for (;;) {
    if (!running(child)) throw new Error(`${member.name} (port ${member.port}) exited during start-up (exit ${child.exitCode ?? child.signalCode}); its lines above say why`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1_000) });
      if (res.ok && ((await res.json()) as { status?: string }).status === 'ok' && running(child)) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${member.name} (port ${member.port}) did not answer ${url} with status ok within ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function stopMember(member: Member): Promise<boolean> {
  member.stopping = true;
  const child = member.child;
  if (!running(child)) return child.exitCode === 0;
  const bound = member.kind === 'game' ? GAME_STOP_TIMEOUT_MS : INFERENCE_STOP_TIMEOUT_MS;
  child.kill('SIGTERM');
  const result = await Promise.race([member.exited, new Promise<undefined>((r) => setTimeout(() => r(undefined), bound))]);
  if (result) return result.code === 0;
  log('error', `${member.name} did not stop within ${bound / 1000} s; killing it`, { pid: child.pid });
  child.kill('SIGKILL');
  await Promise.race([member.exited, new Promise((r) => setTimeout(r, 3_000))]);
  return false;
}

/** The address this machine's processes reach a listener on: HOST 0.0.0.0 (the default) listens on loopback too. */
function localHost(): string {
  const host = !process.env.HOST || process.env.HOST === '0.0.0.0' ? '127.0.0.1' : process.env.HOST === '::' ? '[::1]' : process.env.HOST;
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

async function main(): Promise<void> {
  const { values } = parseCliArgs('cluster', USAGE, {
    options: {
      games: { type: 'string' },
      inference: { type: 'string' },
      port: { type: 'string' },
      'inference-port': { type: 'string' },
      'public-host': { type: 'string' },
      'redis-url': { type: 'string' },
      'redis-port': { type: 'string' },
      postgres: { type: 'boolean' },
    },
  });
  const parsed = OptionsSchema.safeParse({
    games: values.games,
    inference: values.inference,
    port: values.port ?? (process.env.PORT || undefined),
    inferencePort: values['inference-port'],
    publicHost: values['public-host'],
    redisUrl: values['redis-url'] ?? (process.env.REDIS_URL || undefined),
    redisPort: values['redis-port'],
    postgres: values.postgres,
  });
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `  --${String(i.path[0]).replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())}: ${i.message}`);
    process.stderr.write(`cluster: invalid options:\n${problems.join('\n')}\n${USAGE}`);
    process.exit(2);
  }
  const opts = parsed.data;
  const inferencePort = opts.inferencePort ?? opts.port + opts.games;
  const gamePorts = Array.from({ length: opts.games }, (_, i) => opts.port + i);
  const inferencePorts = Array.from({ length: opts.inference }, (_, i) => inferencePort + i);
  const portProblems: string[] = [];
  if (gamePorts.at(-1)! > 65535) portProblems.push(`--port ${opts.port} with --games ${opts.games} runs past port 65535`);
  if (opts.inference > 0 && inferencePorts.at(-1)! > 65535) portProblems.push(`--inference-port ${inferencePort} with --inference ${opts.inference} runs past port 65535`);
  const clash = inferencePorts.filter((p) => gamePorts.includes(p));
  if (clash.length > 0) portProblems.push(`inference ports ${inferencePorts.join(', ')} overlap the game ports ${gamePorts.join(', ')} (port ${clash.join(', ')}); pick another --inference-port`);
  if (portProblems.length > 0) {
    process.stderr.write(`cluster: ${portProblems.join('\ncluster: ')}\n`);
    process.exit(2);
  }

  let redis: LocalRedis | undefined;
  let postgres: LocalPostgres | undefined;
  const games: Member[] = [];
  const services: Member[] = [];
  const restartTimers = new Set<ReturnType<typeof setTimeout>>();
  let shuttingDown: Promise<void> | undefined;
  // Last resort (an exception in this process): no child outlives it.
  process.on('exit', () => {
    for (const m of [...games, ...services]) if (running(m.child)) m.child.kill('SIGKILL');
    if (redis && running(redis.child)) redis.child.kill('SIGKILL');
    if (postgres && running(postgres.child)) postgres.child.kill('SIGKILL');
  });

  const shutdown = (why: string, exitCode: number) => {
    shuttingDown ??= (async () => {
      for (const t of restartTimers) clearTimeout(t);
      restartTimers.clear();
      log('info', `stopping the cluster (${why}): game processes first, then ${services.length > 0 ? 'inference services, then ' : ''}Redis`);
      const gamesClean = await Promise.all(games.map(stopMember));
      const servicesClean = await Promise.all(services.map(stopMember));
      if (redis) await redis.stop();
      // Last: the game processes write their players' last state to it while they stop.
      if (postgres) await postgres.stop();
      const ok = [...gamesClean, ...servicesClean].every(Boolean);
      log(ok ? 'info' : 'warn', ok ? 'cluster stopped' : 'cluster stopped; some processes did not exit cleanly');
      process.exit(ok ? exitCode : Math.max(exitCode, 1));
    })();
    return shuttingDown;
  };
  process.on('SIGINT', () => void shutdown('SIGINT', 0));
  process.on('SIGTERM', () => void shutdown('SIGTERM', 0));

  const host = localHost();
  const serviceEnv = (servicePort: number): NodeJS.ProcessEnv => ({
    ...process.env,
    INFERENCE_PORT: String(servicePort),
    // M services on one machine share its cores: each would default to all of them and they would fight.
    INFERENCE_THREADS: process.env.INFERENCE_THREADS || String(Math.max(1, Math.floor(availableParallelism() / opts.inference))),
  });

  /** Supervises one inference service: a death outside shutdown restarts it (bounded), or stops the cluster. */
  const restarts = new Map<string, number[]>();
  const watchService = (service: Member) => {
    const child = service.child;
    void service.exited.then(async ({ code, signal }) => {
      if (service.stopping || shuttingDown || service.child !== child) return;
      const now = Date.now();
      const recent = (restarts.get(service.name) ?? []).filter((t) => now - t < INFERENCE_RESTART_WINDOW_MS);
      if (recent.length >= MAX_INFERENCE_RESTARTS) {
        log('error', `${service.name} exited unexpectedly (exit ${code ?? signal}) after ${recent.length} restarts within ${INFERENCE_RESTART_WINDOW_MS / 60_000} minutes; stopping the cluster`);
        void shutdown(`${service.name} keeps dying`, 1);
        return;
      }
      recent.push(now);
      restarts.set(service.name, recent);
      const delay = INFERENCE_RESTART_DELAY_MS * 2 ** (recent.length - 1);
      log('warn', `${service.name} exited unexpectedly (exit ${code ?? signal}); restarting it in ${delay / 1000} s (restart ${recent.length} of at most ${MAX_INFERENCE_RESTARTS} in ${INFERENCE_RESTART_WINDOW_MS / 60_000} minutes); game processes answer NPC turns with scripted lines meanwhile`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          restartTimers.delete(t);
          resolve();
        }, delay);
        restartTimers.add(t);
      });
      if (shuttingDown) return;
      const { child: fresh, exited } = spawnMember(service, serviceEnv(service.port));
      service.child = fresh;
      service.exited = exited;
      watchService(service);
      try {
        await waitHealthy(service, host, INFERENCE_START_TIMEOUT_MS);
        log('info', `${service.name} restarted`, { name: service.name, port: service.port, pid: fresh.pid });
      } catch (err) {
        if (shuttingDown || service.child !== fresh) return;
        // Still running but not healthy within the bound: it will not serve; do not hide that.
        if (running(fresh)) {
          log('error', `${service.name} did not come back: ${(err as Error).message}; stopping the cluster`);
          void shutdown(`${service.name} did not come back`, 1);
        }
        // Exited during start-up: its exit handler above restarts it again or stops the cluster.
      }
    });
  };

  try {
    if (opts.postgres) {
      postgres = await startLocalPostgres({ port: await freeLoopbackPort(), detached: true });
      if (process.env.DATABASE_URL) log('warn', 'DATABASE_URL in the environment is replaced by the PostgreSQL this cluster started (--postgres)');
      log('info', 'postgres started (throwaway: deleted when the cluster stops)', { database: postgres.url, pid: postgres.child.pid, dir: postgres.dir });
      postgres.child.once('exit', (code, signal) => {
        if (!shuttingDown) {
          log('error', `postgres exited unexpectedly (exit ${code ?? signal})`);
          void shutdown('postgres exited', 1);
        }
      });
    }
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

    // Inference services before the game processes: a game process with INFERENCE_URL waits only 20 s at start
    // for a usable service, and a model takes longer than that to load on a busy machine. Started together
    // (each loads its own model), waited for together.
    for (let i = 0; i < opts.inference; i++) {
      const name = `inference-${i + 1}`;
      const servicePort = inferencePorts[i]!;
      const { child, exited } = spawnMember({ name, kind: 'inference' }, serviceEnv(servicePort));
      const service: Member = { name, kind: 'inference', port: servicePort, child, exited, stopping: false };
      services.push(service);
    }
    // A service that dies during start-up is a failed start (its lines say why), not something to restart.
    await Promise.all(services.map((s) => waitHealthy(s, host, INFERENCE_START_TIMEOUT_MS)));
    for (const s of services) watchService(s);
    const inferenceUrl = services.map((s) => `ws://${host}:${s.port}`).join(',');
    if (services.length > 0) {
      if (process.env.NPC_ENABLED === 'false') log('warn', 'NPC_ENABLED=false: the game processes run no NPC brains and will not use the inference services started');
      if (process.env.INFERENCE_URL) log('warn', `INFERENCE_URL in the environment (${process.env.INFERENCE_URL}) is replaced by the services this cluster started`);
      log('info', 'inference services ready', { inferenceUrl, services: services.map((s) => ({ name: s.name, port: s.port, pid: s.child.pid })) });
    }

    for (let i = 0; i < opts.games; i++) {
      const gamePort = gamePorts[i]!;
      const name = `game-${i + 1}`;
      // The same glibc setting `npm start` gives a game process (freed large blocks go back to the system; README "Memory").
      const env: NodeJS.ProcessEnv = { ...process.env, MALLOC_MMAP_THRESHOLD_: process.env.MALLOC_MMAP_THRESHOLD_ || '131072', PORT: String(gamePort), REDIS_URL: redisUrl, PUBLIC_ADDRESS: `${opts.publicHost}:${gamePort}`, ...(services.length > 0 ? { INFERENCE_URL: inferenceUrl } : {}), ...(postgres ? { DATABASE_URL: postgres.url } : {}) };
      const { child, exited } = spawnMember({ name, kind: 'game' }, env);
      const game: Member = { name, kind: 'game', port: gamePort, child, exited, stopping: false };
      games.push(game);
      void game.exited.then(({ code, signal }) => {
        if (!game.stopping && !shuttingDown) {
          log('error', `${game.name} exited unexpectedly (exit ${code ?? signal}); stopping the cluster`);
          void shutdown(`${game.name} exited`, 1);
        }
      });
      // One after the other: the first creates the shared database's schema before the others open it
      // (both stores would also cope with a race: their migrations hold the database's write lock).
      await waitHealthy(game, host, GAME_START_TIMEOUT_MS);
    }
    const gameList = games.map((g) => ({ name: g.name, port: g.port, pid: g.child.pid, endpoint: `ws://${opts.publicHost}:${g.port}` }));
    const serviceList = services.map((s) => ({ name: s.name, port: s.port, pid: s.child.pid, url: `ws://${host}:${s.port}`, metrics: `http://${host}:${s.port}/metrics` }));
    log('info', 'cluster ready', {
      redis: redisUrl,
      redisPid: redis?.child.pid,
      ...(postgres ? { database: postgres.url, databasePid: postgres.child.pid } : process.env.DATABASE_URL ? { database: 'DATABASE_URL' } : {}),
      games: gameList,
      inference: serviceList,
      // What `npm run loadtest` needs to measure every process of this cluster (README "Running several processes").
      loadtest: `npm run loadtest -- --target ${gameList.map((g) => g.endpoint).join(',')}${serviceList.length > 0 ? ` --inference-metrics ${serviceList.map((s) => `http://${host}:${s.port}`).join(',')}` : ''} --players 100 --duration 30`,
    });
  } catch (err) {
    if (shuttingDown) return;
    const message = err instanceof Error ? err.message : String(err);
    log('error', `cluster start failed: ${message}`);
    await shutdown('start-up failed', 1);
  }
}

main().catch((err: unknown) => {
  log('error', `cluster failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  process.exit(1);
});
