/**
 * The world-dialogue corpus: for every NPC script, lore questions, greetings and small talk, schedule
 * questions, action requests, out-of-world questions and prompt injections, each typed many ways by
 * players, with the prompt built by the server's own `turnMessages` and the reply the NPC should give.
 *
 * Deterministic from a seed. Valid and test hold out whole phrasing templates and whole facts (fact
 * clusters: the same fact in two NPCs' lore is one unit) and out-of-world topics: nothing held out ever
 * appears in train, under any phrasing; the manifest lists what was held out.
 */
import { formatReply } from '../../../server/src/npc/action-syntax.ts';
import { ConversationMemory, type Recollection } from '../../../server/src/npc/memory.ts';
import { withGroupLines } from '../../../server/src/npc/group-prompt.ts';
import { LORE_HEADER } from '../../../server/src/npc/prompt.ts';
import type { Situation } from '../../../server/src/npc/situation.ts';
import type { WorldSample, Split, SampleKind } from '../sample.ts';
import { actionCandidates, injectionCandidates, loreCandidates, outOfWorldUnits, phrasebookFamilies, refusalCandidates, scheduleCandidates, socialCandidates, unknownCandidates, type Candidate } from './candidates.ts';
import { wordCount } from '../../../server/src/npc/english.ts';
import { analyzeLore, loreTemplateIds, type LoreFact } from './lore.ts';
import { vary } from './noise.ts';
import { EMPTY_MEMORY, loadCorpusWorld, npcContexts, promptMessages, SERVER_MEMORY_TOKENS, type CorpusWorld, type NpcContext } from './npc-context.ts';
import { PLAYER_NAMES } from './phrasebook.ts';
import { randomSituation, situationCandidates } from './situation.ts';
import { Rng, shortHash } from './rng.ts';

export interface WorldCorpusOptions {
  seed: number;
  /** NPC scripts folder (default: the server's NPC_DIR default, assets/npcs). */
  npcDir?: string;
  /** World map (default: the server's WORLD_MAP default, assets/world/town.json). */
  mapPath?: string;
  /** An already loaded world (tests); overrides npcDir/mapPath. */
  world?: CorpusWorld;
  /** Multiplies how many typing variants each line gets (≈ train size). Default 1. */
  scale?: number;
  /** Samples kept in valid and test (generated ones; hand-written lines come on top of test). */
  validSize?: number;
  testSize?: number;
  /** Share of samples whose prompt carries earlier turns with the NPC. Default 0.15. */
  memoryRate?: number;
  /** Share of train samples made group rounds (default 0.06). */
  groupRate?: number;
  /** Share of template ids per family / fact clusters / out-of-world topics held out. */
  holdout?: Partial<HoldoutShares>;
  log?: (line: string) => void;
}

export interface HoldoutShares {
  testTemplates: number;
  validTemplates: number;
  testFacts: number;
  validFacts: number;
  testTopics: number;
  validTopics: number;
}

const DEFAULT_HOLDOUT: HoldoutShares = { testTemplates: 0.15, validTemplates: 0.08, testFacts: 0.12, validFacts: 0.07, testTopics: 0.15, validTopics: 0.08 };

export interface HeldOut {
  templates: { test: string[]; valid: string[] };
  facts: { test: HeldOutFact[]; valid: HeldOutFact[] };
  topics: { test: string[]; valid: string[] };
}

export interface HeldOutFact {
  id: string;
  cluster: string;
  text: string;
  keywords: string[];
}

export interface WorldCorpus {
  train: WorldSample[];
  valid: WorldSample[];
  test: WorldSample[];
  heldOut: HeldOut;
  /** Every lore fact as analysed (first-person answer, keywords, topics), for review. */
  facts: LoreFact[];
  stats: CorpusStats;
}

export interface CorpusStats {
  candidates: number;
  generated: number;
  droppedDuplicates: number;
  /** Lore lines whose fact the server's retrieval does not put in the prompt (not used). */
  droppedFactNotRetrieved: number;
  droppedOverlapWithTrain: number;
  withMemory: number;
  /** Train samples turned into a group round (other players' lines before the addressed one). */
  withGroupLines: number;
  speechWords: { median: number; p95: number; max: number };
}

