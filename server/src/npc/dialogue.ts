/**
 * NPC brains: one conversation turn from a player's line to a streamed, moderated reply and a legal
 * action. Builds the prompt (prompt.ts), constrains decoding to the NPC's legal calls
 * (action-grammar.ts), submits it to the inference engine, and falls back to a scripted line whenever
 * the engine cannot answer in time, so a player never gets silence. Every turn is logged with what it
 * takes to replay it bit for bit.
 */
import { randomInt } from 'node:crypto';
import type { GenerationEngine } from '../inference/engine/engine-api.ts';
import { EngineError } from '../inference/engine/errors.ts';
import type { ConstraintSpec } from '../inference/engine/constraint-spec.ts';
import { renderChat, type ModelText } from '../inference/model/index.ts';
import type { ChatMessage } from '../inference/tokenizer/index.ts';
import type { Logger } from '../observability/logger.ts';
import type { WorldStore } from '../persistence/store.ts';
import { compileCallGrammar, legalCallBodies, priorConstraint } from './action-grammar.ts';
import { actionGate, hasGates } from './trust.ts';
import { actionBody, formatReply, parseReply } from './action-syntax.ts';
import { createLoreIndex, type LoreIndex } from './lore-index.ts';
import { rewritePerson } from './english.ts';
import { DEFAULT_ACTION_MEMORY, type ActionMemory, type ActionRecall, type CallPriorRecord } from './action-memory.ts';
import { DEFAULT_LORE_GROUNDING, groundConstraint, loreGrounding, type GroundingRecord } from './lore-grounding.ts';
import { scheduleGrounding, scheduleSentences, type ScheduleSentences } from './schedule-grounding.ts';
import type { ConversationMemory } from './memory.ts';
import type { Moderator } from './moderation.ts';
import { personaMessage, turnMessages, type WorldFacts } from './prompt.ts';
import { isActionAllowed, samplingOverrides, type NpcAction, type NpcScript } from './script-schema.ts';
import { withGroupLines, type HeardLine } from './group-prompt.ts';
import { DEFAULT_SITUATION_TOKENS, type Situation, type SituationBudget } from './situation.ts';
import { SpeechStream } from './speech-stream.ts';
import { DEFAULT_CALL_GROUNDING, groundedCallPrior, npcGazetteer, type WorldGazetteer } from './call-grounding.ts';

export interface DialogueSettings {
  /** Tokens of conversation history recalled into a prompt. */
  memoryBudgetTokens: number;
  /** Lore facts retrieved per line. */
  loreFacts: number;
  /** A reply whose first token is not out within this many ms becomes a fallback line. */
  firstTokenDeadlineMs: number;
  /** Longest speech in tokens when the script does not say (the action call comes on top). */
  defaultMaxSpeechTokens: number;
  /** Most tokens of the situation block (NPC_SITUATION_TOKENS); default DEFAULT_SITUATION_TOKENS. */
  situationTokens?: number;
  /** 'sample': the action call at the script's temperature (NPC_ACTION_DECODING); default greedy. */
  actionDecoding?: 'greedy' | 'sample';
  /** Nats of lore grounding (NPC_LORE_GROUNDING, lore-grounding.ts); default DEFAULT_LORE_GROUNDING, 0 = off. */
  loreGrounding?: number;
  /** Strength of the action memory's call prior (NPC_ACTION_MEMORY, action-memory.ts); default DEFAULT_ACTION_MEMORY, 0 = off. */
  actionMemory?: number;
  /** Ground the call prior's places and items on the names in the player's line (NPC_CALL_GROUNDING, call-grounding.ts); default DEFAULT_CALL_GROUNDING. */
  callGrounding?: boolean;
}

