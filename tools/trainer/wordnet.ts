/**
 * Debian's WordNet 3.0 database (`wordnet-base`, the package the general corpus reads too), parsed once per
 * process: the synsets of its `data.<pos>` files. Hand-written because no npm package reads the WordNet 3.0
 * database files (the ones that exist bundle their own copy of the data, tens of MB, or need a native build).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { WORDNET_DIR } from '../corpus/general/sources.ts';

export { WORDNET_DIR };

export const POS_FILES = { n: 'noun', v: 'verb', a: 'adj', r: 'adv' } as const;
export type FilePos = keyof typeof POS_FILES;

export interface Synset {
  /** Its lemmas, multi-word ones with underscores ("so_long"). */
  words: string[];
  /** [pointer symbol, target synset key, source word index (0 = whole synset), target word index]. */
  pointers: Array<[string, string, number, number]>;
  /** Its definition and examples (the text after " | "). */
  gloss: string;
}

/** True when the WordNet database files are on this machine. */
export function hasWordNet(dir = WORDNET_DIR): boolean {
  return Object.values(POS_FILES).every((f) => existsSync(join(dir, `data.${f}`)));
}

/** Parsed databases by directory: a process that trains several times (the tests) reads WordNet once. */
const parsed = new Map<string, Map<string, Synset>>();

/**
 * WordNet's `data.<pos>` files: `offset lex_filenum ss_type w_cnt word lex_id … p_cnt ptr… | gloss`, w_cnt
 * in hex, each pointer `symbol offset pos source/target` (source/target: two hex word numbers, 0000 = the
 * whole synset). Keys are `<file pos><offset>`; adjective satellites (`s`) live in data.adj.
 */
export function readSynsets(dir: string): Map<string, Synset> {
  const cached = parsed.get(dir);
  if (cached) return cached;
  const synsets = new Map<string, Synset>();
  for (const [pos, name] of Object.entries(POS_FILES) as Array<[FilePos, string]>) {
    for (const line of readFileSync(join(dir, `data.${name}`), 'utf8').split('\n')) {
      if (!line || line.startsWith('  ')) continue; // the licence header
      const bar = line.indexOf(' | ');
      const fields = (bar < 0 ? line : line.slice(0, bar)).split(' ');
      const wordCount = parseInt(fields[3]!, 16);
      const words: string[] = [];
      for (let i = 0; i < wordCount; i++) words.push(fields[4 + 2 * i]!);
      let at = 4 + 2 * wordCount;
      const pointerCount = Number(fields[at++]);
      const pointers: Synset['pointers'] = [];
      for (let i = 0; i < pointerCount; i++, at += 4) {
        const [symbol, offset, targetPos, st] = fields.slice(at, at + 4) as [string, string, string, string];
        pointers.push([symbol, `${targetPos === 's' ? 'a' : targetPos}${offset}`, parseInt(st.slice(0, 2), 16), parseInt(st.slice(2), 16)]);
      }
      synsets.set(`${pos}${fields[0]}`, { words, pointers, gloss: bar < 0 ? '' : line.slice(bar + 3).trim() });
    }
  }
  parsed.set(dir, synsets);
  return synsets;
}
