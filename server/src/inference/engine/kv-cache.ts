/**
 * KV memory in the layout the model graph wants: one tensor per layer and kind, shaped [B, kvH, P, hd].
 *
 * - `KvBlock`: the compact, immutable KV of a run of consecutive tokens of one sequence ([kvH, n, hd] per
 *   layer and kind, all in one ArrayBuffer). Prefix-cache entries and finished prefills are blocks.
 * - `KvSpan`: "the first `count` tokens of `block`" — a sequence's KV is a list of spans (e.g. a shared
 *   persona block from the prefix cache, a kept conversation's suffix block, then the sequence's own block),
 *   so shared prefixes are stored once and only copied when a batch tensor is assembled.
 * - gather / extract: copy spans into a batch row (right-aligned, left padding masked) and copy a row's
 *   valid columns back out into a block.
 *
 * The copies are dtype-agnostic (fp32 and fp16 KV both occur): elements are moved as raw 4- or 2-byte words.
 */

export type KvDtype = 'float32' | 'float16';

/** Raw word view used for copying; ORT represents float16 tensors as Uint16Array. */
export type KvWords = Float32Array | Uint16Array;

export interface KvLayout {
  numLayers: number;
  kvHeads: number;
  headDim: number;
  dtype: KvDtype;
}

export function bytesPerElement(dtype: KvDtype): number {
  return dtype === 'float32' ? 4 : 2;
}

/** Keys and values of every layer for one token. */
export function kvBytesPerToken(layout: KvLayout): number {
  return 2 * layout.numLayers * layout.kvHeads * layout.headDim * bytesPerElement(layout.dtype);
}

export function allocWords(dtype: KvDtype, length: number): KvWords {
  return dtype === 'float32' ? new Float32Array(length) : new Uint16Array(length);
}

/** Index of a layer's key (kind 0) or value (kind 1) tensor in per-layer arrays. */
export function tensorIndex(layer: number, kind: 0 | 1): number {
  return layer * 2 + kind;
}

export class KvBlock {
  readonly layout: KvLayout;
  readonly length: number;
  /** 2 × numLayers views, ordered by `tensorIndex`, each [kvH, length, hd]. */
  readonly tensors: KvWords[];
  readonly byteLength: number;

  constructor(layout: KvLayout, length: number) {
    this.layout = layout;
    this.length = length;
    const perTensor = layout.kvHeads * length * layout.headDim;
    const all = allocWords(layout.dtype, perTensor * 2 * layout.numLayers);
    this.byteLength = all.byteLength;
    this.tensors = [];
    for (let t = 0; t < 2 * layout.numLayers; t++) this.tensors.push(all.subarray(t * perTensor, (t + 1) * perTensor));
  }
}

export interface KvSpan {
  block: KvBlock;
  /** How many leading tokens of the block belong to the sequence (a prefix hit may use only part). */
  count: number;
}

export function spansLength(spans: readonly KvSpan[]): number {
  let n = 0;
  for (const s of spans) n += s.count;
  return n;
}

/**
 * Copy a sequence's spans into row `row` of batch tensors shaped [B, kvH, P, hd], ending at column
 * `endColumn` (exclusive). Columns before the sequence's start are left as they are (the caller zeroes
 * fresh tensors; padding is masked anyway).
 */
export function gatherSpansIntoRow(
  layout: KvLayout,
  spans: readonly KvSpan[],
  dst: readonly KvWords[],
  row: number,
  batchColumns: number,
  endColumn: number,
): void {
  const { kvHeads, headDim } = layout;
  let column = endColumn - spansLength(spans);
  for (const span of spans) {
    if (span.count === 0) continue;
    const srcColumns = span.block.length;
    for (let t = 0; t < dst.length; t++) {
      const src = span.block.tensors[t]!;
      const out = dst[t]!;
      for (let h = 0; h < kvHeads; h++) {
        const from = h * srcColumns * headDim;
        const to = ((row * kvHeads + h) * batchColumns + column) * headDim;
        out.set(src.subarray(from, from + span.count * headDim), to);
      }
    }
    column += span.count;
  }
}

/**
 * Tokens [from, end) of a sequence's spans (taken in order) as one new compact block: a whole sequence for
 * the prefix cache (`from` = 0), or only what follows a cached parent.
 */
