/**
 * Training data laid out for the training graph, deterministically from (seed, step): the batch of any step
 * can be recomputed without replaying earlier ones, which is what makes `--resume` bit-identical.
 *
 * - Text (pre-training): one token stream; each row is a window of S+1 tokens at a seeded offset, and
 *   every position predicts its next token.
 * - Dialogue (fine-tuning): packed rows — one NPC persona, then several of that NPC's samples, each a
 *   segment that sees the persona and itself; only the replies' tokens carry loss. (`dialogueBatchList`
 *   keeps the plain one-sample-per-row layout for inspection and tests.)
 */
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';
import { uniformInt } from 'pure-rand/distribution/uniformInt';
import type { StepBatch } from './step-runner.ts';

/** A tokenized fine-tuning example: the prompt (no loss) and the completion (loss). */
export interface DialogueExample {
  prompt: number[];
  completion: number[];
  /**
   * How many leading prompt tokens are the shared prefix (the NPC's persona), identical across every example
   * with the same `prefixKey`: packed rows compute it once for several examples. 0 = nothing shared.
   */
  prefixLength?: number;
  prefixKey?: string;
}

export interface BatchSource {
  /** The micro-batch for optimizer step `step`, accumulation slot `micro`. */
  batch(step: number, micro: number): StepBatch;
  /** Loss-carrying tokens per step (for tokens/s and the JSON summary). */
  readonly description: string;
}

function rngFor(seed: number, step: number, micro: number) {
  // Distinct, reproducible streams per (step, micro): jump by hashing the pair into the seed.
  return xoroshiro128plus((seed * 1_000_003 + step * 97 + micro) | 0);
}

/** Rounds up to a multiple of `quantum` (shapes are compiled once per size, so keep them few). */
export function roundUp(n: number, quantum: number): number {
  return Math.ceil(n / quantum) * quantum;
}

/**
 * Random windows of a token stream. With `copySpans` > 0, that share of rows repeats one earlier span of
 * the row later in it (16–64 tokens; half of the time the span is first replaced by tokens drawn at random
 * from the stream): the second copy is predictable by looking back and copying,
 * which grows the "induction" attention a small model needs to quote a fact from its prompt — natural
 * text alone repeats too rarely for a few million tokens of pre-training to teach it.
 *
 * With `copyDrills` > 0, that share of rows is a pure copying drill instead: blocks of 16–32 tokens (half
 * random ids drawn uniformly from every id the stream uses, half spans of the stream itself), each followed
 * by 1–3 partial copies — a stretch of the block starting anywhere in it, after 0–24 random ids. Every
 * copied token after the first is predictable only by finding the previous one in the block and reading
 * on ("induction"), which is what quoting a fact from the prompt needs. No separators and no fixed offsets:
 * with `A sep A sep` rows the model learnt to copy by position after the separator (drill loss fell, the
 * eval's copy probe did not move). Drawing from the whole used vocabulary matters: on the synthetic task
 * (diagnostics/copy-task-compare.ts) a 4,096-id model copies blocks drawn from 4,000 ids but stays flat on
 * blocks drawn from 400 of them.
 */
