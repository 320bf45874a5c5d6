/**
 * The hand-written evaluation lines as WorldSamples — assets/eval/handwritten.yaml for the test split,
 * assets/eval/handwritten-valid.yaml for the validation split (for tuning) — with source `handwritten`
 * and prompts built by the server's prompt code like every generated sample. Each line is checked when
 * loaded: the NPC exists, an expected action is legal for it, and lore keywords name one of its lore
 * facts (the expected fact).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { z } from 'zod';
import { formatReply } from '../../../server/src/npc/action-syntax.ts';
import { LORE_HEADER } from '../../../server/src/npc/prompt.ts';
import { describeAction, isActionAllowed, NpcActionSchema, type NpcAction } from '../../../server/src/npc/script-schema.ts';
import type { WorldSample } from '../sample.ts';
import { placeName, voiced } from './candidates.ts';
import { rewritePerson, words } from '../../../server/src/npc/english.ts';
import { EMPTY_MEMORY, npcContexts, promptMessages, type CorpusWorld, type NpcContext } from './npc-context.ts';
import { normalize } from './generate.ts';
import { defaultSituation } from './situation.ts';
import { Rng, shortHash } from './rng.ts';

export const DEFAULT_HANDWRITTEN = fileURLToPath(new URL('../../../assets/eval/handwritten.yaml', import.meta.url));
export const DEFAULT_HANDWRITTEN_VALID = fileURLToPath(new URL('../../../assets/eval/handwritten-valid.yaml', import.meta.url));

const HANDWRITTEN_KINDS = ['lore', 'action', 'schedule', 'greeting', 'smalltalk', 'refusal', 'injection'] as const;

const Line = z.strictObject({
  npc: z.string().min(1),
  kind: z.enum(HANDWRITTEN_KINDS),
  line: z.string().trim().min(1),
  keywords: z.array(z.string().trim().toLowerCase().min(1)).min(1).optional(),
  action: NpcActionSchema.nullable().optional(),
  note: z.string().optional(),
});
export type HandwrittenLine = z.output<typeof Line>;

export class HandwrittenError extends Error {
  override name = 'HandwrittenError';
}

/** Parses and checks the YAML list; every problem is reported at once, by entry number. */
export function parseHandwritten(text: string, world: CorpusWorld, file = 'handwritten.yaml'): HandwrittenLine[] {
  const data: unknown = parse(text);
  const parsed = z.array(Line).safeParse(data);
  if (!parsed.success) {
    throw new HandwrittenError(parsed.error.issues.map((i) => `${file}: entry ${String(i.path[0] ?? '?')}: ${i.path.slice(1).join('.')} ${i.message}`).join('\n'));
  }
  const scripts = new Map(world.scripts.map((s) => [s.id, s]));
  const problems: string[] = [];
  const seen = new Map<string, number>();
  parsed.data.forEach((l, i) => {
    const at = `${file}: entry ${i} (${l.npc}: "${l.line}")`;
    const key = handwrittenLineKey(l.npc, l.line);
    if (seen.has(key)) problems.push(`${at}: repeats entry ${seen.get(key)} (same words to the same NPC)`);
    else seen.set(key, i);
    const script = scripts.get(l.npc);
    if (!script) return void problems.push(`${at}: no NPC "${l.npc}"`);
    if (l.action && !isActionAllowed(script.actions, l.action)) problems.push(`${at}: action ${describeAction(l.action)} is not allowed for ${l.npc}`);
    if ((l.kind === 'action') && l.action === undefined) problems.push(`${at}: an action line needs the expected action (null for none)`);
    if ((l.kind === 'refusal' || l.kind === 'injection') && l.action) problems.push(`${at}: ${l.kind} lines expect no action`);
    if (l.kind === 'lore') {
      if (!l.keywords) problems.push(`${at}: a lore line needs keywords`);
      else if (!expectedFact(script.lore, l.keywords)) problems.push(`${at}: no lore fact of ${l.npc} contains all of ${l.keywords.join(', ')}`);
    }
    if (l.kind === 'schedule' && !l.keywords) problems.push(`${at}: a schedule line needs keywords`);
  });
  if (problems.length) throw new HandwrittenError(problems.join('\n'));
  return parsed.data;
}

