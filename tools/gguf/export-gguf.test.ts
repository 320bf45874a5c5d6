/**
 * GGUF export: tiny models built on the spot are exported and read back with an independent reader written
 * from the GGUF spec (not the writer's code), checking the header, every metadata key and value, tensor
 * shapes, offsets and alignment, and that each tensor's data is the source weight after the documented
 * transforms (transpose to [out, in], the q/k RoPE permutation, f16 rounding). Where node-llama-cpp is
 * installed (the inference bench installs it into data/cache), llama.cpp loads the file and its greedy tokens
 * must equal our engine's; otherwise that case is skipped with a printed reason.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { generate } from '../../server/src/inference/generate/index.ts';
import { halfBitsToFloat, loadModel } from '../../server/src/inference/model/index.ts';
import { buildModelDirectory } from '../model-builder/build-model-dir.ts';
import { PRESETS } from '../model-builder/presets.ts';
import { BYTE_TO_CHAR } from '../model-builder/tokenizer/byte-level.ts';
import { paramNames } from '../trainer/llama-train-graph.ts';
import { readArchitecture, readParams, transpose } from '../trainer/model-weights.ts';
import { removeTempDirs, tempDir } from '../../test/model/helpers.ts';
import { exportGguf, permuteForLlamaRope, TokenType } from './export-gguf.ts';
import { GgmlType, GgufType, gguf, writeGguf } from './gguf-writer.ts';
import { F32_KV, loadNodeLlamaCpp, cpuLlama, llamaCppGreedy } from './node-llama-cpp.ts';

afterAll(removeTempDirs);

// ---- an independent GGUF reader (spec: github.com/ggml-org/ggml/blob/master/docs/gguf.md) ----

type Value = number | bigint | boolean | string | Value[];
interface ReadTensor {
  name: string;
  /** ggml ne[] order: innermost first. */
  dims: number[];
  type: number;
  offset: number;
}
interface ReadGguf {
  version: number;
  metadata: Map<string, { type: number; value: Value }>;
  tensors: ReadTensor[];
  dataStart: number;
  bytes: Buffer;
}

function readGguf(path: string): ReadGguf {
  const bytes = readFileSync(path);
  let at = 0;
  const u32 = () => ((at += 4), bytes.readUInt32LE(at - 4));
  const u64 = () => {
    const v = bytes.readBigUInt64LE(at);
    at += 8;
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error(`u64 ${v} too large`);
    return Number(v);
  };
  const str = () => {
    const n = u64();
    at += n;
    return bytes.toString('utf8', at - n, at);
  };
  const value = (type: number): Value => {
    switch (type) {
      case 0: return bytes.readUInt8((at += 1) - 1);
      case 1: return bytes.readInt8((at += 1) - 1);
      case 2: return bytes.readUInt16LE((at += 2) - 2);
      case 3: return bytes.readInt16LE((at += 2) - 2);
      case 4: return u32();
      case 5: return bytes.readInt32LE((at += 4) - 4);
      case 6: return bytes.readFloatLE((at += 4) - 4);
      case 7: { const b = bytes.readUInt8(at++); if (b > 1) throw new Error(`bool byte ${b}`); return b === 1; }
      case 8: return str();
      case 9: { const itemType = u32(); const n = u64(); return Array.from({ length: n }, () => value(itemType)); }
      case 10: return bytes.readBigUInt64LE((at += 8) - 8);
      case 11: return bytes.readBigInt64LE((at += 8) - 8);
      case 12: return bytes.readDoubleLE((at += 8) - 8);
      default: throw new Error(`unknown GGUF value type ${type} at ${at}`);
    }
  };
  const magic = bytes.toString('latin1', 0, 4);
  if (magic !== 'GGUF') throw new Error(`bad magic ${JSON.stringify(magic)}`);
  at = 4;
  const version = u32();
  const tensorCount = u64();
  const kvCount = u64();
  const metadata = new Map<string, { type: number; value: Value }>();
  for (let i = 0; i < kvCount; i++) {
    const key = str();
    const type = u32();
    if (metadata.has(key)) throw new Error(`duplicate key ${key}`);
    metadata.set(key, { type, value: value(type) });
  }
  const tensors: ReadTensor[] = [];
  for (let i = 0; i < tensorCount; i++) {
    const name = str();
    const nDims = u32();
    const dims = Array.from({ length: nDims }, u64);
    tensors.push({ name, dims, type: u32(), offset: u64() });
  }
  const alignment = Number(metadata.get('general.alignment')?.value ?? 32);
  const dataStart = Math.ceil(at / alignment) * alignment;
  if (bytes.subarray(at, dataStart).some((b) => b !== 0)) throw new Error('non-zero padding before the data section');
  return { version, metadata, tensors, dataStart, bytes };
}

