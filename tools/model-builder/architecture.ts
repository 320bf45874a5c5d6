/**
 * The shape of a Llama-architecture decoder the builder writes, validated with zod so the config-file form
 * (`--config file.json`) reports bad fields clearly. Field names follow HF's LlamaConfig in camelCase.
 */
import { z } from 'zod';

export const KvDtypeSchema = z.enum(['float32', 'float16']);

export const LlamaArchitectureSchema = z
  .object({
    vocabSize: z.number().int().positive(),
    hiddenSize: z.number().int().positive(),
    numLayers: z.number().int().positive(),
    numAttentionHeads: z.number().int().positive(),
    numKeyValueHeads: z.number().int().positive(),
    intermediateSize: z.number().int().positive(),
    /** Defaults to hiddenSize / numAttentionHeads. */
    headDim: z.number().int().positive().optional(),
    maxPositionEmbeddings: z.number().int().positive(),
    ropeTheta: z.number().positive().default(10_000),
    rmsNormEps: z.number().positive().default(1e-5),
    tieWordEmbeddings: z.boolean().default(true),
    kvDtype: KvDtypeSchema.default('float32'),
    /** Standard deviation of the seeded random weights (HF's initializer_range). */
    initializerRange: z.number().positive().default(0.02),
  })
  .superRefine((arch, ctx) => {
    if (arch.numAttentionHeads % arch.numKeyValueHeads !== 0) {
      ctx.addIssue({ code: 'custom', path: ['numKeyValueHeads'], message: 'must divide numAttentionHeads' });
    }
    const headDim = arch.headDim ?? arch.hiddenSize / arch.numAttentionHeads;
    if (!Number.isInteger(headDim) || headDim % 2 !== 0) {
      ctx.addIssue({ code: 'custom', path: ['headDim'], message: 'head size must be an even integer (RoPE rotates pairs)' });
    }
  });

export type LlamaArchitecture = z.output<typeof LlamaArchitectureSchema>;
export type LlamaArchitectureInput = z.input<typeof LlamaArchitectureSchema>;

export function headDimOf(arch: LlamaArchitecture): number {
  return arch.headDim ?? arch.hiddenSize / arch.numAttentionHeads;
}
