/**
 * The cluster's configuration checks, start-up against an unreachable Redis, and the session limit
 * across processes (ClusterSessionRegistry) on a real redis-server: two registries with presences of
 * their own stand for two game processes.
 */
import { createServer, type AddressInfo } from 'node:net';
import { RedisPresence } from '@colyseus/redis-presence';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WorldCloseCode } from '@worldmind/shared';
import type { LiveSession } from '../../server/src/auth/sessions.ts';
import { ClusterSessionRegistry, sessionsKey } from '../../server/src/cluster/cluster-sessions.ts';
import { checkRedis, maskRedisUrl } from '../../server/src/cluster/redis-cluster.ts';
import { ConfigError, loadConfig } from '../../server/src/config.ts';
import { createLogger } from '../../server/src/observability/logger.ts';
import { startServer, StartupError } from '../../server/src/server.ts';
import { redisAvailable, startRedis, type TestRedis } from '../support/redis-server.ts';
import { freePort } from '../support/server-process.ts';
import { waitFor } from '../support/world-server.ts';

const haveRedis = redisAvailable();
if (!haveRedis && process.env.CI === 'true') throw new Error('redis-server is not installed (apt-get install -y redis-server); CI must run the cluster suite');

describe('cluster configuration', () => {
  it('names a bad REDIS_URL or PUBLIC_ADDRESS, and requires PUBLIC_ADDRESS with REDIS_URL', () => {
    expect(() => loadConfig({ REDIS_URL: 'http://127.0.0.1:6379', PUBLIC_ADDRESS: '127.0.0.1:2567' })).toThrow(/REDIS_URL="http:\/\/127\.0\.0\.1:6379": expected a redis:\/\/ or rediss:\/\/ URL/);
    expect(() => loadConfig({ REDIS_URL: 'redis://127.0.0.1:6379', PUBLIC_ADDRESS: 'ws://game-1:2567' })).toThrow(/PUBLIC_ADDRESS="ws:\/\/game-1:2567": expected host:port/);
    expect(() => loadConfig({ REDIS_URL: 'redis://127.0.0.1:6379' })).toThrow(ConfigError);
    expect(() => loadConfig({ REDIS_URL: 'redis://127.0.0.1:6379' })).toThrow(/PUBLIC_ADDRESS: required with REDIS_URL/);
    const ok = loadConfig({ REDIS_URL: 'rediss://user:pw@cache.example:6380/0', PUBLIC_ADDRESS: 'game-1.example:443/ws' });
    expect(ok.PUBLIC_ADDRESS).toBe('game-1.example:443/ws');
    expect(maskRedisUrl(ok.REDIS_URL!)).toBe('rediss://user:***@cache.example:6380/0');
    // Without REDIS_URL nothing changes: both stay unset.
    const single = loadConfig({});
    expect(single.REDIS_URL).toBeUndefined();
    expect(single.PUBLIC_ADDRESS).toBeUndefined();
  });

  it('refuses to start, within a bound, when Redis cannot be reached', async () => {
    const closed = await freePort(); // nothing listens there
    await expect(checkRedis(`redis://127.0.0.1:${closed}`, 2_000)).rejects.toThrow(/cannot reach Redis at redis:\/\/127\.0\.0\.1:\d+ \(REDIS_URL\)/);
    const config = loadConfig({}, { PORT: 0, HOST: '127.0.0.1', LOG_LEVEL: 'silent', DB_PATH: ':memory:', NPC_ENABLED: false, REDIS_URL: `redis://127.0.0.1:${closed}`, PUBLIC_ADDRESS: '127.0.0.1:1' });
    await expect(startServer(config)).rejects.toBeInstanceOf(StartupError);
  });
});