/** Builds the world corpus in memory. */
export function buildWorldCorpus(opts: WorldCorpusOptions): WorldCorpus {
  const { seed } = opts;
  const scale = opts.scale ?? 1;
  const log = opts.log ?? (() => {});
  const world = opts.world ?? loadCorpusWorld({ ...(opts.npcDir ? { npcDir: opts.npcDir } : {}), ...(opts.mapPath ? { mapPath: opts.mapPath } : {}) });
  const contexts = npcContexts(world);
  const facts = analyzeLore(contexts);
  const heldOut = chooseHoldouts(seed, facts, { ...DEFAULT_HOLDOUT, ...opts.holdout });
  const splitOf = splitter(heldOut);

  const stats: CorpusStats = { candidates: 0, generated: 0, droppedDuplicates: 0, droppedFactNotRetrieved: 0, droppedOverlapWithTrain: 0, withMemory: 0, withGroupLines: 0, speechWords: { median: 0, p95: 0, max: 0 } };
  const bySplit: Record<Split, WorldSample[]> = { train: [], valid: [], test: [] };
  const ctxById = new Map(contexts.map((c) => [c.script.id, c]));

  for (const ctx of contexts) {
    const npc = ctx.script.id;
    const rng = (label: string) => Rng.derive(seed, npc, label);
    const candidates: Candidate[] = [
      ...facts.filter((f) => f.npcId === npc).flatMap((f) => loreCandidates(ctx, f, Math.max(1, Math.round(5 * scale)))),
      ...actionCandidates(ctx, rng('actions'), scale),
      ...socialCandidates(ctx, scale),
      ...scheduleCandidates(ctx, scale),
      ...refusalCandidates(ctx, rng('refusals'), scale),
      ...injectionCandidates(ctx, rng('injections'), scale),
      ...unknownCandidates(ctx, facts, rng('unknown'), scale),
      ...situationCandidates(ctx, scale),
    ];
    stats.candidates += candidates.length;
    const seen = new Set<string>();
    for (const cand of candidates) {
      const split = splitOf(cand);
      for (let k = 0; k < cand.variants; k++) {
        const r = Rng.derive(seed, npc, cand.template, cand.player, k);
        const line = k === 0 || !cand.noisy ? cand.player : vary(cand.player, r, { first: ctx.first, polite: cand.kind !== 'greeting' && cand.kind !== 'injection' });
        // What the NPC perceives: its own stream, so the lines and replies above stay as they were.
        const situation = randomSituation(ctx, Rng.derive(seed, npc, cand.template, cand.player, k, 'situation'));
        const situationKey = cand.perSituation ? JSON.stringify(situation) : '';
        const key = `${normalize(line)}\u0000${situationKey}`;
        if (seen.has(key)) {
          stats.droppedDuplicates++;
          continue;
        }
        seen.add(key);
        const messages = promptMessages(ctx, line, EMPTY_MEMORY, situation);
        if (cand.needsFact && !loreOf(messages).includes(cand.needsFact)) {
          stats.droppedFactNotRetrieved++;
          continue;
        }
        const reply = cand.reply(r, situation);
        bySplit[split].push(makeSample(ctx, cand, split, line, messages, reply, '', situation, situationKey));
        stats.generated++;
      }
    }
    log(`world corpus: ${npc}: ${candidates.length} lines`);
  }

  // Earlier turns with the NPC, from train exchanges only (so held-out text never enters train prompts).
  addMemory(seed, bySplit, ctxById, opts.memoryRate ?? 0.15, stats);
  // Group rounds, as the server builds them (group-prompt.ts); train only, so the held-out splits stay one-player.
  bySplit.train = addGroupLines(seed, bySplit.train, opts.groupRate ?? 0.06, stats);

  // A valid/test line that a player could also have typed in train is not held out: drop it.
  const trainLines = new Set(bySplit.train.map((s) => `${s.npcId}\u0000${normalize(s.player)}`));
  for (const split of ['valid', 'test'] as const) {
    const before = bySplit[split].length;
    bySplit[split] = bySplit[split].filter((s) => !trainLines.has(`${s.npcId}\u0000${normalize(s.player)}`));
    stats.droppedOverlapWithTrain += before - bySplit[split].length;
  }
  const valid = stratifiedSample(bySplit.valid, opts.validSize ?? 400, Rng.derive(seed, 'valid-sample'), heldOut);
  const test = stratifiedSample(bySplit.test, opts.testSize ?? 600, Rng.derive(seed, 'test-sample'), heldOut);
  const train = Rng.derive(seed, 'train-order').shuffle(bySplit.train);

  const words = [...train, ...valid, ...test].map((s) => wordCount(s.speech)).sort((a, b) => a - b);
  stats.speechWords = { median: words[Math.floor(words.length / 2)] ?? 0, p95: words[Math.floor(words.length * 0.95)] ?? 0, max: words[words.length - 1] ?? 0 };
  return { train, valid, test, heldOut, facts, stats };
}

