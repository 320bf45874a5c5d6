/**
 * Signing in to a Worldmind server. Players authenticate before they join: by default as a guest,
 * whose identity is a device secret the server issues once and the client keeps (in a pluggable
 * storage) and reuses, so a returning guest is the same player — same inventory, same NPC memories.
 * Password accounts (register / login) are optional; a guest that registers keeps its account.
 */
import {
  AuthPath,
  CredentialsSchema,
  describeIssue,
  DeviceSecretSchema,
  type AccountInfo,
  type AuthErrorBody,
  type AuthSession,
} from '@worldmind/shared';

/**
 * Where the device secret is kept: the Web Storage shape (`localStorage` fits as is), sync or async.
 * Anyone who can read it can play as this guest: keep it where the player's other secrets live.
 */
export interface SecretStorage {
  getItem(key: string): string | null | undefined | Promise<string | null | undefined>;
  setItem(key: string, value: string): void | Promise<void>;
  removeItem(key: string): void | Promise<void>;
}

/** Keeps secrets in this object only: gone when the process exits. */
export class MemoryStorage implements SecretStorage {
  readonly #items = new Map<string, string>();
  getItem(key: string): string | undefined {
    return this.#items.get(key);
  }
  setItem(key: string, value: string): void {
    this.#items.set(key, value);
  }
  removeItem(key: string): void {
    this.#items.delete(key);
  }
}

/**
 * Node: keeps secrets in a JSON file (created with mode 0600), so a bot or a desktop client returns
 * as the same guest after a restart.
 */
export class FileStorage implements SecretStorage {
  constructor(readonly path: string) {}

  async #read(): Promise<Record<string, string>> {
    const { readFile } = await import('node:fs/promises');
    try {
      return JSON.parse(await readFile(this.path, 'utf8')) as Record<string, string>;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
      throw err;
    }
  }

  async #write(items: Record<string, string>): Promise<void> {
    const { mkdir, rename, writeFile } = await import('node:fs/promises');
    const { dirname } = await import('node:path');
    await mkdir(dirname(this.path), { recursive: true });
    const tmp = `${this.path}.${process.pid}.tmp`;
    await writeFile(tmp, JSON.stringify(items, null, 2) + '\n', { mode: 0o600 });
    await rename(tmp, this.path);
  }

  async getItem(key: string): Promise<string | undefined> {
    return (await this.#read())[key];
  }

  async setItem(key: string, value: string): Promise<void> {
    const items = await this.#read();
    items[key] = value;
    await this.#write(items);
  }

  async removeItem(key: string): Promise<void> {
    const items = await this.#read();
    delete items[key];
    await this.#write(items);
  }
}

/**
 * The default storage: `localStorage` in browsers (the guest survives reloads, and every tab of the
 * site is the same player); in Node a new MemoryStorage, so each `WorldAuth` — and so each
 * `WorldClient.connect` not given one — is a new guest unless a storage or device secret is passed.
 */
export function defaultSecretStorage(): SecretStorage {
  const ls = (globalThis as { localStorage?: SecretStorage }).localStorage;
  try {
    if (ls && typeof ls.getItem === 'function') return ls;
  } catch {
    // access to localStorage can throw (privacy settings, opaque origins)
  }
  return new MemoryStorage();
}

/** A refused sign-in or account request. */
export class AuthError extends Error {
  override name = 'AuthError';
  constructor(
    message: string,
    /** Server code (`unknown_device`, `invalid_credentials`, `username_taken`, `unauthorized`, `rate_limited`, `invalid_request`) or `network`. */
    readonly code: string,
    /** HTTP status (0 when the server could not be reached). */
    readonly status: number,
    readonly retryAfterS?: number,
  ) {
    super(message);
  }
}

export interface WorldAuthOptions {
  /** Server address, `ws://host:port` or `http://host:port` (wss/https alike). */
  endpoint: string;
  /** Where the device secret is kept. Default: see `defaultSecretStorage`. */
  storage?: SecretStorage;
  /** Storage key; default `worldmind:device-secret:<server origin>`, so one storage can serve several servers. */
  storageKey?: string;
  /** Bound on each HTTP request (ms). Default 10 s. */
  timeoutMs?: number;
}

/** Refresh a token this long before it expires. */
const EXPIRY_MARGIN_MS = 30_000;

/** Signs in to one server and keeps the session: guest by default, or a password account. */
export class WorldAuth {
  readonly httpBase: string;
  readonly storage: SecretStorage;
  readonly storageKey: string;
  readonly #timeoutMs: number;
  #session: AuthSession | undefined;
  #deviceSecret: string | undefined;

  constructor(options: WorldAuthOptions) {
    this.httpBase = httpBaseOf(options.endpoint);
    this.storage = options.storage ?? defaultSecretStorage();
    this.storageKey = options.storageKey ?? `worldmind:device-secret:${this.httpBase}`;
    this.#timeoutMs = options.timeoutMs ?? 10_000;
  }

  /** The current session (account id, token, expiry), if signed in. */
  get session(): AuthSession | undefined {
    return this.#session;
  }

  get accountId(): string | undefined {
    return this.#session?.accountId;
  }

  /** This guest's device secret, once known (stored, given, or just issued). */
  get deviceSecret(): string | undefined {
    return this.#deviceSecret;
  }

