/**
 * Feedback corpus: NPC turns players rated well, and turns designers corrected, as fine-tuning samples.
 *
 * A rated turn becomes a `feedback` sample when its net rating (the sum of its ±1 ratings) reaches
 * `minRating` (default 1, i.e. > 0), it finished normally (not a scripted fallback, not cut off), its
 * reply parses, and its action is legal for the NPC's *current* script. Designer corrections
 * (`corrections.yaml` beside the scripts, format in `assets/npcs/README.md`) replace a turn's reply and
 * action and always become samples, whatever the turn's rating, as long as the corrected action is legal.
 *
 * A sample's `messages` are the ones the server rendered that turn's prompt from (the turn log's
 * `messages`): a turn logged without them is skipped (`no_messages`).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Node as YamlNode } from 'yaml';
import { z } from 'zod';
import type { ChatMessage } from '../../server/src/inference/tokenizer/index.ts';
import { formatReply, parseReply } from '../../server/src/npc/action-syntax.ts';
import { CORRECTIONS_FILE, formatProblem, loadNpcScripts, type ScriptProblem } from '../../server/src/npc/script-loader.ts';
import { isActionAllowed, NpcActionSchema, type NpcAction, type NpcScript } from '../../server/src/npc/script-schema.ts';
import { openStore, type TurnLogRecord } from '../../server/src/persistence/store.ts';
import type { WorldSample } from './sample.ts';

export interface FeedbackOptions {
  /** The server's SQLite file (`DB_PATH`): turn log and ratings. Unused with `databaseUrl`. */
  dbPath: string;
  /** The server's PostgreSQL (`DATABASE_URL`), where a cluster keeps its turn log and ratings. */
  databaseUrl?: string;
  /** NPC scripts (`NPC_DIR`), as they are now: actions are checked against them. */
  npcDir: string;
  /** Lowest net rating (sum of ±1 ratings) a turn needs. Default 1. */
  minRating?: number;
  /** Designer corrections. Default `corrections.yaml` in `npcDir` (it may be absent); a path given here must exist. */
  correctionsPath?: string;
}

export interface FeedbackReport {
  /** Rated turns in the turn log. */
  rated: number;
  /** Samples produced (rated turns and corrections). */
  used: number;
  /** Why turns (or corrections) were left out, with counts. */
  skipped: Record<string, number>;
}

/** Reasons a turn or correction is left out (the keys of `report.skipped`). */
export type FeedbackSkipReason =
  | 'low_rating' // net rating below minRating (down-rated, or as many downs as ups)
  | 'fallback' // a scripted fallback line, not the model's
  | 'unfinished' // cut off (length), cancelled or failed
  | 'no_messages' // logged without the prompt's messages
  | 'unknown_npc' // no current script for the NPC
  | 'malformed_output' // the reply's action call does not parse
  | 'illegal_action' // the action is not allowed by the NPC's current script
  | 'empty_reply' // nothing was said
  | 'correction_unknown_turn' // a correction names a turn id the log does not have
  | 'correction_no_match' // a correction's npc + player line matches no logged turn (with messages)
  | 'correction_illegal_action'; // a correction's action is not allowed by the NPC's current script

/** One designer correction, as read from the corrections file. */
export type Correction = {
  reply: string;
  action: NpcAction | null;
  note?: string;
  /** Where it is in the file (`file:line`), for messages. */
  at: string;
} & ({ turn: string } | { npc: string; player: string });

export class CorrectionsError extends Error {
  override name = 'CorrectionsError';
  constructor(readonly problems: ScriptProblem[]) {
    super(`corrections file has problems:\n${problems.map(formatProblem).join('\n')}`);
  }
}