function makeSample(ctx: NpcContext, cand: Candidate, split: Split, line: string, messages: WorldSample['messages'], reply: { speech: string; action: WorldSample['action'] }, memoryKey = '', situation?: Situation, situationKey = ''): WorldSample {
  // The decode grammar forbids "[" in speech: a reply with one could never be produced.
  if (reply.speech.includes('[')) throw new Error(`${ctx.script.id}: speech must not contain "[": ${reply.speech}`);
  return {
    id: `${ctx.script.id}-${cand.kind}-${shortHash(`${cand.template}\u0000${line}\u0000${memoryKey}${situationKey ? `\u0000${situationKey}` : ''}`)}`,
    npcId: ctx.script.id,
    kind: cand.kind,
    split,
    player: line,
    messages,
    speech: reply.speech,
    action: reply.action,
    reply: formatReply(reply.speech, reply.action),
    ...(cand.fact ? { fact: cand.fact } : {}),
    ...(cand.factKeywords ? { factKeywords: cand.factKeywords } : {}),
    ...(cand.refusal ? { refusal: true } : {}),
    source: 'generated',
    template: cand.template,
    ...(situation ? { situation } : {}),
  };
}

/** The lore system message of a prompt ('' when there is none). */
function loreOf(messages: WorldSample['messages']): string {
  return messages.find((m, i) => i > 0 && m.role === 'system' && m.content.startsWith(LORE_HEADER))?.content ?? '';
}

export function normalize(line: string): string {
  return line.toLowerCase().replace(/[^a-z0-9]+/g, ' ').trim();
}

// ---------------------------------------------------------------------------------------------------
// Hold-outs

function chooseHoldouts(seed: number, facts: readonly LoreFact[], shares: HoldoutShares): HeldOut {
  const templates = { test: [] as string[], valid: [] as string[] };
  for (const { family, ids } of [...loreTemplateIds(), ...phrasebookFamilies()]) {
    const shuffled = Rng.derive(seed, 'holdout-templates', family).shuffle(ids);
    const nTest = Math.max(ids.length >= 4 ? 1 : 0, Math.round(ids.length * shares.testTemplates));
    const nValid = Math.max(ids.length >= 8 ? 1 : 0, Math.round(ids.length * shares.validTemplates));
    templates.test.push(...shuffled.slice(0, nTest));
    templates.valid.push(...shuffled.slice(nTest, nTest + nValid));
  }

  // Whole fact clusters; every NPC keeps most of its facts in train.
  const clusters = [...new Set(facts.map((f) => f.cluster))];
  const perNpc = new Map<string, number>();
  for (const f of facts) perNpc.set(f.npcId, (perNpc.get(f.npcId) ?? 0) + 1);
  const heldPerNpc = new Map<string, number>();
  const chosen = { test: new Set<string>(), valid: new Set<string>() };
  const targets = { test: Math.round(facts.length * shares.testFacts), valid: Math.round(facts.length * shares.validFacts) };
  const counts = { test: 0, valid: 0 };
  for (const cluster of Rng.derive(seed, 'holdout-facts').shuffle(clusters)) {
    const members = facts.filter((f) => f.cluster === cluster);
    const split = counts.test < targets.test ? 'test' : counts.valid < targets.valid ? 'valid' : undefined;
    if (!split) break;
    const ok = members.every((f) => ((heldPerNpc.get(f.npcId) ?? 0) + members.filter((m) => m.npcId === f.npcId).length) / perNpc.get(f.npcId)! <= 0.3);
    if (!ok) continue;
    chosen[split].add(cluster);
    counts[split] += members.length;
    for (const f of members) heldPerNpc.set(f.npcId, (heldPerNpc.get(f.npcId) ?? 0) + 1);
  }
  const heldFacts = (split: 'test' | 'valid') => facts.filter((f) => chosen[split].has(f.cluster)).map((f) => ({ id: f.id, cluster: f.cluster, text: f.text, keywords: f.keywords }));

  const topics = { test: [] as string[], valid: [] as string[] };
  const byCategory = new Map<string, string[]>();
  for (const unit of outOfWorldUnits()) {
    const cat = unit.split(':')[1]!;
    byCategory.set(cat, [...(byCategory.get(cat) ?? []), unit]);
  }
  for (const [cat, units] of byCategory) {
    const shuffled = Rng.derive(seed, 'holdout-topics', cat).shuffle(units);
    const nTest = Math.max(1, Math.round(units.length * shares.testTopics));
    const nValid = Math.max(1, Math.round(units.length * shares.validTopics));
    topics.test.push(...shuffled.slice(0, nTest));
    topics.valid.push(...shuffled.slice(nTest, nTest + nValid));
  }
  return { templates, facts: { test: heldFacts('test'), valid: heldFacts('valid') }, topics };
}

