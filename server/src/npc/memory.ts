/**
 * Conversation memory: the turn history of each (player, NPC) pair, recalled newest-first into a token
 * budget. Turns that no longer fit are folded into one short summary line so the NPC still knows what
 * was talked about earlier. Memory is keyed by the pair: an NPC recalling its talk with one player never
 * sees another player's conversation.
 *
 * Persistence is pluggable (`TurnStore`; the world store implements it, either backend): turns are
 * written through on `remember` and loaded lazily the first time a pair is recalled (or remembered) after
 * a restart, or after `forget` (a join in another game process). Both are asynchronous because the store
 * is; a pair is loaded once even when several calls ask for it at the same time.
 */
import { STOP_WORDS } from './lore-index.ts';

export type TurnRole = 'player' | 'npc';

export interface MemoryTurn {
  role: TurnRole;
  text: string;
  /** Milliseconds since the epoch. */
  ts: number;
}

/** Where turns are persisted. `recentTurns` returns the newest `limit` turns, oldest first. */
export interface TurnStore {
  appendTurn(playerId: string, npcId: string, turn: MemoryTurn): Promise<void>;
  recentTurns(playerId: string, npcId: string, limit: number): Promise<MemoryTurn[]>;
}

export interface Recollection {
  /**
   * One line standing for the turns that did not fit, or undefined when everything fit. It quotes words
   * the player said, so it is untrusted text: render it as user-role content, never in the system prompt.
   */
  summary?: string;
  /** The most recent turns that fit, oldest first. */
  turns: MemoryTurn[];
  /** Tokens used by `summary` and `turns` together (overheads included), always ≤ the budget. */
  tokens: number;
  /** How many older turns are represented only by the summary (or dropped entirely). */
  folded: number;
}

export interface ConversationMemoryOptions {
  /** Token counter for the model in use (the real tokenizer's, or an estimate in tests). */
  countTokens(text: string): number;
  store?: TurnStore;
  /** Turns kept in memory per pair (older ones live only in the store). Default 200. */
  maxTurnsPerPair?: number;
  /** Pairs kept in memory before the least recently used is evicted (and reloaded from the store). Default 10 000. */
  maxPairs?: number;
  /** Tokens the chat template adds around each message (role markers). Default 4. */
  perTurnOverhead?: number;
}

/** Content words of the folded turns that go into the summary line. */
const SUMMARY_WORDS = 8;

export class ConversationMemory {
  readonly #countTokens: (text: string) => number;
  readonly #store: TurnStore | undefined;
  readonly #maxTurns: number;
  readonly #maxPairs: number;
  readonly #overhead: number;
  /** key → turns oldest first; Map order doubles as the LRU order. */
  readonly #pairs = new Map<string, MemoryTurn[]>();
  /** Store reads in flight, by pair key: concurrent callers share one read. */
  readonly #loading = new Map<string, Promise<MemoryTurn[]>>();
  /** Bumped by `forget`: a store read that started before is used by its caller but not kept. */
  #generation = 0;

  constructor(opts: ConversationMemoryOptions) {
    this.#countTokens = opts.countTokens;
    this.#store = opts.store;
    this.#maxTurns = opts.maxTurnsPerPair ?? 200;
    this.#maxPairs = opts.maxPairs ?? 10_000;
    this.#overhead = opts.perTurnOverhead ?? 4;
  }

  /**
   * Records one turn of the pair's conversation, and persists it when a store is configured (the promise
   * settles when it is written). The pair's earlier turns are loaded first, so the new turn is never
   * counted twice. Without a store the turn is in memory before this returns.
   */
  remember(playerId: string, npcId: string, turn: { role: TurnRole; text: string; ts?: number }): Promise<void> {
    const t: MemoryTurn = { role: turn.role, text: turn.text, ts: turn.ts ?? Date.now() };
    const add = (turns: MemoryTurn[]) => {
      turns.push(t);
      if (turns.length > this.#maxTurns) turns.splice(0, turns.length - this.#maxTurns);
    };
    const store = this.#store;
    if (!store) {
      add(this.#cached(playerId, npcId) ?? this.#keep(playerId, npcId, []));
      return Promise.resolve();
    }
    return this.#turns(playerId, npcId).then((turns) => {
      add(turns);
      return store.appendTurn(playerId, npcId, t);
    });
  }

  /** The pair's history that fits in `budgetTokens`: newest turns verbatim, older ones summarised (read from the store the first time). */
  async recall(playerId: string, npcId: string, budgetTokens: number): Promise<Recollection> {
    return this.#recollect(await this.#turns(playerId, npcId), budgetTokens);
  }

  /**
   * `recall` over what is in memory only, never reading the store: for a memory without a store (the
   * corpus generator builds prompts with one, synchronously).
   */
  recallInMemory(playerId: string, npcId: string, budgetTokens: number): Recollection {
    return this.#recollect(this.#cached(playerId, npcId) ?? [], budgetTokens);
  }

