/**
 * Reading drills: lore-shaped turns whose "facts" are sentences from the general English corpus. A real
 * lore turn's prompt is kept (persona, situation, the server's message layout); its retrieved-lore block is
 * replaced by corpus sentences, the player asks about a word or name from one of them with a lore question
 * frame, and the answer is that sentence. No answer can be recited from memory — there are tens of
 * thousands of sentences — so the only way to lower the loss is to find the bullet the question points at
 * and copy it, which is what serving needs: lore is retrieved per turn and the held-out facts were never
 * trained on. (Counterfactual lore swaps a few words of a memorised fact; drills make the whole answer
 * unmemorisable.) Applied to training data only; question frames held out for valid/test are not used.
 */
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';
import { uniformInt } from 'pure-rand/distribution/uniformInt';
import { STOP_WORDS } from '../../../server/src/npc/lore-index.ts';
import { LORE_HEADER, loreMessage } from '../../../server/src/npc/prompt.ts';
import type { WorldSample } from '../sample.ts';
import { firstName, rewritePerson, type SelfRef } from '../../../server/src/npc/english.ts';
import { LORE_TOPIC_TEMPLATES, fill } from './lore.ts';

/** Speech is budgeted at 48 tokens by the server; a sentence this long fits with room to spare. */
const MAX_WORDS = 24;
const MIN_WORDS = 7;

/**
 * Sentences usable as drill facts from plain text: one line of prose each, 7–24 words, plain punctuation
 * (no brackets: the action grammar forbids them in speech), starting with a capital and ending a sentence.
 * Deduplicated, in text order, at most `max`.
 */