function splitter(heldOut: HeldOut): (c: Candidate) => Split {
  const test = new Set([...heldOut.templates.test, ...heldOut.facts.test.map((f) => `fact:${f.cluster}`), ...heldOut.topics.test]);
  const valid = new Set([...heldOut.templates.valid, ...heldOut.facts.valid.map((f) => `fact:${f.cluster}`), ...heldOut.topics.valid]);
  return (c) => {
    if (test.has(c.template) || (c.unit && test.has(c.unit))) return 'test';
    if (valid.has(c.template) || (c.unit && valid.has(c.unit))) return 'valid';
    return 'train';
  };
}

/** Why a held-out sample is held out: its fact/topic, its template, or both. */
function holdoutReason(s: WorldSample, heldOut: HeldOut): 'unit' | 'template' | 'both' {
  const template = s.template ?? '';
  const byTemplate = heldOut.templates.test.includes(template) || heldOut.templates.valid.includes(template);
  const heldFacts = [...heldOut.facts.test, ...heldOut.facts.valid].map((f) => f.text);
  const byUnit = (s.fact !== undefined && heldFacts.includes(s.fact)) || (!byTemplate && s.kind === 'refusal');
  return byTemplate && byUnit ? 'both' : byTemplate ? 'template' : 'unit';
}

/** Kind shares of valid/test (lore split evenly between held-out facts and held-out phrasings). */
const KIND_SHARES: Partial<Record<SampleKind, number>> = { lore: 0.4, action: 0.25, refusal: 0.1, injection: 0.1, schedule: 0.05, greeting: 0.04, smalltalk: 0.06 };

function stratifiedSample(samples: WorldSample[], size: number, rng: Rng, heldOut: HeldOut): WorldSample[] {
  if (samples.length <= size) return rng.shuffle(samples);
  const groups = new Map<string, WorldSample[]>();
  for (const s of samples) {
    const key = s.kind === 'lore' ? `lore:${holdoutReason(s, heldOut) === 'template' ? 'template' : 'fact'}` : s.kind;
    groups.set(key, [...(groups.get(key) ?? []), s]);
  }
  const quota = (key: string) => {
    const kind = key.split(':')[0] as SampleKind;
    const share = KIND_SHARES[kind] ?? 0.02;
    return Math.round(size * (kind === 'lore' ? share / 2 : share));
  };
  const picked: WorldSample[] = [];
  const leftovers: WorldSample[] = [];
  for (const [key, group] of [...groups].sort(([a], [b]) => (a < b ? -1 : 1))) {
    // Round-robin over NPCs so every NPC is represented.
    const byNpc = new Map<string, WorldSample[]>();
    for (const s of rng.shuffle(group)) byNpc.set(s.npcId, [...(byNpc.get(s.npcId) ?? []), s]);
    const order: WorldSample[] = [];
    for (let i = 0; order.length < group.length; i++) for (const list of byNpc.values()) if (list[i]) order.push(list[i]!);
    const n = Math.min(order.length, quota(key));
    picked.push(...order.slice(0, n));
    leftovers.push(...order.slice(n));
  }
  if (picked.length < size) picked.push(...rng.shuffle(leftovers).slice(0, size - picked.length));
  return rng.shuffle(picked);
}

