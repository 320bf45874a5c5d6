/**
 * The model-format contract shared by the serving code (loader) and the tools that write models (builder,
 * trainer). See "Model format" in DESIGN.md: the Hugging Face / Optimum / transformers.js layout, plus the
 * onnxruntime-genai layout. Only names and file schemas live here — no I/O.
 */
import { z } from 'zod';

/** File names of the Hugging Face / Optimum / transformers.js layout, relative to the model directory. */
export const HF_LAYOUT = {
  config: 'config.json',
  generationConfig: 'generation_config.json',
  tokenizer: 'tokenizer.json',
  tokenizerConfig: 'tokenizer_config.json',
  /** Newer transformers releases store the chat template beside tokenizer_config.json. */
  chatTemplateFile: 'chat_template.jinja',
  onnxDir: 'onnx',
  /** Candidates in order of preference: Optimum writes `model.onnx`, older merged exports the second name. */
  onnxCandidates: ['onnx/model.onnx', 'onnx/decoder_model_merged.onnx'],
} as const;

/** onnxruntime-genai keeps its config and the ONNX file side by side in the model directory. */
export const GENAI_LAYOUT = { config: 'genai_config.json' } as const;

/** Weights file beside `model.onnx`; `<model file>_data` is the name Optimum and transformers.js look for. */
export function externalDataFileName(onnxFileName: string): string {
  return `${onnxFileName}_data`;
}

/** The graph's input/output names as the HF/Optimum convention spells them. */
export const STANDARD_IO_NAMES: GraphIoNames = {
  inputIds: 'input_ids',
  attentionMask: 'attention_mask',
  positionIds: 'position_ids',
  logits: 'logits',
  pastKey: (layer) => `past_key_values.${layer}.key`,
  pastValue: (layer) => `past_key_values.${layer}.value`,
  presentKey: (layer) => `present.${layer}.key`,
  presentValue: (layer) => `present.${layer}.value`,
};

export interface GraphIoNames {
  inputIds: string;
  attentionMask: string;
  positionIds: string;
  logits: string;
  pastKey: (layer: number) => string;
  pastValue: (layer: number) => string;
  presentKey: (layer: number) => string;
  presentValue: (layer: number) => string;
}

/** Symbolic dimension names written by the builder (Optimum's spelling, which transformers.js resolves). */
export const DIM = {
  batch: 'batch_size',
  sequence: 'sequence_length',
  past: 'past_sequence_length',
  total: 'total_sequence_length',
} as const;

const tokenIds = z.union([z.number().int().nonnegative(), z.array(z.number().int().nonnegative())]);

/** config.json: only the fields the server reads; everything else passes through untouched. */
export const HfConfigSchema = z.looseObject({
  model_type: z.string().min(1),
  architectures: z.array(z.string()).optional(),
  hidden_size: z.number().int().positive().optional(),
  num_hidden_layers: z.number().int().positive().optional(),
  num_attention_heads: z.number().int().positive().optional(),
  num_key_value_heads: z.number().int().positive().optional(),
  head_dim: z.number().int().positive().optional(),
  vocab_size: z.number().int().positive().optional(),
  max_position_embeddings: z.number().int().positive().optional(),
  bos_token_id: tokenIds.nullish(),
  eos_token_id: tokenIds.nullish(),
  pad_token_id: tokenIds.nullish(),
});
export type HfConfig = z.infer<typeof HfConfigSchema>;

/** generation_config.json: decoding defaults the model's authors recommend. */
export const GenerationConfigSchema = z.looseObject({
  bos_token_id: tokenIds.nullish(),
  eos_token_id: tokenIds.nullish(),
  pad_token_id: tokenIds.nullish(),
  do_sample: z.boolean().optional(),
  temperature: z.number().nonnegative().optional(),
  top_k: z.number().int().nonnegative().optional(),
  top_p: z.number().positive().max(1).optional(),
  repetition_penalty: z.number().positive().optional(),
  max_new_tokens: z.number().int().positive().optional(),
});
export type GenerationConfig = z.infer<typeof GenerationConfigSchema>;

/** A special token is written either as its text or as an AddedToken object. */
const specialToken = z.union([z.string(), z.looseObject({ content: z.string() })]).nullish();

export const TokenizerConfigSchema = z.looseObject({
  chat_template: z.union([z.string(), z.array(z.looseObject({ name: z.string(), template: z.string() }))]).optional(),
  bos_token: specialToken,
  eos_token: specialToken,
  pad_token: specialToken,
  unk_token: specialToken,
  model_max_length: z.number().optional(),
});
export type TokenizerConfig = z.infer<typeof TokenizerConfigSchema>;

/** genai_config.json (onnxruntime-genai): names the decoder file and its I/O, with `%d` for the layer. */
export const GenaiConfigSchema = z.looseObject({
  model: z.looseObject({
    type: z.string().min(1),
    context_length: z.number().int().positive(),
    vocab_size: z.number().int().positive().optional(),
    bos_token_id: tokenIds.nullish(),
    eos_token_id: tokenIds,
    pad_token_id: tokenIds.nullish(),
    decoder: z.looseObject({
      filename: z.string().min(1),
      num_hidden_layers: z.number().int().positive().optional(),
      num_key_value_heads: z.number().int().positive().optional(),
      num_attention_heads: z.number().int().positive().optional(),
      head_size: z.number().int().positive().optional(),
      hidden_size: z.number().int().positive().optional(),
      inputs: z.looseObject({
        input_ids: z.string().default('input_ids'),
        attention_mask: z.string().default('attention_mask'),
        position_ids: z.string().default('position_ids'),
        past_key_names: z.string().default('past_key_values.%d.key'),
        past_value_names: z.string().default('past_key_values.%d.value'),
      }),
      outputs: z.looseObject({
        logits: z.string().default('logits'),
        present_key_names: z.string().default('present.%d.key'),
        present_value_names: z.string().default('present.%d.value'),
      }),
    }),
  }),
  search: z
    .looseObject({
      do_sample: z.boolean().optional(),
      temperature: z.number().nonnegative().optional(),
      top_k: z.number().int().nonnegative().optional(),
      top_p: z.number().positive().max(1).optional(),
      repetition_penalty: z.number().positive().optional(),
      max_length: z.number().int().positive().optional(),
    })
    .optional(),
});
export type GenaiConfig = z.infer<typeof GenaiConfigSchema>;

/** Names in genai_config.json use `%d` for the layer index. */
export function layerNamePattern(pattern: string): (layer: number) => string {
  return (layer) => pattern.replace('%d', String(layer));
}
