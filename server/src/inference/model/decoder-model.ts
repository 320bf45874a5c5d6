/**
 * A loaded decoder: the onnxruntime session, its I/O description, tokenizer, chat template and the
 * model's token ids and limits — plus one forward step over a batch, the primitive that both single-sequence
 * generation and the batching scheduler build on.
 */
import { Tensor, type InferenceSession } from 'onnxruntime-node';
import type { ChatMessage, ChatTemplate, TextTokenizer } from '../tokenizer/index.ts';
import { renderChat } from './model-text.ts';
import { halfArrayToFloat32 } from './float16.ts';
import { emptyKvCache, type KvCache } from './kv-cache.ts';
import type { GenerationDefaults, ModelSpec } from './model-spec.ts';
import type { DecoderIo } from './session-io.ts';

export interface SpecialTokenIds {
  bos?: number;
  /** Any of these ends a reply. Never empty. */
  eos: number[];
  pad: number;
}

/** One forward step over a batch of B rows, each adding S new tokens after P cached slots. */
export interface DecoderStepInput {
  batchSize: number;
  /** [B, S] */
  inputIds: BigInt64Array;
  /** [B, P + S]; 0 marks a padded slot anywhere in the row (left padding, holes), 1 a real token. */
  attentionMask: BigInt64Array;
  /** [B, S]; ignored when the graph computes positions itself. */
  positionIds: BigInt64Array;
  past: KvCache;
}

export interface DecoderStepOutput {
  /** [B, S, vocabSize] as float32 (converted when the graph emits float16). */
  logits: Float32Array;
  sequenceLength: number;
  vocabSize: number;
  present: KvCache;
}

export class DecoderModel {
  constructor(
    readonly spec: ModelSpec,
    readonly session: InferenceSession,
    readonly io: DecoderIo,
    readonly tokenizer: TextTokenizer,
    readonly chatTemplate: ChatTemplate | undefined,
    readonly specialTokens: SpecialTokenIds,
    /** Width of the logits the graph produces. */
    readonly vocabSize: number,
    /**
     * Ids below this have a token in the tokenizer. A model whose embedding table is larger than its
     * tokenizer (padded vocabularies, or the builder's big-vocab presets) must never emit ids at or above it.
     */
    readonly usableVocabSize: number,
  ) {}

  get dir(): string {
    return this.spec.dir;
  }

  get contextLength(): number {
    return this.spec.contextLength;
  }

  get generationDefaults(): GenerationDefaults {
    return this.spec.generationDefaults;
  }

  get numLayers(): number {
    return this.io.layers.length;
  }

  isEos(id: number): boolean {
    return this.specialTokens.eos.includes(id);
  }

  /** Renders a conversation with the model's chat template; special-token text in contents is escaped. */
  renderChat(messages: readonly ChatMessage[], options: { addGenerationPrompt?: boolean } = {}): string {
    return renderChat(this, messages, options);
  }

  /** Token ids of a rendered conversation, ready to prefill. */
  encodeChat(messages: readonly ChatMessage[]): number[] {
    return this.tokenizer.encode(this.renderChat(messages));
  }

  emptyCache(batchSize: number): KvCache {
    return emptyKvCache(
      { layers: this.numLayers, kvHeads: this.io.kvHeads, headDim: this.io.headDim, dtype: this.io.kvDtype },
      batchSize,
    );
  }

  async step(input: DecoderStepInput): Promise<DecoderStepOutput> {
    const { batchSize, past } = input;
    const sequenceLength = input.inputIds.length / batchSize;
    const totalLength = past.length + sequenceLength;
    if (!Number.isInteger(sequenceLength) || input.attentionMask.length !== batchSize * totalLength) {
      throw new RangeError(
        `step: input_ids has ${input.inputIds.length} ids and attention_mask ${input.attentionMask.length} slots for batch ${batchSize} with ${past.length} cached`,
      );
    }
    const feeds: Record<string, Tensor> = {
      [this.io.inputIds]: new Tensor('int64', input.inputIds, [batchSize, sequenceLength]),
      [this.io.attentionMask]: new Tensor('int64', input.attentionMask, [batchSize, totalLength]),
    };
    if (this.io.positionIds) feeds[this.io.positionIds] = new Tensor('int64', input.positionIds, [batchSize, sequenceLength]);
    if (this.io.useCacheBranch) feeds[this.io.useCacheBranch] = new Tensor('bool', new Uint8Array([past.length > 0 ? 1 : 0]), [1]);
    this.io.layers.forEach((layer, index) => {
      feeds[layer.pastKey] = past.keys[index]!;
      feeds[layer.pastValue] = past.values[index]!;
    });

    const outputs = await this.session.run(feeds);
    const logitsTensor = outputs[this.io.logits]!;
    const logits =
      logitsTensor.type === 'float16'
        ? halfArrayToFloat32(logitsTensor.data as Uint16Array)
        : (logitsTensor.data as Float32Array);
    return {
      logits,
      sequenceLength,
      vocabSize: logitsTensor.dims[2]!,
      present: {
        batchSize,
        length: totalLength,
        keys: this.io.layers.map((layer) => outputs[layer.presentKey]!),
        values: this.io.layers.map((layer) => outputs[layer.presentValue]!),
      },
    };
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }
}
