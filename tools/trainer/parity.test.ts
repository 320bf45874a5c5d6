/**
 * The training graph computes the same function as the serving graph: weights read back from a built model
 * directory give the same logits (and so the same loss) as the model's own onnx/model.onnx.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadModel } from '../../server/src/inference/model/index.ts';
import { buildModelDirectory, PRESETS } from '../model-builder/index.ts';
import { readArchitecture, readParams } from './model-weights.ts';
import { packedDialogueBatchList, type DialogueExample } from './batches.ts';
import { StepRunner } from './step-runner.ts';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

describe('training graph vs serving graph', () => {
  it('gives the same logits at every position on the same weights', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'worldmind-parity-'));
    dirs.push(dir);
    buildModelDirectory({ outDir: dir, architecture: { ...PRESETS.tiny, initializerRange: 0.2 }, seed: 3, presetName: 'tiny' });
    const arch = readArchitecture(dir);
    const params = readParams(dir, arch);

    const S = 9;
    const rowsIds = [
      [5, 17, 200, 3, 3, 91, 44, 12, 7],
      [250, 1, 2, 60, 61, 62, 63, 64, 65],
    ];
    const runner = new StepRunner(arch, { threads: 1, outputLogits: true });
    const positions = rowsIds.flatMap((_, b) => Array.from({ length: S }, (_, i) => b * S + i));
    const { logits } = await runner.run(params, {
      shape: { batch: 2, sequence: S, lossRows: positions.length },
      inputIds: BigInt64Array.from(rowsIds.flat(), BigInt),
      lossRows: BigInt64Array.from(positions, BigInt),
      targets: new BigInt64Array(positions.length),
      lossWeights: new Float32Array(positions.length).fill(1 / positions.length),
    });
    await runner.release();

    const model = await loadModel(dir);
    const V = arch.vocabSize;
    let worst = 0;
    for (let b = 0; b < rowsIds.length; b++) {
      const step = await model.step({
        batchSize: 1,
        inputIds: BigInt64Array.from(rowsIds[b]!, BigInt),
        attentionMask: new BigInt64Array(S).fill(1n),
        positionIds: BigInt64Array.from({ length: S }, (_, i) => BigInt(i)),
        past: model.emptyCache(1),
      });
      for (let i = 0; i < S * V; i++) worst = Math.max(worst, Math.abs(step.logits[i]! - logits![b * S * V + i]!));
    }
    await model.dispose();
    expect(worst).toBeLessThan(1e-4);
  });

  it('packed rows (shared prefix + segments) give each example exactly its standalone logits', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'worldmind-parity-'));
    dirs.push(dir);
    buildModelDirectory({ outDir: dir, architecture: { ...PRESETS.tiny, initializerRange: 0.2 }, seed: 4, presetName: 'tiny' });
    const arch = readArchitecture(dir);
    const params = readParams(dir, arch);
    const prefix = [7, 8, 9, 10, 11];
    const examples: DialogueExample[] = [
      { prompt: [...prefix, 40, 41], completion: [42, 43, 2], prefixLength: 5, prefixKey: 'p' },
      { prompt: [...prefix, 50], completion: [51, 2], prefixLength: 5, prefixKey: 'p' },
      { prompt: [...prefix, 60, 61, 62, 63], completion: [64, 2], prefixLength: 5, prefixKey: 'p' },
      { prompt: [70, 71, 72], completion: [73, 2] }, // nothing shared: its own segment from position 0
    ];
    const batches = packedDialogueBatchList(examples, { batch: 2, seed: 1, maxSequence: 64, padId: 0, sequenceQuantum: 8, rowQuantum: 8 });
    expect(batches).toHaveLength(1);
    const runner = new StepRunner(arch, { threads: 1, outputLogits: true, forwardOnly: true });
    const { logits } = await runner.run(params, batches[0]!);
    await runner.release();

    const model = await loadModel(dir);
    const V = arch.vocabSize;
    let m = 0;
    let worst = 0;
    for (const example of examples) {
      const ids = [...example.prompt, ...example.completion];
      const step = await model.step({
        batchSize: 1,
        inputIds: BigInt64Array.from(ids, BigInt),
        attentionMask: new BigInt64Array(ids.length).fill(1n),
        positionIds: BigInt64Array.from(ids, (_, i) => BigInt(i)),
        past: model.emptyCache(1),
      });
      for (let j = 0; j < example.completion.length; j++, m++) {
        const position = example.prompt.length - 1 + j;
        expect(Number(batches[0]!.targets[m])).toBe(example.completion[j]);
        for (let v = 0; v < V; v++) worst = Math.max(worst, Math.abs(step.logits[position * V + v]! - logits![m * V + v]!));
      }
    }
    await model.dispose();
    expect(worst).toBeLessThan(1e-4);
  });
});
