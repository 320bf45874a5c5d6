/**
 * A small trigram language model (ARPA text, which pocketsphinx reads directly) and a pronunciation
 * dictionary for its words, built from sentences players might say. This is how the recogniser is biased
 * to the world: with the stock general-English model, pocketsphinx hears "where is the blacksmith's forge"
 * (espeak-ng voice) as "there is a as a barge"; a model that knows the town's words and phrasing finds them.
 *
 * Smoothing: absolute discounting (D = 0.5) with Katz-style back-off weights. The unigrams are a mixture
 * of the world's and a general-English background (the stock model's own unigram probabilities, see
 * readGeneralUnigrams): a line that leaves the world's phrasing backs off to ordinary English words with
 * their ordinary frequencies instead of being forced onto world words. Without a background, add-k
 * unigrams keep every vocabulary word possible.
 */
import { readFileSync } from 'node:fs';

const BOS = '<s>';
const EOS = '</s>';
const DISCOUNT = 0.5;
const UNIGRAM_K = 0.5;

/** Lower-case words of a sentence as a recogniser writes them (apostrophes kept inside words). */
export function words(sentence: string): string[] {
  return sentence
    .toLowerCase()
    .replace(/[’‘]/g, "'")
    .replace(/[^a-z0-9' ]+/g, ' ')
    .split(/\s+/)
    .map((w) => w.replace(/^'+|'+$/g, ''))
    .filter((w) => w.length > 0 && /[a-z]/.test(w));
}

export interface ArpaModel {
  text: string;
  vocabulary: string[];
  counts: [number, number, number];
}

/** General-English unigram probabilities (word → p) and the share of unigram mass they get. */
export interface Background {
  probs: ReadonlyMap<string, number>;
  weight: number;
}

export function buildArpa(sentences: readonly string[], extraVocabulary: readonly string[] = [], background?: Background): ArpaModel {
  const uni = new Map<string, number>();
  const bi = new Map<string, Map<string, number>>();
  const tri = new Map<string, Map<string, number>>();
  const add = <K>(m: Map<K, Map<string, number>>, k: K, w: string) => {
    let row = m.get(k);
    if (!row) m.set(k, (row = new Map()));
    row.set(w, (row.get(w) ?? 0) + 1);
  };
  for (const sentence of sentences) {
    const ws = words(sentence);
    if (ws.length === 0) continue;
    const seq = [BOS, ...ws, EOS];
    for (let i = 1; i < seq.length; i++) {
      uni.set(seq[i]!, (uni.get(seq[i]!) ?? 0) + 1);
      add(bi, seq[i - 1]!, seq[i]!);
      if (i >= 2) add(tri, `${seq[i - 2]} ${seq[i - 1]}`, seq[i]!);
    }
  }
  for (const w of extraVocabulary) for (const x of words(w)) if (!uni.has(x)) uni.set(x, 0);
  if (background) for (const w of background.probs.keys()) if (!uni.has(w) && w !== BOS) uni.set(w, 0);
  const vocab = [...uni.keys()].filter((w) => w !== EOS).sort();
  const total = [...uni.values()].reduce((a, b) => a + b, 0);
  const p1 = new Map<string, number>();
  if (background) {
    // Mixture: the world's add-k unigrams and the background's, renormalised over this vocabulary.
    const denom = total + UNIGRAM_K * (vocab.length + 1);
    let bgTotal = 0;
    for (const w of [...vocab, EOS]) bgTotal += background.probs.get(w) ?? 0;
    const floor = 1e-9;
    for (const w of [...vocab, EOS]) {
      const world = ((uni.get(w) ?? 0) + UNIGRAM_K) / denom;
      const general = (background.probs.get(w) ?? floor) / (bgTotal || 1);
      p1.set(w, (1 - background.weight) * world + background.weight * general);
    }
    const sum = [...p1.values()].reduce((a, b) => a + b, 0);
    for (const [w, p] of p1) p1.set(w, p / sum);
  } else {
    const denom = total + UNIGRAM_K * (vocab.length + 1);
    for (const w of [...vocab, EOS]) p1.set(w, ((uni.get(w) ?? 0) + UNIGRAM_K) / denom);
  }

  // Bigrams: discounted observed probabilities, and each history's back-off weight.
  const p2 = new Map<string, Map<string, number>>();
  const bow1 = new Map<string, number>();
  for (const [u, row] of bi) {
    const n = [...row.values()].reduce((a, b) => a + b, 0);
    const probs = new Map<string, number>();
    let kept = 0;
    let lower = 0;
    for (const [w, c] of row) {
      const p = (c - DISCOUNT) / n;
      probs.set(w, p);
      kept += p;
      lower += p1.get(w)!;
    }
    p2.set(u, probs);
    bow1.set(u, (1 - kept) / Math.max(1e-9, 1 - lower));
  }
  const bigram = (u: string, w: string) => p2.get(u)?.get(w) ?? (bow1.get(u) ?? 1) * p1.get(w)!;
  const p3 = new Map<string, Map<string, number>>();
  const bow2 = new Map<string, number>();
  for (const [h, row] of tri) {
    const u = h.split(' ')[1]!;
    const n = [...row.values()].reduce((a, b) => a + b, 0);
    const probs = new Map<string, number>();
    let kept = 0;
    let lower = 0;
    for (const [w, c] of row) {
      const p = (c - DISCOUNT) / n;
      probs.set(w, p);
      kept += p;
      lower += bigram(u, w);
    }
    p3.set(h, probs);
    bow2.set(h, (1 - kept) / Math.max(1e-9, 1 - lower));
  }

  const log = (p: number) => (p <= 0 ? -99 : Math.log10(p)).toFixed(4);
  const lines1 = [`${'-99.0000'} ${BOS} ${log(bow1.get(BOS) ?? 1)}`];
  for (const w of [...vocab, EOS]) lines1.push(`${log(p1.get(w)!)} ${w}${bow1.has(w) ? ` ${log(bow1.get(w)!)}` : ''}`);
  const lines2: string[] = [];
  for (const [u, row] of p2) for (const [w, p] of row) {
    const h = `${u} ${w}`;
    lines2.push(`${log(p)} ${h}${bow2.has(h) ? ` ${log(bow2.get(h)!)}` : ''}`);
  }
  const lines3: string[] = [];
  for (const [h, row] of p3) for (const [w, p] of row) lines3.push(`${log(p)} ${h} ${w}`);
  const text = [
    '\\data\\',
    `ngram 1=${lines1.length}`,
    `ngram 2=${lines2.length}`,
    `ngram 3=${lines3.length}`,
    '',
    '\\1-grams:',
    ...lines1,
    '',
    '\\2-grams:',
    ...lines2,
    '',
    '\\3-grams:',
    ...lines3,
    '',
    '\\end\\',
    '',
  ].join('\n');
  return { text, vocabulary: vocab.filter((w) => w !== BOS), counts: [lines1.length, lines2.length, lines3.length] };
}

/** A CMU-style pronunciation dictionary: word → phone strings (variants "word(2)" folded in). */
export type Lexicon = Map<string, string[]>;

export function readLexicon(path: string): Lexicon {
  const lexicon: Lexicon = new Map();
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const space = line.indexOf(' ');
    if (space <= 0) continue;
    const word = line.slice(0, space).replace(/\(\d+\)$/, '');
    const phones = line.slice(space + 1).trim();
    const list = lexicon.get(word);
    if (list) list.push(phones);
    else lexicon.set(word, [phones]);
  }
  return lexicon;
}

/**
 * espeak-ng's IPA (en-us) → the CMU phone set of pocketsphinx's en-us model, longest symbol first.
 * Used for world words the CMU dictionary lacks (Emberfall, Selka, Dawnkeeper…).
 */
const IPA_TO_CMU: [string, string][] = [
  ['aɪɚ', 'AY ER'], ['aɪə', 'AY ER'], ['aʊɚ', 'AW ER'], ['ɑːɹ', 'AA R'], ['ɔːɹ', 'AO R'], ['ɜːɹ', 'ER'], ['ɪɹ', 'IH R'], ['ɛɹ', 'EH R'], ['ʊɹ', 'UH R'],
  ['tʃ', 'CH'], ['dʒ', 'JH'], ['aɪ', 'AY'], ['aʊ', 'AW'], ['ɔɪ', 'OY'], ['eɪ', 'EY'], ['oʊ', 'OW'], ['əʊ', 'OW'], ['iə', 'IY AH'],
  ['iː', 'IY'], ['uː', 'UW'], ['ɑː', 'AA'], ['ɔː', 'AO'], ['ɜː', 'ER'],
  ['i', 'IY'], ['ɪ', 'IH'], ['ᵻ', 'IH'], ['e', 'EH'], ['ɛ', 'EH'], ['æ', 'AE'], ['a', 'AE'], ['ɑ', 'AA'], ['ɒ', 'AA'], ['ɔ', 'AO'], ['o', 'OW'],
  ['ʌ', 'AH'], ['ə', 'AH'], ['ɐ', 'AH'], ['ɚ', 'ER'], ['ɜ', 'ER'], ['ʊ', 'UH'], ['u', 'UW'],
  ['p', 'P'], ['b', 'B'], ['t', 'T'], ['d', 'D'], ['k', 'K'], ['ɡ', 'G'], ['g', 'G'], ['f', 'F'], ['v', 'V'], ['θ', 'TH'], ['ð', 'DH'],
  ['s', 'S'], ['z', 'Z'], ['ʃ', 'SH'], ['ʒ', 'ZH'], ['h', 'HH'], ['m', 'M'], ['n', 'N'], ['ŋ', 'NG'], ['l', 'L'], ['ɹ', 'R'], ['r', 'R'],
  ['w', 'W'], ['j', 'Y'], ['ɾ', 'D'], ['ʔ', 'T'], ['x', 'K'], ['ɬ', 'L'], ['ç', 'HH'],
];
const IGNORED_IPA = /[ˈˌː‿\-\s.ʲ̩̃]/gu;

/** CMU phones for espeak-ng IPA, or null when a symbol has no mapping. */
export function ipaToCmu(ipa: string): string | null {
  const s = ipa.replace(/[ˈˌ]/g, '');
  const phones: string[] = [];
  let i = 0;
  outer: while (i < s.length) {
    const rest = s.slice(i);
    if (IGNORED_IPA.test(rest[0]!)) {
      IGNORED_IPA.lastIndex = 0;
      i++;
      continue;
    }
    IGNORED_IPA.lastIndex = 0;
    for (const [sym, cmu] of IPA_TO_CMU) {
      if (rest.startsWith(sym)) {
        phones.push(...cmu.split(' '));
        i += sym.length;
        continue outer;
      }
    }
    return null;
  }
  // Collapse doubled phones (espeak marks gemination and ER+R that the CMU set writes once).
  const out = phones.filter((p, k) => k === 0 || p !== phones[k - 1] || !['R', 'ER'].includes(p));
  return out.length ? out.join(' ') : null;
}

/**
 * The unigram probabilities of a pocketsphinx binary ("Trie Language Model", sphinxbase 5prealpha) model:
 * the `top` most likely words, as a general-English background for a biased model. Reads only the header,
 * the unigram table and the word list; throws when the file is not in that layout.
 */
export function readGeneralUnigrams(path: string, top: number): Map<string, number> {
  const buf = readFileSync(path);
  const magic = 'Trie Language Model';
  if (buf.subarray(0, magic.length).toString('latin1') !== magic) throw new Error(`${path}: not a pocketsphinx trie language model`);
  const order = buf.readUInt8(magic.length);
  const counts = Array.from({ length: order }, (_, i) => buf.readUInt32LE(magic.length + 1 + 4 * i));
  let offset = magic.length + 1 + 4 * order;
  const quant = buf.readInt32LE(offset);
  offset += 4;
  // 16-bit quantisation: a probability and a back-off table per middle order, a probability table for the last.
  if (quant === 1) offset += ((order - 2) * 2 + 1) * 65536 * 4;
  else if (quant !== 0) throw new Error(`${path}: unknown quantisation ${quant}`);
  const unigrams = counts[0]!;
  // The vocabulary is the file's last `unigrams` NUL-terminated strings, in unigram order.
  const tail = buf.subarray(Math.max(0, buf.length - unigrams * 40)).toString('latin1').split('\0');
  const vocab = tail.slice(-(unigrams + 1), -1);
  if (vocab.length !== unigrams || !vocab.includes('<s>') || !vocab.includes('the')) throw new Error(`${path}: could not read its ${unigrams} words`);
  const log10Base = Math.log10(1.0001); // sphinxbase keeps log probabilities in base-1.0001 units
  const scored: [string, number][] = [];
  for (let i = 0; i < unigrams; i++) {
    const word = vocab[i]!;
    if (word === '<s>' || !/^[a-z']+$/.test(word)) continue;
    scored.push([word, 10 ** (buf.readFloatLE(offset + i * 12) * log10Base)]);
  }
  scored.sort((a, b) => b[1] - a[1]);
  return new Map(scored.slice(0, top));
}