function tensorValues(file: ReadGguf, tensor: ReadTensor): Float32Array {
  const count = tensor.dims.reduce((a, b) => a * b, 1);
  const start = file.dataStart + tensor.offset;
  if (tensor.type === 0) return new Float32Array(file.bytes.buffer.slice(file.bytes.byteOffset + start, file.bytes.byteOffset + start + count * 4));
  if (tensor.type === 1) {
    const out = new Float32Array(count);
    for (let i = 0; i < count; i++) out[i] = halfBitsToFloat(file.bytes.readUInt16LE(start + 2 * i));
    return out;
  }
  throw new Error(`unexpected tensor type ${tensor.type}`);
}

const meta = (file: ReadGguf, key: string) => {
  const entry = file.metadata.get(key);
  if (!entry) throw new Error(`missing metadata ${key}`);
  return entry;
};

// ---- the models ----

/** Tied embeddings, learned tokenizer filling the vocabulary, large init so greedy output varies. */
function tiedModel(): string {
  const dir = tempDir('gguf-tied');
  buildModelDirectory({ outDir: dir, architecture: { ...PRESETS.tiny, initializerRange: 0.3 }, seed: 11, presetName: 'tiny' });
  return dir;
}

/** Untied output, an explicit head size ≠ hidden/heads, and a bare byte tokenizer (no merges) smaller than the vocabulary. */
function untiedModel(): string {
  const dir = tempDir('gguf-untied');
  buildModelDirectory({
    outDir: dir,
    architecture: { ...PRESETS.tiny, tieWordEmbeddings: false, headDim: 8, ropeTheta: 50_000, rmsNormEps: 1e-6 },
    seed: 3,
    bpe: { tokens: [...BYTE_TO_CHAR], merges: [] },
  });
  return dir;
}

/** Expected GGUF data for a source parameter: [in, out] → [out, in], then the RoPE permutation for q/k. */
function expectedTensor(params: Map<string, Float32Array>, source: string, shape: number[], permuteHeads?: number): Float32Array {
  const data = params.get(source)!;
  if (shape.length === 1 || source === paramNames.embed || source === paramNames.lmHead) return data;
  const hf = transpose(data, shape[1]!, shape[0]!);
  return permuteHeads ? permuteForLlamaRope(hf, permuteHeads, shape[1]!) : hf;
}

