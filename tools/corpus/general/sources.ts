/**
 * The general-English corpus sources: public-domain or freely licensed text shipped by Debian packages.
 *
 * Each source names its Debian package, the files it reads, the licence (quoted from the package's
 * /usr/share/doc/<package>/copyright) and an extractor that turns the raw files into documents: ordered
 * lists of paragraphs. A paragraph is one line of prose, or several lines joined by '\n' where the line
 * breaks carry meaning (verse). Cleaning, de-duplication, shuffling and splitting happen in build.ts.
 *
 * Every file is a data format of its own (R serialization, SWORD modules, WordNet's database, dictd,
 * fortune cookies, Crawl's description files), so each extractor is a small hand-written reader.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { inflateSync, gunzipSync } from 'node:zlib';
import { readRda, readRdb, rColumn, type RValue } from './rdata.ts';

/** A document: its paragraphs in reading order. */
export type SourceDocument = string[];

export interface GeneralSource {
  /** Stable id, used in the manifest. */
  id: string;
  /** The Debian package that ships the files. */
  package: string;
  /** What the text is. */
  title: string;
  /** The licence, quoted from the package's copyright file. */
  licence: string;
  /** Absolute paths of the files read (all must exist once the package is installed). */
  files: readonly string[];
  /** Raw files (keyed by path) → documents. */
  extract(files: ReadonlyMap<string, Buffer>): SourceDocument[];
}

// ---------------------------------------------------------------------------------------------------------
// Shared helpers

function file(files: ReadonlyMap<string, Buffer>, path: string): Buffer {
  const buf = files.get(path);
  if (!buf) throw new Error(`missing file ${path}`);
  return buf;
}

/** A short all-caps line, or "Chapter 12." / "BOOK ONE" / "Part II": a heading, which also ends a document. */
function isHeading(paragraph: string): boolean {
  if (!/[a-z]/.test(paragraph)) return true;
  return paragraph.length < 100 && /^(chapter|book|volume|part|stave)\s+([0-9]+|[ivxlcdm]+|one|two|three|four|five|six|seven|eight|nine|ten)\b/i.test(paragraph);
}

/**
 * Project Gutenberg-style plain text (hard-wrapped lines, blank line between paragraphs, `_italics_`,
 * chapter headings) → one document per chapter, each paragraph unwrapped onto one line.
 */
