/**
 * The accounts HTTP API (served next to the matchmaker): paths, request validators and response
 * shapes. A client signs in here first, then passes the session token it got to `joinOrCreate`.
 */
import { z } from 'zod';

export const AuthPath = {
  /** Guest sign-in: `{}` creates a guest (the response carries its new device secret); `{ deviceSecret }` signs it in again. */
  Guest: '/auth/guest',
  /** `{ username, password }`: a new password account — or, with a guest's bearer token, that guest upgraded in place. */
  Register: '/auth/register',
  /** `{ username, password }`: sign in to a password account. */
  Login: '/auth/login',
  /** Bearer token: revokes that one token and ends the sessions joined with it. */
  Logout: '/auth/logout',
  /** Bearer token: revokes every token of the account and ends all its sessions ("sign out everywhere"). */
  RevokeAll: '/auth/revoke-all',
  /** Bearer token (GET): the account it belongs to. */
  Me: '/auth/me',
} as const;

export type AccountKind = 'guest' | 'password';

/** What every successful sign-in returns. */
export interface AuthSession {
  accountId: string;
  kind: AccountKind;
  /** Short-lived session token (JWT); pass it to `joinOrCreate`. */
  token: string;
  /** When `token` expires, ms since the epoch. */
  expiresAt: number;
  /** Password accounts: the (normalised) user name. */
  username?: string;
  /**
   * Only when a guest was just created: the device secret that signs this guest in again. Keep it
   * (the SDK stores it); the server never shows it again and cannot recover it.
   */
  deviceSecret?: string;
}

export interface AccountInfo {
  accountId: string;
  kind: AccountKind;
  username?: string;
  createdAt: number;
}

export const AuthErrorCode = {
  InvalidRequest: 'invalid_request',
  /** The device secret is not one this server issued (or its guest was deleted). */
  UnknownDevice: 'unknown_device',
  InvalidCredentials: 'invalid_credentials',
  UsernameTaken: 'username_taken',
  /** A bearer token is missing, malformed, forged, expired or revoked. */
  Unauthorized: 'unauthorized',
  RateLimited: 'rate_limited',
  NotFound: 'not_found',
} as const;
export type AuthErrorCodeValue = (typeof AuthErrorCode)[keyof typeof AuthErrorCode];

export interface AuthErrorBody {
  error: AuthErrorCodeValue;
  message: string;
  /** For `rate_limited`: seconds until a retry can succeed. */
  retryAfterS?: number;
}

/** Device secrets are server-issued: 32 random bytes, base64url (43 characters). */
export const DeviceSecretSchema = z.string().regex(/^[A-Za-z0-9_-]{43}$/, 'deviceSecret is not a device secret this server issues');

export const GuestSignInSchema = z.strictObject({
  deviceSecret: DeviceSecretSchema.optional(),
});

/** User names: NFKC, lower-cased, 3–32 of a–z, 0–9, "_", "." and "-", starting with a letter or digit. */
export const UsernameSchema = z
  .string({ error: 'username must be a string' })
  .max(128, 'username is longer than 32 characters')
  .transform((s) => s.normalize('NFKC').trim().toLowerCase())
  .pipe(z.string().regex(/^[a-z0-9][a-z0-9_.-]{2,31}$/, 'username must be 3–32 characters of a–z, 0–9, "_", "." or "-", starting with a letter or digit'));

export const PasswordSchema = z
  .string({ error: 'password must be a string' })
  .min(8, 'password is shorter than 8 characters')
  .max(256, 'password is longer than 256 characters');

export const CredentialsSchema = z.strictObject({
  username: UsernameSchema,
  password: PasswordSchema,
});
