/**
 * Step runner for the engine-shaped graph (see engine-graph.ts): the decode batch's KV lives in persistent
 * per-slot buffers [B, kvH, C, hd] that are fed to every step as `past` without any copy; the graph returns
 * only the new tokens' K/V, which are written into each row's next free column (S columns per row).
 *
 * Slots: row b holds one sequence's KV left-aligned in columns [0, len_b); the rest of its C columns are
 * masked. A leaving sequence just frees its slot (a free slot runs a masked dummy row until reused or
 * compacted); a joining sequence is copied into a free slot, or into a slot appended at the end (rows are
 * the outermost dimension and the buffers are sized for the largest batch, so existing rows never move);
 * too many free slots are compacted by moving the last rows into the holes. Every row is copied only when
 * a sequence outgrows C, which carries headroom so that happens at most every HEADROOM steps.
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
import type { DecodeResult, PrefillRowResult, StepRunner } from './step-runner.ts';

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
  /** Ping-pong buffer sets: a re-layout copies from one into the other. */
  private readonly arenas: [Arena[], Arena[]];
  private current = 0;
  private readonly freshArenas: Arena[];
  private readonly prefillArenas: Arena[];
  private logitsBuffer = new Float32Array(0);

  constructor(cfg: InplaceRunnerConfig) {
    this.cfg = cfg;
    this.layout = cfg.layout;
    this.tensorCount = 2 * cfg.layout.numLayers;
    const set = () => Array.from({ length: this.tensorCount }, () => new Arena(cfg.layout.dtype));
    this.arenas = [set(), set()];
    this.freshArenas = set();
    this.prefillArenas = set();
  }

  get batchBytes(): number {
    let n = 0;
    for (const set of [...this.arenas, this.freshArenas, this.prefillArenas]) for (const a of set) n += a.byteLength;
    return n;
  }

  releaseBatch(): void {
    this.batch = null;
    for (const set of [...this.arenas, this.freshArenas, this.prefillArenas]) for (const a of set) a.release();
    this.logitsBuffer = new Float32Array(0);
  }

  extractFromBatch(seq: Sequence, from = 0): KvBlock | null {
    const b = this.batch?.slots.indexOf(seq) ?? -1;
    if (!this.batch || b < 0 || from > this.batch.lengths[b]!) return null;
    return extractRow(this.layout, this.batch.tensors, b, this.batch.capacity, [[from, this.batch.lengths[b]!]]);
  }

  async decode(rows: readonly Sequence[], expectedRows = rows.length): Promise<DecodeResult> {
    const t0 = performance.now();
    const { assembled, absorbed } = this.place(rows, Math.max(rows.length, expectedRows));
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
   * leaves existing rows where they are (the buffers have room for twice the rows, see relayout), and removing free
   * slots moves only the last rows into the holes. Only a larger C re-lays out every row.
   */
  private place(rows: readonly Sequence[], targetRows: number): { assembled: boolean; absorbed: Sequence[] } {
    let need = 0;
    for (const seq of rows) need = Math.max(need, seq.kvLength + 1);
    const batch = this.batch;
    if (!batch || need > batch.capacity) return this.relayout(rows, targetRows, need);
    const wanted = new Set(rows);
    batch.slots.forEach((seq, b) => seq && !wanted.has(seq) && (batch.slots[b] = null));
    const joiners = rows.filter((s) => !batch.slots.includes(s));
    let changed = false;
    const missing = joiners.length - batch.slots.filter((s) => s === null).length;
    if (missing > 0) {
      const slots = Math.max(batch.slots.length + missing, targetRows);
      if (this.slotElements(slots, batch.capacity) > this.arenas[this.current]![0]!.capacity) return this.relayout(rows, targetRows, need);
      while (batch.slots.length < slots) {
        batch.slots.push(null);
        batch.lengths.push(0);
      }
      changed = true;
    }
    for (const seq of joiners) {
      const b = batch.slots.indexOf(null);
      gatherSpansIntoRow(this.layout, seq.spans, this.arenas[this.current]!.map((a) => a.view(this.slotElements(batch.slots.length, batch.capacity))), b, batch.capacity, seq.kvLength);
      batch.slots[b] = seq;
      batch.lengths[b] = seq.kvLength;
    }
    // Free slots still cost a (masked) row of compute each step: keep only about as many as will be filled.
    const keep = Math.max(rows.length, targetRows);
    if (batch.slots.length - keep > Math.max(1, Math.floor(keep / 8))) {
      this.compact(batch, keep);
      changed = true;
    }
    if (changed || joiners.length > 0) batch.tensors = this.arenas[this.current]!.map((a) => a.view(this.slotElements(batch.slots.length, batch.capacity)));
    return { assembled: changed, absorbed: joiners };
  }

  /** Move the last live rows into free slots until at most `keep` slots remain. */
  private compact(batch: SlotBatch, keep: number): void {
    const tensors = this.arenas[this.current]!.map((a) => a.view(this.slotElements(batch.slots.length, batch.capacity)));
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
   * Copy every row into the other buffer set with room for `need` columns (+ headroom) and twice the rows
   * (at most `maxRows`): the buffers follow the running batch, not the configured maximum — sized for
   * `maxRows` up front, two sets of them held maxRows × context of KV per load however few talked (hundreds
   * of MB with the defaults), outside the KV budget. Doubling keeps re-layouts for added rows rare.
   */
  private relayout(rows: readonly Sequence[], targetRows: number, need: number): { assembled: boolean; absorbed: Sequence[] } {
    const old = this.batch;
    const capacity = need + HEADROOM;
    const slots = Math.max(rows.length, targetRows);
    const next = this.arenas[1 - this.current]!;
    for (const a of next) a.reserve(this.slotElements(Math.min(this.cfg.maxRows, Math.max(2 * slots, MIN_RESERVED_ROWS)), capacity));
    const target = next.map((a) => a.view(this.slotElements(slots, capacity)));
    const absorbed: Sequence[] = [];
    rows.forEach((seq, i) => {
      const b = old ? old.slots.indexOf(seq) : -1;
      if (old && b >= 0) moveRow(this.layout, old.tensors, b, old.capacity, 0, old.lengths[b]!, target, i, capacity, old.lengths[b]!);
      else {
        gatherSpansIntoRow(this.layout, seq.spans, target, i, capacity, seq.kvLength);
        absorbed.push(seq);
      }
    });
    this.current = 1 - this.current;
    const all: Array<Sequence | null> = [...rows, ...new Array<null>(slots - rows.length).fill(null)];
    this.batch = { slots: all, lengths: all.map((s) => s?.kvLength ?? 0), capacity, tensors: target };
    return { assembled: true, absorbed };
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
