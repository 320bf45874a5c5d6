/**
 * The general corpus builder on the real Debian-packaged sources (installed with apt-get when missing and
 * running as root, as in CI), each capped to a few tens of kB so the three builds take a few seconds.
 */
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SPLITS } from '../sample.ts';
import { buildGeneralCorpus, cleanLine, GENERAL_DIR, isBlocked, looksEnglish, type GeneralCorpusManifest } from './build.ts';
import { GENERAL_SOURCES } from './sources.ts';

const CAP = 40_000;
let root: string;
let a: GeneralCorpusManifest;
let b: GeneralCorpusManifest;
let c: GeneralCorpusManifest;

const dir = (name: string): string => join(root, name);
const read = (name: string, file: string): string => readFileSync(join(dir(name), file), 'utf8');
const passages = (name: string, split: string): string[] => read(name, `${split}.txt`).split('\n\n').map((p) => p.replace(/\n$/, '')).filter(Boolean);

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'general-corpus-'));
  a = await buildGeneralCorpus({ outDir: dir('a'), seed: 7, maxBytesPerSource: CAP });
  b = await buildGeneralCorpus({ outDir: dir('b'), seed: 7, maxBytesPerSource: CAP });
  c = await buildGeneralCorpus({ outDir: dir('c'), seed: 8, maxBytesPerSource: CAP });
}, 600_000);

afterAll(() => {
  if (root) rmSync(root, { recursive: true, force: true });
});

describe('buildGeneralCorpus', () => {
  it('writes byte-identical files for the same seed', () => {
    for (const file of ['train.txt', 'valid.txt', 'test.txt', 'manifest.json']) {
      expect(read('b', file), file).toBe(read('a', file));
    }
    expect(b).toEqual(a);
  });

  it('orders the same passages differently for another seed', () => {
    const all = (name: string): string[] => SPLITS.flatMap((s) => passages(name, s));
    expect(all('c')).not.toEqual(all('a'));
    expect([...all('c')].sort()).toEqual([...all('a')].sort());
    expect(passages('c', 'train').slice(0, 20)).not.toEqual(passages('a', 'train').slice(0, 20));
  });

  it('has no duplicate passages, and disjoint splits', () => {
    const all = SPLITS.flatMap((s) => passages('a', s));
    expect(new Set(all).size).toBe(all.length);
    const normalised = all.map((p) => p.toLowerCase().replace(/[^a-z0-9]+/g, ' ').trim());
    expect(new Set(normalised).size).toBe(all.length);
    const train = new Set(passages('a', 'train'));
    for (const p of [...passages('a', 'valid'), ...passages('a', 'test')]) expect(train.has(p)).toBe(false);
    expect(passages('a', 'valid').some((p) => passages('a', 'test').includes(p))).toBe(false);
  });

  it('writes only printable ASCII lines, one blank line between passages', () => {
    for (const split of SPLITS) {
      const text = read('a', `${split}.txt`);
      expect(text.endsWith('\n')).toBe(true);
      expect(text).not.toMatch(/\n\n\n/);
      for (const line of text.split('\n\n').flatMap((p) => p.split('\n')).filter(Boolean)) {
        expect(line).toMatch(/^[\x21-\x7e][\x20-\x7e]*$/);
        expect(line).not.toMatch(/ $|  /);
      }
    }
  });

  it('splits about 98/1/1 and describes every source and file in the manifest', () => {
    expect(a.seed).toBe(7);
    expect(a.maxBytesPerSource).toBe(CAP);
    const counts = SPLITS.map((s) => passages('a', s).length);
    expect(counts).toEqual(SPLITS.map((s) => a.splits[s].passages));
    expect(a.totals.passages).toBe(counts.reduce((x, y) => x + y, 0));
    expect(a.splits.valid.passages).toBeGreaterThan(0);
    expect(a.splits.test.passages).toBeGreaterThan(0);
    expect(a.splits.train.passages).toBeGreaterThan(0.95 * a.totals.passages);
    expect(a.sources.map((s) => s.id)).toEqual(GENERAL_SOURCES.map((s) => s.id));
    for (const s of a.sources) {
      expect(s.version, s.id).toMatch(/\d/);
      expect(s.licence.length, s.id).toBeGreaterThan(10);
      expect(s.passages, s.id).toBeGreaterThan(0);
      expect(s.bytesOut, s.id).toBeGreaterThanOrEqual(CAP);
      expect(s.bytesIn, s.id).toBeGreaterThan(0);
    }
  });

  it('returns the cached manifest without rewriting the files', async () => {
    const before = statSync(join(dir('a'), 'train.txt')).mtimeMs;
    const lines: string[] = [];
    const again = await buildGeneralCorpus({ outDir: dir('a'), seed: 7, maxBytesPerSource: CAP, log: (l) => lines.push(l) });
    expect(again).toEqual(a);
    expect(lines.join('\n')).toMatch(/up to date/);
    expect(statSync(join(dir('a'), 'train.txt')).mtimeMs).toBe(before);
  });

  it('exports the default output directory of the corpus contract', () => {
    expect(GENERAL_DIR).toBe('data/corpus/general');
  });
});

describe('cleaning', () => {
  it('folds quotes, dashes and accents to ASCII and collapses spaces', () => {
    expect(cleanLine('\u201cCaf\u00e9 na\u00efve,\u201d she said \u2014  it\u2019s   \u00bd done\u2026')).toBe('"Cafe naive," she said -- it\'s 1/2 done...');
    expect(cleanLine('Miss ------ of the ----regiment')).toBe('Miss -- of the --regiment');
  });

  it('drops lines with control characters, unmappable characters, rules or too few letters', () => {
    expect(cleanLine('bold\u0008d text')).toBeNull();
    expect(cleanLine('\u05d0\u05dc\u05d4\u05d9\u05dd is a word')).toBeNull();
    expect(cleanLine('==========')).toBeNull();
    expect(cleanLine('| 12 | 34 | 56 | 78 | x |')).toBeNull();
    expect(cleanLine('THE END')).toBeNull();
    expect(cleanLine('"Yes."')).toBe('"Yes."');
  });

  it('tells English prose from other text', () => {
    expect(looksEnglish('It is a truth universally acknowledged, that a single man in possession of a good fortune, must be in want of a wife.')).toBe(true);
    expect(looksEnglish('Gallia est omnis divisa in partes tres, quarum unam incolunt Belgae, aliam Aquitani, tertiam qui ipsorum lingua Celtae.')).toBe(false);
    expect(isBlocked('What took you so fucking long?')).toBe(true);
    expect(isBlocked('Israel stayed in Shittim.')).toBe(false);
  });
});
