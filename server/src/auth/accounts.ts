/**
 * Accounts and session tokens. A player is an account (its id keys memories, inventories, the turn
 * log, ratings and every limit); the display name is only what others see.
 *
 * - Guests: the server issues a random 256-bit device secret once; the client keeps it and signs in
 *   with it again. Only its SHA-256 is stored (a secret that random needs no slow hash).
 * - Password accounts: user name + password (scrypt, constant-time compare). A signed-in guest that
 *   registers keeps its account id, so its inventory and memories carry over.
 * - Session tokens: short-lived HS256 JWTs (jose) carrying the account id, a token id (`jti`) and the
 *   account's session generation. A token is refused when expired, forged, revoked by id (logout), or
 *   issued before the generation was bumped ("sign out everywhere").
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { errors as joseErrors, jwtVerify, SignJWT } from 'jose';
import { AuthErrorCode, type AccountInfo, type AccountKind, type AuthErrorCodeValue, type AuthSession } from '@worldmind/shared';
import { StoreError, type AccountRecord, type WorldStore } from '../persistence/store.ts';
import { dummyPasswordHash, hashPassword, verifyPassword } from './passwords.ts';

/** Signs tokens when AUTH_SECRET is unset. Public by design: `NODE_ENV=production` refuses to start on it. */
export const DEVELOPMENT_AUTH_SECRET = 'worldmind-development-secret-not-for-production-use';

const ISSUER = 'worldmind';
const AUDIENCE = 'worldmind';

export class AuthError extends Error {
  override name = 'AuthError';
  constructor(
    /** HTTP status for the auth routes. */
    readonly status: number,
    readonly code: AuthErrorCodeValue,
    message: string,
    readonly retryAfterS?: number,
  ) {
    super(message);
  }
}

/** What a verified session token says. Becomes `client.auth` in the world room. */
export interface SessionClaims {
  accountId: string;
  kind: AccountKind;
  /** The token's own id (for revoking just this token). */
  jti: string;
  /** ms since the epoch. */
  expiresAt: number;
}

export interface AccountServiceOptions {
  store: WorldStore;
  /** AUTH_SECRET (at least 32 characters). */
  secret: string;
  tokenTtlS: number;
  /** Injected clock (tests). */
  now?: () => number;
}

export function hashDeviceSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

export class AccountService {
  readonly #store: WorldStore;
  readonly #key: Uint8Array;
  readonly #ttlS: number;
  readonly #now: () => number;

  constructor(opts: AccountServiceOptions) {
    this.#store = opts.store;
    this.#key = new TextEncoder().encode(opts.secret);
    this.#ttlS = opts.tokenTtlS;
    this.#now = opts.now ?? Date.now;
  }