// ---------------------------------------------------------------------------------------------------
// Group rounds

/** The samples of one NPC in `pools`, created empty on first use (appending in place, not copying). */
function poolOf(pools: Map<string, WorldSample[]>, npcId: string): WorldSample[] {
  let pool = pools.get(npcId);
  if (!pool) pools.set(npcId, (pool = []));
  return pool;
}

/**
 * Turns a share of the samples into group rounds: one to three other players' lines (other train lines to
 * the same NPC, said by the players near it, else by passers-by) inserted before the addressed line with
 * the server's `withGroupLines`. The reply still answers the addressed (last) line: what a group round's
 * reply must do.
 */
function addGroupLines(seed: number, samples: WorldSample[], rate: number, stats: CorpusStats): WorldSample[] {
  const pools = new Map<string, WorldSample[]>();
  for (const s of samples) if (s.kind !== 'injection') poolOf(pools, s.npcId).push(s);
  return samples.map((s) => {
    const rng = Rng.derive(seed, 'group', s.id);
    if (!rng.chance(rate)) return s;
    const pool = (pools.get(s.npcId) ?? []).filter((p) => p.id !== s.id);
    if (pool.length < 8) return s;
    const speaker = s.situation?.speaker;
    const names = [...new Set([...(s.situation?.players ?? []), ...rng.sample(PLAYER_NAMES, 4)])].filter((n) => n !== speaker);
    const others = rng.sample(pool, rng.int(1, Math.min(3, names.length))).map((o, i) => ({ name: names[i]!, text: o.player }));
    stats.withGroupLines++;
    const messages = withGroupLines({ messages: s.messages, sharedMessages: 1 }, others).messages;
    return { ...s, id: `${s.id}-g${shortHash(others.map((o) => o.text).join('\u0000'), 6)}`, messages };
  });
}

// ---------------------------------------------------------------------------------------------------
// Memory

/** Puts one or two earlier exchanges (sometimes a folded summary of more) in front of some samples. */
function addMemory(seed: number, bySplit: Record<Split, WorldSample[]>, contexts: Map<string, NpcContext>, rate: number, stats: CorpusStats): void {
  const pools = new Map<string, WorldSample[]>();
  for (const s of bySplit.train) if (s.kind !== 'injection' && s.kind !== 'refusal') poolOf(pools, s.npcId).push(s);
  for (const split of ['train', 'valid', 'test'] as const) {
    bySplit[split] = bySplit[split].map((s) => {
      const rng = Rng.derive(seed, 'memory', s.id);
      if (!rng.chance(rate)) return s;
      const pool = (pools.get(s.npcId) ?? []).filter((p) => p.id !== s.id);
      if (pool.length < 8) return s;
      const long = rng.chance(0.15);
      const earlier = rng.sample(pool, long ? rng.int(4, 7) : rng.int(1, 2));
      const memory = new ConversationMemory({ countTokens: (t) => Math.ceil(t.length / 4) });
      for (const e of earlier) {
        memory.remember('player', s.npcId, { role: 'player', text: e.player, ts: 0 });
        memory.remember('player', s.npcId, { role: 'npc', text: e.reply, ts: 0 });
      }
      const recollection: Recollection = memory.recallInMemory('player', s.npcId, long ? rng.int(40, 90) : SERVER_MEMORY_TOKENS);
      if (recollection.turns.length === 0 && !recollection.summary) return s;
      const ctx = contexts.get(s.npcId)!;
      stats.withMemory++;
      const memoryKey = earlier.map((e) => e.id).join(',');
      return { ...s, id: `${s.id}-m${shortHash(memoryKey, 6)}`, messages: promptMessages(ctx, s.player, recollection, s.situation) };
    });
  }
}

