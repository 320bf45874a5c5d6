/**
 * Accounts, sessions and the closed HTTP surface, through a real server on loopback and real SDK
 * clients: identity is the account (never the display name), tokens are verified, limits follow the
 * account, a second login takes over, clients cannot create rooms, unknown routes 404 at once.
 */
import { randomUUID } from 'node:crypto';
import { SignJWT, UnsecuredJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuthError, FileStorage, MemoryStorage, WorldAuth, WorldClientError, type WorldClient } from '../../client-sdk/src/index.ts';
import { AccountService, DEVELOPMENT_AUTH_SECRET } from '../../server/src/auth/accounts.ts';
import { ConfigError, loadConfig } from '../../server/src/config.ts';
import type { ErrorReply } from '../../shared/src/index.ts';
import { spawnServer } from '../support/server-process.ts';
import { connect, signedInRawClient, sleep, startTestServer, waitFor } from '../support/world-server.ts';
import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

type TestServer = Awaited<ReturnType<typeof startTestServer>>;

const http = (server: TestServer, path: string, init: RequestInit = {}) =>
  fetch(`http://127.0.0.1:${server.port}${path}`, { ...init, signal: AbortSignal.timeout(3_000) });

const postJson = (server: TestServer, path: string, body: unknown, headers: Record<string, string> = {}) =>
  http(server, path, { method: 'POST', headers: { 'Content-Type': 'application/json', ...headers }, body: JSON.stringify(body) });

function rejections(client: WorldClient, type: string): ErrorReply[] {
  const seen: ErrorReply[] = [];
  client.on('serverError', (e) => e.type === type && seen.push(e));
  return seen;
}