function gutenbergDocuments(lines: readonly string[]): SourceDocument[] {
  const docs: SourceDocument[] = [];
  let doc: string[] = [];
  let para: string[] = [];
  const endParagraph = (): void => {
    if (!para.length) return;
    const text = para.join(' ').replace(/_/g, '');
    para = [];
    if (isHeading(text)) {
      if (doc.length) docs.push(doc);
      doc = [];
    } else if (!/^\[Illustration|^[Bb]y [A-Z][A-Za-z. ]*( \[\d+\])?$/.test(text)) doc.push(text); // not the byline
  };
  for (const line of lines) {
    if (line.trim() === '') endParagraph();
    else para.push(line.trim());
  }
  endParagraph();
  if (doc.length) docs.push(doc);
  return docs;
}

function rStrings(value: RValue | undefined, what: string): string[] {
  if (!value || value.kind !== 'strings') throw new Error(`${what}: expected a character vector`);
  return value.values.map((s) => s ?? '');
}

/** Lines from fortune(6)-style text, reflowed: wrapped prose is joined onto one line, verse keeps its lines. */
function reflow(lines: readonly string[]): string[] {
  const out: string[] = [];
  let block: string[] = [];
  const endBlock = (): void => {
    if (!block.length) return;
    // Verse: short lines, or continuation lines that mostly start with a capital (wrapped prose rarely does).
    const mean = block.reduce((s, l) => s + l.length, 0) / block.length;
    const capitals = block.slice(1).filter((l) => /^["'(]?[A-Z]/.test(l)).length;
    const verse = block.length > 1 && (mean < 40 || capitals >= 0.7 * (block.length - 1));
    out.push(verse ? block.join('\n') : block.join(' '));
    block = [];
  };
  for (const line of lines) {
    if (line.trim() === '') endBlock();
    else block.push(line.trim());
  }
  endBlock();
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Extractors

const AUSTEN_RDB = '/usr/lib/R/site-library/janeaustenr/data/Rdata.rdb';

/** janeaustenr: six character vectors (one line of the Gutenberg text per element), one per novel. */
function extractAusten(files: ReadonlyMap<string, Buffer>): SourceDocument[] {
  return readRdb(file(files, AUSTEN_RDB)).flatMap((novel, i) => gutenbergDocuments(rStrings(novel ?? undefined, `novel ${i}`)));
}

const MOBY_RDB = '/usr/lib/R/site-library/tokenizers/data/Rdata.rdb';

/** tokenizers: `mobydick`, the whole Gutenberg file in one string (licence header and footer included). */
function extractMobyDick(files: ReadonlyMap<string, Buffer>): SourceDocument[] {
  const [text] = rStrings(readRdb(file(files, MOBY_RDB))[0] ?? undefined, 'mobydick');
  const lines = (text ?? '').split(/\r?\n/);
  const start = lines.findIndex((l) => l.startsWith('*** START OF'));
  const end = lines.findIndex((l) => l.startsWith('*** END OF'));
  if (start < 0 || end < start) throw new Error('mobydick: Project Gutenberg start/end markers not found');
  return gutenbergDocuments(lines.slice(start + 1, end))
    .map((doc) => doc.filter((p) => !/Produced by|etext|Transcriber|^By Herman Melville$/.test(p)))
    .filter((doc) => doc.length > 0);
}

const TIDYTEXT_BOOKS = '/usr/lib/R/site-library/tidytext/extdata/books.rda';

/** tidytext: a data frame of book lines (gutenbergr output). Pride and Prejudice is skipped: janeaustenr has it. */
function extractTidytextBooks(files: ReadonlyMap<string, Buffer>): SourceDocument[] {
  const frame = readRda(file(files, TIDYTEXT_BOOKS)).get('books') ?? null;
  const text = rColumn(frame, 'text');
  const title = rColumn(frame, 'title');
  const byTitle = new Map<string, string[]>();
  text.forEach((line, i) => {
    const t = title[i] ?? '';
    if (t === 'Pride and Prejudice') return;
    let lines = byTitle.get(t);
    if (!lines) byTitle.set(t, (lines = []));
    lines.push(line ?? '');
  });
  return [...byTitle.values()].flatMap((lines) => gutenbergDocuments(lines));
}

const WEB_DIR = '/usr/share/sword/modules/texts/ztext/engWEB2015eb';
const WEB_FILES = ['ot.bzs', 'ot.bzz', 'nt.bzs', 'nt.bzz'].map((f) => `${WEB_DIR}/${f}`);

/**
 * SWORD zText module: `*.bzs` lists (offset, size, uncompressed size) of zlib blocks in `*.bzz`, one block
 * per book. The text is OSIS XML with per-word Strong's tags and footnotes, so the tags are stripped by
 * hand: notes and titles go, paragraph and line-group markers become paragraph breaks, poetry lines
 * become line breaks, and each chapter becomes a document.
 */
function extractWorldEnglishBible(files: ReadonlyMap<string, Buffer>): SourceDocument[] {
  let osis = '';
  for (const testament of ['ot', 'nt']) {
    const index = file(files, `${WEB_DIR}/${testament}.bzs`);
    const blocks = file(files, `${WEB_DIR}/${testament}.bzz`);
    for (let i = 0; i + 12 <= index.length; i += 12) {
      const offset = index.readUInt32LE(i);
      const size = index.readUInt32LE(i + 4);
      if (size > 0) osis += inflateSync(blocks.subarray(offset, offset + size)).toString('utf8') + '\n';
    }
  }
  const DOC = '\u0001';
  const text = osis
    .replace(/<note\b[^>]*>[\s\S]*?<\/note>/g, '')
    .replace(/<seg type="keyword">([^<]*)<\/seg>\s*/g, '$1: ')
    .replace(/<(title|speaker|rdg)\b[^>]*>[\s\S]*?<\/\1>/g, '')
    .replace(/<chapter\b[^>]*\/>|<div\b[^>]*type="(book|glossary|front|introduction)"[^>]*\/>/g, `\n\n${DOC}\n\n`)
    .replace(/<div\b[^>]*type="x-p"[^>]*\/>|<\/?lg\b[^>]*>|<lb\b[^>]*\/>|<\/?(list|item)\b[^>]*>/g, '\n\n')
    .replace(/<l\b[^>]*\/?>|<\/l>/g, '\n')
    .replace(/<[^>]*>/g, '')
    .replace(/&amp;/g, '&')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'");
  return text
    .split(DOC)
    .map((chapter) =>
      chapter
        .split(/\n\s*\n/)
        .map((p) =>
          p
            .split('\n')
            .map((l) => l.replace(/\s+/g, ' ').trim())
            .filter(Boolean)
            .join('\n'),
        )
        .filter(Boolean),
    )
    .filter((doc) => doc.length > 0);
}

/** Where Debian's wordnet-base puts the WordNet 3.0 database (also read by tools/trainer/wordnet.ts). */
export const WORDNET_DIR = '/usr/share/wordnet';
const WORDNET_FILES = ['data.noun', 'data.verb', 'data.adj', 'data.adv'].map((f) => `${WORDNET_DIR}/${f}`);

/**
 * WordNet's `data.*` files: one synset per line (`offset lexfile pos count word lexid ... | gloss`), where
 * the gloss is definitions followed by quoted example sentences. Only synsets with examples are used, as
 * one paragraph: a definition sentence, then the examples as sentences (so the source is real usage, not a
 * word list). Each synset is its own document.
 */
function extractWordNet(files: ReadonlyMap<string, Buffer>): SourceDocument[] {
  const docs: SourceDocument[] = [];
  for (const path of WORDNET_FILES) {
    for (const line of file(files, path).toString('utf8').split('\n')) {
      if (!line || line.startsWith('  ')) continue; // licence header lines start with two spaces
      const bar = line.indexOf(' | ');
      if (bar < 0) continue;
      const fields = line.slice(0, bar).split(' ');
      const pos = fields[2];
      const lemma = (fields[4] ?? '').replace(/\(\w+\)$/, '').replace(/_/g, ' ');
      const gloss = line.slice(bar + 3).trim();
      const examples = [...gloss.matchAll(/"([^"]+)"/g)].map((m) => sentence(m[1] ?? ''));
      if (!examples.length || !lemma) continue;
      const definition = gloss.split(/;\s*"/)[0]!.replace(/;\s*$/, '').trim();
      const head = pos === 'v' ? `To ${lemma} is to ${definition}.` : `"${lemma}" means ${definition}.`;
      docs.push([[head, ...examples].join(' ')]);
    }
  }
  return docs;
}

function sentence(s: string): string {
  const t = s.trim();
  const capital = t.charAt(0).toUpperCase() + t.slice(1);
  return /[.!?]["')]?$/.test(capital) ? capital : `${capital}.`;
}

const FORTUNE_DIR = '/usr/share/games/fortunes';
/** fortunes-min's files. */
const FORTUNES_MIN = ['fortunes', 'literature', 'riddles'];
/**
 * fortunes' files kept: quotations, aphorisms and jokes in general English. Left out: computing and
 * Debian/IRC logs, ascii-art, song lyrics and Star Trek / Pratchett quotes (others' copyrighted works),
 * translated Tao Te Ching, zippy (nonsense), ethnic, men-women and drugs jokes, politics, news.
 */
const FORTUNES_KEPT = [
  'art', 'definitions', 'education', 'food', 'humorists', 'kids', 'law', 'love', 'magic', 'medicine',
  'miscellaneous', 'people', 'pets', 'platitudes', 'science', 'sports', 'wisdom', 'work',
];

/** Typewriter overstrike (`___\b\b\band`, `X\bX`): each backspace erases the character before it. */
function resolveBackspaces(text: string): string {
  if (!text.includes('\b')) return text;
  const out: string[] = [];
  for (const c of text) {
    if (c === '\b') out.pop();
    else out.push(c);
  }
  return out.join('');
}

/**
 * fortune(6) files: cookies separated by `%` lines, hard-wrapped, with typewriter underlining, often
 * ending with an indented `-- Author` attribution (dropped: names without a sentence). Each cookie is a
 * document.
 */
function extractFortunes(paths: readonly string[]): (files: ReadonlyMap<string, Buffer>) => SourceDocument[] {
  return (files) =>
    paths.flatMap((path) =>
      resolveBackspaces(file(files, path).toString('utf8'))
        .split(/^%$/m)
        .map((cookie) => {
          const lines = cookie.replace(/^\n/, '').split('\n');
          const attribution = lines.findIndex((l) => /^\s+--\s*\S/.test(l));
          return reflow(attribution >= 0 ? lines.slice(0, attribution) : lines);
        })
        .filter((doc) => doc.length > 0),
    );
}

const DEVIL_INDEX = '/usr/share/dictd/devil.index';
const DEVIL_DICT = '/usr/share/dictd/devil.dict.dz';

/** dictd's base64 numbers (offset and length in the index). */
function dictNumber(s: string): number {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  let n = 0;
  for (const c of s) n = n * 64 + alphabet.indexOf(c);
  return n;
}

/**
 * dictd database: the `.index` gives each entry's offset and length in the (dictzip = gzip) `.dict.dz`.
 * An entry is `HEADWORD, n.  Definition...` hard-wrapped, with indented verse and right-aligned initials
 * of the verse's (fictional) author. Each entry is a document; its first paragraph reads `Headword: ...`.
 */
function extractDevilsDictionary(files: ReadonlyMap<string, Buffer>): SourceDocument[] {
  const dict = gunzipSync(file(files, DEVIL_DICT));
  const entries = file(files, DEVIL_INDEX)
    .toString('utf8')
    .split('\n')
    .map((line) => line.split('\t'))
    .filter((f) => f.length >= 3 && !f[0]!.startsWith('00database'))
    .map((f) => ({ offset: dictNumber(f[1]!), length: dictNumber(f[2]!) }))
    .sort((a, b) => a.offset - b.offset);
  const seen = new Set<number>();
  const docs: SourceDocument[] = [];
  for (const { offset, length } of entries) {
    if (seen.has(offset)) continue;
    seen.add(offset);
    const lines = dict
      .subarray(offset, offset + length)
      .toString('utf8')
      .split('\n')
      .filter((l) => !/^\s{20,}\S{1,12}$/.test(l)); // right-aligned initials
    const paragraphs = reflow(lines);
    const first = paragraphs[0];
    if (!first) continue;
    const m = /^([A-Z][A-Z' -]*[A-Z])(?:,\s+[a-z. ]+?\.)?\s+(.*)$/s.exec(first);
    if (m) {
      const word = m[1]!.charAt(0) + m[1]!.slice(1).toLowerCase();
      paragraphs[0] = `${word}: ${m[2]!}`;
    }
    docs.push(paragraphs);
  }
  return docs;
}

const CRAWL_DIR = '/usr/share/crawl/dat/descript';
/**
 * Crawl's English description files kept: lore of monsters, gods, items, places, spells. Left out:
 * quotes.txt (quotations from others' copyrighted books) and the game-mechanics / help files.
 */
const CRAWL_FILES = ['monsters', 'gods', 'items', 'unrand', 'features', 'branches', 'spells', 'species', 'backgrounds', 'clouds', 'cards'].map(
  (f) => `${CRAWL_DIR}/${f}.txt`,
);

/**
 * Crawl description files: entries separated by `%%%%`, `#` comment lines, the key on the first line, then
 * hard-wrapped text; some entries embed Lua (`{{ ... }}`) or colour tags, which are dropped.
 */
function extractCrawl(files: ReadonlyMap<string, Buffer>): SourceDocument[] {
  return CRAWL_FILES.flatMap((path) =>
    file(files, path)
      .toString('utf8')
      .split(/^%%%%$/m)
      .map((entry) => {
        if (entry.includes('{{')) return [];
        const lines = entry
          .split('\n')
          .filter((l) => !l.startsWith('#'))
          .map((l) => l.replace(/<\/?[a-z]+>/g, ''));
        while (lines.length && lines[0]!.trim() === '') lines.shift();
        lines.shift(); // the key
        return reflow(lines).filter((p) => !/[@$]/.test(p));
      })
      .filter((doc) => doc.length > 0),
  );
}

// ---------------------------------------------------------------------------------------------------------
// The registry

export const GENERAL_SOURCES: readonly GeneralSource[] = [
  {
    id: 'austen',
    package: 'r-cran-janeaustenr',
    title: "Jane Austen's six novels (Project Gutenberg text)",
    licence: 'Public domain text; package: "License: MIT" (Copyright: 2016-2017 Julia Silge)',
    files: [AUSTEN_RDB],
    extract: extractAusten,
  },
  {
    id: 'moby-dick',
    package: 'r-cran-tokenizers',
    title: 'Herman Melville, Moby Dick (Project Gutenberg #2701, the `mobydick` data set)',
    licence: 'Public domain text; package: "License: MIT" (Copyright: 2016-2018 Lincoln Mullen, ...)',
    files: [MOBY_RDB],
    extract: extractMobyDick,
  },
  {
    id: 'gutenberg-novels',
    package: 'r-cran-tidytext',
    title: "H. G. Wells' The War of the Worlds, Jules Verne's Twenty Thousand Leagues under the Sea, Dickens' Great Expectations (extdata/books.rda)",
    licence: 'Public domain texts; package: "License: MIT" (Copyright: 2018-2021 Gabriela De Queiroz, ...)',
    files: [TIDYTEXT_BOOKS],
    extract: extractTidytextBooks,
  },
  {
    id: 'world-english-bible',
    package: 'sword-text-web',
    title: 'World English Bible with Deuterocanon (SWORD module engWEB2015eb)',
    licence: 'License: public-domain — "The World English Bible is in the Public Domain. That means that it is not copyrighted."',
    files: WEB_FILES,
    extract: extractWorldEnglishBible,
  },
  {
    id: 'wordnet-examples',
    package: 'wordnet-base',
    title: 'WordNet 3.0 definitions with their example sentences (synsets that have examples)',
    licence:
      'License: WordNet3.0 — "Permission to use, copy, modify and distribute this software and database and its documentation for any purpose and without fee or royalty is hereby granted" (WordNet 3.0 Copyright 2006 by Princeton University)',
    files: WORDNET_FILES,
    extract: extractWordNet,
  },
  {
    id: 'fortunes-min',
    package: 'fortunes-min',
    title: 'fortune(6) cookies: fortunes, literature, riddles',
    licence: 'BSD: "This program falls under the BSD copyright: Copyright (c) 1991 The Regents of the University of California."',
    files: FORTUNES_MIN.map((f) => `${FORTUNE_DIR}/${f}`),
    extract: extractFortunes(FORTUNES_MIN.map((f) => `${FORTUNE_DIR}/${f}`)),
  },
  {
    id: 'fortunes',
    package: 'fortunes',
    title: `fortune(6) cookies: ${FORTUNES_KEPT.join(', ')}`,
    licence: 'BSD: "This program falls under the BSD copyright: Copyright (c) 1991 The Regents of the University of California."',
    files: FORTUNES_KEPT.map((f) => `${FORTUNE_DIR}/${f}`),
    extract: extractFortunes(FORTUNES_KEPT.map((f) => `${FORTUNE_DIR}/${f}`)),
  },
  {
    id: 'devils-dictionary',
    package: 'dict-devil',
    title: "Ambrose Bierce, The Devil's Dictionary (1911)",
    licence: 'Public domain: "The Devil\'s Dictionary is in the public domain, its copyright has expired."',
    files: [DEVIL_INDEX, DEVIL_DICT],
    extract: extractDevilsDictionary,
  },
  {
    id: 'crawl-descriptions',
    package: 'crawl-common',
    title: 'Dungeon Crawl Stone Soup: English lore descriptions of monsters, gods, items, places and spells',
    licence: 'GPL-2+: "This program is free software; you can redistribute it and/or modify it under the terms of the GNU General Public License as published by the Free Software Foundation; either version 2 of the License, or (at your option) any later version."',
    files: CRAWL_FILES,
    extract: extractCrawl,
  },
];

// ---------------------------------------------------------------------------------------------------------
// Packages

function installedVersion(pkg: string): string | null {
  const r = spawnSync('dpkg-query', ['-W', '-f=${Status}\t${Version}', pkg], { encoding: 'utf8' });
  if (r.status !== 0) return null;
  const [status, version] = r.stdout.split('\t');
  return status === 'install ok installed' && version ? version : null;
}

function installHint(packages: readonly string[]): string {
  return `apt-get install -y --no-install-recommends ${packages.join(' ')}`;
}

/**
 * Makes sure every source's package is installed and returns each package's version. Missing packages are
 * installed with apt-get when running as root (after an `apt-get update` if the first try fails, e.g. on a
 * fresh machine with no package lists); otherwise this throws, naming the packages and the command.
 */
export function ensureSourcePackages(sources: readonly GeneralSource[], log: (line: string) => void = () => {}): Map<string, string> {
  const packages = [...new Set(sources.map((s) => s.package))];
  const dpkg = spawnSync('dpkg-query', ['--version'], { encoding: 'utf8' }).status === 0;
  const missing = dpkg ? packages.filter((p) => installedVersion(p) === null) : packages;
  if (missing.length) {
    const root = typeof process.getuid === 'function' && process.getuid() === 0;
    const apt = spawnSync('apt-get', ['--version'], { encoding: 'utf8' }).status === 0;
    if (!dpkg || !root || !apt) {
      throw new Error(
        `The general corpus needs the Debian package${missing.length > 1 ? 's' : ''} ${missing.join(', ')}: install with \`${installHint(missing)}\` (as root).`,
      );
    }
    log(`installing ${missing.join(' ')} with apt-get`);
    const install = (): void => {
      execFileSync('apt-get', ['install', '-y', '--no-install-recommends', ...missing], {
        stdio: ['ignore', 'ignore', 'pipe'],
        env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
      });
    };
    try {
      install();
    } catch {
      log('apt-get install failed; running apt-get update and retrying');
      execFileSync('apt-get', ['update'], { stdio: ['ignore', 'ignore', 'pipe'] });
      try {
        install();
      } catch (err) {
        throw new Error(`Could not install ${missing.join(', ')} (\`${installHint(missing)}\`): ${(err as Error).message}`);
      }
    }
  }
  const versions = new Map<string, string>();
  for (const p of packages) {
    const v = installedVersion(p);
    if (!v) throw new Error(`The Debian package ${p} is still not installed: run \`${installHint([p])}\` as root.`);
    versions.set(p, v);
  }
  for (const s of sources) {
    for (const f of s.files) {
      if (!existsSync(f)) throw new Error(`${s.package} ${versions.get(s.package)} does not ship ${f} (needed by the "${s.id}" source).`);
    }
  }
  return versions;
}
