/** Per-request decoding settings, validated at the edge (CLI flags, NPC scripts, API requests). */
import { z } from 'zod';

export const SamplingParamsSchema = z.object({
  /** 0 means greedy (argmax). */
  temperature: z.number().min(0).default(1),
  /** Keep only the k most likely tokens; 0 turns it off. */
  topK: z.number().int().min(0).default(0),
  /** Keep the smallest set of tokens whose probability reaches p; 1 turns it off. */
  topP: z.number().gt(0).max(1).default(1),
  /** HF/CTRL repetition penalty over the prompt and reply so far; 1 turns it off. */
  repetitionPenalty: z.number().gt(0).default(1),
  /** Same seed, same logits → same tokens. */
  seed: z.number().int().min(0).optional(),
});

export type SamplingParams = z.output<typeof SamplingParamsSchema>;
export type SamplingParamsInput = z.input<typeof SamplingParamsSchema>;

export const StopParamsSchema = z.object({
  /** Most tokens to generate (the reply, not counting the prompt). */
  maxTokens: z.number().int().positive().default(256),
  /** Text that ends the reply; it is not included in the output. */
  stop: z.array(z.string().min(1)).default([]),
});

export type StopParams = z.output<typeof StopParamsSchema>;
export type StopParamsInput = z.input<typeof StopParamsSchema>;