describe('accounts and sessions', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer({ NPC_ENABLED: false, CHAT_BURST: 3, CHAT_PER_SECOND: 0.01, RECONNECT_WINDOW_S: 20 });
  });
  afterAll(async () => {
    await server.shutdown();
  });

  it('signs in as a guest transparently; a returning guest (device secret) is the same player with its inventory', async () => {
    const first = await connect(server.endpoint, 'Wanderer');
    const accountId = first.accountId!;
    const deviceSecret = first.deviceSecret!;
    expect(accountId).toMatch(/^acct_/);
    expect(deviceSecret).toMatch(/^[A-Za-z0-9_-]{43}$/); // 256 random bits
    await waitFor('welcome', () => first.welcome);
    expect(first.welcome).toMatchObject({ accountId, name: 'Wanderer' });
    await server.store.addPlayerItem(accountId, 'lantern', 2); // what an NPC's give would do
    await first.leave();

    // Same device secret, a different display name: same account, same inventory.
    const back = await connect(server.endpoint, 'Wanderer the Second', { deviceSecret });
    expect(back.accountId).toBe(accountId);
    await waitFor('inventory restored', () => back.me?.inventory.lantern === 2);
    await back.leave();

    // A stored secret is reused by the SDK without being handed over explicitly.
    const storage = new MemoryStorage();
    const a = await connect(server.endpoint, 'Keeper', { storage });
    const secret = a.deviceSecret;
    await a.leave();
    const b = await connect(server.endpoint, 'Keeper', { storage });
    expect(b.deviceSecret).toBe(secret);
    expect(b.accountId).toBe(a.accountId);
    await b.leave();

    // In Node a file keeps it across processes (mode 0600).
    const file = join(mkdtempSync(join(tmpdir(), 'wm-auth-')), 'device.json');
    const c = await connect(server.endpoint, 'Filer', { storage: new FileStorage(file) });
    await c.leave();
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const d = await connect(server.endpoint, 'Filer', { storage: new FileStorage(file) });
    expect(d.accountId).toBe(c.accountId);
    await d.leave();
  });

  it('impersonation by name gets nothing: same name, other case, full-width or confusable letters are other accounts, shown apart', async () => {
    const alice = await connect(server.endpoint, 'Alice');
    await server.store.addPlayerItem(alice.accountId!, 'locket');
    await alice.leave();
    const aliceAgain = await connect(server.endpoint, 'Alice', { deviceSecret: alice.deviceSecret! });
    await waitFor('Alice has her locket', () => aliceAgain.me?.inventory.locket === 1);

    const impostors: WorldClient[] = [];
    for (const name of ['Alice', 'aLiCe', 'Ａｌｉｃｅ', '\u0410lice', 'A1ice']) impostors.push(await connect(server.endpoint, name));
    const shown: string[] = [];
    for (const impostor of impostors) {
      await waitFor('impostor welcome', () => impostor.welcome && impostor.me);
      expect(impostor.accountId).not.toBe(aliceAgain.accountId);
      expect(impostor.me!.inventory).toEqual({});
      shown.push(impostor.welcome!.name);
    }
    // Nobody else online can show a name that looks like "Alice"; the original keeps hers.
    expect(aliceAgain.me!.name).toBe('Alice');
    expect(shown).toEqual(['Alice (2)', 'aLiCe (3)', 'Alice (4)', '\u0410lice (5)', 'A1ice (6)']);
    expect(await server.store.playerInventory(aliceAgain.accountId!)).toEqual({ locket: 1 });
    for (const c of [aliceAgain, ...impostors]) await c.leave();
  });

  it('refuses joins without a token, and with forged, tampered, expired or revoked tokens', async () => {
    const raw = await signedInRawClient(server.endpoint);
    raw.auth.token = undefined as unknown as string;
    await expect(raw.joinOrCreate('world', { name: 'Nobody' })).rejects.toMatchObject({ code: 401, message: expect.stringMatching(/not signed in/) });

    const guest = new WorldAuth({ endpoint: server.endpoint });
    const session = await guest.signInAsGuest();
    const claims = { gen: 0 };
    const forged = await new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setIssuer('worldmind').setAudience('worldmind')
      .setSubject(session.accountId).setJti(randomUUID()).setIssuedAt().setExpirationTime('10m').sign(new TextEncoder().encode('x'.repeat(48)));
    const unsigned = new UnsecuredJWT(claims).setIssuer('worldmind').setAudience('worldmind').setSubject(session.accountId).setJti(randomUUID()).setExpirationTime('10m').encode();
    const [header, , signature] = session.token.split('.');
    const tampered = [header, Buffer.from(JSON.stringify({ sub: 'acct_someone_else', gen: 0, jti: 'x', iss: 'worldmind', aud: 'worldmind', exp: 9e9 })).toString('base64url'), signature].join('.');
    const past = new AccountService({ store: server.store, secret: DEVELOPMENT_AUTH_SECRET, tokenTtlS: 60, now: () => Date.now() - 3_600_000 });
    const expired = (await past.createGuest()).token;

    for (const [token, why] of [[forged, /invalid session token/], [unsigned, /invalid session token/], [tampered, /invalid session token/], ['garbage', /invalid session token/], [expired, /expired/]] as const) {
      const refused = await connect(server.endpoint, 'Mallory', { token }).catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(WorldClientError);
      expect(refused).toMatchObject({ code: 401, message: expect.stringMatching(why) });
    }

    // The real token works; after logout it is revoked, and the session joined with it ends (4401).
    const online = await connect(server.endpoint, 'Leaver', { token: session.token });
    const left = online.next('leave', 5_000);
    await guest.logout();
    expect((await left)[0]).toBe(4401);
    await expect(connect(server.endpoint, 'Leaver', { token: session.token })).rejects.toMatchObject({ code: 401, message: expect.stringMatching(/revoked/) });

    // "Sign out everywhere" revokes every token of the account, including ones issued earlier.
    const everywhere = new WorldAuth({ endpoint: server.endpoint });
    const older = (await everywhere.signInAsGuest()).token;
    const newer = (await everywhere.signInAsGuest({ deviceSecret: everywhere.deviceSecret! })).token;
    await everywhere.revokeAllSessions();
    for (const token of [older, newer]) await expect(connect(server.endpoint, 'Gone', { token })).rejects.toMatchObject({ code: 401 });
    // The device secret itself still signs the guest in (a fresh token).
    const again = await connect(server.endpoint, 'Back', { deviceSecret: everywhere.deviceSecret! });
    await again.leave();

    const unknown = await new WorldAuth({ endpoint: server.endpoint }).signInAsGuest({ deviceSecret: 'A'.repeat(43) }).catch((e: unknown) => e);
    expect(unknown).toBeInstanceOf(AuthError);
    expect(unknown).toMatchObject({ code: 'unknown_device', status: 401 });
  });

  it('a second login takes over the first session (close code 4409), even one waiting to reconnect', async () => {
    const first = await connect(server.endpoint, 'Twin');
    const deviceSecret = first.deviceSecret!;
    const firstLeft = first.next('leave', 5_000);
    const second = await connect(server.endpoint, 'Twin', { deviceSecret, reconnect: { enabled: false } });
    const [code, reason] = await firstLeft;
    expect(code).toBe(4409);
    expect(reason).toMatch(/taken over/);
    await waitFor('welcome', () => second.welcome);
    // The first seat is gone, so the new session shows the name without a suffix.
    expect(second.welcome!.name).toBe('Twin');
    const room = server.worldRooms().find((r) => r.roomId === second.roomId)!;
    expect(room.state.avatars.has(first.sessionId)).toBe(false);

    // A dropped session holds its seat for RECONNECT_WINDOW_S (20 s) — unless the account signs in again.
    const dropped = second;
    const ws = (dropped.room.connection as unknown as { transport: { ws: { terminate(): void } } }).transport.ws;
    ws.terminate();
    await waitFor('seat held while disconnected', () => room.state.avatars.get(dropped.sessionId)?.connected === false);
    const startedAt = Date.now();
    const third = await connect(server.endpoint, 'Twin', { deviceSecret });
    await waitFor('the held seat ends at once', () => !room.state.avatars.has(dropped.sessionId), 3_000);
    expect(Date.now() - startedAt).toBeLessThan(5_000);
    expect(room.playerCount).toBe(1);
    await waitFor('welcome', () => third.welcome);
    expect(third.welcome!.name).toBe('Twin');
    await third.leave();
  });

  it('limits follow the account: chat allowance does not come back by leaving and rejoining', async () => {
    const talker = await connect(server.endpoint, 'Chatty');
    const secret = talker.deviceSecret!;
    const refused = rejections(talker, 'chat');
    for (let i = 0; i < 3; i++) talker.say(`line ${i}`);
    await sleep(200);
    expect(refused).toEqual([]);
    await talker.leave();

    const back = await connect(server.endpoint, 'Chatty', { deviceSecret: secret });
    const refusedAgain = rejections(back, 'chat');
    back.say('one more?');
    await waitFor('rate limited after rejoining', () => refusedAgain.length === 1);
    expect(refusedAgain[0]).toMatchObject({ code: 'rate_limited' });
    await back.leave();
  });
});

