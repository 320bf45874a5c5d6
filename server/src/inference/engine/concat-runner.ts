/**
 * Step runner for the graph's standard I/O (input_ids [B,S], attention_mask [B,P+S], position_ids [B,S],
 * past/present KV per layer [B,kvH,P,hd], present = Concat(past, new)) — any exported decoder works.
 * One batched `session.run` per call. (For models whose graph the engine can reshape, `inplace-runner.ts`
 * avoids the per-step KV copy this I/O forces.)
 *
 * KV strategy for decode steps (the expensive part — the KV of every running sequence, every step):
 * - `resident`: the decode batch's KV lives in the tensors the previous step produced. While the batch keeps
 *   its members, `present` is fed back as the next `past` untouched (no JS-side copy at all), written into
 *   pre-allocated ping-pong buffers so onnxruntime writes straight into memory we reuse. Only when members
 *   join or leave is a new batch assembled: survivors move row by row, newcomers are gathered from their
 *   spans. Rows are right-aligned (left padding masked), so each row's valid KV is one contiguous run.
 * - `rebuild`: every sequence keeps its own growing KV buffer; each step gathers all of them into fresh
 *   padded tensors and appends the new column back (the straightforward design, kept to measure against).
 *
 * Prefill steps gather each row's cached spans (a shared prefix from the prefix cache + its own part so far)
 * and copy the valid columns of `present` back into a compact block per sequence.
 */
import { Tensor, type InferenceSession } from 'onnxruntime-node';
import type { DecoderIo } from '../model/session-io.ts';
import { halfArrayToFloat32 } from '../model/float16.ts';
import {
  Arena,
  KvBlock,
  allocWords,
  compactSpans,
  extractRow,
  gatherSpansIntoRow,
  moveRow,
  spansLength,
  tensorIndex,
  type KvLayout,
  type KvSpan,
  type KvWords,
} from './kv-cache.ts';
import type { Sequence } from './sequence.ts';
import type { DecodeResult, PrefillRowResult, StepRunner } from './step-runner.ts';

export interface ConcatRunnerConfig {
  session: InferenceSession;
  io: DecoderIo;
  layout: KvLayout;
  /** Logits width of the graph. */
  vocabSize: number;
  strategy: 'resident' | 'rebuild';
  /** Token fed into padded input slots (masked out anyway). */
  padTokenId: number;
}

/** The decode batch as it sits in the last step's outputs. */
interface ResidentBatch {
  ids: number[];
  /** First valid column of each row. */
  starts: number[];
  columns: number;
  tensors: KvWords[];
}

export class ConcatRunner implements StepRunner {
  private readonly cfg: ConcatRunnerConfig;
  private readonly layout: KvLayout;
  private readonly tensorCount: number;
  private resident: ResidentBatch | null = null;
  /** Ping-pong buffer sets: a step reads `past` from one and writes `present` into the other. */
  private readonly arenas: [Arena[], Arena[]];
  private current = 0;
  private logitsArena: Float32Array = new Float32Array(0);

  constructor(cfg: ConcatRunnerConfig) {
    this.cfg = cfg;
    this.layout = cfg.layout;
    this.tensorCount = 2 * cfg.layout.numLayers;
    const set = () => Array.from({ length: this.tensorCount }, () => new Arena(cfg.layout.dtype));
    this.arenas = [set(), set()];
  }

  /** Bytes of the decode batch's KV buffers (both ping-pong halves). */
  get batchBytes(): number {
    let n = 0;
    for (const set of this.arenas) for (const a of set) n += a.byteLength;
    return n;
  }

  /** Bytes of the decode batch's KV that hold live data right now. */
  get liveBatchBytes(): number {
    if (!this.resident) return 0;
    let n = 0;
    for (const t of this.resident.tensors) n += t.byteLength;
    return n;
  }

  /** The resident batch's buffers are shaped for it alone: give them back. */
  endBatch(): void {
    this.releaseBuffers();
  }

  releaseBuffers(): void {
    this.resident = null;
    for (const set of this.arenas) for (const a of set) a.release();
    this.logitsArena = new Float32Array(0);
  }

  /**
   * Copy a decoding sequence's KV out of the resident batch (to keep a conversation between turns).
   * Returns null when the sequence is not in the batch.
   */
  extractFromBatch(seq: Sequence, from = 0): KvBlock | null {
    if (this.cfg.strategy === 'rebuild') return from <= spansLength(seq.spans) ? compactSpans(this.layout, seq.spans, from) : null;
    const batch = this.resident;
    if (!batch) return null;
    const row = batch.ids.indexOf(seq.id);
    if (row < 0 || batch.starts[row]! + from > batch.columns) return null;
    return extractRow(this.layout, batch.tensors, row, batch.columns, [[batch.starts[row]! + from, batch.columns]]);
  }

