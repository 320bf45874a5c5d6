/**
 * What both store backends share: argument checks (the same errors whichever database is behind) and the
 * mapping between table rows, whose columns both schemas name alike, and the records the interface returns.
 */
import type { ChatMessage } from '../inference/tokenizer/index.ts';
import { StoreError, type AccountRecord, type TurnLogInput, type TurnLogRecord, type TurnRatingValue } from './store.ts';

/** Throws StoreError unless `n` is a (positive, or with `zeroOk` non-negative) safe integer. */
export function checkCount(n: number, what: string, zeroOk: boolean): void {
  if (!Number.isSafeInteger(n) || n < 0 || (!zeroOk && n === 0)) throw new StoreError(`${what} must be a ${zeroOk ? 'non-negative' : 'positive'} integer, got ${n}`);
}

export function checkRating(rating: number): asserts rating is TurnRatingValue {
  if (rating !== 1 && rating !== -1) throw new StoreError(`rating must be 1 or -1, got ${String(rating)}`);
}

export function checkTrustDelta(delta: number): void {
  if (!Number.isSafeInteger(delta)) throw new StoreError(`a trust change must be an integer, got ${delta}`);
}

/** The columns of `turn_log` (both backends name them alike). */
export interface TurnLogRow {
  turn_id: string; npc_id: string; player_id: string; model_id: string; model_hash: string; seed: number; prompt: string;
  sampling_json: string; output_text: string; action_json: string | null; finish_reason: string; created_at: number;
  messages_json: string | null;
}

export interface AccountRow {
  id: string; kind: 'guest' | 'password'; device_secret_hash: string | null; username: string | null; password_hash: string | null;
  session_gen: number; created_at: number; last_seen_at: number;
}

/** A turn log row's column values in insert order (turn_id … messages_json), with the generated id. */
export function turnLogValues(rec: TurnLogInput, newId: () => string): { turnId: string; values: [string, string, string, string, string, number, string, string, string, string | null, string, number, string | null] } {
  const turnId = rec.turnId ?? newId();
  return {
    turnId,
    values: [
      turnId, rec.npcId, rec.playerId, rec.modelId, rec.modelHash, rec.seed, rec.prompt, JSON.stringify(rec.sampling),
      rec.output, rec.action === null || rec.action === undefined ? null : JSON.stringify(rec.action), rec.finishReason, Math.round(rec.createdAt ?? Date.now()),
      rec.messages ? JSON.stringify(rec.messages.map((m) => ({ role: m.role, content: m.content }))) : null,
    ],
  };
}

export function accountFromRow(r: AccountRow): AccountRecord {
  return {
    id: r.id,
    kind: r.kind,
    deviceSecretHash: r.device_secret_hash,
    username: r.username,
    passwordHash: r.password_hash,
    sessionGen: r.session_gen,
    createdAt: r.created_at,
    lastSeenAt: r.last_seen_at,
  };
}

export function turnFromRow(r: TurnLogRow): TurnLogRecord {
  return {
    turnId: r.turn_id,
    npcId: r.npc_id,
    playerId: r.player_id,
    modelId: r.model_id,
    modelHash: r.model_hash,
    seed: r.seed,
    prompt: r.prompt,
    sampling: JSON.parse(r.sampling_json) as Record<string, unknown>,
    output: r.output_text,
    action: r.action_json === null ? null : (JSON.parse(r.action_json) as unknown),
    finishReason: r.finish_reason,
    createdAt: r.created_at,
    ...(r.messages_json ? { messages: JSON.parse(r.messages_json) as ChatMessage[] } : {}),
  };
}
