/**
 * Step runner for the engine-shaped graph (see engine-graph.ts): the decode batch's KV lives in persistent
 * per-slot buffers [B, kvH, C, hd] that are fed to every step as `past` without any copy; the graph returns
 * only the new tokens' K/V, which are written into each row's next free column (S columns per row).
 *
 * Slots: row b holds one sequence's KV left-aligned in columns [0, len_b); the rest of its C columns are
 * masked. A leaving sequence just frees its slot (a free slot runs a masked dummy row until reused or
 * compacted); a joining sequence is copied into a free slot, or into a slot appended at the end (rows are
 * the outermost dimension, so existing rows never move); too many free slots are compacted by moving the
 * last rows into the holes. When a sequence outgrows C, every row is spread out to a larger C in place
 * (back to front, so nothing is overwritten before it is read); C carries headroom so that happens at most
 * every HEADROOM steps.
 *
 * Memory: one buffer set, sized from the engine's plan (the rows and columns the batch will soon need, see
 * `DecodePlan`) so a burst of joiners costs one allocation, not one per doubling; it grows keeping its
 * contents and is kept (warm) when the batch empties until `releaseBuffers`. Fresh memory is expensive: the
 * first write to each page faults (measured on a 2-core VM: ~3 ms per MB, against ~0.04 ms per MB to rewrite
 * warm memory), so re-faulting hundreds of MB of KV buffers at every burst cost more than the copies.
 */
import { Tensor, type InferenceSession } from 'onnxruntime-node';
import type { DecoderIo } from '../model/session-io.ts';
import { FRESH_KEY, FRESH_VALUE, LOGITS_INDEX } from './engine-graph.ts';
import {
  Arena,
  KvBlock,
  extractRow,
  gatherSpansIntoRow,
  moveRow,
  tensorIndex,
  type KvLayout,
  type KvWords,
} from './kv-cache.ts';
import type { Sequence } from './sequence.ts';
import type { DecodePlan, DecodeResult, PrefillRowResult, StepRunner } from './step-runner.ts';

/** Spare columns allocated past the longest row, so growth re-layouts are rare. */
const HEADROOM = 64;
/** Rows a decode buffer set has room for at least (a few joiners never force a re-layout). */
const MIN_RESERVED_ROWS = 4;

export interface InplaceRunnerConfig {
  /** Most rows a decode batch will hold (buffers are sized for it, so adding rows never moves KV). */
  maxRows: number;
  session: InferenceSession;
  io: DecoderIo;
  layout: KvLayout;
  vocabSize: number;
  padTokenId: number;
}

interface SlotBatch {
  /** Sequence in each slot, or null for a free slot. */
  slots: Array<Sequence | null>;
  /** Valid columns of each slot. */
  lengths: number[];
  capacity: number;
  tensors: KvWords[];
}

export class InplaceRunner implements StepRunner {
  private readonly cfg: InplaceRunnerConfig;
  private readonly layout: KvLayout;
  private readonly tensorCount: number;
  private batch: SlotBatch | null = null;
  /** The decode batch's buffer set, one per layer and kind. */
  private readonly arenas: Arena[];
  private readonly freshArenas: Arena[];
  private readonly prefillArenas: Arena[];
  private logitsBuffer = new Float32Array(0);
  /** The decode buffers were reserved at start (`reserve`): releaseBuffers keeps them. */
  private reserved = false;

  constructor(cfg: InplaceRunnerConfig) {
    this.cfg = cfg;
    this.layout = cfg.layout;
    this.tensorCount = 2 * cfg.layout.numLayers;
    const set = () => Array.from({ length: this.tensorCount }, () => new Arena(cfg.layout.dtype));
    this.arenas = set();
    this.freshArenas = set();
    this.prefillArenas = set();
  }

  get batchBytes(): number {
    let n = this.logitsBuffer.byteLength;
    for (const set of [this.arenas, this.freshArenas, this.prefillArenas]) for (const a of set) n += a.byteLength;
    return n;
  }

  endBatch(): void {
    this.batch = null;
  }

  releaseBuffers(): void {
    this.batch = null;
    for (const set of [...(this.reserved ? [] : [this.arenas]), this.freshArenas, this.prefillArenas]) for (const a of set) a.release();
    this.logitsBuffer = new Float32Array(0);
  }

