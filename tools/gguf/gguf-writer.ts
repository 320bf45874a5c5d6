/**
 * A GGUF v3 file writer (the format llama.cpp and the tools built on it load; spec:
 * https://github.com/ggml-org/ggml/blob/master/docs/gguf.md). Little-endian throughout:
 *
 *   header      magic "GGUF" (u32 0x46554747) · version u32 = 3 · tensor count u64 · metadata count u64
 *   metadata    per entry: key (string) · value type u32 · value
 *   tensor info per tensor: name (string) · n_dims u32 · dims u64 × n_dims (innermost first) · ggml type u32 ·
 *               offset u64 (from the start of the data section, a multiple of the alignment)
 *   padding     zeros up to the alignment (`general.alignment`, 32 by default)
 *   data        each tensor's bytes, each padded to the alignment
 *
 * A string is a u64 byte length then UTF-8 bytes (no terminator); an array is the element type u32, a u64
 * count, then the elements. The writer only knows the format: what goes in (llama.* keys, tensor names) is
 * the exporter's business (export-gguf.ts).
 */
import { closeSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { floatToHalfBits } from '../../server/src/inference/model/float16.ts';

export const GGUF_MAGIC = 0x46554747; // "GGUF" read as a little-endian u32
export const GGUF_VERSION = 3;
export const GGUF_DEFAULT_ALIGNMENT = 32;

/** Metadata value types (gguf_type). */
export const GgufType = {
  UINT8: 0,
  INT8: 1,
  UINT16: 2,
  INT16: 3,
  UINT32: 4,
  INT32: 5,
  FLOAT32: 6,
  BOOL: 7,
  STRING: 8,
  ARRAY: 9,
  UINT64: 10,
  INT64: 11,
  FLOAT64: 12,
} as const;
export type GgufScalarType = Exclude<(typeof GgufType)[keyof typeof GgufType], typeof GgufType.ARRAY>;

/** Tensor element types this writer produces (ggml_type ids). */
export const GgmlType = { F32: 0, F16: 1 } as const;
export type GgmlTensorType = (typeof GgmlType)[keyof typeof GgmlType];

export type GgufValue =
  | { type: GgufScalarType; value: number | bigint | boolean | string }
  | { type: typeof GgufType.ARRAY; itemType: GgufScalarType; value: ReadonlyArray<number | bigint | boolean | string> };

/** Typed constructors, so call sites read like the keys they write. */
export const gguf = {
  u32: (value: number): GgufValue => ({ type: GgufType.UINT32, value }),
  i32: (value: number): GgufValue => ({ type: GgufType.INT32, value }),
  f32: (value: number): GgufValue => ({ type: GgufType.FLOAT32, value }),
  bool: (value: boolean): GgufValue => ({ type: GgufType.BOOL, value }),
  str: (value: string): GgufValue => ({ type: GgufType.STRING, value }),
  array: (itemType: GgufScalarType, value: ReadonlyArray<number | bigint | boolean | string>): GgufValue => ({ type: GgufType.ARRAY, itemType, value }),
};

export interface GgufTensor {
  name: string;
  /** Row-major shape, outermost first (as numpy/PyTorch write it); stored reversed, as ggml's ne[]. */
  shape: readonly number[];
  /** How the values are stored. */
  type: GgmlTensorType;
  data: Float32Array;
}

export interface GgufWriteSummary {
  path: string;
  bytes: number;
  tensorCount: number;
  metadataCount: number;
  /** Absolute file offset where the data section begins. */
  dataOffset: number;
}

const encoder = new TextEncoder();

/** Growable little-endian byte buffer for the header, metadata and tensor infos. */
class ByteSink {
  #buffer = new Uint8Array(1 << 16);
  #view = new DataView(this.#buffer.buffer);
  length = 0;

  #reserve(extra: number): void {
    if (this.length + extra <= this.#buffer.length) return;
    let size = this.#buffer.length * 2;
    while (size < this.length + extra) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.#buffer.subarray(0, this.length));
    this.#buffer = next;
    this.#view = new DataView(next.buffer);
  }
  u8(v: number) { this.#reserve(1); this.#view.setUint8(this.length, v); this.length += 1; }
  i8(v: number) { this.#reserve(1); this.#view.setInt8(this.length, v); this.length += 1; }
  u16(v: number) { this.#reserve(2); this.#view.setUint16(this.length, v, true); this.length += 2; }
  i16(v: number) { this.#reserve(2); this.#view.setInt16(this.length, v, true); this.length += 2; }
  u32(v: number) { this.#reserve(4); this.#view.setUint32(this.length, v, true); this.length += 4; }
  i32(v: number) { this.#reserve(4); this.#view.setInt32(this.length, v, true); this.length += 4; }
  f32(v: number) { this.#reserve(4); this.#view.setFloat32(this.length, v, true); this.length += 4; }
  f64(v: number) { this.#reserve(8); this.#view.setFloat64(this.length, v, true); this.length += 8; }
  u64(v: number | bigint) { this.#reserve(8); this.#view.setBigUint64(this.length, BigInt(v), true); this.length += 8; }
  i64(v: number | bigint) { this.#reserve(8); this.#view.setBigInt64(this.length, BigInt(v), true); this.length += 8; }
  bytes(b: Uint8Array) { this.#reserve(b.length); this.#buffer.set(b, this.length); this.length += b.length; }
  string(s: string) { const b = encoder.encode(s); this.u64(b.length); this.bytes(b); }
  zeros(n: number) { this.#reserve(n); this.#buffer.fill(0, this.length, this.length + n); this.length += n; }
  view(): Uint8Array { return this.#buffer.subarray(0, this.length); }
}

function writeScalar(sink: ByteSink, type: GgufScalarType, value: number | bigint | boolean | string, key: string): void {
  const number = (): number => {
    if (typeof value !== 'number' || !Number.isFinite(value)) throw new Error(`GGUF metadata ${key}: expected a finite number, got ${String(value)}`);
    return value;
  };
  const integer = (min: number, max: number): number => {
    const n = number();
    if (!Number.isInteger(n) || n < min || n > max) throw new Error(`GGUF metadata ${key}: ${n} is not an integer in [${min}, ${max}]`);
    return n;
  };
  switch (type) {
    case GgufType.UINT8: return sink.u8(integer(0, 0xff));
    case GgufType.INT8: return sink.i8(integer(-0x80, 0x7f));
    case GgufType.UINT16: return sink.u16(integer(0, 0xffff));
    case GgufType.INT16: return sink.i16(integer(-0x8000, 0x7fff));
    case GgufType.UINT32: return sink.u32(integer(0, 0xffffffff));
    case GgufType.INT32: return sink.i32(integer(-0x80000000, 0x7fffffff));
    case GgufType.FLOAT32: return sink.f32(number());
    case GgufType.FLOAT64: return sink.f64(number());
    case GgufType.UINT64: return sink.u64(typeof value === 'bigint' ? value : integer(0, Number.MAX_SAFE_INTEGER));
    case GgufType.INT64: return sink.i64(typeof value === 'bigint' ? value : integer(Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER));
    case GgufType.BOOL:
      if (typeof value !== 'boolean') throw new Error(`GGUF metadata ${key}: expected a boolean, got ${String(value)}`);
      return sink.u8(value ? 1 : 0);
    case GgufType.STRING:
      if (typeof value !== 'string') throw new Error(`GGUF metadata ${key}: expected a string, got ${String(value)}`);
      return sink.string(value);
  }
}

export function alignUp(n: number, alignment: number): number {
  return Math.ceil(n / alignment) * alignment;
}

function elementBytes(type: GgmlTensorType): number {
  return type === GgmlType.F16 ? 2 : 4;
}

/** The tensor's bytes as stored (f32 as is, f16 rounded to nearest even). */
function tensorBytes(tensor: GgufTensor): Uint8Array {
  if (tensor.type === GgmlType.F32) return new Uint8Array(tensor.data.buffer, tensor.data.byteOffset, tensor.data.byteLength);
  const half = new Uint16Array(tensor.data.length);
  for (let i = 0; i < half.length; i++) half[i] = floatToHalfBits(tensor.data[i]!);
  return new Uint8Array(half.buffer);
}

/**
 * Writes a GGUF v3 file. Tensors are written in the order given; their data is streamed one at a time, so
 * only the caller's arrays are held in memory. The file appears under `path` only once complete (written to
 * `path.partial` then renamed): an interrupted export never leaves a truncated model behind.
 */
export function writeGguf(
  path: string,
  metadata: ReadonlyArray<readonly [string, GgufValue]>,
  tensors: readonly GgufTensor[],
  alignment = GGUF_DEFAULT_ALIGNMENT,
): GgufWriteSummary {
  if (!Number.isInteger(alignment) || alignment <= 0 || alignment % 8 !== 0) throw new Error(`GGUF alignment must be a positive multiple of 8, got ${alignment}`);
  const keys = new Set<string>();
  for (const [key] of metadata) {
    if (keys.has(key)) throw new Error(`GGUF metadata key ${key} is given twice`);
    keys.add(key);
  }
  const alignmentEntry = metadata.find(([key]) => key === 'general.alignment');
  if (alignmentEntry && alignmentEntry[1].value !== alignment) throw new Error(`general.alignment (${String(alignmentEntry[1].value)}) differs from the alignment written (${alignment})`);
  const names = new Set<string>();
  for (const t of tensors) {
    if (names.has(t.name)) throw new Error(`GGUF tensor ${t.name} is given twice`);
    names.add(t.name);
    const count = t.shape.reduce((a, b) => a * b, 1);
    if (t.shape.length === 0 || t.shape.some((d) => !Number.isInteger(d) || d <= 0)) throw new Error(`GGUF tensor ${t.name}: bad shape [${t.shape.join(', ')}]`);
    if (count !== t.data.length) throw new Error(`GGUF tensor ${t.name}: shape [${t.shape.join(', ')}] holds ${count} values, data has ${t.data.length}`);
  }

  const head = new ByteSink();
  head.u32(GGUF_MAGIC);
  head.u32(GGUF_VERSION);
  head.u64(tensors.length);
  head.u64(metadata.length);
  for (const [key, value] of metadata) {
    head.string(key);
    head.u32(value.type);
    if (value.type === GgufType.ARRAY) {
      head.u32(value.itemType);
      head.u64(value.value.length);
      for (const item of value.value) writeScalar(head, value.itemType, item, key);
    } else {
      writeScalar(head, value.type, value.value, key);
    }
  }
  let offset = 0;
  const offsets: number[] = [];
  for (const t of tensors) {
    head.string(t.name);
    head.u32(t.shape.length);
    for (let d = t.shape.length - 1; d >= 0; d--) head.u64(t.shape[d]!); // ggml ne[0] is the innermost dimension
    head.u32(t.type);
    head.u64(offset);
    offsets.push(offset);
    offset = alignUp(offset + t.data.length * elementBytes(t.type), alignment);
  }
  const dataOffset = alignUp(head.length, alignment);
  head.zeros(dataOffset - head.length);

  const partial = `${path}.partial`;
  const fd = openSync(partial, 'w');
  let written = 0;
  try {
    const put = (bytes: Uint8Array) => {
      let done = 0;
      while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done);
      written += bytes.length;
    };
    put(head.view());
    tensors.forEach((t, i) => {
      if (written !== dataOffset + offsets[i]!) throw new Error(`GGUF writer: tensor ${t.name} would land at ${written - dataOffset}, not its recorded offset ${offsets[i]}`);
      const bytes = tensorBytes(t);
      put(bytes);
      const padding = alignUp(bytes.length, alignment) - bytes.length;
      if (padding > 0) put(new Uint8Array(padding));
    });
  } catch (error) {
    closeSync(fd);
    rmSync(partial, { force: true });
    throw error;
  }
  closeSync(fd);
  renameSync(partial, path);
  return { path, bytes: written, tensorCount: tensors.length, metadataCount: metadata.length, dataOffset };
}
