/** Reading the evaluation samples: one split of the world corpus, with clear errors, and a stable subset. */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseSamples, SPLITS, type Split, type WorldSample } from '../corpus/sample.ts';

export class EvalError extends Error {
  override name = 'EvalError';
}

export function isSplit(value: string): value is Split {
  return (SPLITS as readonly string[]).includes(value);
}

/** The samples of `<corpusDir>/<split>.jsonl`. */
export function readSplit(corpusDir: string, split: Split): WorldSample[] {
  const file = join(corpusDir, `${split}.jsonl`);
  if (!existsSync(file)) {
    throw new EvalError(existsSync(corpusDir) ? `${file} not found: the corpus has no "${split}" split (run npm run corpus first)` : `no world corpus at ${corpusDir}: run npm run corpus first`);
  }
  let samples: WorldSample[];
  try {
    samples = parseSamples(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new EvalError(`${file} is not valid JSONL (${(error as Error).message}); re-run npm run corpus`);
  }
  if (samples.length === 0) throw new EvalError(`${file} has no samples (empty "${split}" split); re-run npm run corpus`);
  samples.forEach((s, i) => checkSample(s, `${file}:${i + 1}`));
  return samples;
}

/** The fields the evaluator relies on, so a malformed line fails with its position instead of deep inside a run. */
export function checkSample(s: WorldSample, where: string): void {
  const problem =
    typeof s.id !== 'string' ? 'no id'
    : typeof s.npcId !== 'string' ? 'no npcId'
    : !Array.isArray(s.messages) || s.messages.length === 0 ? 'no messages'
    : typeof s.reply !== 'string' ? 'no reply'
    : s.action === undefined ? 'no action (null for none)'
    : s.factKeywords !== undefined && !Array.isArray(s.factKeywords) ? 'factKeywords is not a list'
    : undefined;
  if (problem) throw new EvalError(`${where}: sample ${s.id ?? '?'} has ${problem}`);
}

/**
 * A stable subset of `limit` samples: ordered by a hash of (seed, id) so the pick is spread over every
 * NPC and kind, does not depend on file order, and is the same for the same seed.
 */
export function pickSubset(samples: readonly WorldSample[], limit: number | undefined, seed: number): WorldSample[] {
  if (limit === undefined || limit >= samples.length) return [...samples];
  const key = (s: WorldSample) => createHash('sha256').update(`${seed}\0${s.id}`).digest('hex');
  const keys = new Map(samples.map((s) => [s, key(s)]));
  const chosen = new Set([...samples].sort((a, b) => (keys.get(a)! < keys.get(b)! ? -1 : 1)).slice(0, limit));
  return samples.filter((s) => chosen.has(s)); // keep file order
}

/**
 * The lore facts the corpus's train split answers with (null when it has no train split): the eval splits
 * lore accuracy into facts the model was trained on and held-out facts, which only reading the retrieved
 * lore block can answer. Reads the facts with a pattern rather than parsing ~100 MB of samples.
 */
export function trainedFacts(corpusDir: string): Set<string> | null {
  const file = join(corpusDir, 'train.jsonl');
  if (!existsSync(file)) return null;
  const facts = new Set<string>();
  for (const match of readFileSync(file, 'utf8').matchAll(/"fact":("(?:[^"\\]|\\.)*")/g)) facts.add(JSON.parse(match[1]!) as string);
  return facts;
}
