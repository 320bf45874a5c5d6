/**
 * Batched reply generation for the evaluator, the way the server generates a turn: the same inference
 * engine (worker, continuous batching, prefix cache), the same per-NPC action-grammar constraint and token
 * budgets — taken from the server's own `NpcDialogue.compiled(script)`, not rebuilt here — and the sample's
 * prompt rendered with the model's chat template. Many requests are in flight at once; every wait is
 * bounded by a per-request timeout.
 */
import { createHash } from 'node:crypto';
import type { InferenceEngine } from '../../server/src/inference/engine/engine-client.ts';
import { EngineError } from '../../server/src/inference/engine/errors.ts';
import type { ModelText } from '../../server/src/inference/model/index.ts';
import { NpcDialogue, type DialogueDeps, type DialogueSettings } from '../../server/src/npc/dialogue.ts';
import type { WorldFacts } from '../../server/src/npc/prompt.ts';
import { samplingOverrides, type NpcScript } from '../../server/src/npc/script-schema.ts';
import type { WorldSample } from '../corpus/sample.ts';
import { renderPrompt } from '../../server/src/inference/model/index.ts';
import { DEFAULT_LORE_GROUNDING } from '../../server/src/npc/lore-grounding.ts';
import { DEFAULT_ACTION_MEMORY, type ActionMemory } from '../../server/src/npc/action-memory.ts';
import { DEFAULT_CALL_GROUNDING } from '../../server/src/npc/call-grounding.ts';

/** The server's dialogue settings that shape a turn's budgets (npc-system.ts uses 48 speech tokens). */
export const SERVER_DIALOGUE_SETTINGS: DialogueSettings = {
  memoryBudgetTokens: 0,
  loreFacts: 0,
  firstTokenDeadlineMs: 0,
  defaultMaxSpeechTokens: 48,
  loreGrounding: DEFAULT_LORE_GROUNDING,
  actionMemory: DEFAULT_ACTION_MEMORY,
  callGrounding: DEFAULT_CALL_GROUNDING,
};

export type Decoding = 'greedy' | 'script';

/**
 * The server's compiled per-script turn artifacts (grammar constraint, token budgets). `NpcDialogue`
 * compiles them from the model text, world facts and settings only; the rest of its dependencies are
 * never touched by `compiled()`, and any access to them fails loudly here.
 */
export function dialogueCompiler(text: ModelText, world: WorldFacts, settings: DialogueSettings = SERVER_DIALOGUE_SETTINGS, actionMemory?: ActionMemory): NpcDialogue {
  const deps = { text, world, settings, ...(actionMemory ? { actionMemory } : {}) } as Record<string, unknown>;
  for (const key of ['engine', 'modelId', 'modelHash', 'store', 'memory', 'moderator', 'log'] as const) {
    Object.defineProperty(deps, key, {
      get() {
        throw new Error(`eval: the dialogue compiler has no ${key}`);
      },
    });
  }
  return new NpcDialogue(deps as unknown as DialogueDeps);
}

/** A seed per sample that depends only on the run seed and the sample id (not on order or --limit). */
export function sampleSeed(seed: number, id: string): number {
  return (createHash('sha256').update(`${seed}\0${id}`).digest().readUInt32BE(0) >>> 1) % 2 ** 31;
}

export interface GeneratedReply {
  id: string;
  text?: string;
  finishReason?: string;
  tokens?: number;
  error?: string;
}

export interface GenerateRepliesOptions {
  engine: InferenceEngine;
  text: ModelText;
  world: WorldFacts;
  scripts: ReadonlyMap<string, NpcScript>;
  decoding: Decoding;
  /** NPC_LORE_GROUNDING for the replies (default: the server's default). */
  loreGrounding?: number;
  /** The model's action memory (its action-memory.json), and NPC_ACTION_MEMORY for the replies (default: the server's default). */
  memory?: ActionMemory;
  actionMemory?: number;
  /** NPC_CALL_GROUNDING for the replies (default: on, as the server). */
  callGrounding?: boolean;
  seed: number;
  /** Requests submitted at once (the engine batches them). */
  maxInFlight: number;
  /** A request not done within this many ms of submission is aborted and counted as an error. */
  requestTimeoutMs: number;
  signal?: AbortSignal;
  onProgress?: (done: number, total: number) => void;
}

const RETRIES = 3;

export async function generateReplies(samples: readonly WorldSample[], options: GenerateRepliesOptions): Promise<GeneratedReply[]> {
  const compiler = dialogueCompiler(
    options.text,
    options.world,
    { ...SERVER_DIALOGUE_SETTINGS, loreGrounding: options.loreGrounding ?? DEFAULT_LORE_GROUNDING, actionMemory: options.actionMemory ?? DEFAULT_ACTION_MEMORY, callGrounding: options.callGrounding ?? DEFAULT_CALL_GROUNDING },
    options.memory,
  );
  const results: GeneratedReply[] = new Array(samples.length);
  let next = 0;
  let done = 0;

  const runOne = async (sample: WorldSample): Promise<GeneratedReply> => {
    const script = options.scripts.get(sample.npcId);
    if (!script) return { id: sample.id, error: `no script for NPC "${sample.npcId}"` };
    const compiled = compiler.compiled(script);
    const { prompt, sharedPrefix } = renderPrompt(options.text, sample.messages);
    // The server's grammar for the player's line: lore grounding (NPC_LORE_GROUNDING) and call prior (NPC_ACTION_MEMORY).
    const grounded = compiler.turnGrammar(script, sample.player);
    const overrides = samplingOverrides(script);
    const sampling =
      options.decoding === 'greedy'
        ? { temperature: 0, ...(overrides.repetitionPenalty !== undefined ? { repetitionPenalty: overrides.repetitionPenalty } : {}) }
        : {
            ...(overrides.temperature !== undefined ? { temperature: overrides.temperature } : {}),
            ...(overrides.topP !== undefined ? { topP: overrides.topP } : {}),
            ...(overrides.topK !== undefined ? { topK: overrides.topK } : {}),
            ...(overrides.repetitionPenalty !== undefined ? { repetitionPenalty: overrides.repetitionPenalty } : {}),
          };
    for (let attempt = 0; ; attempt++) {
      const signal = AbortSignal.any([AbortSignal.timeout(options.requestTimeoutMs), ...(options.signal ? [options.signal] : [])]);
      try {
        const result = await options.engine.generate({
          prompt,
          ...(sharedPrefix ? { sharedPrefix } : {}),
          maxTokens: compiled.maxTokens,
          ...sampling,
          seed: sampleSeed(options.seed, sample.id),
          priority: 'interactive',
          constraint: grounded.constraint,
          signal,
        }).result;
        return { id: sample.id, text: result.text, finishReason: result.finishReason, tokens: result.tokens.length };
      } catch (error) {
        options.signal?.throwIfAborted();
        if (error instanceof EngineError && error.retryable && attempt < RETRIES) {
          await new Promise((r) => setTimeout(r, 250 * (attempt + 1)));
          continue;
        }
        const timedOut = error instanceof EngineError && error.code === 'aborted';
        return { id: sample.id, error: timedOut ? `no reply within ${options.requestTimeoutMs} ms` : error instanceof Error ? error.message : String(error) };
      }
    }
  };

  const lane = async () => {
    while (next < samples.length) {
      const index = next++;
      results[index] = await runOne(samples[index]!);
      options.onProgress?.(++done, samples.length);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(options.maxInFlight, samples.length)) }, lane));
  return results;
}
