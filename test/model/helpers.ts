/** Shared fixtures for the model-layer tests: tiny models built on the spot in a temp dir. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LlamaArchitectureInput } from '../../tools/model-builder/architecture.ts';
import { buildModelDirectory, type BuiltModel } from '../../tools/model-builder/build-model-dir.ts';
import { PRESETS } from '../../tools/model-builder/presets.ts';
import type { DecoderModel, DecoderStepOutput } from '../../server/src/inference/model/index.ts';

const directories: string[] = [];

export function tempDir(label: string): string {
  const dir = mkdtempSync(join(tmpdir(), `worldmind-${label}-`));
  directories.push(dir);
  return dir;
}

export function removeTempDirs(): void {
  for (const dir of directories.splice(0)) rmSync(dir, { recursive: true, force: true });
}

export function buildTinyModel(overrides: Partial<LlamaArchitectureInput> = {}, seed = 7): BuiltModel {
  return buildModelDirectory({
    outDir: tempDir('tiny'),
    architecture: { ...PRESETS.tiny, ...overrides },
    seed,
    presetName: 'tiny',
  });
}

/** Runs the whole sequence in one step with no cache: the reference the cached path must match. */
export async function fullSequence(model: DecoderModel, ids: readonly number[]): Promise<DecoderStepOutput> {
  return model.step({
    batchSize: 1,
    inputIds: BigInt64Array.from(ids, BigInt),
    attentionMask: new BigInt64Array(ids.length).fill(1n),
    positionIds: BigInt64Array.from(ids, (_, i) => BigInt(i)),
    past: model.emptyCache(1),
  });
}

/** Logits row `position` of a [1, S, V] (or row `batch` of [B, S, V]) step output. */
export function logitsRow(output: DecoderStepOutput, position: number, batch = 0): Float32Array {
  const offset = (batch * output.sequenceLength + position) * output.vocabSize;
  return output.logits.subarray(offset, offset + output.vocabSize);
}

export function maxAbsDifference(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}

export function argmax(row: Float32Array): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i]! > row[best]!) best = i;
  return best;
}
