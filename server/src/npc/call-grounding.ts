/**
 * Call-argument grounding: the world's places and items a player's line names, and what that does to the
 * turn's call prior (action-memory.ts). The model and the memory choose the *kind* of call far better than
 * its *argument*: "Be a friend and bring me to the well" came out `walk_to market`, and an NPC asked for a
 * place it cannot walk to walked somewhere it can. The world says what players call each landmark (its
 * name and `aliases` on the map) and each item (the map's item catalogue), so the names in a line are
 * found exactly — a gazetteer, the slot-filling step of task-oriented dialogue systems — and:
 *
 * - for each kind of call that goes to a place (the registry's `callLandmarks`: walk_to, point_at): when
 *   the line names places among its calls', the kind's prior weight moves onto those calls, its total
 *   unchanged, so *whether* to walk stays the model's and the memory's decision and only *where* is
 *   grounded; when it names only places none of its calls take, the kind's weight × UNREACHABLE (the NPC
 *   cannot take you there);
 * - for each kind that hands over an item (`callItems`: give_item, trade): when the line names items among
 *   its calls', the kind's weight moves onto them. Named items it does not have change nothing: the item a
 *   line names is not always the one it asks for ("my knife is too dull to slice bread").
 *
 * Matching: case and punctuation aside, on whole words; a longer name wins over one inside it ("the
 * market well" is the well, not the market); a one-word place name needs a determiner before it ("the
 * well", "your forge": "well met" names no place); an item's name also matches its plural. No typo
 * tolerance: a misspelt name is left to the model and the memory (whose search has it).
 *
 * Hand-written: a few dozen names matched in one short line; what a library would add is the matching
 * rules above, which are the part that needs writing.
 */
import type { CallPriorRecord } from './action-memory.ts';
import type { WorldFacts } from './prompt.ts';
import { anyKind } from './actions/index.ts';
import { legalActions, npcLandmarks, type NpcScript } from './script-schema.ts';
import { catalogueItem } from '../world/world-map.ts';

/** Default NPC_CALL_GROUNDING. */
export const DEFAULT_CALL_GROUNDING = true;
/** Share of a place-taking kind's prior weight kept when the line names only places none of its calls take. */
export const UNREACHABLE = 0.05;
/** Share of a kind's weight left to the arguments the line does not name (so none is pushed to -∞). */
const UNNAMED_SHARE = 0.01;
/** Words that make a one-word place name a place ("the well", not "well met"). */
const DETERMINERS = ['the', 'your', 'ur', 'yer', 'this', 'that', 'thy'];

export interface NamedThings {
  /** Place ids the line names. */
  places: string[];
  /** Item ids the line names. */
  items: string[];
}

interface Entry {
  /** The name's words, normalised. */
  words: string[];
  id: string;
  kind: 'place' | 'item';
}

/** The names of one world's places and items, and the search for them in a line. */
export class WorldGazetteer {
  readonly #entries: Entry[] = [];

  /**
   * `places`: the map's landmarks and an NPC's own places (name and aliases); `items`: the catalogue, plus
   * any item id with no entry (called by its id: "town_map" → "town map").
   */
  constructor(places: ReadonlyArray<{ id: string; name: string; aliases?: readonly string[] }>, items: ReadonlyArray<{ id: string; names: readonly string[] }>) {
    for (const place of places) {
      for (const name of [place.name, ...(place.aliases ?? [])]) this.#addPlace(name, place.id);
    }
    for (const item of items) {
      for (const name of item.names) {
        const words = normalizedWords(name);
        if (words.length === 0) continue;
        this.#entries.push({ words, id: item.id, kind: 'item' });
        // Its last word's plural ("horseshoes", "song sheets"; "pouches of salt" is not found this way).
        const last = words[words.length - 1]!;
        this.#entries.push({ words: [...words.slice(0, -1), /(s|sh|ch|x)$/.test(last) ? `${last}es` : `${last}s`], id: item.id, kind: 'item' });
      }
    }
    // Longest first, counting the name's own words (a determiner is not one): a name wins over the shorter
    // names inside or overlapping it ("the Inn Stables" is the stables, not "the inn").
    const nameWords = (e: Entry) => e.words.filter((w) => !DETERMINERS.includes(w)).length;
    this.#entries.sort((a, b) => nameWords(b) - nameWords(a) || b.words.length - a.words.length);
  }

