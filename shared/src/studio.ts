/**
 * The designer view's HTTP API (`/studio/api/*`): the JSON shapes the server answers and the /studio
 * page reads — one definition for both ends.
 */

/** GET /studio/api/npcs: an NPC with a valid script. */
export interface StudioNpc {
  id: string;
  name: string;
  role: string;
  /** Lore facts in its script. */
  lore: number;
  /** The action calls its grammar allows. */
  calls: string[];
}

/** GET /studio/api/turns: one logged turn, newest first. */
export interface StudioTurnSummary {
  turnId: string;
  npcId: string;
  playerId: string;
  createdAt: number;
  playerLine: string;
  speech: string;
  call: string | null;
  finishReason: string;
}

export interface StudioTurnTimings {
  ttftMs: number | null;
  durationMs: number;
  tokens: number;
  tokensPerSecond: number | null;
}

/** GET /studio/api/turns/:id and POST /studio/api/talk: a turn, explained. */
export interface StudioTurn {
  turnId: string;
  npcId: string;
  npcName: string;
  playerId: string;
  createdAt: number;
  seed: number;
  model: { id: string; hash: string };
  sampling: Record<string, unknown>;
  finishReason: string;
  prompt: {
    persona: string;
    /** Lore facts: those in the prompt first (as retrieved), then the best ones left out. Scores are
     *  BM25 against the NPC's current script (null: the fact is no longer in the script). */
    lore: { text: string; score: number | null; inPrompt: boolean }[];
    /** What the NPC perceived (time, activity, who is near, recent events); '' when the turn had none. */
    situation: string;
    memory: { role: string; text: string }[];
    playerLine: string;
    rendered: string;
  };
  output: { raw: string; speech: string; call: string | null; action: unknown };
  /** The calls the decode-time grammar allowed (the action's alternatives), and the one chosen. */
  grammar: {
    alternatives: string[];
    chosen: string | null;
    maxSpeechTokens: number | null;
    /** The lore fact (`fact` ≥ 0, its position in the script's lore) or schedule entry (`fact` -1) the speech was nudged towards (NPC_LORE_GROUNDING), in the NPC's words, and how hard; null: none. */
    grounding: { fact: number; text: string; bias: number; continuation: number } | null;
    /** The call prior recalled from the model's action memory (NPC_ACTION_MEMORY): nats per log-share and each call's weight; null: none. */
    callPrior: { strength: number; weights: Record<string, number> } | null;
  };
  timings: StudioTurnTimings | null;
}

/** POST /studio/api/turns/:id/replay: the logged turn run again against the current script. */
export interface StudioReplay {
  turnId: string;
  seed: number;
  personaChanged: boolean;
  grammarChanged: boolean;
  alternatives: string[];
  logged: string;
  replayed: string;
  identical: boolean;
  speech: string;
  call: string | null;
  finishReason: string;
  durationMs: number;
}