export function textBatches(
  tokens: Uint16Array | Uint32Array | number[],
  options: { batch: number; sequence: number; seed: number; copySpans?: number; copyDrills?: number },
): BatchSource {
  const { batch: B, sequence: S, seed } = options;
  if (tokens.length < S + 2) throw new Error(`the text corpus has ${tokens.length} tokens, fewer than one row of ${S + 1}`);
  const copyShare = options.copySpans ?? 0;
  if (!(copyShare >= 0 && copyShare <= 1)) throw new Error(`copySpans must be a share between 0 and 1, got ${copyShare}`);
  const drillShare = options.copyDrills ?? 0;
  if (!(drillShare >= 0 && drillShare <= 1)) throw new Error(`copyDrills must be a share between 0 and 1, got ${drillShare}`);
  const drill = drillShare > 0 ? drillAlphabet(tokens) : null;
  const N = B * S;
  const lossRows = BigInt64Array.from({ length: N }, (_, i) => BigInt(i));
  const lossWeights = new Float32Array(N).fill(1 / N);
  const row = new Array<number>(S + 1);
  return {
    description: `text windows ${B}×${S}${copyShare > 0 ? `, ${Math.round(copyShare * 100)} % with a repeated span` : ''}${drill ? `, ${Math.round(drillShare * 100)} % copying drills over ${drill.length} ids` : ''}`,
    batch(step, micro) {
      const rng = rngFor(seed, step, micro);
      const inputIds = new BigInt64Array(N);
      const targets = new BigInt64Array(N);
      for (let b = 0; b < B; b++) {
        const start = uniformInt(rng, 0, tokens.length - S - 2);
        for (let i = 0; i <= S; i++) row[i] = tokens[start + i]!;
        if (drill && uniformInt(rng, 0, 9999) < drillShare * 10_000) {
          const draw = () => drill[uniformInt(rng, 0, drill.length - 1)]!;
          let i = 0;
          const put = (id: number) => {
            if (i <= S) row[i++] = id;
          };
          while (i <= S) {
            const length = uniformInt(rng, 16, 32);
            const at = uniformInt(rng, 0, tokens.length - length);
            const natural = uniformInt(rng, 0, 1) === 0;
            const block = Array.from({ length }, (_, j) => (natural ? tokens[at + j]! : draw()));
            block.forEach(put);
            for (let copies = uniformInt(rng, 1, 3); copies > 0; copies--) {
              for (let gap = uniformInt(rng, 0, 24); gap > 0; gap--) put(draw());
              const from = uniformInt(rng, 0, length - 8);
              const to = uniformInt(rng, from + 8, length);
              for (let j = from; j < to; j++) put(block[j]!);
            }
          }
        } else if (copyShare > 0 && S >= 96 && uniformInt(rng, 0, 9999) < copyShare * 10_000) {
          const length = uniformInt(rng, 16, Math.min(64, Math.floor(S / 3)));
          const from = uniformInt(rng, 0, Math.floor(S / 2) - length);
          const to = uniformInt(rng, from + length + 1, S + 1 - length);
          // Half the spans are tokens drawn at random from the stream: their repeat is predictable only by
          // copying (a natural-text span is partly predictable anyway, which weakens the signal).
          if (uniformInt(rng, 0, 1) === 0) for (let i = 0; i < length; i++) row[from + i] = tokens[uniformInt(rng, 0, tokens.length - 1)]!;
          for (let i = 0; i < length; i++) row[to + i] = row[from + i]!;
        }
        for (let i = 0; i < S; i++) {
          inputIds[b * S + i] = BigInt(row[i]!);
          targets[b * S + i] = BigInt(row[i + 1]!);
        }
      }
      return { shape: { batch: B, sequence: S, lossRows: N }, inputIds, lossRows, targets, lossWeights };
    },
  };
}

/**
 * Interleaves two sources: each (step, micro) draws from `other` with probability `share`, seeded, so
 * `--resume` stays bit-identical. Used to keep copying drills in a dialogue fine-tune: fine-tuning on the
 * world dialogue alone erodes the copying the drill stage grew (the copy probe on random tokens went from
 * 0.9 back to 9.2 nats), and copying is what answering from an unseen lore fact needs.
 */
export function mixedBatches(main: BatchSource, other: BatchSource, options: { share: number; seed: number }): BatchSource {
  const { share, seed } = options;
  if (!(share >= 0 && share <= 1)) throw new Error(`the mixed-in share must be between 0 and 1, got ${share}`);
  return {
    description: `${main.description}; ${Math.round(share * 100)} % of micro-batches: ${other.description}`,
    batch(step, micro) {
      const rng = rngFor(seed ^ 0x5bd1e995, step, micro);
      return uniformInt(rng, 0, 9999) < share * 10_000 ? other.batch(step, micro) : main.batch(step, micro);
    },
  };
}

/** The ids a copying drill draws its random tokens from: every id the stream uses. */
function drillAlphabet(tokens: ArrayLike<number>): number[] {
  const used = new Set<number>();
  for (let i = 0; i < tokens.length; i++) used.add(tokens[i]!);
  return [...used].sort((x, y) => x - y);
}

export interface DialogueBatchOptions {
  batch: number;
  seed: number;
  /** Longest row; longer examples are dropped by the caller (see training-data.ts). */
  maxSequence: number;
  padId: number;
  /** Sequence lengths are rounded up to this (fewer distinct graph shapes). */
  sequenceQuantum?: number;
  /** Loss rows are rounded up to this. */
  rowQuantum?: number;
}

export interface PackedBatchOptions {
  /** Rows per step. */
  batch: number;
  seed: number;
  /** Longest row: the shared prefix plus the continuations packed after it. */
  maxSequence: number;
  padId: number;
  sequenceQuantum?: number;
  rowQuantum?: number;
}