  /**
   * Size the decode buffers for `rows` × (`columns` + headroom) and touch every page now: a burst that fits
   * never allocates nor faults them (the cold cost of a burst on a fresh engine, ~3 ms per MB here).
   */
  reserve(rows: number, columns: number): number {
    const elements = this.slotElements(Math.min(rows, this.cfg.maxRows), columns + HEADROOM);
    for (const arena of this.arenas) {
      arena.reserve(elements);
      arena.prefault();
    }
    this.reserved = true;
    return this.arenas.reduce((n, a) => n + a.byteLength, 0);
  }

  extractFromBatch(seq: Sequence, from = 0): KvBlock | null {
    const b = this.batch?.slots.indexOf(seq) ?? -1;
    if (!this.batch || b < 0 || from > this.batch.lengths[b]!) return null;
    return extractRow(this.layout, this.batch.tensors, b, this.batch.capacity, [[from, this.batch.lengths[b]!]]);
  }

  async decode(rows: readonly Sequence[], plan: Partial<DecodePlan> = {}): Promise<DecodeResult> {
    const t0 = performance.now();
    const { assembled, absorbed } = this.place(rows, {
      expectedRows: Math.max(rows.length, plan.expectedRows ?? 0),
      reserveRows: Math.max(rows.length, plan.reserveRows ?? 0),
      columns: plan.columns ?? 0,
    });
    const assembleMs = assembled || absorbed.length > 0 ? performance.now() - t0 : 0;
    const batch = this.batch!;
    const B = batch.slots.length;
    const C = batch.capacity;
    const inputIds = new BigInt64Array(B).fill(BigInt(this.cfg.padTokenId));
    const positions = new BigInt64Array(B);
    const mask = new BigInt64Array(B * (C + 1));
    batch.slots.forEach((seq, b) => {
      mask[b * (C + 1) + C] = 1n; // the new token (a free slot's dummy row sees only itself)
      if (!seq) return;
      inputIds[b] = BigInt(seq.generated[seq.generated.length - 1]!);
      positions[b] = BigInt(seq.kvLength);
      mask.fill(1n, b * (C + 1), b * (C + 1) + batch.lengths[b]!);
    });
    const fresh = await this.run(B, 1, C, inputIds, mask, positions, new BigInt64Array(B), batch.tensors);
    // Write each live row's new K/V into its next column (plain loops: thousands of tiny copies per step,
    // where subarray().set() would allocate two views each).
    const { kvHeads, headDim } = this.layout;
    batch.slots.forEach((seq, b) => {
      if (!seq) return;
      const column = batch.lengths[b]!;
      for (let t = 0; t < this.tensorCount; t++) {
        const src = fresh.kv[t]!;
        const dst = batch.tensors[t]!;
        for (let h = 0; h < kvHeads; h++) {
          const from = (b * kvHeads + h) * headDim;
          const to = ((b * kvHeads + h) * C + column) * headDim;
          for (let i = 0; i < headDim; i++) dst[to + i] = src[from + i]!;
        }
      }
      batch.lengths[b] = column + 1;
    });
    return { logits: fresh.logits, rows: rows.map((seq) => batch.slots.indexOf(seq)), assembled, assembleMs, absorbed };
  }

