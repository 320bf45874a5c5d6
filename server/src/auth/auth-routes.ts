/**
 * The accounts HTTP API (`/auth/*`, see `AuthPath` in shared/), registered on the uWS app as exact
 * routes next to the matchmaker. JSON in, JSON out, CORS per CORS_ORIGINS, errors as
 * `{ error, message, retryAfterS? }` with a matching HTTP status.
 */
import type { HttpRequest, HttpResponse, TemplatedApp } from 'uWebSockets.js';
import { AuthErrorCode, AuthPath, CredentialsSchema, describeIssue, GuestSignInSchema, type AuthErrorBody } from '@worldmind/shared';
import type { z } from 'zod';
import type { ServerConfig } from '../config.ts';
import type { Logger } from '../observability/logger.ts';
import { BodyTooLarge, clientAddress, readBody, writeJson, type CorsPolicy } from '../http-surface.ts';
import { KeyedBuckets } from '../world/player-limits.ts';
import { AuthError, type AccountService, type SessionClaims } from './accounts.ts';
import type { SessionRegistry } from './sessions.ts';

const MAX_BODY_BYTES = 8 * 1024;

interface RouteRequest {
  body: unknown;
  bearer: string | undefined;
  address: string;
}

interface RouteResult {
  status: number;
  body?: unknown;
}

export interface AuthRoutesDeps {
  accounts: AccountService;
  sessions: SessionRegistry;
  config: Pick<ServerConfig, 'GUEST_SIGNUP_BURST' | 'GUEST_SIGNUPS_PER_MINUTE' | 'LOGIN_ATTEMPTS_PER_MINUTE' | 'TRUST_PROXY'>;
  cors: CorsPolicy;
  log: Logger;
}

export function mountAuthRoutes(app: TemplatedApp, deps: AuthRoutesDeps): void {
  const { accounts, sessions, config, log } = deps;
  // New accounts per client address: guests are free, so without this anyone could mint accounts to
  // reset their per-account limits. (0 = unlimited, e.g. load tests from one address.)
  const signups = config.GUEST_SIGNUP_BURST > 0 ? new KeyedBuckets(config.GUEST_SIGNUP_BURST, config.GUEST_SIGNUPS_PER_MINUTE / 60) : undefined;
  // Password guesses per user name (whichever address they come from) and per address (each guess
  // costs a scrypt hash, so random names must not make them free).
  const logins = new KeyedBuckets(config.LOGIN_ATTEMPTS_PER_MINUTE, config.LOGIN_ATTEMPTS_PER_MINUTE / 60);

  const takeSignup = (address: string) => {
    if (signups && !signups.tryTake(address)) {
      const retry = Math.ceil(signups.retryAfterS(address));
      throw new AuthError(429, AuthErrorCode.RateLimited, `too many new accounts from your address; try again in ${retry} s`, retry);
    }
  };

  const route = (method: 'get' | 'post', path: string, handle: (req: RouteRequest) => Promise<RouteResult>) => {
    app[method](path, (res: HttpResponse, req: HttpRequest) => {
      let aborted = false;
      res.onAborted(() => {
        aborted = true;
      });
      // HttpRequest is only valid during this call: read everything now.
      const cors = deps.cors.headersFor(req.getHeader('origin') || undefined);
      const authorization = req.getHeader('authorization');
      const contentType = req.getHeader('content-type');
      const address = clientAddress(res, req, config.TRUST_PROXY);
      const bearer = /^Bearer\s+(\S+)$/i.exec(authorization)?.[1];
      const respond = (status: number, body: unknown, extra: Record<string, string> = {}) => {
        if (!aborted) writeJson(res, status, body, { ...cors, ...extra });
      };
      void (async () => {
        try {
          let body: unknown = {};
          if (method === 'post') {
            const raw = await readBody(res, MAX_BODY_BYTES);
            if (raw.length > 0) {
              if (!/^application\/json\b/i.test(contentType)) throw new AuthError(415, AuthErrorCode.InvalidRequest, 'send the request body as JSON (Content-Type: application/json)');
              try {
                body = JSON.parse(raw.toString('utf8'));
              } catch {
                throw new AuthError(400, AuthErrorCode.InvalidRequest, 'request body is not valid JSON');
              }
            }
          }
          const result = await handle({ body, bearer, address });
          respond(result.status, result.body);
        } catch (err) {
          if (err instanceof AuthError) {
            const body: AuthErrorBody = { error: err.code, message: err.message, ...(err.retryAfterS !== undefined ? { retryAfterS: err.retryAfterS } : {}) };
            respond(err.status, body, err.retryAfterS !== undefined ? { 'Retry-After': String(err.retryAfterS) } : {});
          } else if (err instanceof BodyTooLarge) {
            respond(413, { error: AuthErrorCode.InvalidRequest, message: err.message } satisfies AuthErrorBody);
          } else {
            log.error({ err, path }, 'auth request failed');
            respond(500, { error: AuthErrorCode.InvalidRequest, message: 'internal error' });
          }
        }
      })();
    });
  };

  const parse = <S extends z.ZodType>(schema: S, body: unknown): z.infer<S> => {
    const parsed = schema.safeParse(body);
    if (!parsed.success) throw new AuthError(400, AuthErrorCode.InvalidRequest, describeIssue(parsed.error));
    return parsed.data;
  };
  const signedIn = (bearer: string | undefined): Promise<SessionClaims> => accounts.verify(bearer);

  route('post', AuthPath.Guest, async ({ body, address }) => {
    const { deviceSecret } = parse(GuestSignInSchema, body);
    if (deviceSecret) return { status: 200, body: await accounts.signInWithDeviceSecret(deviceSecret) };
    takeSignup(address);
    const session = await accounts.createGuest();
    log.debug({ accountId: session.accountId }, 'guest account created');
    return { status: 201, body: session };
  });

  route('post', AuthPath.Register, async ({ body, bearer, address }) => {
    const { username, password } = parse(CredentialsSchema, body);
    // A bearer token upgrades that (guest) account in place; a bad one is an error, not a new account.
    const upgrade = bearer ? await signedIn(bearer) : undefined;
    if (!upgrade) takeSignup(address);
    return { status: 201, body: await accounts.register(username, password, upgrade) };
  });

  route('post', AuthPath.Login, async ({ body, address }) => {
    const { username, password } = parse(CredentialsSchema, body);
    for (const [key, what] of [[`addr:${address}`, 'from your address'], [`user:${username}`, `for "${username}"`]] as const) {
      if (!logins.tryTake(key)) {
        const retry = Math.ceil(logins.retryAfterS(key));
        throw new AuthError(429, AuthErrorCode.RateLimited, `too many sign-in attempts ${what}; try again in ${retry} s`, retry);
      }
    }
    return { status: 200, body: await accounts.login(username, password) };
  });

  route('post', AuthPath.Logout, async ({ bearer }) => {
    const claims = await signedIn(bearer);
    await accounts.revoke(claims);
    sessions.endSessions(claims.accountId, claims.jti, 'signed out');
    return { status: 204 };
  });

  route('post', AuthPath.RevokeAll, async ({ bearer }) => {
    const claims = await signedIn(bearer);
    await accounts.revokeAll(claims.accountId);
    sessions.endSessions(claims.accountId, undefined, 'signed out everywhere');
    return { status: 204 };
  });

  route('get', AuthPath.Me, async ({ bearer }) => {
    const claims = await signedIn(bearer);
    const info = await accounts.info(claims.accountId);
    if (!info) throw new AuthError(401, AuthErrorCode.Unauthorized, 'the account of this session token no longer exists');
    return { status: 200, body: info };
  });
}