describe('limits across parallel sessions and joins', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer({ NPC_ENABLED: false, MAX_SESSIONS_PER_ACCOUNT: 2, CHAT_BURST: 4, CHAT_PER_SECOND: 0.01, JOIN_BURST: 3, JOIN_PER_MINUTE: 0.1 });
  });
  afterAll(async () => {
    await server.shutdown();
  });

  it('two parallel sessions of one account share one chat allowance; a third session takes over the oldest', async () => {
    const auth = new WorldAuth({ endpoint: server.endpoint });
    const a = await connect(server.endpoint, 'Para', { auth });
    const b = await connect(server.endpoint, 'Para', { auth });
    expect(b.accountId).toBe(a.accountId);
    const refused = [...[a, b].map((c) => rejections(c, 'chat'))];
    for (let i = 0; i < 3; i++) {
      a.say(`a${i}`);
      b.say(`b${i}`);
    }
    await waitFor('two of six refused', () => refused[0]!.length + refused[1]!.length === 2);
    await sleep(200);
    expect(refused[0]!.length + refused[1]!.length).toBe(2); // 4 allowed in all, not 4 each

    const aLeft = a.next('leave', 5_000);
    const c = await connect(server.endpoint, 'Para', { auth });
    expect((await aLeft)[0]).toBe(4409);
    const avatars = server.worldRooms()[0]!.state.avatars;
    await waitFor('the oldest session gone', () => !avatars.has(a.sessionId));
    expect(avatars.has(b.sessionId) && avatars.has(c.sessionId)).toBe(true);
    await b.leave();
    await c.leave();

    // Joins are limited per account too: 3 made above (burst 3), the next is refused.
    await expect(connect(server.endpoint, 'Para', { auth })).rejects.toMatchObject({ code: 429, message: expect.stringMatching(/joining too often/) });
    // Another account is not affected.
    const other = await connect(server.endpoint, 'Other');
    await other.leave();
  });
});