export async function feedbackSamples(options: FeedbackOptions): Promise<{ samples: WorldSample[]; report: FeedbackReport }> {
  const minRating = options.minRating ?? 1;
  if (!options.databaseUrl && !existsSync(options.dbPath)) throw new Error(`no turn log database at ${options.dbPath}`);
  const loaded = loadNpcScripts(options.npcDir);
  if (loaded.scripts.length === 0 && loaded.problems.length > 0) throw new Error(`no usable NPC scripts in ${options.npcDir}:\n${loaded.problems.map(formatProblem).join('\n')}`);
  const correctionsPath = options.correctionsPath ?? join(options.npcDir, CORRECTIONS_FILE);
  if (options.correctionsPath !== undefined && !existsSync(correctionsPath)) throw new Error(`no corrections file at ${correctionsPath}`);
  const corrections = existsSync(correctionsPath) ? parseCorrections(readFileSync(correctionsPath, 'utf8'), correctionsPath) : [];

  const skipped: Record<string, number> = {};
  const skip = (reason: FeedbackSkipReason) => void (skipped[reason] = (skipped[reason] ?? 0) + 1);
  const out: { turn: TurnLogRecord; sample: WorldSample }[] = [];

  const store = await openStore({ dbPath: options.dbPath, ...(options.databaseUrl ? { databaseUrl: options.databaseUrl } : {}) });
  try {
    // Corrections first: each claims the turns it names (a later entry for the same turn wins).
    const corrected = new Map<string, { correction: Correction; turn: TurnLogRecord }>();
    const turnsByNpc = new Map<string, TurnLogRecord[]>();
    for (const correction of corrections) {
      if ('turn' in correction) {
        const turn = await store.getTurn(correction.turn);
        if (turn) corrected.set(turn.turnId, { correction, turn });
        else skip('correction_unknown_turn');
        continue;
      }
      let turns = turnsByNpc.get(correction.npc);
      if (!turns) turnsByNpc.set(correction.npc, (turns = await store.listTurns({ npcId: correction.npc, limit: -1 })));
      const line = normalizeLine(correction.player);
      const matches = turns.filter((t) => t.messages && normalizeLine(playerLineOf(t.messages) ?? '') === line);
      if (matches.length === 0) skip('correction_no_match');
      for (const turn of matches) corrected.set(turn.turnId, { correction, turn });
    }
    for (const { correction, turn } of corrected.values()) {
      const script = loaded.byId.get(turn.npcId);
      if (!turn.messages || !playerLineOf(turn.messages)) skip('no_messages');
      else if (!script) skip('unknown_npc');
      else if (correction.action && !isActionAllowed(script.actions, correction.action)) skip('correction_illegal_action');
      else out.push({ turn, sample: toSample(`correction:${turn.turnId}`, turn, turn.messages, correction.reply, correction.action) });
    }

    const rated = await store.listRatedTurns();
    for (const turn of rated) {
      if (corrected.has(turn.turnId)) continue; // the designer's correction stands in for it
      const reason = checkRatedTurn(turn, turn.netRating, minRating, loaded.byId.get(turn.npcId));
      if (typeof reason === 'string') skip(reason);
      else out.push({ turn, sample: toSample(`feedback:${turn.turnId}`, turn, turn.messages!, reason.speech, reason.action) });
    }

    out.sort((a, b) => a.turn.createdAt - b.turn.createdAt || (a.turn.turnId < b.turn.turnId ? -1 : a.turn.turnId > b.turn.turnId ? 1 : 0));
    return { samples: out.map((o) => o.sample), report: { rated: rated.length, used: out.length, skipped } };
  } finally {
    await store.close();
  }
}

/** Why a rated turn cannot be a sample, or its speech and (legal) action. */
function checkRatedTurn(turn: TurnLogRecord, netRating: number, minRating: number, script: NpcScript | undefined): FeedbackSkipReason | { speech: string; action: NpcAction | null } {
  if (netRating < minRating) return 'low_rating';
  if (turn.finishReason === 'fallback') return 'fallback';
  if (turn.finishReason !== 'stop') return 'unfinished';
  if (!turn.messages || !playerLineOf(turn.messages)) return 'no_messages';
  if (!script) return 'unknown_npc';
  // The raw output, not the logged action: the log nulls an action that was illegal when generated.
  const parsed = parseReply(turn.output);
  if (parsed.malformed) return 'malformed_output';
  let action: NpcAction | null = null;
  if (parsed.action) {
    const valid = NpcActionSchema.safeParse(parsed.action);
    if (!valid.success || !isActionAllowed(script.actions, valid.data)) return 'illegal_action';
    action = valid.data;
  }
  if (!parsed.speech) return 'empty_reply';
  return { speech: parsed.speech, action };
}

function toSample(id: string, turn: TurnLogRecord, messages: ChatMessage[], speech: string, action: NpcAction | null): WorldSample {
  return {
    id,
    npcId: turn.npcId,
    kind: 'feedback',
    split: 'train',
    player: playerLineOf(messages)!,
    messages: messages.map((m) => ({ role: m.role, content: m.content })),
    speech,
    action,
    reply: formatReply(speech, action),
  };
}