export interface DialogueDeps {
  /** The in-process engine or a remote one (INFERENCE_URL): the same interface. */
  engine: GenerationEngine;
  text: ModelText;
  modelId: string;
  modelHash: string;
  world: WorldFacts;
  store: WorldStore;
  memory: ConversationMemory;
  moderator: Moderator;
  log: Logger;
  settings: DialogueSettings;
  /** The model's action memory (its `action-memory.json`), when it has one. */
  actionMemory?: ActionMemory;
  /** Called for each reply whose action was not legal for its NPC (kept for metrics). */
  onIllegalAction?: (npcId: string, body: string | null) => void;
}

export type TurnFinishReason = 'stop' | 'length' | 'fallback' | 'cancelled' | 'error';

export interface GrammarRecord {
  bodies: string[];
  maxSpeechTokens: number;
  minSpeechTokens: number;
  /**
   * The NPC's trust in the player when the script gates actions on trust (the bodies are those open at
   * it); absent for scripts without gates, whose grammar is the same for every player.
   */
  trust?: number;
  /** An NPC-to-NPC line (no action possible): replays keep these bodies whatever the script lists now. */
  ambient?: true;
  /** The call was sampled at the turn's temperature (NPC_ACTION_DECODING=sample), not decided greedily. */
  sampleCall?: true;
  /** The lore fact the speech was nudged towards, and how hard (lore-grounding.ts). */
  grounding?: GroundingRecord;
  /** The call prior recalled from the model's action memory (action-memory.ts). */
  callPrior?: CallPriorRecord;
}

export interface TurnRequest {
  script: NpcScript;
  /** The player's account id (memory and turn log key). */
  playerId: string;
  text: string;
  /** What the NPC perceives now (rendered into the prompt after the persona; see situation.ts). */
  situation?: Situation;
  /**
   * The NPC's trust in the player (npc/trust.ts); default 0. Decides which calls the grammar offers when
   * the script gates actions on trust. (The prompt states it through `situation.trust`.)
   */
  trust?: number;
  signal?: AbortSignal;
  /** Fixed seed (replays, tests); random when absent. */
  seed?: number;
  /**
   * A group round (npc/group-conversation.ts): the other players' lines answered with this one, in the
   * order they were said; `text` is the addressed speaker's line and goes last. Each is remembered in its
   * own speaker's memory of the NPC. Absent or empty: the one-player prompt, byte for byte.
   */
  others?: readonly GroupTurnLine[];
  /** The room already ran `text` (and every line of `others`) through input moderation as it arrived. */
  moderated?: boolean;
}

/** Another player's line in a group round. */
export interface GroupTurnLine extends HeardLine {
  /** Their account id: their memory of the NPC gets the line and the reply. */
  playerId: string;
}

export interface AmbientTurnRequest {
  /** The NPC who speaks now. */
  script: NpcScript;
  /** The NPC it answers (its id: memory and the turn log key the pair by `npcPartnerId`). */
  partnerId: string;
  /** What the partner just said. */
  heard: string;
  situation?: Situation;
  /** Ambient turns wait behind players' turns: a generous deadline, and no fallback line when it passes. */
  firstTokenDeadlineMs: number;
  signal?: AbortSignal;
  seed?: number;
}

/**
 * The "player" id under which an NPC's talk with another NPC is remembered and logged. Account ids are
 * UUIDs, so no account can ever own it (nor rate, nor read, such a turn).
 */
export function npcPartnerId(npcId: string): string {
  return `npc:${npcId}`;
}

export interface TurnOutcome {
  turnId: string;
  /** What the NPC said (moderated). */
  speech: string;
  /** The legal action the reply ended with, or null. */
  action: NpcAction | null;
  finishReason: TurnFinishReason;
  /** ms from the start of the turn to the first released speech text. */
  ttftMs: number;
  tokens: number;
  /** ms from the start of the turn to its end. */
  durationMs: number;
}

export interface TurnHandle {
  turnId: string;
  /** Moderated speech text as it is generated. */
  chunks: AsyncIterable<string>;
  outcome: Promise<TurnOutcome>;
}

export class DialogueRefusal extends Error {
  override name = 'DialogueRefusal';
  constructor(readonly code: 'moderated', message: string) {
    super(message);
  }
}