describe('display names', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer({ NPC_ENABLED: false });
  });
  afterAll(async () => {
    await server.shutdown();
  });

  it('refuses control, bidi, zero-width, newline and invisible characters with a clear error, in the SDK and on the server', async () => {
    const cases: [string, RegExp][] = [
      ['Al\u0000ice', /NUL character \(U\+0000\)/],
      ['\u001b[31mRed', /escape character \(U\+001B/],
      ['Al\nice', /line break \(U\+000A\)/],
      ['\u202Eecila', /bidirectional-text control \(U\+202E\)/],
      ['Al\u2066ice', /bidirectional-text control \(U\+2066\)/],
      ['Al\u200Bice', /zero-width character \(U\+200B\)/],
      ['\u3164', /invisible or non-printing character/],
      ['   ', /display name is empty/],
      ['x'.repeat(25), /longer than 24 characters/],
      ['Alice (2)', /may not end in a number in parentheses/],
      ['...', /at least one letter or digit/],
    ];
    for (const [name, message] of cases) {
      // The SDK checks before sending anything…
      await expect(connect(server.endpoint, name)).rejects.toThrow(message);
      // …and the server refuses a client that skips the SDK.
      const raw = await signedInRawClient(server.endpoint);
      await expect(raw.joinOrCreate('world', { name })).rejects.toMatchObject({ code: 400, message: expect.stringMatching(message) });
    }
    // Normalised, not refused: full-width letters, odd spaces, surrounding whitespace.
    const ok = await connect(server.endpoint, '  Ｂｏｂ\u00A0\u3000the  Bold ');
    await waitFor('welcome', () => ok.welcome);
    expect(ok.welcome!.name).toBe('Bob the Bold');
    await ok.leave();
  });
});