function checkFile(dir: string, out: string, weightType: 'f32' | 'f16'): void {
  const arch = readArchitecture(dir);
  const headDim = arch.headDim ?? arch.hiddenSize / arch.numAttentionHeads;
  const file = readGguf(out);
  expect(file.version).toBe(3);

  // Architecture metadata, with its GGUF types (llama.cpp reads u32/f32 keys by type).
  const expectations: Array<[string, number, Value]> = [
    ['general.architecture', 8, 'llama'],
    ['general.file_type', 4, weightType === 'f32' ? 0 : 1],
    ['general.alignment', 4, 32],
    ['llama.vocab_size', 4, arch.vocabSize],
    ['llama.context_length', 4, arch.maxPositionEmbeddings],
    ['llama.embedding_length', 4, arch.hiddenSize],
    ['llama.block_count', 4, arch.numLayers],
    ['llama.feed_forward_length', 4, arch.intermediateSize],
    ['llama.attention.head_count', 4, arch.numAttentionHeads],
    ['llama.attention.head_count_kv', 4, arch.numKeyValueHeads],
    ['llama.attention.key_length', 4, headDim],
    ['llama.rope.dimension_count', 4, headDim],
    ['tokenizer.ggml.model', 8, 'gpt2'],
    ['tokenizer.ggml.pre', 8, 'gpt-2'],
    ['tokenizer.ggml.bos_token_id', 4, 0],
    ['tokenizer.ggml.eos_token_id', 4, 2],
    ['tokenizer.ggml.padding_token_id', 4, 0],
    ['tokenizer.ggml.add_bos_token', 7, false],
  ];
  for (const [key, type, value] of expectations) expect(meta(file, key), key).toEqual({ type, value });
  expect(meta(file, 'llama.attention.layer_norm_rms_epsilon').value as number).toBeCloseTo(arch.rmsNormEps, 12);
  expect(meta(file, 'llama.rope.freq_base').value).toBe(arch.ropeTheta);
  const tokenizerConfig = JSON.parse(readFileSync(join(dir, 'tokenizer_config.json'), 'utf8')) as { chat_template: string };
  expect(meta(file, 'tokenizer.chat_template').value).toBe(tokenizerConfig.chat_template);

  // Tokenizer: one token per embedding row, ids as in tokenizer.json, specials CONTROL, the rest PAD/UNUSED.
  const tokenizer = JSON.parse(readFileSync(join(dir, 'tokenizer.json'), 'utf8')) as { model: { vocab: Record<string, number>; merges: string[] } };
  const tokens = meta(file, 'tokenizer.ggml.tokens').value as string[];
  const types = meta(file, 'tokenizer.ggml.token_type').value as number[];
  expect(tokens).toHaveLength(arch.vocabSize);
  expect(types).toHaveLength(arch.vocabSize);
  const defined = Object.entries(tokenizer.model.vocab);
  for (const [text, id] of defined) expect(tokens[id], `token ${id}`).toBe(text);
  expect(tokens.slice(0, 3)).toEqual(['<|endoftext|>', '<|im_start|>', '<|im_end|>']);
  expect(types.slice(0, 3)).toEqual([TokenType.CONTROL, TokenType.CONTROL, TokenType.CONTROL]);
  for (let id = defined.length; id < arch.vocabSize; id++) {
    expect(tokens[id]).toBe(`[PAD${id}]`);
    expect(types[id]).toBe(TokenType.UNUSED);
  }
  expect(types.slice(3, defined.length).every((t) => t === TokenType.NORMAL)).toBe(true);
  expect(meta(file, 'tokenizer.ggml.merges')).toEqual({ type: 9, value: tokenizer.model.merges });

  // Tensors: names, ggml dims (innermost first), types, aligned non-overlapping offsets, data.
  const params = readParams(dir, arch);
  const q = arch.numAttentionHeads * headDim;
  const kv = arch.numKeyValueHeads * headDim;
  const h = arch.hiddenSize;
  const i = arch.intermediateSize;
  const expected: Array<{ name: string; source: string; shape: number[]; permuteHeads?: number }> = [{ name: 'token_embd.weight', source: paramNames.embed, shape: [arch.vocabSize, h] }];
  for (let layer = 0; layer < arch.numLayers; layer++) {
    const lin = (p: Parameters<typeof paramNames.linear>[1]) => paramNames.linear(layer, p);
    expected.push(
      { name: `blk.${layer}.attn_norm.weight`, source: paramNames.inputNorm(layer), shape: [h] },
      { name: `blk.${layer}.attn_q.weight`, source: lin('q_proj'), shape: [q, h], permuteHeads: arch.numAttentionHeads },
      { name: `blk.${layer}.attn_k.weight`, source: lin('k_proj'), shape: [kv, h], permuteHeads: arch.numKeyValueHeads },
      { name: `blk.${layer}.attn_v.weight`, source: lin('v_proj'), shape: [kv, h] },
      { name: `blk.${layer}.attn_output.weight`, source: lin('o_proj'), shape: [h, q] },
      { name: `blk.${layer}.ffn_gate.weight`, source: lin('gate_proj'), shape: [i, h] },
      { name: `blk.${layer}.ffn_up.weight`, source: lin('up_proj'), shape: [i, h] },
      { name: `blk.${layer}.ffn_down.weight`, source: lin('down_proj'), shape: [h, i] },
      { name: `blk.${layer}.ffn_norm.weight`, source: paramNames.postNorm(layer), shape: [h] },
    );
  }
  expected.push({ name: 'output_norm.weight', source: paramNames.norm, shape: [h] });
  if (!arch.tieWordEmbeddings) expected.push({ name: 'output.weight', source: paramNames.lmHead, shape: [arch.vocabSize, h] });
  expect(file.tensors.map((t) => t.name).sort()).toEqual(expected.map((e) => e.name).sort());

  const byName = new Map(file.tensors.map((t) => [t.name, t]));
  let end = 0;
  for (const t of [...file.tensors].sort((a, b) => a.offset - b.offset)) {
    expect(t.offset % 32, `${t.name} offset`).toBe(0);
    expect(t.offset, `${t.name} overlaps the previous tensor`).toBeGreaterThanOrEqual(end);
    end = t.offset + t.dims.reduce((a, b) => a * b, 1) * (t.type === 1 ? 2 : 4);
  }
  expect(file.dataStart % 32).toBe(0);
  expect(file.bytes.length).toBeGreaterThanOrEqual(file.dataStart + end);
  for (const e of expected) {
    const t = byName.get(e.name)!;
    expect(t.dims, e.name).toEqual([...e.shape].reverse());
    const wantType = weightType === 'f16' && e.shape.length === 2 ? 1 : 0;
    expect(t.type, `${e.name} type`).toBe(wantType);
    const want = expectedTensor(params, e.source, e.shape, e.permuteHeads);
    const got = tensorValues(file, t);
    if (wantType === 0) {
      expect(Buffer.from(got.buffer).equals(Buffer.from(want.buffer, want.byteOffset, want.byteLength)), `${e.name} data`).toBe(true);
    } else {
      let worst = 0;
      for (let k = 0; k < want.length; k++) worst = Math.max(worst, Math.abs(got[k]! - want[k]!) / Math.max(Math.abs(want[k]!), 2 ** -14));
      expect(worst, `${e.name} f16 relative error`).toBeLessThanOrEqual(2 ** -11); // half a unit in the last place
    }
  }
}