/** Per-script artifacts, rebuilt only when a script object changes (hot reload swaps the object). */
interface CompiledScript {
  persona: ChatMessage;
  sharedPrefix: string;
  lore: LoreIndex;
  /** Each lore fact in the NPC's first person (what lore grounding nudges the speech towards). */
  loreFirstPerson: string[];
  /** The NPC's schedule as it would say it (schedule-grounding.ts), when it has one. */
  schedule: ScheduleSentences | undefined;
  constraint: ConstraintSpec;
  maxSpeechTokens: number;
  maxTokens: number;
  /** Everything the grammar was compiled from; logged with each turn so a replay rebuilds it exactly. */
  grammar: GrammarRecord;
  /** Scripts with trust gates: the grammar per set of open calls (a few at most: one per threshold). */
  gated: Map<string, { constraint: ConstraintSpec; grammar: GrammarRecord }>;
  /** What the NPC recalls from the model's action memory (none: no memory, or no line for this NPC). */
  recall?: ActionRecall;
  /** The names of the places and items this NPC's players may mention (call-grounding.ts). */
  gazetteer: WorldGazetteer;
  /** The grammar of NPC-to-NPC lines (`none` only), compiled on first use. */
  ambient?: { constraint: ConstraintSpec; grammar: GrammarRecord };
}

/** Tokens an action call may take on top of the speech (the longest legal call, plus slack). */
const CALL_TOKEN_ALLOWANCE = 2;

export interface FinishedTurn {
  npcId: string;
  playerId: string;
  outcome: TurnOutcome;
}

export class NpcDialogue {
  readonly #compiled = new WeakMap<NpcScript, CompiledScript>();
  #turnCounter = 0;
  /** Called with every finished turn (the designer view keeps their timings). */
  readonly observers = new Set<(turn: FinishedTurn) => void>();

  constructor(private readonly deps: DialogueDeps) {}

  /** The conversation memory: with several game processes, one drops an account's cached turns when it joins elsewhere. */
  get memory(): ConversationMemory {
    return this.deps.memory;
  }

  /**
   * A player's line through the input moderation: the text to use (possibly cleaned), or DialogueRefusal.
   * The room checks each line of a group conversation as it arrives, before it is gathered into a round.
   */
  async moderateLine(text: string): Promise<string> {
    const verdict = await this.deps.moderator.check(text, { direction: 'input' });
    if (!verdict.allowed) throw new DialogueRefusal('moderated', verdict.reason ?? 'that line was refused by the moderation filter');
    return verdict.cleaned ?? text;
  }

