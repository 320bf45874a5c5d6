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
import { firstName, rewritePerson, type SelfRef } from './english.ts';
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
    const [templateId, frame] = pick(templates);
    let line = fill(frame, { t: topic });
    if (int(0, 4) === 0) line = line.toLowerCase();
    const messages = base.messages.map((m, i) => {
      if (i === loreIndex) return loreMessage(facts)!;
      if (i === base.messages.length - 1 && m.role === 'user') return { ...m, content: line };
      return m;
    });
    out.push({
      ...base,
      id: `${base.id}~drill${out.length}`,
      player: line,
      messages,
      speech,
      action: null,
      reply: `${speech} [[none]]`,
      fact,
      factKeywords: [topic.replace(/^the /, '').toLowerCase()],
      template: `lore.topic.${templateId}`,
      factInPrompt: true,
    });
  }
  return out;
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
