/**
 * Moderation of player input and NPC output. `Moderator` is the pluggable interface (a remote
 * classifier can implement it); `WordListModerator` is the built-in one: a configurable word list matched
 * on whole words, case-insensitively, after light leetspeak normalisation; input is blocked, output is
 * masked (both configurable).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export type ModerationDirection = 'input' | 'output';

export interface ModerationResult {
  allowed: boolean;
  /** Why the text was blocked or changed (never repeats the offending words). */
  reason?: string;
  /** The text to use when allowed (masked if anything matched). */
  cleaned?: string;
  /** The list entries that matched, for logs. */
  matches?: string[];
}

export interface Moderator {
  check(text: string, ctx: { direction: ModerationDirection }): ModerationResult | Promise<ModerationResult>;
}

export const DEFAULT_BLOCKLIST_PATH = fileURLToPath(new URL('../../../assets/moderation/blocklist.txt', import.meta.url));

/** Entries of a word-list file: one per line, `#` comments and blank lines ignored. */
export function parseWordList(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
}

export function loadWordList(path: string): string[] {
  return parseWordList(readFileSync(path, 'utf8'));
}

export interface WordListOptions {
  /** Entries: `word`, `prefix*` or a multi-word phrase. */
  words: readonly string[];
  /** What to do with matching player input. Default 'block'. */
  input?: 'block' | 'mask';
  /** What to do with matching NPC output. Default 'mask'. */
  output?: 'block' | 'mask';
  /** Character that replaces each character of a matched word. Default '*'. */
  maskChar?: string;
}

const LEET: Record<string, string> = { '0': 'o', '1': 'i', '3': 'e', '4': 'a', '5': 's', '7': 't', '8': 'b', '@': 'a', '$': 's', '!': 'i', '|': 'l' };

/** Lower-case, strip accents, undo common leetspeak substitutions. */
function normalise(token: string): string {
  let out = '';
  for (const ch of token.normalize('NFD').replace(/\p{M}+/gu, '').toLowerCase()) out += LEET[ch] ?? ch;
  return out;
}

/** The spellings a token is compared under: as is, and with stretched letters ("shiiit") squeezed to one or two. */
function variants(norm: string): string[] {
  const one = norm.replace(/(.)\1{2,}/gu, '$1');
  const two = norm.replace(/(.)\1{2,}/gu, '$1$1');
  return [...new Set([norm, one, two])];
}

interface Entry {
  source: string;
  /** Normalised words of the entry; the last may be a prefix. */
  words: string[];
  prefix: boolean;
}

interface Token {
  start: number;
  end: number;
  forms: string[];
}

// Word-ish runs: letters, digits and the symbols leetspeak uses inside words.
const TOKEN = /[\p{L}\p{M}\p{N}@$!|]+/gu;
// Symbols that are punctuation, not letters, when they lead or trail a word ("damn!", "|quote|").
const EDGE_PUNCT = /^[!|]+|[!|]+$/g;

/**
 * Hand-written matcher rather than one big regex: matching runs per token on normalised spellings, so
 * "sh1t", "$hit" and "shiiit" hit the entry "shit", yet offsets stay those of the original text for masking.
 */
export class WordListModerator implements Moderator {
  readonly #entries: Entry[];
  readonly #input: 'block' | 'mask';
  readonly #output: 'block' | 'mask';
  readonly #mask: string;

  constructor(opts: WordListOptions) {
    this.#entries = opts.words
      .map((w) => w.trim())
      .filter(Boolean)
      .map((source) => {
        const prefix = source.endsWith('*');
        const words = source.replace(/\*$/, '').split(/\s+/).map(normalise).filter(Boolean);
        return { source, words, prefix };
      })
      .filter((e) => e.words.length > 0);
    this.#input = opts.input ?? 'block';
    this.#output = opts.output ?? 'mask';
    this.#mask = opts.maskChar ?? '*';
  }

  static fromFile(path: string = DEFAULT_BLOCKLIST_PATH, opts: Omit<WordListOptions, 'words'> = {}): WordListModerator {
    return new WordListModerator({ ...opts, words: loadWordList(path) });
  }

  check(text: string, ctx: { direction: ModerationDirection }): ModerationResult {
    const spans = this.findMatches(text);
    if (spans.length === 0) return { allowed: true, cleaned: text };
    const matches = [...new Set(spans.map((s) => s.entry))];
    const action = ctx.direction === 'input' ? this.#input : this.#output;
    if (action === 'block') return { allowed: false, reason: `${ctx.direction === 'input' ? 'message' : 'reply'} contains blocked language`, matches };
    let cleaned = '';
    let at = 0;
    for (const s of spans) {
      cleaned += text.slice(at, s.start) + text.slice(s.start, s.end).replace(/[^\s]/gu, this.#mask);
      at = s.end;
    }
    cleaned += text.slice(at);
    return { allowed: true, cleaned, reason: `masked ${spans.length} blocked word${spans.length === 1 ? '' : 's'}`, matches };
  }

  /** Non-overlapping matched spans in `text` (original offsets), in order. */
  findMatches(text: string): { start: number; end: number; entry: string }[] {
    const tokens: Token[] = [];
    for (const m of text.matchAll(TOKEN)) {
      const raw = m[0];
      const core = raw.replace(EDGE_PUNCT, '');
      if (!core) continue;
      const start = m.index + raw.indexOf(core);
      const forms = variants(normalise(core));
      tokens.push({ start, end: start + core.length, forms });
    }
    const spans: { start: number; end: number; entry: string }[] = [];
    for (let i = 0; i < tokens.length; i++) {
      for (const e of this.#entries) {
        if (i + e.words.length > tokens.length) continue;
        const hit = e.words.every((w, j) => {
          const last = j === e.words.length - 1;
          return tokens[i + j]!.forms.some((f) => (last && e.prefix ? f.startsWith(w) : f === w));
        });
        if (hit) {
          spans.push({ start: tokens[i]!.start, end: tokens[i + e.words.length - 1]!.end, entry: e.source });
          i += e.words.length - 1;
          break;
        }
      }
    }
    return spans;
  }
}

/** Runs moderators in order: the first to block wins; each later one sees the previous one's cleaned text. */
export function chainModerators(...mods: Moderator[]): Moderator {
  return {
    async check(text, ctx) {
      let current = text;
      const reasons: string[] = [];
      const matches: string[] = [];
      for (const m of mods) {
        const r = await m.check(current, ctx);
        if (!r.allowed) return r;
        if (r.cleaned !== undefined) current = r.cleaned;
        if (r.reason) reasons.push(r.reason);
        if (r.matches) matches.push(...r.matches);
      }
      return { allowed: true, cleaned: current, ...(reasons.length ? { reason: reasons.join('; ') } : {}), ...(matches.length ? { matches } : {}) };
    },
  };
}