export function drillSentences(text: string, max = 1_000_000): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const paragraph of text.split(/\n\s*\n/)) {
    const flat = paragraph.replace(/\s+/g, ' ').trim();
    for (const sentence of flat.split(/(?<=[.!?])\s+(?=\S)/)) {
      if (!/^[A-Z][A-Za-z0-9 ,;:'’-]*[A-Za-z][.!?]$/.test(sentence)) continue;
      const words = sentence.split(' ').length;
      if (words < MIN_WORDS || words > MAX_WORDS) continue;
      if (seen.has(sentence)) continue;
      seen.add(sentence);
      out.push(sentence);
      if (out.length >= max) return out;
    }
  }
  return out;
}

export interface ReadingDrillOptions {
  /** Drills to make. */
  count: number;
  seed: number;
  /** Candidate facts (see `drillSentences`). */
  sentences: readonly string[];
  /** Question templates held out for valid/test (`lore.topic.tNN`): never used. */
  heldOutTemplates?: ReadonlySet<string>;
  /**
   * The NPCs (by id) for person drills: with `personShare` > 0, that share of drills asks about a sentence
   * that names the NPC itself ("He mended the gate." becomes the bullet "Bram mended the gate.") and answers
   * in the first person through the corpus's own rewrite ("I mended the gate."), as a lore answer must:
   * copying alone is not enough when the fact is about the speaker.
   */
  selves?: ReadonlyMap<string, SelfRef>;
  personShare?: number;
}

/** `count` drills built on the train lore samples among `samples` (the originals are not included). */
export function readingDrills(samples: readonly WorldSample[], options: ReadingDrillOptions): WorldSample[] {
  const rng = xoroshiro128plus(options.seed ^ 0xd1211);
  const int = (min: number, max: number) => uniformInt(rng, min, max);
  const pick = <T>(list: readonly T[]): T => list[int(0, list.length - 1)]!;
  const bases = samples.filter((s) => s.kind === 'lore' && s.split === 'train' && loreBlockIndex(s) >= 0);
  const templates = Object.entries(LORE_TOPIC_TEMPLATES).filter(([id]) => !options.heldOutTemplates?.has(`lore.topic.${id}`));
  if (bases.length === 0 || templates.length === 0 || options.sentences.length < 4) return [];

  const personShare = options.personShare ?? 0;
  if (!(personShare >= 0 && personShare <= 1)) throw new Error(`personShare must be between 0 and 1, got ${personShare}`);
  // Sentences about one person, for person drills: the pronoun gives way to the NPC's name.
  const byPronoun = { he: options.sentences.filter((t) => t.startsWith('He ')), she: options.sentences.filter((t) => t.startsWith('She ')) };
  const out: WorldSample[] = [];
  for (let attempt = 0; out.length < options.count && attempt < options.count * 4; attempt++) {
    const base = pick(bases);
    const loreIndex = loreBlockIndex(base);
    const bullets = base.messages[loreIndex]!.content.split('\n').length - 1;
    const facts = Array.from({ length: Math.max(1, bullets) }, () => pick(options.sentences));
    if (new Set(facts).size !== facts.length) continue;
    // Where retrieval puts the asked-about fact: first nine times in ten in the world corpus.
    const target = facts.length > 1 && int(0, 9) === 0 ? int(1, facts.length - 1) : 0;
    let speech = facts[target]!;
    const self = options.selves?.get(base.npcId);
    if (self && personShare > 0 && int(0, 9999) < personShare * 10_000) {
      const pool = self.gender === 'he' ? byPronoun.he : self.gender === 'she' ? byPronoun.she : [];
      if (pool.length === 0) continue;
      const named = `${firstName(self.name)} ${pick(pool).replace(/^\S+ /, '')}`;
      const spoken = rewritePerson(named, self, 'first');
      if (!spoken.startsWith('I ') || facts.includes(named)) continue;
      facts[target] = named;
      speech = spoken;
    }
    const fact = facts[target]!;
    const topic = topicOf(fact, facts.filter((_, i) => i !== target), int);
    if (!topic) continue;
    out.push(drillTurn(base, { id: `${base.id}~drill${out.length}`, loreIndex, bullets: facts, fact, speech, topic, question: pick(templates), lower: int(0, 4) === 0 }));
  }
  return out;
}

/**
 * A drill turn on `base`: its lore block replaced by `bullets`, the player asking about `topic` with the
 * question frame `question` (in lower case when `lower`), answered with `speech` and no action.
 */
function drillTurn(
  base: WorldSample,
  o: { id: string; loreIndex: number; bullets: readonly string[]; fact: string; speech: string; topic: string; question: readonly [string, string]; lower: boolean },
): WorldSample {
  const [templateId, frame] = o.question;
  const filled = fill(frame, { t: o.topic });
  const line = o.lower ? filled.toLowerCase() : filled;
  const messages = base.messages.map((m, i) => {
    if (i === o.loreIndex) return loreMessage(o.bullets)!;
    if (i === base.messages.length - 1 && m.role === 'user') return { ...m, content: line };
    return m;
  });
  return {
    ...base,
    id: o.id,
    player: line,
    messages,
    speech: o.speech,
    action: null,
    reply: `${o.speech} [[none]]`,
    fact: o.fact,
    factKeywords: [o.topic.replace(/^the /, '').toLowerCase()],
    template: `lore.topic.${templateId}`,
    factInPrompt: true,
  };
}

function loreBlockIndex(sample: WorldSample): number {
  return sample.messages.findIndex((m) => m.role === 'system' && m.content.startsWith(LORE_HEADER));
}

/**
 * What the player asks about: a capitalised name inside the sentence (not its first word), or a noun — a
 * word of four letters or more right after a determiner ("the forge", "his anvil") — that none of the other
 * bullets contains, so the question points at one bullet. Returns the phrase as a player would say it.
 */
function topicOf(fact: string, others: readonly string[], int: (min: number, max: number) => number): string | undefined {
  const words = fact.replace(/[.!?,;:]/g, ' ').split(/\s+/).filter(Boolean);
  const elsewhere = new Set(others.flatMap((o) => o.toLowerCase().replace(/[^a-z' -]/g, ' ').split(/\s+/)));
  const usable = (w: string) => !elsewhere.has(w.toLowerCase()) && !STOP_WORDS.has(w.toLowerCase());
  const names = words.slice(1).filter((w) => /^[A-Z][a-z]{2,}$/.test(w) && usable(w));
  const nouns = words.filter((w, i) => i > 0 && DETERMINERS.has(words[i - 1]!.toLowerCase()) && /^[a-z]{4,}$/.test(w) && usable(w));
  if (names.length > 0 && (nouns.length === 0 || int(0, 1) === 0)) return names[int(0, names.length - 1)];
  return nouns.length > 0 ? `the ${nouns[int(0, nouns.length - 1)]}` : undefined;
}

const DETERMINERS = new Set(['the', 'a', 'an', 'his', 'her', 'their', 'my', 'our', 'its', 'this', 'that', 'these', 'those', 'your']);

export interface SpliceDrillOptions {
  count: number;
  seed: number;
  /** The NPCs by id: the spliced fact is answered through `rewritePerson`, as real lore answers are. */
  selves: ReadonlyMap<string, SelfRef>;
  heldOutTemplates?: ReadonlySet<string>;
}

/**
 * Splice drills: the model answering a held-out fact starts copying the right bullet, then a memorised fact
 * takes over mid-sentence ("The brass lantern over …" → "… was forged by Bram on the day I took over the
 * inn"). These drills train exactly that moment: a train lore sample's fact is cut after a few words and
 * finished with the tail of another train fact, so the start cues one memorised sentence and the bullet goes
 * on with another; only reading on in the bullet lowers the loss. The spliced sentence replaces the fact
 * in the lore block, the player asks about a word of it with a train-split question frame, and the answer
 * is its first-person rewrite. World vocabulary, unlike the general-English reading drills.
 */
export function spliceDrills(samples: readonly WorldSample[], options: SpliceDrillOptions): WorldSample[] {
  const rng = xoroshiro128plus(options.seed ^ 0x5911ce);
  const int = (min: number, max: number) => uniformInt(rng, min, max);
  const pick = <T>(list: readonly T[]): T => list[int(0, list.length - 1)]!;
  const bases = samples.filter((s) => s.kind === 'lore' && s.split === 'train' && s.fact !== undefined && s.messages[loreBlockIndex(s)]?.content.includes(`- ${s.fact}`));
  const facts = [...new Set(bases.map((s) => s.fact!))].filter((f) => f.split(' ').length >= 8);
  const templates = Object.entries(LORE_TOPIC_TEMPLATES).filter(([id]) => !options.heldOutTemplates?.has(`lore.topic.${id}`));
  if (bases.length === 0 || facts.length < 2 || templates.length === 0) return [];

  const out: WorldSample[] = [];
  for (let attempt = 0; out.length < options.count && attempt < options.count * 4; attempt++) {
    const base = pick(bases);
    const self = options.selves.get(base.npcId);
    const tail = pick(facts);
    if (!self || tail === base.fact) continue;
    const head = base.fact!.replace(/[.!?]$/, '').split(' ');
    const rest = tail.split(' ');
    if (head.length < 6) continue;
    const spliced = [...head.slice(0, int(3, head.length - 3)), ...rest.slice(int(2, rest.length - 3))].join(' ');
    const loreIndex = loreBlockIndex(base);
    const bullets = base.messages[loreIndex]!.content.split('\n').slice(1).map((b) => b.slice(2));
    const target = bullets.indexOf(base.fact!);
    if (target < 0 || bullets.includes(spliced)) continue;
    bullets[target] = spliced;
    const topic = topicOf(spliced, bullets.filter((_, i) => i !== target), int);
    // A word of a longer name ("Old" of "Old Oak") makes a question no player asks.
    if (!topic || new RegExp(`\\b${topic} [A-Z]|[A-Z][\\w']* ${topic}\\b`).test(spliced)) continue;
    const speech = rewritePerson(spliced, self, 'first');
    if (!speech.toLowerCase().includes(topic.replace(/^the /, '').toLowerCase())) continue;
    out.push(drillTurn(base, { id: `${base.id}~splice${out.length}`, loreIndex, bullets, fact: spliced, speech, topic, question: pick(templates), lower: int(0, 4) === 0 }));
  }
  return out;
}