/** What makes two lines the same: the NPC and the line's words, case and punctuation aside ("hiya finn" = "Hiya, Finn!"). */
export function handwrittenLineKey(npc: string, line: string): string {
  return `${npc}\0${normalize(line)}`;
}

/** The lore fact containing every keyword (as words, case-insensitive); the first when several do. */
function expectedFact(lore: readonly string[], keywords: readonly string[]): string | undefined {
  return lore.find((fact) => {
    const ws = new Set(words(fact).map((w) => w.toLowerCase().replace(/['’]s$/, '')));
    return keywords.every((k) => ws.has(k) || k.split(/\s+/).every((p) => ws.has(p)));
  });
}

/** Loads the hand-written lines as samples of `split`. */
export function loadHandwritten(world: CorpusWorld, path = DEFAULT_HANDWRITTEN, contexts: readonly NpcContext[] = npcContexts(world), split: 'valid' | 'test' = 'test'): WorldSample[] {
  const lines = parseHandwritten(readFileSync(path, 'utf8'), world, path);
  const byId = new Map(contexts.map((c) => [c.script.id, c]));
  return lines.map((l, i) => {
    const ctx = byId.get(l.npc)!;
    const situation = defaultSituation(ctx);
    const messages = promptMessages(ctx, l.line, EMPTY_MEMORY, situation);
    const fact = l.kind === 'lore' ? expectedFact(ctx.script.lore, l.keywords!) : undefined;
    const action: NpcAction | null = l.action ?? null;
    const speech = referenceSpeech(ctx, l, fact, Rng.derive(i, 'handwritten', l.line));
    const loreMessage = messages.find((m, k) => k > 0 && m.role === 'system' && m.content.startsWith(LORE_HEADER))?.content ?? '';
    return {
      id: `${l.npc}-handwritten-${shortHash(l.line)}`,
      npcId: l.npc,
      kind: l.kind,
      split,
      player: l.line,
      messages,
      speech,
      action,
      reply: formatReply(speech, action),
      ...(fact ? { fact, factInPrompt: loreMessage.includes(fact) } : {}),
      ...(l.keywords ? { factKeywords: l.keywords } : {}),
      ...(l.kind === 'refusal' || l.kind === 'injection' ? { refusal: true } : {}),
      source: 'handwritten',
      situation,
    } satisfies WorldSample;
  });
}

/** A reference answer (the evaluation scores keywords and actions, not this text). */
function referenceSpeech(ctx: NpcContext, l: HandwrittenLine, fact: string | undefined, rng: Rng): string {
  const opts = { opener: 0, closer: 0 };
  switch (l.kind) {
    case 'lore':
      return voiced(ctx, rng, rewritePerson(fact!, ctx.self, 'first'), opts);
    case 'greeting':
      return ctx.script.greeting;
    case 'refusal':
      return voiced(ctx, rng, ctx.voice.puzzled[0]!, opts);
    case 'injection':
      return voiced(ctx, rng, ctx.voice.unmoved[0]!, opts);
    case 'schedule': {
      const lm = [...ctx.landmarks.values()].find((x) => l.keywords!.some((k) => x.name.toLowerCase().split(/\s+/).includes(k)));
      return voiced(ctx, rng, `You'll find me at ${lm ? placeName(ctx, lm) : l.keywords!.join(' ')}, {addr}.`, opts);
    }
    default: {
      const a = l.action;
      if (!a) return voiced(ctx, rng, 'Not that, {addr}.', opts);
      if (a.type === 'walk_to') {
        const lm = ctx.landmarks.get(a.landmark);
        return voiced(ctx, rng, `Follow me to ${lm ? placeName(ctx, lm) : a.landmark}.`, opts);
      }
      if (a.type === 'give_item') return voiced(ctx, rng, `Here, take this ${a.item.replace(/_/g, ' ')}.`, opts);
      if (a.type === 'follow') return voiced(ctx, rng, "Lead on, {addr}. I'm right behind you.", opts);
      if (a.type === 'stop') return voiced(ctx, rng, "Right, I'll wait here.", opts);
      return voiced(ctx, rng, 'There you go, {addr}.', opts);
    }
  }
}