describe('the HTTP surface', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer({ NPC_ENABLED: false, CORS_ORIGINS: 'https://game.example', GUEST_SIGNUP_BURST: 3, GUEST_SIGNUPS_PER_MINUTE: 0.01 });
  });
  afterAll(async () => {
    await server.shutdown();
  });

  it('refuses POST /matchmake/create/world (and joinById) from clients: only the server opens rooms', async () => {
    const token = (await new WorldAuth({ endpoint: server.endpoint }).signInAsGuest()).token;
    const before = server.worldRooms().length;
    for (let i = 0; i < 5; i++) {
      const res = await postJson(server, '/matchmake/create/world', { name: 'Builder' }, { Authorization: `Bearer ${token}` });
      expect(res.status).toBe(403);
      expect(await res.text()).toMatch(/clients cannot \\"create\\" rooms/);
    }
    const byId = await postJson(server, '/matchmake/joinById/anything', { name: 'Builder' }, { Authorization: `Bearer ${token}` });
    expect(byId.status).toBe(403);
    expect(server.worldRooms().length).toBe(before);
    // Joining still works, and is the only way in. The join that opens a room cannot configure it:
    // client options used to reach onCreate, where `aoiRadius: null` turned off area of interest.
    expect(before).toBe(0);
    const raw = await signedInRawClient(server.endpoint);
    const room = await raw.joinOrCreate('world', { name: 'Joiner', aoiRadius: null });
    expect(server.worldRooms().length).toBe(1);
    expect(server.worldRooms()[0]!.interest.fullSync).toBe(false);
    await room.leave();
  });

  it('answers unknown routes with 404 at once', async () => {
    for (const [method, path] of [['GET', '/nope'], ['POST', '/admin'], ['GET', '/matchmake/joinOrCreate/world'], ['PUT', '/auth/guest'], ['GET', '/metrics/extra']]) {
      const started = Date.now();
      const res = await http(server, path!, { method });
      expect(res.status, `${method} ${path}`).toBe(404);
      expect(await res.json()).toMatchObject({ error: 'not_found' });
      expect(Date.now() - started).toBeLessThan(1_000);
    }
    expect((await http(server, '/healthz')).status).toBe(200);
  });

  it('sets CORS deliberately: allowed origins are echoed, others get no Allow-Origin', async () => {
    const allowed = await http(server, '/auth/me', { headers: { Origin: 'https://game.example' } });
    expect(allowed.status).toBe(401); // not signed in — but the browser may read why
    expect(allowed.headers.get('access-control-allow-origin')).toBe('https://game.example');
    const other = await http(server, '/healthz', { headers: { Origin: 'https://evil.example' } });
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
    const preflight = await http(server, '/matchmake/joinOrCreate/world', { method: 'OPTIONS', headers: { Origin: 'https://evil.example', 'Access-Control-Request-Method': 'POST' } });
    expect(preflight.headers.get('access-control-allow-origin')).toBeNull();
    const preflightOk = await http(server, '/auth/guest', { method: 'OPTIONS', headers: { Origin: 'https://game.example', 'Access-Control-Request-Method': 'POST' } });
    expect(preflightOk.headers.get('access-control-allow-origin')).toBe('https://game.example');
  });

  it('limits new accounts per client address', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) statuses.push((await postJson(server, '/auth/guest', {})).status);
    // (one guest was already made by the first test, from the same address)
    const limited = await postJson(server, '/auth/guest', {});
    expect(statuses.filter((s) => s === 201).length).toBeLessThanOrEqual(3);
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(await limited.json()).toMatchObject({ error: 'rate_limited', message: expect.stringMatching(/too many new accounts/) });
  });
});

describe('admin access', () => {
  let server: TestServer;
  const ADMIN_TOKEN = 'admin-token-for-tests-0123456789';

  beforeAll(async () => {
    server = await startTestServer({ NPC_ENABLED: false, MONITOR_ENABLED: true, ADMIN_TOKEN });
  });
  afterAll(async () => {
    await server.shutdown();
  });

  it('with ADMIN_TOKEN, /metrics and /monitor need it (bearer or basic auth); /healthz stays open', async () => {
    for (const path of ['/metrics', '/monitor/api']) {
      const denied = await http(server, path);
      expect(denied.status, path).toBe(401);
      expect(denied.headers.get('www-authenticate')).toMatch(/^Basic realm=/);
      expect((await http(server, path, { headers: { Authorization: 'Bearer wrong-token-wrong-token' } })).status).toBe(401);
      expect((await http(server, path, { headers: { Authorization: `Bearer ${ADMIN_TOKEN}` } })).status, path).toBe(200);
      const basic = `Basic ${Buffer.from(`admin:${ADMIN_TOKEN}`).toString('base64')}`;
      expect((await http(server, path, { headers: { Authorization: basic } })).status, path).toBe(200);
    }
    // A player's session token is not an admin token.
    const token = (await new WorldAuth({ endpoint: server.endpoint }).signInAsGuest()).token;
    expect((await http(server, '/metrics', { headers: { Authorization: `Bearer ${token}` } })).status).toBe(401);
    expect((await http(server, '/healthz')).status).toBe(200);
  });
});