  async prefill(chunks: ReadonlyArray<{ seq: Sequence; tokens: number }>, width: number): Promise<PrefillRowResult[]> {
    const B = chunks.length;
    const S = width;
    let P = 0;
    for (const { seq } of chunks) P = Math.max(P, seq.computed);
    const { kvHeads, headDim } = this.layout;
    // Past: each row's spans right-aligned in reused buffers; stale columns before a row's spans are masked.
    const past = this.prefillArenas.map((a) => a.view(B * kvHeads * P * headDim));
    const inputIds = new BigInt64Array(B * S).fill(BigInt(this.cfg.padTokenId));
    const positions = new BigInt64Array(B * S);
    const mask = new BigInt64Array(B * (P + S));
    const logitsIndex = new BigInt64Array(B);
    chunks.forEach(({ seq, tokens }, i) => {
      gatherSpansIntoRow(this.layout, seq.spans, past, i, P, P);
      const start = seq.computed;
      for (let j = 0; j < S; j++) {
        if (j < tokens) inputIds[i * S + j] = BigInt(seq.prompt[start + j]!);
        positions[i * S + j] = BigInt(start + Math.min(j, tokens - 1));
      }
      mask.fill(1n, i * (P + S) + P - start, i * (P + S) + P + tokens);
      logitsIndex[i] = BigInt(tokens - 1);
    });
    const out = await this.run(B, S, P, inputIds, mask, positions, logitsIndex, past);
    const vocab = this.cfg.vocabSize;
    return chunks.map(({ seq, tokens }, i) => {
      // New own block = previous own columns + this chunk's fresh columns (the shared span stays shared).
      const previous = seq.ownKv;
      const have = previous?.count ?? 0;
      const own = new KvBlock(this.layout, have + tokens);
      for (let t = 0; t < this.tensorCount; t++) {
        const dst = own.tensors[t]!;
        for (let h = 0; h < kvHeads; h++) {
          if (previous) {
            const from = h * previous.block.length * headDim;
            dst.set(previous.block.tensors[t]!.subarray(from, from + have * headDim), h * own.length * headDim);
          }
          const from = (i * kvHeads + h) * S * headDim;
          dst.set(out.kv[t]!.subarray(from, from + tokens * headDim), (h * own.length + have) * headDim);
        }
      }
      seq.ownKv = { block: own, count: own.length };
      seq.computed += tokens;
      return { seq, logits: out.logits.subarray(i * vocab, (i + 1) * vocab) };
    });
  }

  /**
   * Put every row in a slot. Rows are the outermost dimension of [B, kvH, C, hd], so adding slots at the end
   * leaves existing rows where they are, and removing free slots moves only the last rows into the holes.
   * Only a larger C moves every row (in place, see widen).
   */
  private place(rows: readonly Sequence[], plan: DecodePlan): { assembled: boolean; absorbed: Sequence[] } {
    let need = 0;
    for (const seq of rows) need = Math.max(need, seq.kvLength + 1);
    const batch = (this.batch ??= { slots: [], lengths: [], capacity: 0, tensors: [] });
    const wanted = new Set(rows);
    batch.slots.forEach((seq, b) => seq && !wanted.has(seq) && (batch.slots[b] = null));
    const joiners = rows.filter((s) => !batch.slots.includes(s));
    let changed = false;
    const missing = joiners.length - batch.slots.filter((s) => s === null).length;
    const slots = missing > 0 ? Math.max(batch.slots.length + missing, plan.expectedRows) : batch.slots.length;
    if (need > batch.capacity || this.slotElements(slots, batch.capacity) > this.arenas[0]!.capacity) {
      // Size for what the plan says is coming (prefilling sequences join soon), so a burst allocates once.
      const capacity = need > batch.capacity ? Math.max(need, plan.columns) + HEADROOM : batch.capacity;
      const rowsToHold = Math.min(this.cfg.maxRows, Math.max(slots, plan.reserveRows, 2 * slots, MIN_RESERVED_ROWS));
      this.widen(batch, capacity, this.slotElements(Math.max(rowsToHold, slots), capacity));
      changed = true;
    }
    if (missing > 0) {
      while (batch.slots.length < slots) {
        batch.slots.push(null);
        batch.lengths.push(0);
      }
      changed = true;
    }
    const tensors = this.arenas.map((a) => a.view(this.slotElements(batch.slots.length, batch.capacity)));
    for (const seq of joiners) {
      const b = batch.slots.indexOf(null);
      gatherSpansIntoRow(this.layout, seq.spans, tensors, b, batch.capacity, seq.kvLength);
      batch.slots[b] = seq;
      batch.lengths[b] = seq.kvLength;
    }
    // Free slots still cost a (masked) row of compute each step: keep only about as many as will be filled.
    const keep = Math.max(rows.length, plan.expectedRows);
    if (batch.slots.length - keep > Math.max(1, Math.floor(keep / 8))) {
      this.compact(batch, keep, tensors);
      changed = true;
    }
    batch.tensors = this.arenas.map((a) => a.view(this.slotElements(batch.slots.length, batch.capacity)));
    return { assembled: changed, absorbed: joiners };
  }

