/**
 * Display names: what other players see above an avatar and beside chat lines. A display name is
 * never an identity (that is the account id); it only has to be readable and hard to spoof.
 *
 * Rules, applied by the SDK before joining and again by the server:
 * - normalised to Unicode NFKC (full-width, ligature and compatibility forms become plain letters);
 * - runs of whitespace become one space, leading and trailing whitespace is dropped;
 * - refused: control characters (NUL, ESC/ANSI sequences, newlines, tabs), format characters (bidi
 *   overrides and isolates, zero-width spaces and joiners, BOM, soft hyphen), invisible fillers,
 *   private-use, unassigned and lone surrogate code points, line/paragraph separators, more than two
 *   combining marks in a row, a leading combining mark;
 * - 1 to `Limits.displayNameMaxLength` characters (code points) after normalisation, with at least one
 *   letter or digit;
 * - a trailing " (2)"-style suffix is reserved: the server adds it to tell apart two online players
 *   whose names look the same (see `displayNameKey`).
 */
import { Limits } from './protocol.ts';

export type DisplayNameResult = { ok: true; name: string } | { ok: false; reason: string };

/** Control, format, surrogate, private-use and unassigned code points, and line/paragraph separators. */
const FORBIDDEN = /[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Zl}\p{Zp}]/u;
/**
 * Letters and symbols that render as nothing (Hangul fillers, braille blank): invisible names and
 * padding. (Invisible combining marks such as variation selectors are allowed — emoji need them — and
 * ignored when names are compared.)
 */
const INVISIBLE = /[\u115F\u1160\u3164\uFFA0\u2800]/u;
const MARK_RUN = /\p{M}{3,}/u;
const RESERVED_SUFFIX = /\s\(\d+\)$/u;

function describeCodePoint(ch: string): string {
  const cp = ch.codePointAt(0)!;
  const hex = `U+${cp.toString(16).toUpperCase().padStart(4, '0')}`;
  if (cp === 0x0a || cp === 0x0d) return `a line break (${hex})`;
  if (cp === 0x1b) return `an escape character (${hex}, as in ANSI sequences)`;
  if (cp === 0x00) return `a NUL character (${hex})`;
  if ((cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069) || cp === 0x200e || cp === 0x200f || cp === 0x061c) return `a bidirectional-text control (${hex})`;
  if ((cp >= 0x200b && cp <= 0x200d) || cp === 0x2060 || cp === 0xfeff) return `a zero-width character (${hex})`;
  if (/\p{Cc}/u.test(ch)) return `a control character (${hex})`;
  return `an invisible or non-printing character (${hex})`;
}

/** Normalises and checks a display name; the reason, when refused, is one sentence a player can act on. */
export function normalizeDisplayName(raw: string): DisplayNameResult {
  if (typeof raw !== 'string') return { ok: false, reason: 'display name must be a string' };
  // Bound the work before normalising: NFKC can expand a string, and nothing this long can pass anyway.
  if (raw.length > Limits.displayNameMaxLength * 8) return { ok: false, reason: `display name is longer than ${Limits.displayNameMaxLength} characters` };
  const nfkc = raw.normalize('NFKC');
  const bad = FORBIDDEN.exec(nfkc) ?? INVISIBLE.exec(nfkc);
  if (bad) return { ok: false, reason: `display name contains ${describeCodePoint(bad[0])}` };
  const name = nfkc.replace(/\s+/gu, ' ').trim();
  if (name.length === 0) return { ok: false, reason: 'display name is empty' };
  const length = [...name].length;
  if (length > Limits.displayNameMaxLength) return { ok: false, reason: `display name is longer than ${Limits.displayNameMaxLength} characters` };
  if (!/[\p{L}\p{N}]/u.test(name)) return { ok: false, reason: 'display name needs at least one letter or digit' };
  if (/^\p{M}/u.test(name) || MARK_RUN.test(name)) return { ok: false, reason: 'display name stacks too many combining marks' };
  if (RESERVED_SUFFIX.test(name)) return { ok: false, reason: 'display names may not end in a number in parentheses, like "(2)": the server adds that to tell players apart' };
  return { ok: true, name };
}

/**
 * Latin look-alikes: Cyrillic and Greek letters that render like Latin ones, and the digit/letter
 * pairs 0/o and 1/l/i. Applied after lower-casing, for comparison only.
 */
const CONFUSABLES: Record<string, string> = {
  '0': 'o', '1': 'l', i: 'l', '|': 'l', 'ı': 'l', 'ɩ': 'l', 'ǀ': 'l',
  // Cyrillic
  'а': 'a', 'в': 'b', 'е': 'e', 'ё': 'e', 'һ': 'h', 'і': 'l', 'ї': 'l', 'ј': 'j', 'к': 'k', 'м': 'm', 'н': 'h', 'о': 'o', 'р': 'p', 'с': 'c',
  'т': 't', 'у': 'y', 'х': 'x', 'ѕ': 's', 'ԁ': 'd', 'ԛ': 'q', 'ԝ': 'w', 'ӏ': 'l', 'ɡ': 'g', 'ɑ': 'a',
  // Greek
  'α': 'a', 'β': 'b', 'ε': 'e', 'η': 'n', 'ι': 'l', 'κ': 'k', 'ν': 'v', 'ο': 'o', 'ρ': 'p', 'τ': 't', 'υ': 'u', 'χ': 'x', 'ω': 'w', 'ϲ': 'c', 'ϳ': 'j',
};

/**
 * The comparison key for "is this the same name?": NFKC, lower-cased, diacritics dropped, Latin
 * look-alikes folded, spaces removed. "Alice", "aLiCe", "Аlice" (Cyrillic А), "Alicé" and "A l i c e"
 * all share one key, so only one of them can be shown as-is in a room at a time.
 */
export function displayNameKey(name: string): string {
  const folded = name.normalize('NFKC').toLowerCase().normalize('NFD').replace(/\p{M}/gu, '');
  let key = '';
  for (const ch of folded) {
    if (/\s/u.test(ch)) continue;
    key += CONFUSABLES[ch] ?? ch;
  }
  return key;
}

/**
 * `name` with a " (n)" suffix, cut so the result stays within the length limit. n = 1 returns the name.
 */
export function disambiguatedName(name: string, n: number): string {
  if (n <= 1) return name;
  const suffix = ` (${n})`;
  const chars = [...name];
  return chars.slice(0, Math.max(1, Limits.displayNameMaxLength - suffix.length)).join('').trimEnd() + suffix;
}
