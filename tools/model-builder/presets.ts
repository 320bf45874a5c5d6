/** Named architectures. `tiny` is for tests (well under 1 MB); `smollm2-135m-shape` matches the size class
 *  studios ship for NPCs and is only ever generated on demand. */
import { readFileSync } from 'node:fs';
import type { LlamaArchitectureInput } from './architecture.ts';
import { parseArchitecture } from './build-model-dir.ts';

export const PRESETS = {
  tiny: {
    vocabSize: 320,
    hiddenSize: 64,
    numLayers: 2,
    numAttentionHeads: 4,
    numKeyValueHeads: 2,
    intermediateSize: 128,
    maxPositionEmbeddings: 256,
    tieWordEmbeddings: true,
  },
  small: {
    vocabSize: 1024,
    hiddenSize: 256,
    numLayers: 4,
    numAttentionHeads: 8,
    numKeyValueHeads: 4,
    intermediateSize: 704,
    maxPositionEmbeddings: 1024,
    tieWordEmbeddings: true,
  },
  'smollm2-135m-shape': {
    vocabSize: 49152,
    hiddenSize: 576,
    numLayers: 30,
    numAttentionHeads: 9,
    numKeyValueHeads: 3,
    intermediateSize: 1536,
    maxPositionEmbeddings: 8192,
    ropeTheta: 100_000,
    tieWordEmbeddings: true,
  },
} satisfies Record<string, LlamaArchitectureInput>;

export type PresetName = keyof typeof PRESETS;

export function isPresetName(name: string): name is PresetName {
  return Object.hasOwn(PRESETS, name);
}

/**
 * An architecture file (`--config <arch.json>` of `train` and `train:default`): builder fields
 * (`hiddenSize`, `numLayers`, …) over an optional `preset` (default: `base`), checked by the builder's
 * schema so a typo fails before any training starts.
 */
export function readArchitectureFile(path: string, base: LlamaArchitectureInput = {} as LlamaArchitectureInput): LlamaArchitectureInput {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new Error(`${path}: ${(error as Error).message}`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new Error(`${path}: expected a JSON object of architecture fields`);
  const { preset, ...fields } = json as Record<string, unknown> & { preset?: unknown };
  if (preset !== undefined && (typeof preset !== 'string' || !isPresetName(preset))) throw new Error(`${path}: unknown preset ${JSON.stringify(preset)} (one of ${Object.keys(PRESETS).join(', ')})`);
  const architecture = { ...(preset ? PRESETS[preset as PresetName] : base), ...fields } as LlamaArchitectureInput;
  try {
    parseArchitecture(architecture);
  } catch (error) {
    throw new Error(`${path}: ${(error as Error).message}`);
  }
  return architecture;
}