  #addPlace(name: string, id: string): void {
    const words = normalizedWords(name);
    // The article is optional in the line: "Ashwater Bridge" and "the Ashwater Bridge" name the same place.
    const bare = DETERMINERS.includes(words[0]!) ? words.slice(1) : words;
    if (bare.length === 0) return;
    if (bare.length > 1) this.#entries.push({ words: bare, id, kind: 'place' });
    else for (const determiner of DETERMINERS) this.#entries.push({ words: [determiner, bare[0]!], id, kind: 'place' });
  }

  /** The place and item ids `line` names, each once, in no particular order. */
  find(line: string): NamedThings {
    const words = normalizedWords(line);
    const taken = new Uint8Array(words.length);
    const places = new Set<string>();
    const items = new Set<string>();
    for (const entry of this.#entries) {
      const n = entry.words.length;
      for (let start = 0; start + n <= words.length; start++) {
        let match = true;
        for (let k = 0; k < n && match; k++) match = taken[start + k] === 0 && words[start + k] === entry.words[k];
        if (!match) continue;
        taken.fill(1, start, start + n);
        (entry.kind === 'place' ? places : items).add(entry.id);
      }
    }
    return { places: [...places], items: [...items] };
  }
}

/** The gazetteer for one NPC's turns: the map's landmarks and its own places, the item catalogue and the items its calls hand over. */
export function npcGazetteer(script: Pick<NpcScript, 'places' | 'actions'>, world: WorldFacts): WorldGazetteer {
  const items = [...(world.items ?? [])];
  const own = legalActions(script.actions).flatMap((action) => anyKind(action.type)?.callItems?.(action) ?? []);
  for (const id of own) if (!items.some((i) => i.id === id)) items.push({ id, names: catalogueItem(items, id).names });
  return new WorldGazetteer(npcLandmarks(script, world.landmarks), items);
}

/**
 * `weights` (a call body → prior weight, over the turn's legal `bodies`) grounded on what the line names;
 * undefined when the names change nothing (no weight is ever 0: the unnamed arguments keep a small share).
 */
export function groundCallWeights(weights: Readonly<Record<string, number>>, bodies: readonly string[], named: NamedThings): Record<string, number> | undefined {
  const out: Record<string, number> = {};
  for (const body of bodies) out[body] = weights[body] ?? 0;
  let changed = false;
  for (const { slot, calls } of groundableKinds(bodies).values()) {
    const ids = slot === 'place' ? named.places : named.items;
    if (ids.length === 0) continue;
    const total = calls.reduce((sum, [b]) => sum + out[b]!, 0);
    const chosen = new Set(calls.filter(([, args]) => args.some((id) => ids.includes(id))).map(([b]) => b));
    if (chosen.size > 0) {
      const others = calls.length - chosen.size;
      for (const [b] of calls) out[b] = chosen.has(b) ? (total * (others > 0 ? 1 - UNNAMED_SHARE : 1)) / chosen.size : (total * UNNAMED_SHARE) / others;
      changed = true;
    } else if (slot === 'place') {
      for (const [b] of calls) out[b] = out[b]! * UNREACHABLE;
      changed = true;
    }
  }
  if (!changed) return undefined;
  const sum = Object.values(out).reduce((s, w) => s + w, 0);
  if (!(sum > 0)) return undefined;
  for (const body of bodies) out[body] = Math.round((out[body]! / sum) * 10000) / 10000 || 0.0001;
  return out;
}

/** Per kind among `bodies` whose calls take a place or an item (the action registry says which): its calls with theirs. */
function groundableKinds(bodies: readonly string[]): Map<string, { slot: 'place' | 'item'; calls: Array<[string, string[]]> }> {
  const kinds = new Map<string, { slot: 'place' | 'item'; calls: Array<[string, string[]]> }>();
  for (const body of bodies) {
    const [type, ...args] = body.split(' ');
    const kind = anyKind(type!);
    const action = kind?.parse(args);
    if (!kind || !action) continue;
    const places = kind.callLandmarks?.(action) ?? [];
    const items = kind.callItems?.(action) ?? [];
    const slot = places.length > 0 ? 'place' : items.length > 0 ? 'item' : undefined;
    if (!slot) continue;
    const entry = kinds.get(kind.type) ?? { slot, calls: [] };
    entry.calls.push([body, slot === 'place' ? places : items]);
    kinds.set(kind.type, entry);
  }
  return kinds;
}

/**
 * The memory's call prior for a turn with its arguments grounded on what the line names (the prior itself
 * when the names change nothing). Without a prior there is nothing to ground: an even prior over the call
 * bodies is not neutral (a kind with more arguments would gather more weight), so a model without an
 * action memory decodes as before.
 */
export function groundedCallPrior(prior: CallPriorRecord | undefined, bodies: readonly string[], named: NamedThings): CallPriorRecord | undefined {
  if (!prior || bodies.length < 2) return prior;
  const weights = groundCallWeights(prior.weights, bodies, named);
  return weights ? { strength: prior.strength, weights } : prior;
}

/** Lower case, apostrophes kept inside words ("bram's"), everything else a separator. */
function normalizedWords(text: string): string[] {
  return text.toLowerCase().replace(/[’‘]/g, "'").split(/[^a-z0-9']+/).map((w) => w.replace(/^'+|'+$/g, '')).filter((w) => w.length > 0);
}
