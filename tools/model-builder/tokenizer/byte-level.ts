/**
 * GPT-2's byte-level alphabet: every byte maps to a printable Unicode character, so BPE tokens are strings
 * and any UTF-8 text (emoji, CJK, broken sequences) tokenizes without an unknown token. The mapping and the
 * pre-tokenization pattern are the ones the `ByteLevel` pre-tokenizer/decoder of HF tokenizers use.
 */

function buildByteToChar(): string[] {
  const printable: number[] = [];
  const add = (from: number, to: number) => {
    for (let b = from; b <= to; b++) printable.push(b);
  };
  add(0x21, 0x7e);
  add(0xa1, 0xac);
  add(0xae, 0xff);
  const table: string[] = new Array(256);
  let shifted = 0;
  for (let byte = 0; byte < 256; byte++) {
    table[byte] = String.fromCodePoint(printable.includes(byte) ? byte : 256 + shifted++);
  }
  return table;
}

export const BYTE_TO_CHAR: readonly string[] = buildByteToChar();

/** GPT-2's split: contractions, letter runs, digit runs, punctuation runs, whitespace. */
export const GPT2_PRETOKENIZE = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

const encoder = new TextEncoder();

/** Splits text as the ByteLevel pre-tokenizer does and maps each piece's bytes to the byte alphabet. */
export function byteLevelWords(text: string): string[] {
  return (text.match(GPT2_PRETOKENIZE) ?? []).map((piece) => Array.from(encoder.encode(piece), (b) => BYTE_TO_CHAR[b]!).join(''));
}
