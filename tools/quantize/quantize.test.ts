/**
 * The int8 variant of a model, on real onnxruntime sessions: a `small` model built on the spot (random
 * weights at initializer range 0.05: greedy decoding moves between tokens instead of repeating one, and the
 * network is not yet the chaotic kind that larger random weights make, which amplifies any rounding),
 * quantised with each method, compared with its fp32 source on a fixed prompt and text set.
 *
 * Tolerances (stated; README repeats them): greedy tokens agree with fp32 on ≥ 85 % of the steps (measured
 * here: 96 % MatMulNBits, 94 % DynamicQuantizeMatMul; random weights leave many near-ties, a trained model
 * agrees more); logits differ by at most 0.5 anywhere and 0.06 on average (measured: 0.11 / 0.02 and
 * 0.24 / 0.04); perplexity changes by less than 2 %. The margins absorb other CPUs' int8 kernels.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openEngineModel } from '../../server/src/inference/engine/engine-model.ts';
import { loadModel, type DecoderModel } from '../../server/src/inference/model/index.ts';
import { buildModelDirectory } from '../model-builder/build-model-dir.ts';
import { readOnnxModel } from '../model-builder/onnx/parse.ts';
import { PRESETS } from '../model-builder/presets.ts';
import { compareQuality } from './quality.ts';
import { QuantizeError, quantizeModelDirectory, type QuantizationMethod } from './quantize-model.ts';

const PROMPTS = ['The smith', 'Good morning, traveller', 'Where is the harbour', 'Bread and ale', 'The old king', 'Marta said'];
const TEXTS = [
  'The blacksmith hammered the iron while the traveller asked about the road to the mountains and the closed mines.',
  'Sister Ilse keeps records of every fever since the old king died, and she believes the wells of the lower town are to blame.',
];

let root: string;
let fp32Dir: string;
let reference: DecoderModel;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'quantize-'));
  fp32Dir = join(root, 'fp32');
  buildModelDirectory({ outDir: fp32Dir, architecture: { ...PRESETS.small, initializerRange: 0.05 }, seed: 3, presetName: 'small' });
  reference = await loadModel(fp32Dir, { intraOpNumThreads: 1 });
});

afterAll(async () => {
  await reference?.dispose();
  rmSync(root, { recursive: true, force: true });
});

describe.each<QuantizationMethod>(['matmul-nbits', 'dynamic'])('int8 weights with %s', (method) => {
  let dir: string;
  beforeAll(() => {
    dir = join(root, `int8-${method}`);
    quantizeModelDirectory({ modelDir: fp32Dir, outDir: dir, method });
  });

  it('agrees with fp32: greedy tokens on most steps, logits within tolerance, perplexity within 2 %', async () => {
    const candidate = await loadModel(dir, { intraOpNumThreads: 1 });
    try {
      const q = await compareQuality(reference, candidate, { texts: TEXTS, prompts: PROMPTS, greedySteps: 16 });
      expect(q.greedy.steps).toBe(PROMPTS.length * 16);
      expect(q.greedy.agreement).toBeGreaterThanOrEqual(0.85);
      expect(q.logits.maxAbsDiff).toBeLessThan(0.5);
      expect(q.logits.meanAbsDiff).toBeLessThan(0.06);
      expect(Math.abs(q.perplexity.change)).toBeLessThan(0.02);
      // Not a copy of fp32: the int8 weights do move the logits.
      expect(q.logits.maxAbsDiff).toBeGreaterThan(0);
    } finally {
      await candidate.dispose();
    }
  });

  it('records the quantisation in config.json and rewrites every linear layer to the contrib op', () => {
    const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    const op = method === 'matmul-nbits' ? 'MatMulNBits' : 'DynamicQuantizeMatMul';
    // 4 layers × 7 projections + the LM head.
    expect(config.worldmind.quantization).toMatchObject({ weights: 'int8', method, op: `com.microsoft.${op}`, lm_head: 'int8', quantized_matmuls: 29, source: 'fp32' });
    expect(config.worldmind.preset).toBe('small');
    const { graph } = readOnnxModel(join(dir, 'onnx', 'model.onnx'));
    const quantized = graph.nodes.filter((n) => n.opType === op);
    expect(quantized).toHaveLength(29);
    expect(quantized.every((n) => n.domain === 'com.microsoft')).toBe(true);
    expect(graph.nodes.filter((n) => n.opType === 'Gemm' || (n.opType === 'MatMul' && graph.initializers.some((i) => i.name === n.inputs[1])))).toHaveLength(0);
    // The tied embedding stays fp32 for the token lookup.
    expect(graph.initializers.find((i) => i.name === 'model.embed_tokens.weight')?.elementType).toBe(1);
  });

  it('loads into the engine with its in-place KV graph', async () => {
    const opened = await openEngineModel(dir, { intraOpNumThreads: 1 }, 'inplace');
    try {
      expect(opened.fallbackReason).toBeUndefined();
      expect(opened.kvStrategy).toBe('inplace');
    } finally {
      await opened.model.dispose();
    }
  });
});

describe('quantize options', () => {
  it('--lm-head fp32 keeps the LM head a Gemm on the fp32 embedding', () => {
    const dir = join(root, 'lm-fp32');
    const q = quantizeModelDirectory({ modelDir: fp32Dir, outDir: dir, lmHead: false });
    expect(q.record).toMatchObject({ method: 'dynamic', lm_head: 'fp32', quantized_matmuls: 28 });
    expect(readOnnxModel(join(dir, 'onnx', 'model.onnx')).graph.nodes.filter((n) => n.opType === 'Gemm')).toHaveLength(1);
  });

  it('refuses bad options and inputs with one clear sentence', () => {
    const out = join(root, 'bad');
    expect(() => quantizeModelDirectory({ modelDir: fp32Dir, outDir: out, method: 'int4' as QuantizationMethod })).toThrow(/unknown quantisation method "int4" \(known: dynamic, matmul-nbits\)/);
    expect(() => quantizeModelDirectory({ modelDir: fp32Dir, outDir: out, blockSize: 24 })).toThrow(/block size must be a power of two ≥ 16, got 24/);
    expect(() => quantizeModelDirectory({ modelDir: fp32Dir, outDir: fp32Dir })).toThrow(QuantizeError);
    expect(() => quantizeModelDirectory({ modelDir: join(root, 'int8-dynamic'), outDir: out })).toThrow(/already quantised/);
    expect(() => quantizeModelDirectory({ modelDir: join(root, 'missing'), outDir: out })).toThrow(/is not a model directory/);
  });

  it('the CLI names a bad option and exits 2', () => {
    let failure: { status: number; stderr: Buffer } | undefined;
    try {
      execFileSync(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'cli.ts'), '--model', fp32Dir, '--out', join(root, 'x'), '--method', 'int4'], { stdio: 'pipe' });
    } catch (error) {
      failure = error as { status: number; stderr: Buffer };
    }
    expect(failure?.status).toBe(2);
    expect(failure?.stderr.toString()).toContain('quantize: --method must be dynamic or matmul-nbits, got "int4"');
  });
});