  /** One decode step: every row feeds its last sampled token. */
  async decode(rows: readonly Sequence[]): Promise<DecodeResult> {
    const t0 = performance.now();
    const previous = this.resident;
    const { batch, absorbed } = this.cfg.strategy === 'resident' ? this.residentBatchFor(rows) : this.gatheredBatch(rows);
    const assembled = batch !== previous;
    const assembleMs = assembled ? performance.now() - t0 : 0;

    const B = rows.length;
    const P = batch.columns;
    const inputIds = new BigInt64Array(B);
    const positions = new BigInt64Array(B);
    const mask = new BigInt64Array(B * (P + 1));
    for (let i = 0; i < B; i++) {
      const seq = rows[i]!;
      inputIds[i] = BigInt(seq.generated[seq.generated.length - 1]!);
      positions[i] = BigInt(seq.kvLength);
      mask.fill(1n, i * (P + 1) + batch.starts[i]!, (i + 1) * (P + 1));
    }
    const next = 1 - this.current;
    const presentViews = this.arenas[next]!.map((a) => a.view(B * this.layout.kvHeads * (P + 1) * this.layout.headDim));
    const logits = await this.run(B, 1, P, inputIds, mask, positions, batch.tensors, presentViews);

    if (this.cfg.strategy === 'resident') {
      this.current = next;
      this.resident = { ids: rows.map((s) => s.id), starts: batch.starts, columns: P + 1, tensors: presentViews };
    } else {
      // Append each row's new column to its own buffer; the padded batch is thrown away.
      for (let i = 0; i < B; i++) appendColumn(this.layout, rows[i]!, presentViews, i, P + 1, P);
    }
    return { logits, rows: rows.map((_, i) => i), assembled, assembleMs, absorbed };
  }

  /**
   * One prefill step: each row computes `tokens` more prompt tokens (padded to `width`). Updates each
   * sequence's spans and `computed`, and returns the logits after each row's last computed token.
   */
  async prefill(chunks: ReadonlyArray<{ seq: Sequence; tokens: number }>, width: number): Promise<PrefillRowResult[]> {
    const B = chunks.length;
    const S = width;
    let P = 0;
    for (const { seq } of chunks) P = Math.max(P, seq.computed);
    const { kvHeads, headDim } = this.layout;
    const pastElements = B * kvHeads * P * headDim;
    const past = Array.from({ length: this.tensorCount }, () => allocWords(this.layout.dtype, pastElements));
    const inputIds = new BigInt64Array(B * S).fill(BigInt(this.cfg.padTokenId));
    const positions = new BigInt64Array(B * S);
    const mask = new BigInt64Array(B * (P + S));
    chunks.forEach(({ seq, tokens }, i) => {
      gatherSpansIntoRow(this.layout, seq.spans, past, i, P, P);
      const start = seq.computed;
      for (let j = 0; j < S; j++) {
        const real = j < tokens;
        inputIds[i * S + j] = real ? BigInt(seq.prompt[start + j]!) : BigInt(this.cfg.padTokenId);
        // Padded slots repeat the last real position: always a valid RoPE index.
        positions[i * S + j] = BigInt(start + Math.min(j, tokens - 1));
      }
      const rowMask = i * (P + S);
      mask.fill(1n, rowMask + P - start, rowMask + P + tokens);
    });
    const presentViews = Array.from({ length: this.tensorCount }, () =>
      allocWords(this.layout.dtype, B * kvHeads * (P + S) * headDim),
    );
    const logits = await this.run(B, S, P, inputIds, mask, positions, past, presentViews);

    const vocab = this.cfg.vocabSize;
    return chunks.map(({ seq, tokens }, i) => {
      // The shared (cached) span stays a reference; only this sequence's own columns are copied out.
      const sharedCount = seq.sharedTokens;
      const start = P - seq.computed;
      const own = extractRow(this.layout, presentViews, i, P + S, [[start + sharedCount, P + tokens]]);
      seq.ownKv = { block: own, count: own.length };
      seq.computed += tokens;
      const at = (i * S + tokens - 1) * vocab;
      return { seq, logits: logits.subarray(at, at + vocab) };
    });
  }

  private async run(
    B: number,
    S: number,
    P: number,
    inputIds: BigInt64Array,
    mask: BigInt64Array,
    positions: BigInt64Array,
    past: readonly KvWords[],
    present: readonly KvWords[],
  ): Promise<Float32Array> {
    const { io, session } = this.cfg;
    const { kvHeads, headDim, dtype } = this.layout;
    const feeds: Record<string, Tensor> = {
      [io.inputIds]: new Tensor('int64', inputIds, [B, S]),
      [io.attentionMask]: new Tensor('int64', mask, [B, P + S]),
    };
    if (io.positionIds) feeds[io.positionIds] = new Tensor('int64', positions, [B, S]);
    if (io.useCacheBranch) feeds[io.useCacheBranch] = new Tensor('bool', new Uint8Array([P > 0 ? 1 : 0]), [1]);
    const fetches: Record<string, Tensor> = {};
    const logitsElements = B * S * this.cfg.vocabSize;
    const logitsOut = io.logitsDtype === 'float32' ? this.logitsBuffer(logitsElements) : null;
    if (logitsOut) fetches[io.logits] = new Tensor('float32', logitsOut, [B, S, this.cfg.vocabSize]);
    io.layers.forEach((layer, l) => {
      feeds[layer.pastKey] = new Tensor(dtype, past[tensorIndex(l, 0)]!, [B, kvHeads, P, headDim]);
      feeds[layer.pastValue] = new Tensor(dtype, past[tensorIndex(l, 1)]!, [B, kvHeads, P, headDim]);
      // Pre-allocated outputs: onnxruntime writes present KV straight into our reusable buffers.
      fetches[layer.presentKey] = new Tensor(dtype, present[tensorIndex(l, 0)]!, [B, kvHeads, P + S, headDim]);
      fetches[layer.presentValue] = new Tensor(dtype, present[tensorIndex(l, 1)]!, [B, kvHeads, P + S, headDim]);
    });
    if (!logitsOut) fetches[io.logits] = null as unknown as Tensor;
    const outputs = await session.run(feeds, fetches);
    if (logitsOut) return logitsOut;
    return halfArrayToFloat32(outputs[io.logits]!.data as Uint16Array);
  }

