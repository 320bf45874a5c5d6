/**
 * What a tuning session reads after the headline figures: which lines a model got wrong (`--misses`) and
 * which calls changed against an earlier run's scored replies (`--compare <eval.json>`, written with
 * `--json-out f --replies`). Both work on scored replies alone, so any two runs on the same split compare,
 * whatever settings or model made them.
 */
import { readFileSync } from 'node:fs';
import { table } from './report.ts';
import type { ReplyScore } from './scoring.ts';

/** The call a reply was scored against: the expected action, `none` for a refusal, or undefined (lore, small talk). */
export function expectedCall(r: ReplyScore): string | undefined {
  if (r.action) return r.action.expected;
  if (r.refusal) return 'none';
  return undefined;
}

/** Whether the reply's call is the expected one (undefined: the reply has no expected call). */
export function callCorrect(r: ReplyScore): boolean | undefined {
  if (r.action) return r.action.correct;
  if (r.refusal) return r.refusal.actionNone;
  return undefined;
}

/** Replies whose call was wrong (actions and refusals), ordered by NPC, kind and player line. */
export function callMisses(replies: readonly ReplyScore[]): ReplyScore[] {
  return replies.filter((r) => callCorrect(r) === false).sort(byNpcKindLine);
}

export interface CallChange {
  before: ReplyScore;
  after: ReplyScore;
  /** +1 wrong → right, -1 right → wrong, 0 neither side expected (or both wrong). */
  effect: -1 | 0 | 1;
}

/** Replies (matched by sample id) whose call body differs between two runs on the same split. */
export function callChanges(before: readonly ReplyScore[], after: readonly ReplyScore[]): CallChange[] {
  const earlier = new Map(before.map((r) => [r.id, r]));
  const changes: CallChange[] = [];
  for (const now of after) {
    const then = earlier.get(now.id);
    if (!then || then.body === now.body) continue;
    const was = callCorrect(then) === true;
    const is = callCorrect(now) === true;
    changes.push({ before: then, after: now, effect: was === is ? 0 : is ? 1 : -1 });
  }
  // Gains, then losses, then changes where neither side was right.
  const rank = (c: CallChange) => (c.effect === 1 ? 0 : c.effect === -1 ? 1 : 2);
  return changes.sort((a, b) => rank(a) - rank(b) || byNpcKindLine(a.after, b.after));
}

/** The misses as text lines: NPC, kind, expected call, the call made, the player's line. */
export function formatMisses(replies: readonly ReplyScore[], label: string): string {
  const misses = callMisses(replies);
  const scored = replies.filter((r) => callCorrect(r) !== undefined).length;
  const rows = misses.map((r) => [r.npcId, r.kind, expectedCall(r)!, r.body ?? '(malformed)', r.player]);
  return [`call misses of ${label}: ${misses.length} of ${scored} replies with an expected call`, listing(['npc', 'kind', 'expected', 'got', 'player line'], rows)].join('\n');
}

/** The changes as text lines, gains first, with a one-line tally. */
export function formatChanges(changes: readonly CallChange[], beforeLabel: string): string {
  const mark = (ok: boolean | undefined) => (ok === undefined ? ' ' : ok ? '+' : '-');
  const rows = changes.map((c) => [
    c.after.npcId,
    c.after.kind,
    expectedCall(c.after) ?? '',
    `${mark(callCorrect(c.before))}${c.before.body ?? '(malformed)'}`,
    `${mark(callCorrect(c.after))}${c.after.body ?? '(malformed)'}`,
    c.after.player,
  ]);
  const gained = changes.filter((c) => c.effect > 0).length;
  const lost = changes.filter((c) => c.effect < 0).length;
  return [
    `calls changed against ${beforeLabel}: ${changes.length} (${gained} wrong → right, ${lost} right → wrong; + right, - wrong)`,
    listing(['npc', 'kind', 'expected', 'before', 'now', 'player line'], rows),
  ].join('\n');
}

/** The first model's scored replies in an eval JSON line or file written with `--replies`. */
export function readScoredReplies(path: string): ReplyScore[] {
  let parsed: { eval?: { models?: Array<{ replies?: ReplyScore[] }> }; models?: Array<{ replies?: ReplyScore[] }> };
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new Error(`${path}: not an eval JSON file (${(error as Error).message})`);
  }
  const replies = (parsed.eval ?? parsed).models?.[0]?.replies;
  if (!Array.isArray(replies)) throw new Error(`${path} holds no scored replies: write it with --json-out <file> --replies`);
  return replies;
}

function byNpcKindLine(a: ReplyScore, b: ReplyScore): number {
  return a.npcId.localeCompare(b.npcId) || a.kind.localeCompare(b.kind) || (a.player ?? '').localeCompare(b.player ?? '');
}

function listing(header: string[], rows: string[][]): string {
  return rows.length === 0 ? '  (none)' : table(header, rows, 'text');
}