  /**
   * Signs in as a guest: with `deviceSecret` if given, else the one in storage, else the server
   * issues a new guest and its secret is stored. A stored secret the server does not know (its
   * database was reset) is replaced by a new guest unless `createIfUnknown` is false.
   */
  async signInAsGuest(options: { deviceSecret?: string; createIfUnknown?: boolean } = {}): Promise<AuthSession> {
    const given = options.deviceSecret;
    if (given !== undefined) {
      const parsed = DeviceSecretSchema.safeParse(given);
      if (!parsed.success) throw new AuthError(describeIssue(parsed.error), 'invalid_request', 400);
    }
    const secret = given ?? ((await this.storage.getItem(this.storageKey)) || undefined);
    if (secret) {
      try {
        const session = await this.#post(AuthPath.Guest, { deviceSecret: secret });
        await this.#keepSecret(secret);
        return this.#adopt(session);
      } catch (err) {
        // An explicitly given secret must be that player or nobody; a stale stored one is replaced.
        if (!(err instanceof AuthError && err.code === 'unknown_device') || given !== undefined || options.createIfUnknown === false) throw err;
      }
    }
    const session = await this.#post(AuthPath.Guest, {});
    if (session.deviceSecret) await this.#keepSecret(session.deviceSecret);
    return this.#adopt(session);
  }

  /**
   * Creates a password account. Signed in as a guest, the guest itself becomes the account (same id,
   * inventory and memories); otherwise a new account is made.
   */
  async register(username: string, password: string): Promise<AuthSession> {
    const body = this.#credentials(username, password);
    const bearer = this.#session && this.#session.kind === 'guest' && this.#session.expiresAt > Date.now() + EXPIRY_MARGIN_MS ? this.#session.token : undefined;
    return this.#adopt(await this.#post(AuthPath.Register, body, bearer));
  }

  async login(username: string, password: string): Promise<AuthSession> {
    return this.#adopt(await this.#post(AuthPath.Login, this.#credentials(username, password)));
  }

  /** Uses a session token obtained elsewhere (e.g. from the game's own backend). */
  useToken(session: AuthSession): void {
    this.#adopt(session);
  }

  /**
   * A token that is valid for a while yet: the current one, or — for a guest — a fresh one from the
   * device secret. Password sessions past expiry must `login` again.
   */
  async validToken(): Promise<string> {
    const session = this.#session;
    if (session && session.expiresAt > Date.now() + EXPIRY_MARGIN_MS) return session.token;
    if (!session || session.kind === 'guest') return (await this.signInAsGuest(this.#deviceSecret ? { deviceSecret: this.#deviceSecret } : {})).token;
    throw new AuthError('the session expired: sign in again with login()', 'unauthorized', 401);
  }

  /** Who the server says this token belongs to. */
  async me(): Promise<AccountInfo> {
    return this.#request<AccountInfo>('GET', AuthPath.Me, undefined, await this.validToken());
  }

  /** Revokes this session's token on the server (sessions joined with it end) and forgets it here. */
  async logout(): Promise<void> {
    const session = this.#session;
    this.#session = undefined;
    if (session && session.expiresAt > Date.now()) await this.#request('POST', AuthPath.Logout, {}, session.token);
  }

  /** Revokes every token of the account, on every device ("sign out everywhere"). */
  async revokeAllSessions(): Promise<void> {
    const token = await this.validToken();
    this.#session = undefined;
    await this.#request('POST', AuthPath.RevokeAll, {}, token);
  }

  /** Forgets the stored device secret: the next guest sign-in is a new player. */
  async forgetDevice(): Promise<void> {
    this.#deviceSecret = undefined;
    this.#session = undefined;
    await this.storage.removeItem(this.storageKey);
  }

  #credentials(username: string, password: string) {
    const parsed = CredentialsSchema.safeParse({ username, password });
    if (!parsed.success) throw new AuthError(describeIssue(parsed.error), 'invalid_request', 400);
    return parsed.data;
  }

  async #keepSecret(secret: string): Promise<void> {
    this.#deviceSecret = secret;
    if ((await this.storage.getItem(this.storageKey)) !== secret) await this.storage.setItem(this.storageKey, secret);
  }

  #adopt(session: AuthSession): AuthSession {
    this.#session = session;
    if (session.deviceSecret) this.#deviceSecret = session.deviceSecret;
    return session;
  }

  #post(path: string, body: unknown, bearer?: string): Promise<AuthSession> {
    return this.#request<AuthSession>('POST', path, body, bearer);
  }

  async #request<T>(method: 'GET' | 'POST', path: string, body: unknown, bearer?: string): Promise<T> {
    const headers: Record<string, string> = { Accept: 'application/json' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (bearer) headers.Authorization = `Bearer ${bearer}`;
    let res: Response;
    try {
      res = await fetch(this.httpBase + path, {
        method,
        headers,
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
    } catch (err) {
      throw new AuthError(`could not reach ${this.httpBase}${path}: ${(err as Error).message}`, 'network', 0);
    }
    if (res.status === 204) return undefined as T;
    const text = await res.text();
    let data: unknown;
    try {
      data = text ? JSON.parse(text) : undefined;
    } catch {
      data = undefined;
    }
    if (!res.ok) {
      const err = (data ?? {}) as Partial<AuthErrorBody>;
      throw new AuthError(err.message ?? `${method} ${path} failed with HTTP ${res.status}`, err.error ?? 'http_error', res.status, err.retryAfterS);
    }
    return data as T;
  }
}

/** `ws://h:p/x` → `http://h:p/x` (no trailing slash). */
export function httpBaseOf(endpoint: string): string {
  const url = new URL(endpoint);
  if (url.protocol === 'ws:') url.protocol = 'http:';
  else if (url.protocol === 'wss:') url.protocol = 'https:';
  return url.toString().replace(/\/+$/, '');
}