  /**
   * Starts a turn. Throws DialogueRefusal when the player's line is refused by moderation. With
   * `others` (a group round), their lines join the prompt before the player's (group-prompt.ts); a turn
   * without them builds exactly the one-player prompt.
   */
  async startTurn(request: TurnRequest): Promise<TurnHandle> {
    const { deps } = this;
    const playerLine = request.moderated ? request.text : await this.moderateLine(request.text);
    const compiled = this.#compile(request.script);
    // A script with trust gates has one grammar per set of open kinds: a gated call is not a legal
    // alternative for this player, so the model cannot produce it.
    const gated = this.#gatedGrammar(request.script, compiled, request.trust ?? 0);
    const recollection = await deps.memory.recall(request.playerId, request.script.id, deps.settings.memoryBudgetTokens);
    const assembled = withGroupLines(
      turnMessages({
        persona: compiled.persona,
        lore: compiled.lore,
        loreFacts: deps.settings.loreFacts,
        memory: recollection,
        playerLine,
        situation: request.situation,
        situationBudget: this.#situationBudget(),
      }),
      request.others ?? [],
    );
    const others = request.others ?? [];
    const grounded = this.#grounded(compiled, gated, playerLine);
    return this.#run({
      script: request.script,
      playerId: request.playerId,
      compiled,
      constraint: grounded.constraint,
      grammar: grounded.grammar,
      ...(gated.gate ? { gate: gated.gate } : {}),
      messages: assembled.messages,
      seed: request.seed,
      signal: request.signal,
      priority: 'interactive',
      firstTokenDeadlineMs: deps.settings.firstTokenDeadlineMs,
      fallback: true,
      // Each speaker of the round remembers their own line and the reply, in their own memory of the NPC.
      heard: [{ playerId: request.playerId, text: playerLine }, ...others.map((o) => ({ playerId: o.playerId, text: o.text }))],
    });
  }

  /**
   * One line of an ambient exchange between two NPCs (world/npc-ambient-talk.ts): the script's NPC answers
   * what `listener` just said to it, at the engine's ambient priority (it never delays a player's turn),
   * with no action (the grammar allows only `none`) and no fallback line: a turn the engine cannot run
   * ends the exchange with finish reason `error`, unlogged. The prompt is the one-player prompt with the
   * other NPC as the speaker; memory and the turn log key the pair by `npcPartnerId(listener)`.
   */
  async startAmbientTurn(request: AmbientTurnRequest): Promise<TurnHandle> {
    const { deps } = this;
    const compiled = this.#compile(request.script);
    const partner = npcPartnerId(request.partnerId);
    const recollection = await deps.memory.recall(partner, request.script.id, deps.settings.memoryBudgetTokens);
    const assembled = turnMessages({
      persona: compiled.persona,
      lore: compiled.lore,
      loreFacts: deps.settings.loreFacts,
      memory: recollection,
      playerLine: request.heard,
      situation: request.situation,
      situationBudget: this.#situationBudget(),
    });
    const ambient = this.#grounded(compiled, this.#ambientGrammar(compiled), request.heard);
    return this.#run({
      script: request.script,
      playerId: partner,
      compiled,
      constraint: ambient.constraint,
      grammar: ambient.grammar,
      messages: assembled.messages,
      seed: request.seed,
      signal: request.signal,
      priority: 'ambient',
      firstTokenDeadlineMs: request.firstTokenDeadlineMs,
      fallback: false,
      heard: [{ playerId: partner, text: request.heard }],
    });
  }

  #situationBudget(): SituationBudget {
    const { deps } = this;
    return { maxTokens: deps.settings.situationTokens ?? DEFAULT_SITUATION_TOKENS, countTokens: (t) => deps.text.tokenizer.encode(t).length };
  }

  /** Generates, streams and logs one turn from its assembled messages (player, group and ambient turns alike). */
  async #run(turn: {
    script: NpcScript;
    playerId: string;
    compiled: CompiledScript;
    constraint: ConstraintSpec;
    grammar: GrammarRecord;
    gate?: (kind: string) => boolean;
    messages: ChatMessage[];
    seed: number | undefined;
    signal: AbortSignal | undefined;
    priority: 'interactive' | 'ambient';
    firstTokenDeadlineMs: number;
    /** Say a scripted line when the engine cannot answer (player turns); otherwise end with `error`. */
    fallback: boolean;
    /** Lines this turn answers, by whose memory of the NPC they go into (with the reply after each). */
    heard: readonly { playerId: string; text: string }[];
  }): Promise<TurnHandle> {
    const { deps } = this;
    const { script, compiled } = turn;
    const prompt = renderChat(deps.text, turn.messages);
    const seed = turn.seed ?? randomInt(0, 2 ** 31 - 1);
    const overrides = samplingOverrides(script);
    const sampling = {
      temperature: overrides.temperature,
      topP: overrides.topP,
      topK: overrides.topK,
      repetitionPenalty: overrides.repetitionPenalty,
      maxTokens: compiled.maxTokens,
      seed,
      grammar: turn.grammar,
    };
    const turnId = `${Date.now().toString(36)}-${(++this.#turnCounter).toString(36)}-${randomInt(0, 36 ** 4).toString(36)}`;
    const startedAt = performance.now();
    const speech = new SpeechStream(deps.moderator);
    const queue = new ChunkQueue();
    const outcome = (async (): Promise<TurnOutcome> => {
      let firstAt = Number.NaN;
      const release = (text: string) => {
        if (!text) return;
        if (Number.isNaN(firstAt)) firstAt = performance.now();
        queue.push(text);
      };
      let finishReason: TurnFinishReason;
      let raw: string;
      let tokens = 0;
      let spoken = '';
      try {
        const generation = deps.engine.generate({
          prompt,
          ...(prompt.startsWith(compiled.sharedPrefix) ? { sharedPrefix: compiled.sharedPrefix } : {}),
          maxTokens: compiled.maxTokens,
          ...(sampling.temperature !== undefined ? { temperature: sampling.temperature } : {}),
          ...(sampling.topP !== undefined ? { topP: sampling.topP } : {}),
          ...(sampling.topK !== undefined ? { topK: sampling.topK } : {}),
          ...(sampling.repetitionPenalty !== undefined ? { repetitionPenalty: sampling.repetitionPenalty } : {}),
          seed,
          priority: turn.priority,
          firstTokenDeadlineMs: turn.firstTokenDeadlineMs,
          constraint: turn.constraint,
          ...(turn.signal ? { signal: turn.signal } : {}),
        });
        for await (const chunk of generation) {
          const text = await speech.push(chunk.text);
          spoken += text;
          release(text);
        }
        const result = await generation.result;
        // Text held back by the engine until the end (stop-string lookahead) arrives only in the result.
        if (result.text.length > speech.raw.length && result.text.startsWith(speech.raw)) {
          const text = await speech.push(result.text.slice(speech.raw.length));
          spoken += text;
          release(text);
        }
        const tail = await speech.flush();
        spoken += tail;
        release(tail);
        raw = result.text;
        tokens = result.tokens.length;
        finishReason = result.finishReason === 'length' ? 'length' : 'stop';
      } catch (error) {
        if (error instanceof EngineError && error.code === 'aborted') {
          queue.end();
          return { turnId, speech: spoken, action: null, finishReason: 'cancelled', ttftMs: Number.NaN, tokens, durationMs: performance.now() - startedAt };
        }
        if (!turn.fallback) {
          queue.end();
          deps.log.info({ npcId: script.id, turnId, err: error instanceof Error ? error.message : String(error) }, 'ambient NPC turn not run');
          return { turnId, speech: spoken.trim(), action: null, finishReason: 'error', ttftMs: Number.NaN, tokens, durationMs: performance.now() - startedAt };
        }
        // Overloaded, too slow, worker died…: the NPC says a scripted line instead of going silent.
        const line = pickFallback(script, seed);
        deps.log.warn({ npcId: script.id, turnId, err: error instanceof Error ? error.message : String(error) }, 'NPC turn fell back to a scripted line');
        if (spoken) release(' ');
        release(line);
        spoken = spoken ? `${spoken} ${line}` : line;
        raw = spoken;
        finishReason = 'fallback';
      }
      queue.end();

      const parsed = finishReason === 'fallback' ? null : parseReply(raw);
      let action: NpcAction | null = parsed?.action ?? null;
      if (parsed && (parsed.malformed || (action && !isActionAllowed(script.actions, action, turn.gate)))) {
        deps.log.warn({ npcId: script.id, turnId, call: parsed.body, raw }, 'NPC reply ended with an illegal action; ignored');
        deps.onIllegalAction?.(script.id, parsed.body);
        action = null;
      }
      const speechText = spoken.trim();
      const reply = finishReason === 'fallback' ? formatReply(speechText, null) : raw.trim();
      for (const line of turn.heard) {
        await deps.memory.remember(line.playerId, script.id, { role: 'player', text: line.text });
        await deps.memory.remember(line.playerId, script.id, { role: 'npc', text: reply });
      }
      try {
        await deps.store.logTurn({
          turnId,
          npcId: script.id,
          playerId: turn.playerId,
          modelId: deps.modelId,
          modelHash: deps.modelHash,
          seed,
          prompt,
          // The structured prompt: rated turns become fine-tuning samples with exactly these messages.
          messages: turn.messages,
          sampling,
          output: raw,
          action,
          finishReason,
        });
      } catch (err) {
        deps.log.error({ err, npcId: script.id, turnId }, 'NPC turn could not be logged');
      }
      return { turnId, speech: speechText, action, finishReason, ttftMs: (Number.isNaN(firstAt) ? performance.now() : firstAt) - startedAt, tokens, durationMs: performance.now() - startedAt };
    })();
    outcome.then(
      (result) => {
        for (const observe of this.observers) observe({ npcId: script.id, playerId: turn.playerId, outcome: result });
      },
      (err: unknown) => {
        queue.end();
        deps.log.error({ err, npcId: script.id, turnId }, 'NPC turn failed');
      },
    );
    return { turnId, chunks: queue, outcome };
  }

  /** The grammar of an ambient line: speech, then `[[none]]` (NPCs talking among themselves act on nobody). */
  #ambientGrammar(compiled: CompiledScript): { constraint: ConstraintSpec; grammar: GrammarRecord } {
    if (!compiled.ambient) {
      const grammar: GrammarRecord = { ...compiled.grammar, bodies: [actionBody(null)], ambient: true };
      compiled.ambient = { constraint: compileCallGrammar(grammar.bodies, this.deps.text.tokenizer, grammar), grammar };
    }
    return compiled.ambient;
  }

  /** The compiled grammar and prompt pieces for a script (cached per script object). */
  compiled(script: NpcScript): Readonly<CompiledScript> {
    return this.#compile(script);
  }

  /** The speech grounding a turn of `script` gets for `line`: its schedule for a question about its day (schedule-grounding.ts), else its best-matching lore fact (lore-grounding.ts); undefined: none. */
  grounding(script: NpcScript, line: string): GroundingRecord | undefined {
    return groundingFor(this.#compile(script), line, this.deps.settings);
  }

  /**
   * The grammar a player's line to `script` gets: what a turn runs, with its lore grounding and call prior
   * (the eval decodes with exactly this). With `trust`, a script's trust gates apply; without, every action
   * the script lists is open (the eval's view).
   */
  turnGrammar(script: NpcScript, line: string, trust?: number): { constraint: ConstraintSpec; grammar: GrammarRecord } {
    const compiled = this.#compile(script);
    const entry = trust === undefined ? { constraint: compiled.constraint, grammar: compiled.grammar } : this.#gatedGrammar(script, compiled, trust);
    return this.#grounded(compiled, entry, line);
  }

  /** A turn's grammar with its lore grounding and call prior: the shared per-script constraint plus this line's biases. */
  #grounded(compiled: CompiledScript, entry: { constraint: ConstraintSpec; grammar: GrammarRecord }, line: string): { constraint: ConstraintSpec; grammar: GrammarRecord } {
    const { settings, text } = this.deps;
    const grounding = groundingFor(compiled, line, settings);
    const bodies = entry.grammar.bodies;
    const recalled = bodies.length > 1 ? compiled.recall?.prior(line, bodies, settings.actionMemory ?? DEFAULT_ACTION_MEMORY) : undefined;
    const callPrior = recalled && (settings.callGrounding ?? DEFAULT_CALL_GROUNDING) ? groundedCallPrior(recalled, bodies, compiled.gazetteer.find(line)) : recalled;
    if (!grounding && !callPrior) return entry;
    return {
      constraint: priorConstraint(groundConstraint(entry.constraint, grounding, text.tokenizer), callPrior, bodies),
      grammar: { ...entry.grammar, ...(grounding ? { grounding } : {}), ...(callPrior ? { callPrior } : {}) },
    };
  }

  /** The grammar for a player at `trust`: the script's own unless it gates actions on trust. */
  #gatedGrammar(script: NpcScript, compiled: CompiledScript, trust: number): { constraint: ConstraintSpec; grammar: GrammarRecord; gate?: (kind: string) => boolean } {
    if (!hasGates(script.trust)) return { constraint: compiled.constraint, grammar: compiled.grammar };
    const gate = actionGate(script.trust, trust);
    const bodies = legalCallBodies(script.actions, gate);
    const key = bodies.join('\n');
    let entry = compiled.gated.get(key);
    if (!entry) {
      // The speech budget stays the ungated one, so what a player may hear does not shift with trust.
      const grammar: GrammarRecord = { ...compiled.grammar, bodies };
      entry = { constraint: compileCallGrammar(bodies, this.deps.text.tokenizer, grammar), grammar };
      compiled.gated.set(key, entry);
    }
    return { constraint: entry.constraint, grammar: { ...entry.grammar, trust }, gate };
  }

  #compile(script: NpcScript): CompiledScript {
    const cached = this.#compiled.get(script);
    if (cached) return cached;
    const { text, world, settings } = this.deps;
    const persona = personaMessage(script, world);
    const sharedPrefix = renderChat(text, [persona], { addGenerationPrompt: false });
    const maxTokensTotal = samplingOverrides(script).maxTokens ?? settings.defaultMaxSpeechTokens + 24;
    const bodies = legalCallBodies(script.actions);
    const longestCall = Math.max(...bodies.map((b) => text.tokenizer.encode(`[${b}]]`).length)) + 1;
    const maxSpeechTokens = Math.max(1, maxTokensTotal - longestCall - CALL_TOKEN_ALLOWANCE);
    const grammar: GrammarRecord = { bodies, maxSpeechTokens, minSpeechTokens: 1, ...(settings.actionDecoding === 'sample' ? { sampleCall: true as const } : {}) };
    const constraint = compileCallGrammar(bodies, text.tokenizer, grammar);
    const compiled: CompiledScript = {
      persona,
      sharedPrefix,
      lore: createLoreIndex(script.lore),
      loreFirstPerson: script.lore.map((fact) => rewritePerson(fact, { name: script.name, role: script.role, gender: script.pronouns }, 'first')),
      schedule: scheduleSentences(script, world.landmarks),
      gazetteer: npcGazetteer(script, world),
      constraint,
      maxSpeechTokens,
      maxTokens: maxSpeechTokens + longestCall + CALL_TOKEN_ALLOWANCE,
      grammar,
      gated: new Map(),
    };
    const recall = this.deps.actionMemory?.recall(script.id, {
      lore: script.lore,
      examples: script.examples.map((e) => ({ player: e.player, call: actionBody(e.action ?? null) })),
    });
    if (recall) compiled.recall = recall;
    this.#compiled.set(script, compiled);
    return compiled;
  }
}