/**
 * Dialogue rows with prefix sharing: each row is one shared prefix (an NPC's persona) followed by as many
 * of that NPC's examples as fit, each a segment that sees the prefix and itself (llama-train-graph.ts), so
 * the persona is computed once per row instead of once per example. Which examples: seeded per step.
 */
export function packedDialogueBatches(examples: readonly DialogueExample[], options: PackedBatchOptions): BatchSource {
  if (examples.length === 0) throw new Error('no fine-tuning examples fit the sequence length');
  const groups = groupByPrefix(examples);
  const perRow = Math.max(1, Math.round(examples.length / groups.length));
  return {
    description: `packed dialogue rows ×${options.batch} (≤ ${options.maxSequence} tokens, ~${perRow > 0 ? 'several' : 'one'} examples per row)`,
    batch(step, micro) {
      const rng = rngFor(options.seed, step, micro);
      const rows: DialogueExample[][] = [];
      for (let r = 0; r < options.batch; r++) {
        // A group in proportion to its size, then its examples in random order until the row is full.
        let pick = uniformInt(rng, 0, examples.length - 1);
        const group = groups.find((g) => (pick -= g.members.length) < 0)!;
        const row: DialogueExample[] = [];
        let length = group.prefixLength;
        for (let attempt = 0; attempt < 8; attempt++) {
          const candidate = group.members[uniformInt(rng, 0, group.members.length - 1)]!;
          const size = candidate.prompt.length - group.prefixLength + candidate.completion.length;
          if (length + size > options.maxSequence) continue;
          row.push(candidate);
          length += size;
        }
        if (row.length === 0) row.push(group.members[0]!);
        rows.push(row);
      }
      return packSegments(rows, options);
    },
  };
}

/** Every example once, packed by prefix in a fixed order (validation). */
export function packedDialogueBatchList(examples: readonly DialogueExample[], options: PackedBatchOptions, maxBatches = Infinity): StepBatch[] {
  const rows: DialogueExample[][] = [];
  for (const group of groupByPrefix(examples)) {
    let row: DialogueExample[] = [];
    let length = group.prefixLength;
    for (const example of group.members) {
      const size = example.prompt.length - group.prefixLength + example.completion.length;
      if (row.length > 0 && length + size > options.maxSequence) {
        rows.push(row);
        row = [];
        length = group.prefixLength;
      }
      row.push(example);
      length += size;
    }
    if (row.length) rows.push(row);
  }
  const out: StepBatch[] = [];
  for (let i = 0; i < rows.length && out.length < maxBatches; i += options.batch) out.push(packSegments(rows.slice(i, i + options.batch), options));
  return out;
}

interface PrefixGroup {
  key: string;
  prefixLength: number;
  members: DialogueExample[];
}

function groupByPrefix(examples: readonly DialogueExample[]): PrefixGroup[] {
  const groups = new Map<string, PrefixGroup>();
  examples.forEach((e, i) => {
    const key = e.prefixLength ? (e.prefixKey ?? `prefix:${e.prompt.slice(0, e.prefixLength).join(',')}`) : `alone:${i}`;
    let group = groups.get(key);
    if (!group) groups.set(key, (group = { key, prefixLength: e.prefixLength ?? 0, members: [] }));
    group.members.push(e);
  });
  // Examples without a shared prefix still pack several to a row (each its own segment, positions from 0).
  const alone = [...groups.values()].filter((g) => g.prefixLength === 0);
  const shared = [...groups.values()].filter((g) => g.prefixLength > 0);
  return alone.length ? [...shared, { key: 'alone', prefixLength: 0, members: alone.flatMap((g) => g.members) }] : shared;
}

