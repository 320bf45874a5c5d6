/**
 * A throwaway PostgreSQL server for tests and for a local cluster (`npm run cluster -- --postgres`): a new
 * data directory made by `initdb` in a temporary directory, the server on a loopback port with its unix
 * socket in that directory, fsync off (the data is disposable: speed over crash safety), one database
 * created, and a bounded start and stop that deletes the directory. Debian's `postgresql` package
 * provides the binaries in /usr/lib/postgresql/<major>/bin (not on PATH); PG_BIN_DIR overrides.
 *
 * PostgreSQL refuses to run as root. When this process is root (CI containers), initdb and postgres run as
 * an unprivileged user (`postgres`, which the Debian package creates, else `nobody`) through `setpriv`,
 * and the temporary directory is handed to that user.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { superviseServiceChild } from './service-child.ts';

export interface LocalPostgres {
  port: number;
  /** `postgres://<user>@127.0.0.1:<port>/<database>` (trust authentication on loopback: no password). */
  url: string;
  child: ChildProcess;
  /** The temporary directory (data directory and socket) that `stop()` removes. */
  dir: string;
  output(): string;
  /** Fast shutdown (SIGINT), then SIGKILL if it has not exited within `timeoutMs`; removes the directory. Safe to call twice. */
  stop(timeoutMs?: number): Promise<void>;
}

export interface LocalPostgresOptions {
  port: number;
  /** Database to create (default `worldmind`). */
  database?: string;
  /** How long initdb and the start may take together. Default 30 s. */
  timeoutMs?: number;
  /** Its own process group, like the cluster's Redis: a Ctrl-C reaches the games, not the database they write to. */
  detached?: boolean;
}

export class LocalPostgresError extends Error {
  override name = 'LocalPostgresError';
}

/** The directory holding initdb and postgres, or undefined when PostgreSQL is not installed. */
export function postgresBinDir(): string | undefined {
  if (process.env.PG_BIN_DIR) return process.env.PG_BIN_DIR;
  const onPath = spawnSync('sh', ['-c', 'command -v initdb'], { encoding: 'utf8' });
  // (resolved: a symlink on PATH may stand for initdb alone, not createdb beside it)
  if (onPath.status === 0 && onPath.stdout.trim()) return join(realpathSync(onPath.stdout.trim()), '..');
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const majors = readdirSync(root).filter((v) => existsSync(join(root, v, 'bin', 'initdb'))).sort((a, b) => Number(b) - Number(a));
  return majors[0] ? join(root, majors[0], 'bin') : undefined;
}

/** Whether a PostgreSQL server can be started here. */
export function postgresAvailable(): boolean {
  return postgresBinDir() !== undefined;
}

/** Root cannot run PostgreSQL: the user to run it as instead (undefined when not root). */
function runAsUser(): { name: string; uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  for (const name of ['postgres', 'nobody']) {
    const entry = spawnSync('getent', ['passwd', name], { encoding: 'utf8' });
    const fields = entry.status === 0 ? entry.stdout.trim().split(':') : [];
    if (fields.length >= 4) return { name, uid: Number(fields[2]), gid: Number(fields[3]) };
  }
  throw new LocalPostgresError('running as root and there is no unprivileged user (postgres or nobody) to run PostgreSQL as');
}

export async function startLocalPostgres(opts: LocalPostgresOptions): Promise<LocalPostgres> {
  const bin = postgresBinDir();
  if (!bin) throw new LocalPostgresError('PostgreSQL is not installed (Debian: apt-get install -y postgresql; or set PG_BIN_DIR)');
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const deadline = Date.now() + timeoutMs;
  const database = opts.database ?? 'worldmind';
  const user = runAsUser();
  const dir = mkdtempSync(join(tmpdir(), 'wm-postgres-'));
  if (user) chownSync(dir, user.uid, user.gid);
  const dataDir = join(dir, 'data');
  // setpriv rather than runuser/su: no PAM session, no login shell, the environment passes through unchanged.
  const command = (program: string, args: string[]): [string, string[]] =>
    user ? ['setpriv', [`--reuid=${user.uid}`, `--regid=${user.gid}`, '--clear-groups', join(bin, program), ...args]] : [join(bin, program), args];
  const dbUser = user?.name ?? (process.env.USER || 'postgres');

  const [initCmd, initArgs] = command('initdb', ['-D', dataDir, '-U', dbUser, '--auth=trust', '--encoding=UTF8', '--locale=C', '--no-sync']);
  const init = spawnSync(initCmd, initArgs, { encoding: 'utf8', cwd: dir, timeout: timeoutMs });
  if (init.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    throw new LocalPostgresError(`initdb failed (${init.error?.message ?? `exit ${init.status}`}):\n${(init.stdout ?? '') + (init.stderr ?? '')}`.trim());
  }

  const [pgCmd, pgArgs] = command('postgres', [
    '-D', dataDir, '-p', String(opts.port), '-h', '127.0.0.1', '-k', dir,
    '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off', '-c', 'max_connections=100', '-c', 'shared_buffers=32MB',
  ]);
  const child = spawn(pgCmd, pgArgs, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], detached: opts.detached ?? false });
  const service = superviseServiceChild(child, { stopSignal: 'SIGINT' /* "fast shutdown": disconnect clients, stop at once */, stopTimeoutMs: 10_000, dir, name: `postgres (port ${opts.port})` });
  const stop = service.stop;
  await service.waitUntilReady(/database system is ready to accept connections/i, deadline, (reason) => new LocalPostgresError(reason));

  const [createCmd, createArgs] = command('createdb', ['-h', '127.0.0.1', '-p', String(opts.port), '-U', dbUser, database]);
  const created = spawnSync(createCmd, createArgs, { encoding: 'utf8', cwd: dir, timeout: Math.max(1_000, deadline - Date.now()) });
  if (created.status !== 0) {
    await stop();
    throw new LocalPostgresError(`createdb ${database} failed (${created.error?.message ?? `exit ${created.status}`}):\n${(created.stdout ?? '') + (created.stderr ?? '')}`.trim());
  }
  return { port: opts.port, url: `postgres://${encodeURIComponent(dbUser)}@127.0.0.1:${opts.port}/${encodeURIComponent(database)}`, child, dir, output: service.output, stop };
}