  /** A new guest account and its device secret (returned once, never stored in the clear). */
  async createGuest(): Promise<AuthSession> {
    const deviceSecret = randomBytes(32).toString('base64url');
    const account = await this.#store.createAccount({ id: newAccountId(), kind: 'guest', deviceSecretHash: hashDeviceSecret(deviceSecret), now: this.#now() });
    return { ...(await this.#issue(account)), deviceSecret };
  }

  /** Signs a guest in again with the device secret it was given (a registered account may use it too). */
  async signInWithDeviceSecret(deviceSecret: string): Promise<AuthSession> {
    const account = await this.#store.accountByDeviceSecretHash(hashDeviceSecret(deviceSecret));
    if (!account) throw new AuthError(401, AuthErrorCode.UnknownDevice, 'unknown device secret: this server never issued it (or its account is gone); sign in as a new guest');
    return this.#issue(account);
  }

  /**
   * A password account. With `upgrade` (the claims of a signed-in guest) the guest becomes that
   * account, keeping its id; otherwise a new account is created.
   */
  async register(username: string, password: string, upgrade?: SessionClaims): Promise<AuthSession> {
    if (await this.#store.accountByUsername(username)) throw new AuthError(409, AuthErrorCode.UsernameTaken, `the user name "${username}" is taken`);
    const passwordHash = await hashPassword(password);
    try {
      if (upgrade) {
        const account = await this.#store.account(upgrade.accountId);
        if (!account) throw new AuthError(401, AuthErrorCode.Unauthorized, 'the account of this session no longer exists');
        if (account.kind !== 'guest') throw new AuthError(409, AuthErrorCode.InvalidRequest, 'this account already has a user name and password');
        await this.#store.setCredentials(account.id, username, passwordHash);
        return await this.#issue((await this.#store.account(account.id))!);
      }
      const account = await this.#store.createAccount({ id: newAccountId(), kind: 'password', username, passwordHash, now: this.#now() });
      return await this.#issue(account);
    } catch (err) {
      if (err instanceof StoreError) throw new AuthError(409, AuthErrorCode.UsernameTaken, `the user name "${username}" is taken`);
      throw err;
    }
  }

  async login(username: string, password: string): Promise<AuthSession> {
    const account = await this.#store.accountByUsername(username);
    // Same work whether or not the name exists, so timing does not tell which names are registered.
    const ok = await verifyPassword(password, account?.passwordHash ?? (await dummyPasswordHash()));
    if (!account || !account.passwordHash || !ok) throw new AuthError(401, AuthErrorCode.InvalidCredentials, 'wrong user name or password');
    return this.#issue(account);
  }

  /** Checks a session token: signature, issuer/audience, expiry, revocation, session generation. */
  async verify(token: string | undefined): Promise<SessionClaims> {
    if (!token) throw new AuthError(401, AuthErrorCode.Unauthorized, 'not signed in: get a session token from POST /auth/guest (the SDK does this for you) and pass it when joining');
    let payload;
    try {
      ({ payload } = await jwtVerify(token, this.#key, {
        issuer: ISSUER,
        audience: AUDIENCE,
        algorithms: ['HS256'],
        requiredClaims: ['sub', 'jti', 'exp', 'gen'],
        currentDate: new Date(this.#now()),
      }));
    } catch (err) {
      if (err instanceof joseErrors.JWTExpired) throw new AuthError(401, AuthErrorCode.Unauthorized, 'session token expired: sign in again');
      throw new AuthError(401, AuthErrorCode.Unauthorized, 'invalid session token (malformed, or not signed by this server)');
    }
    const accountId = payload.sub!;
    const jti = payload.jti!;
    const account = await this.#store.account(accountId);
    if (!account) throw new AuthError(401, AuthErrorCode.Unauthorized, 'the account of this session token no longer exists');
    if (payload.gen !== account.sessionGen || (await this.#store.isTokenRevoked(jti))) throw new AuthError(401, AuthErrorCode.Unauthorized, 'session token revoked: sign in again');
    return { accountId, kind: account.kind, jti, expiresAt: payload.exp! * 1000 };
  }

  /** Revokes one token (logout). */
  async revoke(claims: SessionClaims): Promise<void> {
    await this.#store.pruneRevokedTokens(this.#now());
    await this.#store.revokeToken(claims.jti, claims.accountId, claims.expiresAt);
  }

  /** Revokes every token of the account ("sign out everywhere"). */
  async revokeAll(accountId: string): Promise<void> {
    await this.#store.bumpSessionGeneration(accountId);
  }

  async info(accountId: string): Promise<AccountInfo | undefined> {
    const account = await this.#store.account(accountId);
    return account ? { accountId: account.id, kind: account.kind, ...(account.username ? { username: account.username } : {}), createdAt: account.createdAt } : undefined;
  }

  async #issue(account: AccountRecord): Promise<AuthSession> {
    const now = this.#now();
    const expiresAtS = Math.floor(now / 1000) + this.#ttlS;
    const token = await new SignJWT({ gen: account.sessionGen })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setSubject(account.id)
      .setJti(randomUUID())
      .setIssuedAt(Math.floor(now / 1000))
      .setExpirationTime(expiresAtS)
      .sign(this.#key);
    await this.#store.touchAccount(account.id, now);
    return { accountId: account.id, kind: account.kind, token, expiresAt: expiresAtS * 1000, ...(account.username ? { username: account.username } : {}) };
  }
}

function newAccountId(): string {
  return `acct_${randomBytes(16).toString('base64url')}`;
}
