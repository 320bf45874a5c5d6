/**
 * How a caller on the main thread constrains which tokens a request may produce.
 *
 * The model steps run in the engine worker, once per token for every running request, so the constraint must
 * be evaluated *in the worker*: a main-thread callback would cost a thread round trip per token and stall the
 * whole batch. Two serializable forms cross the thread boundary:
 *
 * - `automaton`: a token-level automaton built on the main thread (e.g. the NPC's legal actions compiled
 *   against the tokenizer's vocabulary). Pure data, no code, evaluated by `constraints.ts`.
 * - `module`: an ES module path the worker imports once (cached) and whose factory builds a stateful
 *   `TokenConstraint` per request from JSON `options` — for grammars too large to ship as an automaton
 *   (JSON schemas, GBNF, xgrammar-style matchers).
 */
export type ConstraintSpec = AutomatonConstraintSpec | ModuleConstraintSpec;

export interface AutomatonConstraintSpec {
  kind: 'automaton';
  automaton: TokenAutomaton;
}

export interface ModuleConstraintSpec {
  kind: 'module';
  /** Absolute file path or file:// URL of the module, importable from the worker. */
  module: string;
  /** Named export of the factory; default `createConstraint`. */
  exportName?: string;
  /** JSON-serializable options handed to the factory. */
  options?: unknown;
}

/** State 0 is the start state. */
export interface TokenAutomaton {
  states: AutomatonState[];
}

export interface AutomatonState {
  /** Tokens allowed in this state: an explicit list, or every token (minus `deny`). */
  allow: number[] | 'any';
  /** With `allow: 'any'`, tokens that stay forbidden (e.g. the action opener before the speech ends). */
  deny?: number[];
  /** Token → next state. */
  edges?: Array<[token: number, next: number]>;
  /** Next state for tokens without an edge; default: stay in this state. */
  otherwise?: number;
  /** Entering this state ends the generation (finish reason `constraint`). */
  final?: boolean;
}

/** What the worker gives a module factory so it can compile a grammar against this model's vocabulary. */
export interface ConstraintContext {
  vocabSize: number;
  eosTokenIds: readonly number[];
  /** Decoded text of one token (may be a partial UTF-8 sequence rendered with U+FFFD). */
  tokenText(tokenId: number): string;
}

/**
 * The per-request, stateful constraint evaluated in the worker before each sampled token.
 * A module's factory returns one of these: `createConstraint(options, ctx) => TokenConstraint`.
 */
export interface TokenConstraint {
  /**
   * Forbid tokens for the next step by writing -Infinity into `logits` (one row, length ≥ vocab size).
   * Must leave at least one token allowed.
   */
  mask(logits: Float32Array): void;
  /** The sampled token; advance the state. */
  accept(tokenId: number): void;
  /** True when the constrained output is complete and generation should stop. */
  isComplete(): boolean;
  /**
   * True when the next token is a decision to take greedily — the most likely allowed token, whatever the
   * request's temperature (an NPC's action call: sampled at the speech's temperature it picks worse actions).
   */
  decidesGreedily?(): boolean;
}

export type ConstraintFactory = (options: unknown, ctx: ConstraintContext) => TokenConstraint | Promise<TokenConstraint>;
