/**
 * Validation for client messages. Colyseus's built-in validation disconnects a client on the first
 * malformed payload; the protocol promises an error reply instead, with disconnection reserved for
 * repeated abuse, so messages are validated here with the shared zod schemas.
 */
import type { Client } from '@colyseus/core';
import { describeIssue, ErrorCode, Limits, ServerMessage, WorldCloseCode, type ErrorCodeValue, type ErrorReply } from '@worldmind/shared';
import type { z } from 'zod';
import type { ClientErrors } from '../observability/client-errors.ts';
import type { ServerMetrics } from '../observability/metrics.ts';
import { StrikeCounter } from './rate-limiter.ts';

/** Close code sent to clients disconnected for repeated protocol abuse (application range 4000–4999). */
export const CLOSE_ABUSE = WorldCloseCode.Abuse;

export class MessageGuard {
  readonly #strikes = new Map<string, StrikeCounter>();

  constructor(
    private readonly maxInvalidPerWindow: number,
    private readonly clientErrors: Pick<ClientErrors, 'report'>,
    private readonly metrics: Pick<ServerMetrics, 'messagesIn' | 'messagesRejected'>,
    private readonly windowMs = 10_000,
  ) {}

  /** Wraps a handler: the payload reaches it only if it parses; otherwise the sender gets an error reply. */
  handler<S extends z.ZodType>(type: string, schema: S, handle: (client: Client, message: z.infer<S>) => void) {
    return (client: Client, payload: unknown) => {
      this.metrics.messagesIn.inc({ type });
      const parsed = schema.safeParse(payload);
      if (!parsed.success) {
        this.reject(client, type, ErrorCode.InvalidMessage, describeIssue(parsed.error), refOf(payload));
        return;
      }
      handle(client, parsed.data);
    };
  }

  /** Sends an error reply and counts a strike; too many strikes in the window disconnect the client. */
  reject(client: Client, type: string, code: ErrorCodeValue, message: string, ref?: string): void {
    const reply: ErrorReply = { type, code, message, ...(ref !== undefined ? { ref } : {}) };
    this.metrics.messagesRejected.inc({ type, code });
    client.send(ServerMessage.Error, reply);
    let counter = this.#strikes.get(client.sessionId);
    if (!counter) this.#strikes.set(client.sessionId, (counter = new StrikeCounter(this.maxInvalidPerWindow, this.windowMs)));
    if (counter.strike(Date.now())) {
      this.clientErrors.report('repeated_rejections', { sessionId: client.sessionId, type, code }, 'disconnecting client after repeated rejected messages');
      this.#strikes.delete(client.sessionId);
      client.leave(CLOSE_ABUSE, 'too many rejected messages');
    }
  }

  forget(sessionId: string): void {
    this.#strikes.delete(sessionId);
  }
}

/** A request's correlation id (`ref`), echoed even when the rest of the payload is invalid, so the client can settle it. */
function refOf(payload: unknown): string | undefined {
  const ref = payload !== null && typeof payload === 'object' ? (payload as { ref?: unknown }).ref : undefined;
  return typeof ref === 'string' && ref.length > 0 && ref.length <= Limits.talkRefMaxLength ? ref : undefined;
}
