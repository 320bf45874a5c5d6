/**
 * Corpus files → token ids with the target model's own tokenizer and chat template (the server's
 * `renderChat`), so the model trains on exactly the text it is served with.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { renderPrompt, type ModelText } from '../../server/src/inference/model/index.ts';
import { SharedPrefixTokenizer } from '../../server/src/inference/tokenizer/index.ts';
import { replyTokenIds } from '../../server/src/npc/action-grammar.ts';
import { actionBody } from '../../server/src/npc/action-syntax.ts';
import { parseSamples, SAMPLE_KINDS, type SampleKind, type WorldSample } from '../corpus/sample.ts';
import type { DialogueExample } from './batches.ts';

/** Paragraphs of a text corpus (blank-line separated), tokenized and joined by end-of-text; cached by content and tokenizer. */
export function tokenizeTextCorpus(text: ModelText, path: string, options: { cacheDir?: string; maxBytes?: number } = {}): Uint32Array {
  if (!existsSync(path)) throw new Error(`${path} does not exist: run npm run corpus first`);
  const raw = readFileSync(path, 'utf8');
  const source = options.maxBytes && raw.length > options.maxBytes ? raw.slice(0, raw.lastIndexOf('\n\n', options.maxBytes)) : raw;
  const key = createHash('sha256').update(source).update(JSON.stringify(text.spec.tokenizerJson)).digest('hex').slice(0, 16);
  const cachePath = join(options.cacheDir ?? dirname(path), `tokens-${key}.u32`);
  if (existsSync(cachePath)) {
    const bytes = readFileSync(cachePath);
    const out = new Uint32Array(bytes.byteLength / 4);
    new Uint8Array(out.buffer).set(bytes);
    return out;
  }
  const separator = text.specialTokens.bos ?? text.specialTokens.pad ?? 0;
  const ids: number[] = [];
  for (const paragraph of source.split(/\n\s*\n/)) {
    const trimmed = paragraph.trim();
    if (!trimmed) continue;
    for (const id of text.tokenizer.encode(trimmed)) ids.push(id);
    ids.push(separator);
  }
  const out = Uint32Array.from(ids);
  mkdirSync(dirname(cachePath), { recursive: true });
  writeFileSync(cachePath, new Uint8Array(out.buffer));
  return out;
}

export function readWorldSamples(path: string): WorldSample[] {
  if (!existsSync(path)) throw new Error(`${path} does not exist: run npm run corpus first`);
  return parseSamples(readFileSync(path, 'utf8'));
}

/** A dialogue corpus's training samples: its train.jsonl, then each extra file (feedback, corrections). */
export function readTrainingSamples(corpusDir: string, extraFiles: readonly string[] = []): WorldSample[] {
  return [join(corpusDir, 'train.jsonl'), ...extraFiles].flatMap((f) => readWorldSamples(f));
}

/**
 * A sample as prompt ids (everything up to the assistant's turn, tokenized as the engine does: the persona
 * on its own, then the rest — `SharedPrefixTokenizer`) and completion ids: the reply exactly as the
 * grammar-constrained decoder emits it (`replyTokenIds`: the call, the speech, end of turn). Pass one
 * `encoder` for many samples: each persona is then encoded once (28,842 world turns tokenize in 26 s
 * instead of 164 s).
 */
export function dialogueExample(text: ModelText, sample: Pick<WorldSample, 'messages' | 'speech' | 'action'>, encoder = new SharedPrefixTokenizer(text.tokenizer)): DialogueExample {
  const { prompt, sharedPrefix } = renderPrompt(text, sample.messages);
  const completion = replyTokenIds(text.tokenizer, sample.speech, actionBody(sample.action), text.specialTokens.eos[0]!);
  const { ids, prefixLength } = encoder.encode(prompt, sharedPrefix);
  const example: DialogueExample = { prompt: ids, completion };
  // The persona message is the shared prefix the server caches; training computes it once per packed row.
  if (prefixLength > 0 && prefixLength < ids.length) {
    example.prefixLength = prefixLength;
    example.prefixKey = createHash('sha256').update(sharedPrefix).digest('hex');
  }
  return example;
}

export function dialogueExamples(text: ModelText, samples: readonly WorldSample[], maxSequence: number): { examples: DialogueExample[]; dropped: number } {
  const examples: DialogueExample[] = [];
  let dropped = 0;
  const seen = new Map<WorldSample, DialogueExample>(); // a repeated sample (repeatKinds) is tokenized once
  const encoder = new SharedPrefixTokenizer(text.tokenizer);
  for (const sample of samples) {
    let example = seen.get(sample);
    if (!example) seen.set(sample, (example = dialogueExample(text, sample, encoder)));
    if (example.prompt.length + example.completion.length > maxSequence) dropped++;
    else examples.push(example);
  }
  return { examples, dropped };
}

/**
 * Each sample of a listed kind `times` times in all (`{ action: 3 }`), the others once. Weights a kind up
 * in a stage whose added turns are all of other kinds (the reading drills all answer [[none]], which
 * teaches the model that requests are rare). The copies are the same objects, tokenized once.
 */
export function repeatKinds(samples: readonly WorldSample[], times: Partial<Record<SampleKind, number>>): WorldSample[] {
  const out: WorldSample[] = [];
  for (const sample of samples) {
    const n = times[sample.kind] ?? 1;
    if (!Number.isInteger(n) || n < 0) throw new Error(`repeat count for ${sample.kind} must be a non-negative integer, got ${n}`);
    for (let i = 0; i < n; i++) out.push(sample);
  }
  return out;
}

/** "action=3,greeting=2" → { action: 3, greeting: 2 }, with a clear error for an unknown kind or a bad count. */
export function parseKindRepeats(spec: string): Partial<Record<SampleKind, number>> {
  const out: Partial<Record<SampleKind, number>> = {};
  for (const part of spec.split(',').map((p) => p.trim()).filter(Boolean)) {
    const match = /^([a-z]+)=(\d+)$/.exec(part);
    if (!match) throw new Error(`"${part}" is not kind=count (e.g. action=3)`);
    const kind = match[1] as SampleKind;
    if (!(SAMPLE_KINDS as readonly string[]).includes(kind)) throw new Error(`unknown sample kind "${kind}" (known: ${SAMPLE_KINDS.join(', ')})`);
    out[kind] = Number(match[2]);
  }
  return out;
}
