/**
 * Counterfactual lore: variants of lore samples whose key facts are swapped — the same substitution in the
 * retrieved lore block, the player's question and the answer ("… twenty-two years ago" → "… nine years
 * ago"; "Ashwater Bridge" → "Widow Hale's Orchard"). A small model fine-tuned on the real facts alone learns
 * to recite the facts it memorised, whatever the lore block says, and fails on facts it never trained on;
 * with counterfactuals, the only way to the right answer is to read it from the prompt — which is what
 * serving needs (lore is retrieved per turn). Applied to training data only; the persona is unchanged.
 */
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';
import { uniformInt } from 'pure-rand/distribution/uniformInt';
import { LORE_HEADER } from '../../../server/src/npc/prompt.ts';
import type { WorldSample } from '../sample.ts';

const NUMBERS = ['two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine', 'ten', 'eleven', 'twelve', 'fifteen', 'twenty', 'thirty', 'forty', 'a hundred'];
const NAMES = [
  'Alder', 'Brenna', 'Corwin', 'Dagny', 'Edric', 'Fenna', 'Garrick', 'Hilde', 'Ivo', 'Jorun', 'Kestrel Ford', 'Larkspur Hill', 'Mirewood',
  'Northmere', 'Oakhollow', 'Pellam', 'Quill', 'Rowan', 'Stonebridge', 'Thistledown', 'Ulric', 'Vesna', 'Wendmark', 'Yarrow', 'Ashby',
  'Brightwater', 'Coldharbour', 'Duskfell', 'Emberly', 'Foxglove Lane',
];

export interface CounterfactualOptions {
  /** Variants per chosen lore sample. */
  variants: number;
  /** Share of the lore samples that get variants (seeded choice). Default 1. */
  share?: number;
  seed: number;
}

/** Counterfactual variants of the lore samples among `samples` (the originals are not included). */
export function counterfactualLore(samples: readonly WorldSample[], options: CounterfactualOptions): WorldSample[] {
  const rng = xoroshiro128plus(options.seed ^ 0x5eed);
  const pick = <T>(list: readonly T[]): T => list[uniformInt(rng, 0, list.length - 1)]!;
  // Replacement pools from the corpus itself: names and places stay names and places, things stay things.
  const capitalized = new Set<string>(NAMES);
  const common = new Set<string>();
  for (const s of samples) {
    for (const k of s.factKeywords ?? []) {
      if (isNumber(k)) continue;
      (/^[A-Z]/.test(k) ? capitalized : common).add(k);
    }
  }
  const names = [...capitalized].sort();
  const things = [...common].sort();

  const out: WorldSample[] = [];
  for (const sample of samples) {
    if (sample.kind !== 'lore' || !sample.fact || !sample.factKeywords?.length) continue;
    const loreIndex = sample.messages.findIndex((m) => m.role === 'system' && m.content.startsWith(LORE_HEADER));
    if (loreIndex < 0 || !sample.messages[loreIndex]!.content.includes(sample.fact)) continue;
    if (options.share !== undefined && uniformInt(rng, 0, 9999) >= options.share * 10_000) continue;
    for (let v = 0; v < options.variants; v++) {
      const swaps = new Map<string, string>();
      for (const keyword of sample.factKeywords) {
        const pattern = wordPattern(keyword);
        if (!pattern.test(sample.speech)) continue;
        const pool = isNumber(keyword) ? NUMBERS : /^[A-Z]/.test(keyword) ? names : things;
        let replacement = pick(pool);
        for (let tries = 0; tries < 4 && (replacement.toLowerCase() === keyword.toLowerCase() || [...swaps.values()].includes(replacement)); tries++) replacement = pick(pool);
        if (replacement.toLowerCase() !== keyword.toLowerCase()) swaps.set(keyword, replacement);
      }
      if (swaps.size === 0) continue;
      const apply = (text: string) => {
        let result = text;
        for (const [from, to] of swaps) result = result.replace(wordPattern(from, 'g'), (match) => matchCase(match, to));
        return result;
      };
      const fact = apply(sample.fact);
      const messages = sample.messages.map((m, i) => {
        // The lore block: only the fact line changes (the other retrieved facts stay true).
        if (i === loreIndex) return { ...m, content: m.content.replace(`- ${sample.fact}`, `- ${fact}`) };
        // The player's line asks about the swapped entity.
        if (i === sample.messages.length - 1 && m.role === 'user') return { ...m, content: apply(m.content) };
        return m;
      });
      const speech = apply(sample.speech);
      out.push({
        ...sample,
        id: `${sample.id}~cf${v}`,
        player: apply(sample.player),
        messages,
        speech,
        reply: apply(sample.reply),
        fact,
        factKeywords: sample.factKeywords.map((k) => swaps.get(k) ?? k),
      });
    }
  }
  return out;
}

function isNumber(word: string): boolean {
  return /^\d+$/.test(word) || NUMBERS.includes(word.toLowerCase()) || /^(twenty|thirty|forty|fifty)(-\w+)?$/i.test(word);
}

function wordPattern(phrase: string, flags = ''): RegExp {
  const escaped = phrase.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`(?<![\\w'])${escaped}(?![\\w])`, `i${flags}`);
}

/** The replacement in the case style of the matched text (Capitalised at a sentence start, etc.). */
function matchCase(matched: string, replacement: string): string {
  if (/^[A-Z]/.test(matched) && /^[a-z]/.test(replacement)) return replacement[0]!.toUpperCase() + replacement.slice(1);
  if (/^[a-z]/.test(matched) && /^[A-Z]/.test(replacement) && !/^[A-Z]/.test(replacement.slice(1))) return replacement;
  return replacement;
}