/** The player's line: the prompt's last message, when it is the user's. */
function playerLineOf(messages: readonly ChatMessage[]): string | undefined {
  const last = messages[messages.length - 1];
  return last?.role === 'user' ? last.content : undefined;
}

/** Corrections match player lines ignoring case and runs of whitespace. */
function normalizeLine(line: string): string {
  return line.trim().replace(/\s+/g, ' ').toLowerCase();
}

// ── the corrections file ──────────────────────────────────────────────────────────────────────────

const reply = z.string().trim().min(1, 'must not be empty').max(800, 'must be at most 800 characters')
  .refine((s) => !s.includes('['), 'the reply is speech only: give the action under `action`, not as [[…]] in the text');
const common = {
  reply,
  /** Omitted or null: the NPC takes no action ([[none]]). */
  action: NpcActionSchema.nullable().optional(),
  note: z.string().optional(),
};
const ByTurn = z.strictObject({ turn: z.string().trim().min(1, 'must not be empty'), ...common });
const ByLine = z.strictObject({
  npc: z.string().trim().min(1, 'must not be empty'),
  player: z.string().trim().min(1, 'must not be empty'),
  ...common,
});

/**
 * Parses a corrections file: a YAML list of `{turn, reply, action?, note?}` or `{npc, player, reply,
 * action?, note?}`. An empty (or all-comment) file has none. Throws CorrectionsError listing every
 * problem as `file:line:col: message`.
 */
export function parseCorrections(source: string, file: string): Correction[] {
  const lineCounter = new LineCounter();
  const doc = parseDocument(source, { lineCounter, uniqueKeys: true });
  const problems: ScriptProblem[] = [];
  const at = (node: YamlNode | null | undefined) => {
    const { line, col } = node?.range ? lineCounter.linePos(node.range[0]) : { line: 1, col: 1 };
    return { file, line, col };
  };
  for (const err of doc.errors) {
    const [line, col] = err.linePos?.[0] ? [err.linePos[0].line, err.linePos[0].col] : [1, 1];
    problems.push({ file, line, col, message: `YAML syntax: ${err.message.split('\n')[0]!.split(/ at line \d+, column \d+/)[0]}` });
  }
  if (problems.length > 0) throw new CorrectionsError(problems);

  const root = doc.contents as YamlNode | null;
  if (root === null || (isScalar(root) && root.value === null)) return [];
  if (!isSeq(root)) throw new CorrectionsError([{ ...at(root), message: 'expected a list of corrections (each entry starts with "- turn:" or "- npc:")' }]);

  const corrections: Correction[] = [];
  root.items.forEach((item, i) => {
    const node = item as YamlNode;
    const data: unknown = isMap(node) ? node.toJSON() : undefined;
    if (!isMap(node) || data === null || typeof data !== 'object') {
      problems.push({ ...at(node), message: `[${i}]: expected a mapping with turn (or npc and player), reply and action` });
      return;
    }
    const schema = 'turn' in data ? ByTurn : ByLine;
    const parsed = schema.safeParse(data);
    if (!parsed.success) {
      for (const issue of parsed.error.issues) {
        const key = issue.path[0];
        const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && p.key.value === key);
        const where = issue.path.length ? `[${i}].${issue.path.join('.')}` : `[${i}]`;
        const message = issue.code === 'invalid_type' && pair === undefined ? `missing required field "${String(key)}"` : issue.message;
        problems.push({ ...at(pair && isPair(pair) ? ((pair.value as YamlNode | null) ?? (pair.key as YamlNode)) : node), message: `${where}: ${message}` });
      }
      return;
    }
    const { line } = at(node);
    const { action, note, reply: text } = parsed.data;
    const base = { reply: text, action: action ?? null, ...(note !== undefined ? { note } : {}), at: `${file}:${line}` };
    corrections.push('turn' in parsed.data ? { ...base, turn: parsed.data.turn } : { ...base, npc: (parsed.data as z.infer<typeof ByLine>).npc, player: (parsed.data as z.infer<typeof ByLine>).player });
  });
  if (problems.length > 0) throw new CorrectionsError(problems);
  return corrections;
}
