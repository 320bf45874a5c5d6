/**
 * The contract between the corpus builder, the trainer and the evaluator: one world-dialogue sample.
 *
 * A sample stores the chat *messages* built by the server's own prompt assembly (server/src/npc), not
 * rendered text: the trainer and the evaluator render them with the target model's chat template through
 * the server's `renderChat`, so a model always trains on exactly the text it is served with.
 */
import type { ChatMessage } from '../../server/src/inference/tokenizer/index.ts';
import type { NpcAction } from '../../server/src/npc/script-schema.ts';
import type { Situation } from '../../server/src/npc/situation.ts';

export const SAMPLE_KINDS = ['lore', 'greeting', 'smalltalk', 'schedule', 'action', 'refusal', 'injection', 'feedback', 'handwritten'] as const;
export type SampleKind = (typeof SAMPLE_KINDS)[number];

export const SPLITS = ['train', 'valid', 'test'] as const;
export type Split = (typeof SPLITS)[number];

export interface WorldSample {
  /** Stable id (same seed → same ids). */
  id: string;
  npcId: string;
  kind: SampleKind;
  split: Split;
  /** The player's line, as typed (already inside `messages` as the last user message). */
  player: string;
  /** The prompt: every message the server would send for this turn, ending with the player's line. */
  messages: ChatMessage[];
  /** What the NPC says (no action call). */
  speech: string;
  /** The action the reply starts with (null = [[none]]). */
  action: NpcAction | null;
  /** The assistant message content the model is trained to produce: `formatReply(speech, action)`: the call, then the speech. */
  reply: string;
  /** Lore samples: the fact the answer needs, and lower-case words whose presence in a reply shows it. */
  fact?: string;
  factKeywords?: string[];
  /** True when the sample's expected behaviour is a refusal / deflection (out-of-world or injection). */
  refusal?: boolean;
  /** Where the sample comes from: the world generator, or a hand-written line (assets/eval/handwritten.yaml). */
  source?: 'generated' | 'handwritten';
  /** Generated samples: the phrasing template of the player's line (the unit held out for valid/test). */
  template?: string;
  /**
   * Lore samples: whether the server's lore retrieval put `fact` into the prompt. Generated lore samples
   * always have it (lines whose fact is not retrieved are dropped); hand-written ones may not.
   */
  factInPrompt?: boolean;
  /**
   * What the NPC perceived in this turn (the data behind the prompt's situation block, rendered by the
   * server's `situationMessage` inside `turnMessages`): `messages` are re-derivable from it. Absent on
   * samples whose prompt has no situation block (feedback from turns logged before it existed).
   */
  situation?: Situation;
}

/** One JSON object per line. */
export function parseSamples(jsonl: string): WorldSample[] {
  return jsonl
    .split('\n')
    .filter((line) => line.trim())
    .map((line) => JSON.parse(line) as WorldSample);
}

export function serializeSamples(samples: readonly WorldSample[]): string {
  return samples.map((s) => JSON.stringify(s)).join('\n') + (samples.length ? '\n' : '');
}

/** Where `npm run corpus` writes its output (gitignored cache under data/). */
export const CORPUS_DIR = 'data/corpus';
export const GENERAL_DIR = `${CORPUS_DIR}/general`; // train.txt valid.txt test.txt manifest.json
export const WORLD_DIR = `${CORPUS_DIR}/world`; // train.jsonl valid.jsonl test.jsonl manifest.json