  /** Move the last live rows into free slots until at most `keep` slots remain. */
  private compact(batch: SlotBatch, keep: number, tensors: readonly KvWords[]): void {
    for (let hole = batch.slots.indexOf(null); hole >= 0 && hole < batch.slots.length; hole = batch.slots.indexOf(null)) {
      while (batch.slots.length > 0 && batch.slots[batch.slots.length - 1] === null && batch.slots.length > keep) {
        batch.slots.pop();
        batch.lengths.pop();
      }
      if (batch.slots.length <= keep || hole >= batch.slots.length - 1) break;
      const last = batch.slots.length - 1;
      const length = batch.lengths[last]!;
      moveRow(this.layout, tensors, last, batch.capacity, 0, length, tensors, hole, batch.capacity, length);
      batch.slots[hole] = batch.slots[last]!;
      batch.lengths[hole] = length;
      batch.slots.pop();
      batch.lengths.pop();
    }
  }

  /**
   * Give every slot `capacity` columns in buffers of at least `elements` words, keeping each row's KV.
   * A buffer that must grow is reallocated with the live rows copied over (once per burst when the plan is
   * right); then rows are spread out in place from the last (row, head) block to the first: with C growing
   * each block's new offset is at or after its old one, so a block never lands on one not yet moved.
   */
  private widen(batch: SlotBatch, capacity: number, elements: number): void {
    const old = batch.capacity;
    const liveElements = this.slotElements(batch.slots.length, old);
    for (const arena of this.arenas) arena.grow(elements, liveElements);
    if (capacity !== old && batch.slots.length > 0) {
      const { kvHeads, headDim } = this.layout;
      const buffers = this.arenas.map((a) => a.view(this.slotElements(batch.slots.length, capacity)));
      for (let b = batch.slots.length - 1; b >= 0; b--) {
        const length = batch.slots[b] ? batch.lengths[b]! : 0;
        if (length === 0) continue;
        for (let h = kvHeads - 1; h >= 0; h--) {
          const from = (b * kvHeads + h) * old * headDim;
          const to = (b * kvHeads + h) * capacity * headDim;
          if (from === to) continue;
          for (const buffer of buffers) buffer.copyWithin(to, from, from + length * headDim);
        }
      }
    }
    batch.capacity = capacity;
  }

  private slotElements(rows: number, capacity: number): number {
    return rows * this.layout.kvHeads * capacity * this.layout.headDim;
  }

  private async run(
    B: number,
    S: number,
    P: number,
    inputIds: BigInt64Array,
    mask: BigInt64Array,
    positions: BigInt64Array,
    logitsIndex: BigInt64Array,
    past: readonly KvWords[],
  ): Promise<{ logits: Float32Array; kv: KvWords[] }> {
    const { io, session, vocabSize } = this.cfg;
    const { kvHeads, headDim, dtype } = this.layout;
    const feeds: Record<string, Tensor> = {
      [io.inputIds]: new Tensor('int64', inputIds, [B, S]),
      [io.attentionMask]: new Tensor('int64', mask, [B, P + S]),
      [LOGITS_INDEX]: new Tensor('int64', logitsIndex, [B]),
    };
    if (io.positionIds) feeds[io.positionIds] = new Tensor('int64', positions, [B, S]);
    if (this.logitsBuffer.length < B * vocabSize) this.logitsBuffer = new Float32Array(B * vocabSize);
    const logits = this.logitsBuffer.subarray(0, B * vocabSize);
    const fetches: Record<string, Tensor> = { [io.logits]: new Tensor('float32', logits, [B, 1, vocabSize]) };
    const kv: KvWords[] = [];
    io.layers.forEach((layer, l) => {
      feeds[layer.pastKey] = new Tensor(dtype, past[tensorIndex(l, 0)]!, [B, kvHeads, P, headDim]);
      feeds[layer.pastValue] = new Tensor(dtype, past[tensorIndex(l, 1)]!, [B, kvHeads, P, headDim]);
      for (const [kind, name] of [
        [0, FRESH_KEY(l)],
        [1, FRESH_VALUE(l)],
      ] as const) {
        const view = this.freshArenas[tensorIndex(l, kind)]!.view(B * kvHeads * S * headDim);
        kv[tensorIndex(l, kind)] = view;
        fetches[name] = new Tensor(dtype, view, [B, kvHeads, S, headDim]);
      }
    });
    await session.run(feeds, fetches);
    return { logits, kv };
  }
}