describe('gguf-writer', () => {
  it('writes every scalar type, arrays and an unaligned tensor that the reader reads back', () => {
    const out = join(tempDir('gguf-out'), 'types.gguf');
    writeGguf(
      out,
      [
        ['t.u8', { type: GgufType.UINT8, value: 255 }],
        ['t.i8', { type: GgufType.INT8, value: -128 }],
        ['t.u16', { type: GgufType.UINT16, value: 65535 }],
        ['t.i16', { type: GgufType.INT16, value: -32768 }],
        ['t.u32', gguf.u32(4_000_000_000)],
        ['t.i32', gguf.i32(-7)],
        ['t.f32', gguf.f32(0.5)],
        ['t.bool', gguf.bool(true)],
        ['t.str', gguf.str('héllo ✓')],
        ['t.u64', { type: GgufType.UINT64, value: 2n ** 40n }],
        ['t.i64', { type: GgufType.INT64, value: -(2n ** 40n) }],
        ['t.f64', { type: GgufType.FLOAT64, value: Math.PI }],
        ['t.arr', gguf.array(GgufType.STRING, ['a', '', 'ü'])],
      ],
      // 3 values (12 bytes): the next tensor must start at the next multiple of 32.
      [
        { name: 'a', shape: [3], type: GgmlType.F32, data: Float32Array.of(1, 2, 3) },
        { name: 'b', shape: [2, 3], type: GgmlType.F16, data: Float32Array.of(1, -2, 0.5, 65504, 2 ** -24, 0) },
      ],
    );
    const file = readGguf(out);
    const values = Object.fromEntries([...file.metadata].map(([k, v]) => [k, v.value]));
    expect(values).toEqual({
      't.u8': 255, 't.i8': -128, 't.u16': 65535, 't.i16': -32768, 't.u32': 4_000_000_000, 't.i32': -7, 't.f32': 0.5, 't.bool': true,
      't.str': 'héllo ✓', 't.u64': 2n ** 40n, 't.i64': -(2n ** 40n), 't.f64': Math.PI, 't.arr': ['a', '', 'ü'],
    });
    expect(file.tensors).toEqual([
      { name: 'a', dims: [3], type: 0, offset: 0 },
      { name: 'b', dims: [3, 2], type: 1, offset: 32 },
    ]);
    expect([...tensorValues(file, file.tensors[1]!)]).toEqual([1, -2, 0.5, 65504, 2 ** -24, 0]);
    expect(file.bytes.length).toBe(file.dataStart + 64);
  });

  it('refuses what would make a broken file, and leaves no file behind', () => {
    const out = join(tempDir('gguf-out'), 'bad.gguf');
    const t = (name: string, shape: number[], n: number) => ({ name, shape, type: GgmlType.F32, data: new Float32Array(n) });
    expect(() => writeGguf(out, [['k', gguf.u32(1)], ['k', gguf.u32(2)]], [])).toThrow(/key k is given twice/);
    expect(() => writeGguf(out, [], [t('x', [2], 2), t('x', [2], 2)])).toThrow(/tensor x is given twice/);
    expect(() => writeGguf(out, [], [t('x', [2, 3], 5)])).toThrow(/holds 6 values, data has 5/);
    expect(() => writeGguf(out, [['k', gguf.u32(-1)]], [])).toThrow(/k: -1 is not an integer/);
    expect(() => writeGguf(out, [['k', gguf.array(GgufType.INT32, [1, 'x'])]], [])).toThrow(/k: expected a finite number/);
    expect(existsSync(out) || existsSync(`${out}.partial`)).toBe(false);
  });
});

