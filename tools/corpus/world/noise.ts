/**
 * Players do not type like templates: this turns a clean line into one of many ways a player might
 * type it — with or without the NPC's name, politeness wrappers, slang, lower case, dropped
 * punctuation and apostrophes, and seeded typos (swapped, dropped, doubled or neighbouring keys).
 */
import type { Rng } from './rng.ts';

export interface NoiseOptions {
  /** NPC first name, for "hey bram, …". */
  first: string;
  /** Add politeness wrappers (questions and requests). */
  polite: boolean;
}

const PREFIXES = ['Excuse me, ', 'Sorry to bother you, but ', 'Hey, ', 'Um, ', 'So, ', 'Quick question: ', 'Pardon me, ', 'Oi, ', 'Listen, ', 'Hey there, '];
const SUFFIXES = [' please', ', thanks', " if you don't mind", ' mate', ' then', ', friend'];
const SLANG: [RegExp, string[]][] = [
  [/\byou\b/gi, ['u', 'ya']],
  [/\byour\b/gi, ['ur', 'yer']],
  [/\bare\b/gi, ['r']],
  [/\bplease\b/gi, ['pls', 'plz']],
  [/\bthanks\b/gi, ['thx', 'ta']],
  [/\bwant to\b/gi, ['wanna']],
  [/\bgoing to\b/gi, ['gonna']],
  [/\bwhat is\b|\bwhat's\b/gi, ['whats', 'wats']],
  [/\bI am\b|\bI'm\b/g, ['im']],
  [/\bdon't\b/gi, ['dont']],
  [/\bgive me\b/gi, ['gimme']],
  [/\blet me\b/gi, ['lemme']],
  [/\bbecause\b/gi, ['cuz', 'cos']],
  [/\bokay\b/gi, ['ok', 'k']],
  [/\breally\b/gi, ['rly']],
  [/\bknow\b/gi, ['kno']],
  [/\bsomething\b/gi, ['smth', 'somethin']],
];
const KEYBOARD = 'qwertyuiop asdfghjkl zxcvbnm';

function neighbour(c: string, rng: Rng): string {
  const rows = KEYBOARD.split(' ');
  for (const row of rows) {
    const i = row.indexOf(c);
    if (i >= 0) return row[Math.max(0, Math.min(row.length - 1, i + (rng.chance(0.5) ? 1 : -1)))]!;
  }
  return c;
}

/** One typo in one word of at least four letters. */
export function typo(line: string, rng: Rng): string {
  const spans = [...line.matchAll(/[A-Za-z]{4,}/g)];
  if (spans.length === 0) return line;
  const m = rng.pick(spans);
  const w = m[0];
  const i = rng.int(1, w.length - 2);
  let out: string;
  switch (rng.int(0, 3)) {
    case 0: out = w.slice(0, i) + w[i + 1] + w[i] + w.slice(i + 2); break; // swap
    case 1: out = w.slice(0, i) + w.slice(i + 1); break; // drop
    case 2: out = w.slice(0, i) + w[i] + w.slice(i); break; // double
    default: out = w.slice(0, i) + neighbour(w[i]!.toLowerCase(), rng) + w.slice(i + 1); // neighbouring key
  }
  return line.slice(0, m.index) + out + line.slice(m.index! + w.length);
}

/** A way a player might type `line`. Lines with action-call or chat-template syntax keep that syntax intact. */
export function vary(line: string, rng: Rng, opts: NoiseOptions): string {
  const protectedSyntax = /\[\[|<\||###|\(|;/.test(line);
  let out = line;
  const question = /\?\s*$/.test(out);

  // With or without the NPC's name.
  if (!new RegExp(`\\b${opts.first}\\b`, 'i').test(out) && rng.chance(0.22)) {
    const name = rng.chance(0.7) ? opts.first : opts.first.toLowerCase();
    out = rng.weighted<string>([
      [`${name}, ${lowerFirst(out)}`, 3],
      [`hey ${name}, ${lowerFirst(out)}`, 2],
      [`${out.replace(/[.?!]+$/, '')}, ${name}${question ? '?' : ''}`, 2],
      [`${name} ${lowerFirst(out)}`, 1],
    ]);
  }
  // Politeness.
  if (opts.polite && rng.chance(0.2)) {
    if (rng.chance(0.55)) out = rng.pick(PREFIXES) + lowerFirst(out);
    else {
      const end = /[.?!]+$/.exec(out)?.[0] ?? '';
      out = out.slice(0, out.length - end.length) + rng.pick(SUFFIXES) + end;
    }
  }
  const style = rng.weighted<'clean' | 'light' | 'heavy'>([['clean', 0.3], ['light', 0.5], ['heavy', 0.2]]);
  if (style === 'clean') return tidy(out);

  // Slang.
  if (!protectedSyntax && rng.chance(style === 'heavy' ? 0.5 : 0.12)) {
    for (const [re, subs] of rng.shuffle(SLANG).slice(0, 3)) out = out.replace(re, () => rng.pick(subs));
  }
  // Case.
  const c = rng.float();
  if (c < (style === 'heavy' ? 0.7 : 0.4)) out = out.toLowerCase();
  else if (c < 0.47) out = lowerFirst(out);
  else if (c < 0.485 && out.length < 40 && !protectedSyntax) out = out.toUpperCase();
  // Punctuation and apostrophes.
  const p = rng.float();
  if (p < (style === 'heavy' ? 0.6 : 0.35)) out = out.replace(/[.?!]+$/, '');
  else if (p < 0.43 && question) out = out.replace(/\?$/, '??');
  else if (p < 0.47) out = out.replace(/[.?!]+$/, '...');
  if (!protectedSyntax && rng.chance(style === 'heavy' ? 0.5 : 0.15)) out = out.replace(/'/g, '');
  if (rng.chance(0.15)) out = out.replace(/,/g, '');
  // Typos.
  if (!protectedSyntax) {
    const typos = style === 'heavy' ? rng.int(1, 2) : rng.chance(0.3) ? 1 : 0;
    for (let i = 0; i < typos; i++) out = typo(out, rng);
  }
  return tidy(out);
}

function lowerFirst(s: string): string {
  // Keep names and "I" capitalised.
  if (/^(I\b|I'|[A-Z][a-z]+ [A-Z])/.test(s)) return s;
  return s.charAt(0).toLowerCase() + s.slice(1);
}

function tidy(s: string): string {
  return s.replace(/\s{2,}/g, ' ').replace(/\s+([,?!.])/g, '$1').trim();
}