  private logitsBuffer(elements: number): Float32Array {
    if (this.logitsArena.length < elements) this.logitsArena = new Float32Array(elements);
    return this.logitsArena.subarray(0, elements);
  }

  /** Reuse the resident batch when members are unchanged; otherwise assemble a new one. */
  private residentBatchFor(rows: readonly Sequence[]): { batch: ResidentBatch; absorbed: Sequence[] } {
    const old = this.resident;
    if (old && old.ids.length === rows.length && rows.every((s, i) => old.ids[i] === s.id)) {
      return { batch: old, absorbed: [] };
    }
    let columns = 0;
    for (const seq of rows) columns = Math.max(columns, seq.kvLength);
    const { kvHeads, headDim } = this.layout;
    const elements = rows.length * kvHeads * columns * headDim;
    // Write into the half the old batch does not occupy; the step's present then goes to the other half.
    const target = this.arenas[1 - this.current]!.map((a) => a.view(elements));
    const absorbed: Sequence[] = [];
    const starts: number[] = [];
    rows.forEach((seq, i) => {
      const length = seq.kvLength;
      starts.push(columns - length);
      const oldRow = old ? old.ids.indexOf(seq.id) : -1;
      if (old && oldRow >= 0) {
        moveRow(this.layout, old.tensors, oldRow, old.columns, old.starts[oldRow]!, old.columns, target, i, columns, columns);
      } else {
        gatherSpansIntoRow(this.layout, seq.spans, target, i, columns, columns);
        absorbed.push(seq);
      }
    });
    this.current = 1 - this.current;
    return { batch: { ids: rows.map((s) => s.id), starts, columns, tensors: target }, absorbed };
  }

  /** `rebuild` strategy: gather every row from its own buffer into fresh tensors. */
  private gatheredBatch(rows: readonly Sequence[]): { batch: ResidentBatch; absorbed: Sequence[] } {
    let columns = 0;
    for (const seq of rows) columns = Math.max(columns, seq.kvLength);
    const { kvHeads, headDim } = this.layout;
    const elements = rows.length * kvHeads * columns * headDim;
    const target = Array.from({ length: this.tensorCount }, () => allocWords(this.layout.dtype, elements));
    const starts: number[] = [];
    rows.forEach((seq, i) => {
      starts.push(columns - seq.kvLength);
      gatherSpansIntoRow(this.layout, seq.spans, target, i, columns, columns);
    });
    return { batch: { ids: rows.map((s) => s.id), starts, columns, tensors: target }, absorbed: [] };
  }
}

/**
 * `rebuild` strategy: write column `column` of batch row `row` after the sequence's KV, growing its own
 * block (capacity for the whole reply is taken on the first append, so this copies once per sequence).
 */
function appendColumn(layout: KvLayout, seq: Sequence, batch: readonly KvWords[], row: number, columns: number, column: number): void {
  let own = seq.ownKv;
  if (!own || own.count === own.block.length) {
    const sharedCount = seq.sharedTokens;
    const have = own?.count ?? 0;
    const capacity = Math.max(have + 1, seq.prompt.length + seq.maxNewTokens - sharedCount);
    const grown = new KvBlock(layout, capacity);
    if (own) copyPrefix(layout, own, grown);
    own = { block: grown, count: have };
    seq.ownKv = own;
  }
  const { kvHeads, headDim } = layout;
  for (let t = 0; t < batch.length; t++) {
    const src = batch[t]!;
    const dst = own.block.tensors[t]!;
    for (let h = 0; h < kvHeads; h++) {
      const from = ((row * kvHeads + h) * columns + column) * headDim;
      dst.set(src.subarray(from, from + headDim), (h * own.block.length + own.count) * headDim);
    }
  }
  own.count++;
}

function copyPrefix(layout: KvLayout, span: KvSpan, into: KvBlock): void {
  const { kvHeads, headDim } = layout;
  for (let t = 0; t < into.tensors.length; t++) {
    for (let h = 0; h < kvHeads; h++) {
      const from = h * span.block.length * headDim;
      into.tensors[t]!.set(span.block.tensors[t]!.subarray(from, from + span.count * headDim), h * into.length * headDim);
    }
  }
}