function groundingFor(compiled: CompiledScript, line: string, settings: DialogueSettings): GroundingRecord | undefined {
  const strength = settings.loreGrounding ?? DEFAULT_LORE_GROUNDING;
  // A question about the NPC's day is answered from its schedule; anything else from its lore.
  return scheduleGrounding(compiled.schedule, line, strength) ?? loreGrounding(compiled.lore.searchScored(line, 1)[0], compiled.loreFirstPerson, strength);
}

/** The scripted line for a fallback, chosen by the turn's seed so a replay picks the same one. */
export function pickFallback(script: NpcScript, seed: number): string {
  return script.fallback[seed % script.fallback.length]!;
}

/** An async iterable fed by pushes; iteration ends after `end()`. */
class ChunkQueue implements AsyncIterable<string> {
  readonly #items: string[] = [];
  readonly #waiters: Array<(r: IteratorResult<string>) => void> = [];
  #ended = false;

  push(item: string): void {
    const waiter = this.#waiters.shift();
    if (waiter) waiter({ value: item, done: false });
    else this.#items.push(item);
  }

  end(): void {
    this.#ended = true;
    for (const waiter of this.#waiters.splice(0)) waiter({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterator<string> {
    return {
      next: () => {
        const item = this.#items.shift();
        if (item !== undefined) return Promise.resolve({ value: item, done: false });
        if (this.#ended) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => this.#waiters.push(resolve));
      },
    };
  }
}
