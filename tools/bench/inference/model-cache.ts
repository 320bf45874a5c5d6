/**
 * Builds the benchmark model once and reuses it: `.cache/bench-models/<preset>-seed<seed>/` in the repo
 * (gitignored), marked complete only after the builder finished, so an interrupted build is redone.
 */
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { buildModelDirectory } from '../../model-builder/build-model-dir.ts';
import { PRESETS, isPresetName } from '../../model-builder/presets.ts';
import { quantizeModelDirectory, type QuantizationMethod, type QuantizedModel } from '../../quantize/quantize-model.ts';

const MARKER = '.bench-complete';

export function benchCacheRoot(): string {
  return join(new URL('../../../', import.meta.url).pathname, '.cache');
}

export function ensureBenchModel(preset: string, seed = 0): { dir: string; built: boolean; parameterCount?: number } {
  if (!isPresetName(preset)) throw new Error(`unknown preset "${preset}" (known: ${Object.keys(PRESETS).join(', ')})`);
  const dir = join(benchCacheRoot(), 'bench-models', `${preset}-seed${seed}`);
  if (existsSync(join(dir, MARKER))) return { dir, built: false };
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const built = buildModelDirectory({ outDir: dir, architecture: PRESETS[preset], seed, presetName: preset });
  writeFileSync(join(dir, MARKER), `${built.parameterCount}\n`);
  return { dir, built: true, parameterCount: built.parameterCount };
}

/**
 * The int8 variant of a model directory, written afresh beside the bench models on every run
 * (`.cache/bench-models/<model dir name>-int8-<method>/`): seconds even for the 135M shape, and never stale.
 */
export function quantizedBenchModel(dir: string, method: QuantizationMethod): QuantizedModel {
  return quantizeModelDirectory({ modelDir: dir, outDir: join(benchCacheRoot(), 'bench-models', `${basename(resolve(dir))}-int8-${method}`), method });
}