export function compactSpans(layout: KvLayout, spans: readonly KvSpan[], from = 0): KvBlock {
  const total = spansLength(spans);
  if (from < 0 || from > total) throw new Error(`cannot start at token ${from} of ${total}`);
  const block = new KvBlock(layout, total - from);
  const { kvHeads, headDim } = layout;
  let skip = from;
  let at = 0;
  for (const span of spans) {
    const take = span.count - Math.min(skip, span.count);
    const first = span.count - take;
    skip -= Math.min(skip, span.count);
    if (take === 0) continue;
    for (let t = 0; t < block.tensors.length; t++) {
      const src = span.block.tensors[t]!;
      const dst = block.tensors[t]!;
      for (let h = 0; h < kvHeads; h++) {
        const a = (h * span.block.length + first) * headDim;
        dst.set(src.subarray(a, a + take * headDim), (h * block.length + at) * headDim);
      }
    }
    at += take;
  }
  return block;
}

/**
 * Copy the listed columns of row `row` of batch tensors [B, kvH, P, hd] into a new compact block.
 * `columns` are ascending runs [start, end) so masked holes (padded prefill slots) are skipped.
 */
export function extractRow(
  layout: KvLayout,
  src: readonly KvWords[],
  row: number,
  batchColumns: number,
  runs: ReadonlyArray<readonly [start: number, end: number]>,
): KvBlock {
  let length = 0;
  for (const [a, b] of runs) length += b - a;
  const block = new KvBlock(layout, length);
  const { kvHeads, headDim } = layout;
  for (let t = 0; t < src.length; t++) {
    const from = src[t]!;
    const out = block.tensors[t]!;
    for (let h = 0; h < kvHeads; h++) {
      let to = h * length * headDim;
      const rowBase = (row * kvHeads + h) * batchColumns;
      for (const [a, b] of runs) {
        out.set(from.subarray((rowBase + a) * headDim, (rowBase + b) * headDim), to);
        to += (b - a) * headDim;
      }
    }
  }
  return block;
}

/**
 * Copy row `srcRow` (columns [srcStart, srcEnd)) of one batch into row `dstRow` of another, ending at
 * `dstEnd`. Used when the decode batch changes membership: survivors move without a detour through blocks.
 */
export function moveRow(
  layout: KvLayout,
  src: readonly KvWords[],
  srcRow: number,
  srcColumns: number,
  srcStart: number,
  srcEnd: number,
  dst: readonly KvWords[],
  dstRow: number,
  dstColumns: number,
  dstEnd: number,
): void {
  const { kvHeads, headDim } = layout;
  const n = srcEnd - srcStart;
  const dstStart = dstEnd - n;
  for (let t = 0; t < src.length; t++) {
    const from = src[t]!;
    const out = dst[t]!;
    for (let h = 0; h < kvHeads; h++) {
      const a = ((srcRow * kvHeads + h) * srcColumns + srcStart) * headDim;
      out.set(from.subarray(a, a + n * headDim), ((dstRow * kvHeads + h) * dstColumns + dstStart) * headDim);
    }
  }
}

/** A reusable buffer for batch tensors: grows (with headroom), never shrinks until released. */
export class Arena {
  private buffer: KvWords | null = null;
  constructor(private readonly dtype: KvDtype) {}

  /** The first `elements` words; reallocates (content lost) when the buffer is too small. */
  view(elements: number): KvWords {
    this.reserve(elements);
    return this.buffer!.subarray(0, elements);
  }

  /** Make room for `elements` words without shrinking; content is kept only if no reallocation happens. */
  reserve(elements: number): void {
    if (!this.buffer || this.buffer.length < elements) this.buffer = allocWords(this.dtype, Math.ceil(elements * 1.25));
  }

  /** Make room for `elements` words, keeping the first `keep` words (copied when the buffer is reallocated). */
  grow(elements: number, keep: number): void {
    if (this.buffer && this.buffer.length >= elements) return;
    const previous = this.buffer;
    this.buffer = allocWords(this.dtype, Math.ceil(elements * 1.25));
    if (previous && keep > 0) this.buffer.set(previous.subarray(0, Math.min(keep, previous.length)));
  }

  /** Words available without reallocating. */
  get capacity(): number {
    return this.buffer?.length ?? 0;
  }

  get byteLength(): number {
    return this.buffer?.byteLength ?? 0;
  }

  release(): void {
    this.buffer = null;
  }

  /** Write every page once now, so later writes don't fault (fresh memory faults page by page on first write). */
  prefault(): void {
    this.buffer?.fill(0);
  }
}