describe('password accounts', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer({ NPC_ENABLED: false });
  });
  afterAll(async () => {
    await server.shutdown();
  });

  it('registers, logs in, refuses wrong passwords and taken names; a guest that registers keeps its account', async () => {
    const guest = new WorldAuth({ endpoint: server.endpoint });
    const g = await guest.signInAsGuest();
    await server.store.addPlayerItem(g.accountId, 'map');
    const registered = await guest.register('Cartographer', 'correct horse battery');
    expect(registered).toMatchObject({ accountId: g.accountId, kind: 'password', username: 'cartographer' });

    const elsewhere = new WorldAuth({ endpoint: server.endpoint });
    await expect(elsewhere.login('cartographer', 'wrong password!')).rejects.toMatchObject({ code: 'invalid_credentials', status: 401 });
    await expect(elsewhere.login('nobody-here', 'whatever123')).rejects.toMatchObject({ code: 'invalid_credentials', status: 401 });
    await expect(new WorldAuth({ endpoint: server.endpoint }).register('CARTOGRAPHER', 'another password')).rejects.toMatchObject({ code: 'username_taken', status: 409 });
    await expect(elsewhere.login('cartographer', 'short')).rejects.toMatchObject({ code: 'invalid_request' });

    const world = await connect(server.endpoint, 'Mapper', { account: { username: 'cartographer', password: 'correct horse battery' } });
    expect(world.accountId).toBe(g.accountId);
    await waitFor('the guest inventory carried over', () => world.me?.inventory.map === 1);
    expect(await world.auth!.me()).toMatchObject({ accountId: g.accountId, kind: 'password', username: 'cartographer' });
    await world.leave();

    // Guessing is bounded: LOGIN_ATTEMPTS_PER_MINUTE (10) per user name and per address.
    const codes: string[] = [];
    for (let i = 0; i < 12; i++) codes.push(await elsewhere.login('cartographer', `guess number ${i}`).then(() => 'ok', (e: AuthError) => e.code));
    expect(codes.slice(0, 5)).toEqual(Array(5).fill('invalid_credentials'));
    expect(codes.at(-1)).toBe('rate_limited');
    expect(codes).not.toContain('ok');
  });
});

describe('secrets from configuration', () => {
  it('refuses to start in production without AUTH_SECRET, with one clear line', async () => {
    expect(() => loadConfig({ NODE_ENV: 'production' })).toThrow(ConfigError);
    expect(() => loadConfig({ NODE_ENV: 'production' })).toThrow(/^AUTH_SECRET is not set and NODE_ENV=production: .*set AUTH_SECRET to 32\+ random characters$/);
    expect(() => loadConfig({ NODE_ENV: 'production', AUTH_SECRET: 'too short' })).toThrow(/AUTH_SECRET=.*at least 32 characters/);
    expect(loadConfig({ NODE_ENV: 'production', AUTH_SECRET: 's'.repeat(40) }).AUTH_SECRET).toBe('s'.repeat(40));

    const proc = spawnServer({ PORT: '0', NODE_ENV: 'production', NPC_ENABLED: 'false' });
    const exit = await proc.exited;
    expect(exit.code).toBe(1);
    const lines = proc.output().trim().split('\n').filter((l) => !/^npm warn/.test(l));
    expect(lines).toEqual([expect.stringMatching(/^worldmind: AUTH_SECRET is not set and NODE_ENV=production/)]);
  });
});
