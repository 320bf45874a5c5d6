/**
 * Errors clients cause (undecodable frames, floods, repeated rejected messages, refused joins) are an
 * operator's statistic, not a stack trace per client: each is counted in
 * `worldmind_client_errors_total{reason}` and logged as a `warn` line at most once per interval per
 * reason, with how many were left out since the last line (`suppressed`).
 */
import { Counter } from 'prom-client';
import type { Logger } from './logger.ts';
import type { ServerMetrics } from './metrics.ts';

export type ClientErrorReason = 'malformed_message' | 'message_flood' | 'repeated_rejections' | 'join_refused';

export class ClientErrors {
  readonly #counter: Counter<'reason'>;
  readonly #last = new Map<string, { at: number; suppressed: number }>();

  constructor(
    metrics: Pick<ServerMetrics, 'registry'>,
    private readonly log: Logger,
    private readonly intervalMs = 10_000,
  ) {
    const existing = metrics.registry.getSingleMetric('worldmind_client_errors_total') as Counter<'reason'> | undefined;
    this.#counter =
      existing ??
      new Counter({
        name: 'worldmind_client_errors_total',
        help: 'Client-caused errors by reason (undecodable frames, floods, repeated rejected messages, refused joins)',
        labelNames: ['reason'] as const,
        registers: [metrics.registry],
      });
  }

  /** Counts one; logs a warning unless one for this reason was logged within the interval. */
  report(reason: ClientErrorReason, fields: Record<string, unknown>, message: string): void {
    this.#counter.inc({ reason });
    const now = Date.now();
    const last = this.#last.get(reason);
    if (last && now - last.at < this.intervalMs) {
      last.suppressed++;
      return;
    }
    this.log.warn({ ...fields, reason, suppressed: last?.suppressed ?? 0 }, message);
    this.#last.set(reason, { at: now, suppressed: 0 });
  }
}

/**
 * Colyseus's logger (process-wide, `console` by default, which prints multi-line stacks) as pino lines
 * (also used for the console itself, see routeConsoleToLog):
 * one JSON object per event. A stack becomes the `stack` field of the line; an identical message
 * (info and above) repeated within the interval is counted into the next line (`repeated`) instead of
 * printed again.
 */
export function colyseusLogger(log: Logger, intervalMs = 10_000) {
  const last = new Map<string, { at: number; repeated: number }>();
  const emit = (level: 'trace' | 'debug' | 'info' | 'warn' | 'error', args: unknown[]) => {
    const fields: Record<string, unknown> = {};
    const parts: string[] = [];
    for (const arg of args) {
      if (arg instanceof Error) {
        fields.err = arg;
        parts.push(arg.message);
      } else if (typeof arg === 'string') {
        parts.push(arg);
      } else if (arg !== undefined) {
        parts.push(safeString(arg));
      }
    }
    let message = parts.join(' ').trim();
    // A stack printed as a string: the first line is the message, the whole text the stack (or the
    // detail, for Colyseus's multi-line hints).
    const firstNewline = message.indexOf('\n');
    if (firstNewline >= 0) {
      fields[/\n\s+at /.test(message) ? 'stack' : 'detail'] = message;
      message = message.slice(0, firstNewline);
    }
    if (message === '' && fields.err === undefined) return; // Colyseus prints blank spacer lines
    if (level === 'error' && reportInFrame(message)) return;
    // Colyseus's messages are fixed texts (some caused by clients, e.g. a stale reconnection token): the
    // same one within the interval is counted, not printed again.
    if (level === 'info' || level === 'warn' || level === 'error') {
      const key = `${level}:${message}`;
      const now = Date.now();
      const seen = last.get(key);
      if (seen && now - seen.at < intervalMs) {
        seen.repeated++;
        return;
      }
      if (seen?.repeated) fields.repeated = seen.repeated;
      last.set(key, { at: now, repeated: 0 });
      if (last.size > 1000) last.clear();
    }
    log[level](fields, message);
  };
  return {
    trace: (...args: unknown[]) => emit('trace', args),
    debug: (...args: unknown[]) => emit('debug', args),
    info: (...args: unknown[]) => emit('info', args),
    warn: (...args: unknown[]) => emit('warn', args),
    error: (...args: unknown[]) => emit('error', args),
  };
}

function safeString(value: unknown): string {
  try {
    return typeof value === 'object' ? JSON.stringify(value) : String(value);
  } catch {
    return String(value);
  }
}

/** The client frame being dispatched right now (Colyseus decodes and logs synchronously inside it). */
let currentFrame: { errors: ClientErrors; fields: Record<string, unknown>; reported: boolean } | undefined;

/**
 * Runs the dispatch of one client frame. A Colyseus error logged meanwhile (an undecodable payload) is
 * the client's doing: counted as `malformed_message` instead of an error line with a stack. Returns
 * whether that happened.
 */
export function dispatchClientFrame(errors: ClientErrors, fields: Record<string, unknown>, dispatch: () => void): boolean {
  const frame = { errors, fields, reported: false };
  const outer = currentFrame;
  currentFrame = frame;
  // @colyseus/schema's decoder prints to console.error (e.g. invalid UTF-8 in a message type) and carries on.
  const { error, warn } = console;
  console.error = fromDecoder;
  console.warn = fromDecoder;
  try {
    dispatch();
  } finally {
    console.error = error;
    console.warn = warn;
    currentFrame = outer;
  }
  return frame.reported;
}

const fromDecoder = (...args: unknown[]): void => {
  reportInFrame(args.map(String).join(' '), 'client sent a malformed message');
};

function reportInFrame(message: string, what = 'client sent an undecodable message; disconnecting it'): boolean {
  const frame = currentFrame;
  if (!frame) return false;
  frame.reported = true;
  frame.errors.report('malformed_message', { ...frame.fields, error: message }, what);
  return true;
}

/**
 * The process's console as pino lines (for `main.ts`): a library that prints with console.* still
 * produces one JSON line per event. Returns a function that restores the console.
 */
export function routeConsoleToLog(log: Logger): () => void {
  const original = { log: console.log, info: console.info, warn: console.warn, error: console.error, debug: console.debug };
  const lines = colyseusLogger(log);
  console.log = lines.info;
  console.info = lines.info;
  console.warn = lines.warn;
  console.error = lines.error;
  console.debug = lines.debug;
  return () => Object.assign(console, original);
}