/** Rows of [prefix | segment 1 | segment 2 | …], right-padded to one length; loss on each completion. */
function packSegments(rows: DialogueExample[][], options: PackedBatchOptions): StepBatch {
  const B = options.batch;
  const real = rows.length;
  const all = [...rows];
  while (all.length < B) all.push(rows[all.length % real]!);
  const lengthOf = (row: DialogueExample[]) => (row[0]!.prefixLength ?? 0) + row.reduce((n, e) => n + e.prompt.length - (e.prefixLength ?? 0) + e.completion.length, 0);
  const longest = Math.max(...all.map(lengthOf));
  // Few distinct shapes: every shape is its own compiled session with its own memory (hundreds of MB at
  // these lengths), so rows are padded to the maximum (they are packed close to it anyway) unless a
  // quantum is given, and loss rows round to 512.
  const S = options.sequenceQuantum ? roundUp(longest, options.sequenceQuantum) : Math.max(longest, roundUp(options.maxSequence, 64));
  const targetsCount = rows.reduce((n, row) => n + row.reduce((m, e) => m + e.completion.length, 0), 0);
  const M = roundUp(all.reduce((n, row) => n + row.reduce((m, e) => m + e.completion.length, 0), 0), options.rowQuantum ?? 512);
  const inputIds = new BigInt64Array(B * S).fill(BigInt(options.padId));
  const positionIds = new BigInt64Array(B * S);
  const segmentIds = new BigInt64Array(B * S).fill(-1n); // padding: a segment of its own, seen by no real token
  const lossRows = new BigInt64Array(M);
  const targets = new BigInt64Array(M);
  const lossWeights = new Float32Array(M);
  let m = 0;
  all.forEach((row, b) => {
    const prefixLength = row[0]!.prefixLength ?? 0;
    const base = b * S;
    for (let i = 0; i < prefixLength; i++) {
      inputIds[base + i] = BigInt(row[0]!.prompt[i]!);
      positionIds[base + i] = BigInt(i);
      segmentIds[base + i] = 0n;
    }
    let cursor = prefixLength;
    row.forEach((example, k) => {
      const tokens = [...example.prompt.slice(prefixLength), ...example.completion];
      for (let i = 0; i < tokens.length; i++) {
        inputIds[base + cursor + i] = BigInt(tokens[i]!);
        positionIds[base + cursor + i] = BigInt(prefixLength + i);
        segmentIds[base + cursor + i] = BigInt(k + 1);
      }
      // The completion's first token is predicted at the prompt's last position.
      const promptTail = example.prompt.length - prefixLength;
      for (let j = 0; j < example.completion.length; j++) {
        lossRows[m] = BigInt(base + cursor + promptTail - 1 + j);
        targets[m] = BigInt(example.completion[j]!);
        lossWeights[m] = b < real ? 1 / targetsCount : 0;
        m++;
      }
      cursor += tokens.length;
    });
  });
  return { shape: { batch: B, sequence: S, lossRows: M }, inputIds, positionIds, segmentIds, lossRows, targets, lossWeights };
}

/** Every example once, in batches of similar lengths (validation). */
export function dialogueBatchList(examples: readonly DialogueExample[], options: DialogueBatchOptions, maxBatches = Infinity): StepBatch[] {
  const sorted = [...examples].sort((a, b) => a.prompt.length + a.completion.length - (b.prompt.length + b.completion.length));
  const out: StepBatch[] = [];
  for (let i = 0; i < sorted.length && out.length < maxBatches; i += options.batch) out.push(packRows(sorted.slice(i, i + options.batch), options));
  return out;
}

/** Rows right-padded to one length; loss on each row's completion tokens only. */
function packRows(selected: DialogueExample[], options: DialogueBatchOptions): StepBatch {
  const { batch: B, padId } = options;
  const seqQ = options.sequenceQuantum ?? 64;
  const rowQ = options.rowQuantum ?? 64;
  const rows = [...selected];
  // A short final batch repeats its rows with zero weight below (shapes stay B rows).
  const real = rows.length;
  while (rows.length < B) rows.push(rows[rows.length % real]!);
  const longest = Math.max(...rows.map((r) => r.prompt.length + r.completion.length));
  const S = Math.min(roundUp(longest, seqQ), roundUp(options.maxSequence, seqQ));
  const targetsCount = rows.slice(0, real).reduce((n, r) => n + r.completion.length, 0);
  const M = roundUp(rows.reduce((n, r) => n + r.completion.length, 0), rowQ);
  const inputIds = new BigInt64Array(B * S).fill(BigInt(padId));
  const lossRows = new BigInt64Array(M);
  const targets = new BigInt64Array(M);
  const lossWeights = new Float32Array(M);
  let m = 0;
  rows.forEach((row, b) => {
    const ids = [...row.prompt, ...row.completion];
    for (let i = 0; i < ids.length && i < S; i++) inputIds[b * S + i] = BigInt(ids[i]!);
    // Position p predicts token p+1: the completion's tokens are predicted from prompt.length−1 on.
    for (let k = 0; k < row.completion.length; k++) {
      lossRows[m] = BigInt(b * S + row.prompt.length - 1 + k);
      targets[m] = BigInt(row.completion[k]!);
      lossWeights[m] = b < real ? 1 / targetsCount : 0;
      m++;
    }
  });
  return { shape: { batch: B, sequence: S, lossRows: M }, inputIds, lossRows, targets, lossWeights };
}
