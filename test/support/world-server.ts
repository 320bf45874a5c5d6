/**
 * Test support: a real Worldmind server on an ephemeral loopback port, and helpers to wait on real
 * clients with bounded timeouts.
 */
import { loadConfig, type ServerConfig } from '../../server/src/config.ts';
import { startServer, type RunningServer, type StartOptions } from '../../server/src/server.ts';
import { Client as RawClient, type Room } from '@colyseus/sdk';
import { WorldAuth, WorldClient, type WorldClientOptions } from '../../client-sdk/src/index.ts';

/** A test server. Every client here comes from one loopback address, so guest sign-ups are not limited unless asked. */
export async function startTestServer(overrides: Partial<ServerConfig> = {}, options: StartOptions = {}): Promise<RunningServer & { endpoint: string }> {
  const config = loadConfig({}, { PORT: 0, HOST: '127.0.0.1', LOG_LEVEL: 'silent', DB_PATH: ':memory:', GUEST_SIGNUP_BURST: 0, ...overrides });
  const server = await startServer(config, undefined, options);
  return Object.assign(server, { endpoint: `ws://127.0.0.1:${server.port}` });
}

export function connect(endpoint: string, name: string, extra: Partial<WorldClientOptions> = {}): Promise<WorldClient> {
  return WorldClient.connect({ endpoint, name, ...extra });
}

/** A plain @colyseus/sdk client signed in as a new guest (the project SDK does this inside `connect`). */
export async function signedInRawClient(endpoint: string, auth = new WorldAuth({ endpoint })): Promise<RawClient> {
  const raw = new RawClient(endpoint);
  raw.auth.token = await auth.validToken();
  return raw;
}

/** Polls `check` until it returns a truthy value; fails after `timeoutMs` with `what` in the message. */
export async function waitFor<T>(what: string, check: () => T | undefined | false | null, timeoutMs = 5_000, intervalMs = 20): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The close code of a raw room's connection once the server ends it (bounded wait). */
export function closed(room: Room, timeoutMs = 5_000): Promise<number> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('connection was not closed')), timeoutMs);
    room.onLeave((code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}
