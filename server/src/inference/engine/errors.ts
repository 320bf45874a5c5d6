/**
 * Why a request did not (or will not) produce a normal result.
 *
 * Every rejection says whether retrying later can help (`retryable`): callers such as the NPC brain use it
 * to choose between "try again in a moment" and "say the scripted fallback line now".
 */
export type EngineErrorCode =
  /** The bounded queue is full; retry later. */
  | 'queue-full'
  /** A higher-priority request took this one's queue place; retry later. */
  | 'shed'
  /** KV memory is booked by running requests; retry later. */
  | 'kv-exhausted'
  /** The prompt can never fit: longer than the context or than the whole KV budget. */
  | 'never-fits'
  /** The first token could not be produced before the request's deadline. */
  | 'deadline-exceeded'
  /** The caller aborted (AbortSignal). */
  | 'aborted'
  /** The worker thread died mid-request; the engine restarts on its own. */
  | 'worker-died'
  /** The engine is shutting down or was closed. */
  | 'closed'
  /** The request itself is malformed (bad options, unknown constraint...). */
  | 'invalid-request'
  /** Anything else that went wrong inside the engine. */
  | 'internal';

const RETRYABLE: ReadonlySet<EngineErrorCode> = new Set<EngineErrorCode>([
  'queue-full',
  'shed',
  'kv-exhausted',
  'deadline-exceeded',
  'worker-died',
]);

export function isRetryable(code: EngineErrorCode): boolean {
  return RETRYABLE.has(code);
}

/** The serializable form that crosses the thread boundary. */
export interface EngineErrorInfo {
  code: EngineErrorCode;
  message: string;
  retryable: boolean;
}

export class EngineError extends Error {
  readonly code: EngineErrorCode;
  readonly retryable: boolean;

  constructor(code: EngineErrorCode, message: string) {
    super(message);
    this.name = 'EngineError';
    this.code = code;
    this.retryable = isRetryable(code);
  }

  toInfo(): EngineErrorInfo {
    return { code: this.code, message: this.message, retryable: this.retryable };
  }

  static fromInfo(info: EngineErrorInfo): EngineError {
    return new EngineError(info.code, info.message);
  }
}
