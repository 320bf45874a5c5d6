/** Named architectures. `tiny` is for tests (well under 1 MB); `smollm2-135m-shape` matches the size class
 *  studios ship for NPCs and is only ever generated on demand. */
import type { LlamaArchitectureInput } from './architecture.ts';

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