describe.skipIf(!haveRedis)('one session per account across processes', () => {
  let redis: TestRedis;
  const presences: RedisPresence[] = [];
  const registries: ClusterSessionRegistry[] = [];
  const log = createLogger('silent');

  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    for (const r of registries) await r.stop();
    for (const p of presences) p.shutdown();
    await redis?.stop();
  });

  async function process_(maxPerAccount: number, onRemoteJoin?: (accountId: string) => void): Promise<ClusterSessionRegistry> {
    const presence = new RedisPresence(redis.url);
    presences.push(presence);
    const registry = new ClusterSessionRegistry({ maxPerAccount, presence, log, ...(onRemoteJoin ? { onRemoteJoin } : {}) });
    await registry.start();
    registries.push(registry);
    return registry;
  }

  function session(accountId: string, roomId: string, sessionId: string, jti = 'jti-' + sessionId) {
    const ended: { code: number; reason: string }[] = [];
    const s: LiveSession = { accountId, jti, roomId, sessionId, end: (code, reason) => ended.push({ code, reason }) };
    return { s, ended };
  }

  it('a login in one process takes over the session in the other; the other process forgets what it cached', async () => {
    const forgotten: string[] = [];
    const one = await process_(1, (id) => forgotten.push(id));
    const two = await process_(1);
    const first = session('acct-1', 'room-a', 's1');
    one.add(first.s);
    await one.settled();
    const second = session('acct-1', 'room-b', 's2');
    two.add(second.s);
    await two.settled();
    await waitFor('the first session to be ended', () => first.ended.length > 0, 5_000);
    expect(first.ended).toEqual([{ code: WorldCloseCode.SessionTakenOver, reason: expect.stringMatching(/taken over/) }]);
    expect(second.ended).toEqual([]);
    expect(one.count('acct-1')).toBe(0);
    expect(two.count('acct-1')).toBe(1);
    await waitFor('process one to drop its cache of the account', () => forgotten.includes('acct-1'), 5_000);
    const entries = await presences[0]!.hgetall(sessionsKey('acct-1'));
    expect(Object.keys(entries)).toEqual([`${two.tag}|room-b|s2`]);

    // Leaving removes the entry.
    two.remove('room-b', 's2', 'acct-1');
    await two.settled();
    expect(await presences[0]!.hgetall(sessionsKey('acct-1'))).toEqual({});
  });

  it('two sessions are allowed when the limit is two; the third login ends the oldest, wherever it is', async () => {
    const one = await process_(2);
    const two = await process_(2);
    const a = session('acct-2', 'room-a', 'a');
    const b = session('acct-2', 'room-b', 'b');
    const c = session('acct-2', 'room-b', 'c');
    one.add(a.s);
    await one.settled();
    two.add(b.s);
    await two.settled();
    expect(a.ended).toEqual([]);
    two.add(c.s);
    await two.settled();
    await waitFor('the oldest session to end', () => a.ended.length > 0, 5_000);
    expect(b.ended).toEqual([]);
    expect(c.ended).toEqual([]);
  });

  it('signing out in one process ends the account\'s sessions in the others (revocation)', async () => {
    const one = await process_(3);
    const two = await process_(3);
    const kept = session('acct-3', 'room-a', 'k', 'token-keep');
    const revoked = session('acct-3', 'room-a', 'r', 'token-out');
    one.add(kept.s);
    one.add(revoked.s);
    await one.settled();
    // One token signed out (POST /auth/logout reaches process two).
    expect(two.endSessions('acct-3', 'token-out', 'signed out')).toBe(0);
    await two.settled();
    await waitFor('the signed-out session to end', () => revoked.ended.length > 0, 5_000);
    expect(revoked.ended[0]!.code).toBe(WorldCloseCode.SessionRevoked);
    expect(kept.ended).toEqual([]);
    // Signed out everywhere.
    two.endSessions('acct-3', undefined, 'signed out everywhere');
    await two.settled();
    await waitFor('the other session to end', () => kept.ended.length > 0, 5_000);
    expect(kept.ended[0]).toEqual({ code: WorldCloseCode.SessionRevoked, reason: 'signed out everywhere' });
  });
});

describe.skipIf(!haveRedis)('a start-up that fails after Redis connected', () => {
  let redis: TestRedis;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis?.stop();
  });

  it('says why (port in use) and leaves no Redis rejection behind to kill the process', async () => {
    // Colyseus shuts the presence down, then the failed start closes the cluster again: a second QUIT
    // used to reject unhandled ("Connection is closed."), which killed a game process before it could
    // print this line (main.ts exits on an unhandled rejection).
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = (taken.address() as AddressInfo).port;
    try {
      for (let attempt = 0; attempt < 3; attempt++) {
        const config = loadConfig({}, { PORT: port, HOST: '127.0.0.1', LOG_LEVEL: 'silent', DB_PATH: ':memory:', NPC_ENABLED: false, REDIS_URL: redis.url, PUBLIC_ADDRESS: `127.0.0.1:${port}` });
        await expect(startServer(config)).rejects.toThrow(/could not listen on 127\.0\.0\.1:\d+ \(port in use/);
      }
      // The connections' QUITs settle on the next round trips; give them time to (not) reject.
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(unhandled.map(String)).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
      await new Promise((resolve) => taken.close(resolve));
    }
  });
});