  #recollect(all: MemoryTurn[], budgetTokens: number): Recollection {
    const cost = all.map((t) => this.#countTokens(t.text) + this.#overhead);

    // Newest turns first, as many as fit in `budget`; the kept history starts at a player turn so it
    // never opens with an answer to a question that was dropped.
    const fill = (budget: number): [start: number, used: number] => {
      let start = all.length;
      let used = 0;
      while (start > 0 && used + cost[start - 1]! <= budget) used += cost[--start]!;
      while (start > 0 && start < all.length && all[start]!.role !== 'player') used -= cost[start++]!;
      return [start, used];
    };
    let [start, used] = fill(budgetTokens);
    if (start === 0) return { turns: all.slice(), tokens: used, folded: 0 };
    // Something is folded: reserve room for a full summary line (at most a quarter of the budget).
    const full = this.#summarise(all.slice(0, start), Number.POSITIVE_INFINITY)!;
    [start, used] = fill(budgetTokens - Math.min(Math.floor(budgetTokens / 4), full.tokens));

    // Make room for the summary line by folding more turns into it, if need be.
    for (;;) {
      const summary = this.#summarise(all.slice(0, start), budgetTokens - used);
      if (summary) return { summary: summary.text, turns: all.slice(start), tokens: used + summary.tokens, folded: start };
      if (start >= all.length) return { turns: [], tokens: 0, folded: all.length };
      used -= cost[start++]!;
      while (start < all.length && all[start]!.role !== 'player') used -= cost[start++]!;
    }
  }

  /** Forgets a pair, or every pair of a player (memory only; the store keeps its rows). */
  forget(playerId: string, npcId?: string): void {
    this.#generation++;
    const matches = (k: string) => (npcId !== undefined ? k === key(playerId, npcId) : k.startsWith(playerId + '\u0000'));
    for (const k of [...this.#pairs.keys()]) if (matches(k)) this.#pairs.delete(k);
    // Reads already under way may predate the other process's writes: later callers read afresh.
    for (const k of [...this.#loading.keys()]) if (matches(k)) this.#loading.delete(k);
  }

  /** The pair's turns (loaded from the store on a miss), marked most recently used. */
  async #turns(playerId: string, npcId: string): Promise<MemoryTurn[]> {
    const cached = this.#cached(playerId, npcId);
    if (cached) return cached;
    const k = key(playerId, npcId);
    const generation = this.#generation;
    let loading = this.#loading.get(k);
    if (!loading) {
      const read = this.#store ? this.#store.recentTurns(playerId, npcId, this.#maxTurns) : Promise.resolve([]);
      const shared: Promise<MemoryTurn[]> = read.finally(() => {
        if (this.#loading.get(k) === shared) this.#loading.delete(k);
      });
      this.#loading.set(k, (loading = shared));
    }
    const loaded = await loading;
    // Another caller sharing the read may have kept it (and added to it) already: use that one.
    const keptMeanwhile = this.#cached(playerId, npcId);
    if (keptMeanwhile) return keptMeanwhile;
    // Forgotten while reading (the player joined another process, which may write newer turns): this
    // caller uses what it read, and the next one reads again.
    if (generation !== this.#generation) return loaded;
    return this.#keep(playerId, npcId, loaded);
  }

  /** The pair's turns if in memory, marked most recently used. */
  #cached(playerId: string, npcId: string): MemoryTurn[] | undefined {
    const k = key(playerId, npcId);
    const turns = this.#pairs.get(k);
    if (turns) {
      this.#pairs.delete(k); // re-insert: most recently used goes last
      this.#pairs.set(k, turns);
    }
    return turns;
  }

  #keep(playerId: string, npcId: string, turns: MemoryTurn[]): MemoryTurn[] {
    if (this.#pairs.size >= this.#maxPairs) this.#pairs.delete(this.#pairs.keys().next().value!);
    this.#pairs.set(key(playerId, npcId), turns);
    return turns;
  }

  /**
   * A one-line extractive summary of `turns` within `budget` tokens, or undefined if even the shortest
   * form does not fit. Extractive (frequent content words) rather than model-written: no extra model
   * call on the latency path, and it still tells the NPC which topics were already covered.
   */
  #summarise(turns: readonly MemoryTurn[], budget: number): { text: string; tokens: number } | undefined {
    const playerWords = topWords(turns.filter((t) => t.role === 'player'));
    const npcWords = topWords(turns.filter((t) => t.role === 'npc'));
    for (let n = SUMMARY_WORDS; n >= 0; n--) {
      const parts = [`Earlier (${turns.length} older turn${turns.length === 1 ? '' : 's'})`];
      if (n > 0 && playerWords.length) parts.push(`the player talked about ${playerWords.slice(0, n).join(', ')}`);
      if (n > 0 && npcWords.length) parts.push(`you talked about ${npcWords.slice(0, n).join(', ')}`);
      const text = parts.length > 1 ? `${parts[0]}: ${parts.slice(1).join('; ')}.` : `${parts[0]}.`;
      const tokens = this.#countTokens(text) + this.#overhead;
      if (tokens <= budget) return { text, tokens };
    }
    return undefined;
  }
}

function key(playerId: string, npcId: string): string {
  return `${playerId}\u0000${npcId}`;
}

/** Most frequent content words, ties broken by recency. */
function topWords(turns: readonly MemoryTurn[]): string[] {
  const score = new Map<string, { count: number; last: number }>();
  let pos = 0;
  for (const t of turns) {
    for (const raw of t.text.toLowerCase().split(/[^\p{L}\p{N}'-]+/u)) {
      const w = raw.replace(/^['-]+|['-]+$/g, '');
      pos++;
      if (w.length < 3 || STOP_WORDS.has(w)) continue;
      const s = score.get(w) ?? { count: 0, last: 0 };
      s.count++;
      s.last = pos;
      score.set(w, s);
    }
  }
  return [...score].sort((a, b) => b[1].count - a[1].count || b[1].last - a[1].last).map(([w]) => w).slice(0, SUMMARY_WORDS);
}
