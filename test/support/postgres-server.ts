/**
 * A real PostgreSQL server for tests (Debian package `postgresql`; .ci/run installs it): initdb into a
 * temporary directory, its own free loopback port, its unix socket in that directory, fsync off, one
 * database, stopped and deleted by `stop()`. Run as an unprivileged user when the tests run as root.
 * Every wait is bounded. (The process handling is the local cluster's, tools/cluster/local-postgres.ts.)
 */
import pg from 'pg';
import { postgresAvailable as installed, startLocalPostgres, type LocalPostgres } from '../../tools/cluster/local-postgres.ts';
import { freePort } from './server-process.ts';

export type TestPostgres = LocalPostgres & {
  /** A new, empty database on this server; its URL. */
  createDatabase(name: string): Promise<string>;
};

/** Whether PostgreSQL can be run here (suites skip without it, except under CI=true where they fail). */
export function postgresAvailable(): boolean {
  return installed();
}

export async function startPostgres(timeoutMs = 30_000): Promise<TestPostgres> {
  const server = await startLocalPostgres({ port: await freePort(), timeoutMs });
  return {
    ...server,
    async createDatabase(name: string): Promise<string> {
      if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`not a plain database name: ${name}`);
      const admin = new pg.Client({ connectionString: server.url, connectionTimeoutMillis: 5_000 });
      await admin.connect();
      try {
        await admin.query(`CREATE DATABASE ${name}`);
      } finally {
        await admin.end();
      }
      const url = new URL(server.url);
      url.pathname = `/${name}`;
      return url.toString();
    },
  };
}