describe('export-gguf', () => {
  it('permutes q/k rows from rotate-half to adjacent pairs within each head', () => {
    // 2 heads of size 4, 1 column: rows [h0: a0 a1 b0 b1 | h1: c0 c1 d0 d1] → [a0 b0 a1 b1 | c0 d0 c1 d1].
    const permuted = permuteForLlamaRope(Float32Array.of(0, 1, 2, 3, 10, 11, 12, 13), 2, 1);
    expect([...permuted]).toEqual([0, 2, 1, 3, 10, 12, 11, 13]);
    expect(() => permuteForLlamaRope(new Float32Array(6), 2, 1)).toThrow(/even size/);
  });

  it('writes a tied-embedding model: header, metadata, tokenizer, tensors and data', () => {
    const dir = tiedModel();
    const out = join(tempDir('gguf-out'), 'tied.gguf');
    const summary = exportGguf({ modelDir: dir, outPath: out });
    expect(summary.tensorCount).toBe(2 + 9 * PRESETS.tiny.numLayers);
    expect(summary.tokenizerTokens).toBe(PRESETS.tiny.vocabSize);
    checkFile(dir, out, 'f32');
    expect(readGguf(out).tensors.some((t) => t.name === 'output.weight')).toBe(false);
  });

  it('writes an untied model with its own head size and a padded vocabulary, in f16', () => {
    const dir = untiedModel();
    const out = join(tempDir('gguf-out'), 'untied.gguf');
    const summary = exportGguf({ modelDir: dir, outPath: out, weightType: 'f16', name: 'untied test' });
    expect(summary.tokenizerTokens).toBe(3 + 256);
    checkFile(dir, out, 'f16');
    expect(meta(readGguf(out), 'general.name').value).toBe('untied test');
  });

  it('the CLI answers --help and refuses bad input with a clear line', () => {
    const run = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', 'tools/gguf/cli.ts', ...args], { encoding: 'utf8', timeout: 60_000 });
    const help = run('--help');
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/usage: npm run export-gguf -- --model <dir>/);
    const missing = run();
    expect(missing.status).toBe(2);
    expect(missing.stderr).toMatch(/export-gguf: --model <dir> is required/);
    const badType = run('--model', '.', '--type', 'q4');
    expect(badType.status).toBe(2);
    expect(badType.stderr).toMatch(/--type must be f32 or f16, got "q4"/);
    const notModel = run('--model', 'docs', '--out', join(tempDir('gguf-out'), 'x.gguf'));
    expect(notModel.status).toBe(1);
    expect(notModel.stderr).toMatch(/export-gguf: .*docs has no config\.json: not a model directory/);
  });

  it('node-llama-cpp loads the file and its greedy tokens equal the engine\'s', async (ctx) => {
    const loaded = await loadNodeLlamaCpp({ install: false });
    if (!loaded.ok) {
      console.log(`[gguf] skipped the llama.cpp parity case: ${loaded.reason}`);
      ctx.skip();
      return;
    }
    const dir = tiedModel();
    const out = join(tempDir('gguf-out'), 'parity.gguf');
    exportGguf({ modelDir: dir, outPath: out });
    const ours = await loadModel(dir, { intraOpNumThreads: 1 });
    const llama = await cpuLlama(loaded.module, 1);
    try {
      const model = await llama.loadModel({ modelPath: out, gpuLayers: 0 });
      const context = await model.createContext({ contextSize: 256, sequences: 1, threads: 1, ...F32_KV });
      const sequence = context.getSequence();
      const prompts = ['Hello there, smith.', 'Where is the well?', 'Tell me about the river.'];
      const seen = new Set<number>();
      for (const text of prompts) {
        const prompt = ours.encodeChat([{ role: 'user', content: text }]);
        // Same text through llama.cpp's tokenizer (special tokens parsed) must give the same ids.
        expect(model.tokenize(ours.renderChat([{ role: 'user', content: text }]), true), `tokens of ${text}`).toEqual(prompt);
        const mine = await generate(ours, { prompt: { tokens: prompt }, sampling: { temperature: 0, repetitionPenalty: 1 }, maxTokens: 24 });
        const theirs = await llamaCppGreedy(sequence, model, prompt, 24);
        expect(theirs, `greedy tokens for ${text}`).toEqual(mine.tokens);
        for (const id of mine.tokens) seen.add(id);
      }
      // A reply that is one repeated token would agree even with wrong attention; these vary.
      expect(seen.size).toBeGreaterThan(5);
      await context.dispose();
      await model.dispose();
    } finally {
      await llama.dispose();
      await ours.dispose();
    }
  });
});
