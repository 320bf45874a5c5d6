/**
 * The world and NPCs as the server sees them, and the one way the corpus builds a turn's prompt: the
 * server's own `personaMessage` + `turnMessages` (server/src/npc/prompt.ts), with the server's default
 * lore-retrieval settings. Nothing here re-implements prompt assembly.
 */
import { ConfigSchema } from '../../../server/src/config.ts';
import type { ChatMessage } from '../../../server/src/inference/tokenizer/index.ts';
import { createLoreIndex, type LoreIndex } from '../../../server/src/npc/lore-index.ts';
import type { Recollection } from '../../../server/src/npc/memory.ts';
import { personaMessage, turnMessages, worldFacts, type WorldFacts } from '../../../server/src/npc/prompt.ts';
import { formatProblem, loadNpcScripts } from '../../../server/src/npc/script-loader.ts';
import { estimateTokens, type Situation, type SituationBudget } from '../../../server/src/npc/situation.ts';
import { npcLandmarks, type NpcScript } from '../../../server/src/npc/script-schema.ts';
import { loadWorldMap, type WorldMap } from '../../../server/src/world/world-map.ts';
import { firstName, type Gender, type SelfRef } from '../../../server/src/npc/english.ts';
import { voiceOf, type Voice } from './voices.ts';

/** Lore facts retrieved per line and the memory budget, as the server runs by default. */
export const SERVER_LORE_FACTS: number = ConfigSchema.shape.NPC_LORE_FACTS.parse(undefined);
export const SERVER_MEMORY_TOKENS: number = ConfigSchema.shape.NPC_MEMORY_TOKENS.parse(undefined);
/**
 * The situation block's budget: the server's default NPC_SITUATION_TOKENS, counted with the server's
 * tokenizer-free estimate (the corpus is built before any tokenizer; generated situations are kept
 * well inside it, so the served model's own count trims nothing a sample relies on).
 */
export const SERVER_SITUATION_BUDGET: SituationBudget = Object.freeze({ maxTokens: ConfigSchema.shape.NPC_SITUATION_TOKENS.parse(undefined), countTokens: estimateTokens });
export const DEFAULT_NPC_DIR: string = ConfigSchema.shape.NPC_DIR.parse(undefined);
export const DEFAULT_WORLD_MAP: string = ConfigSchema.shape.WORLD_MAP.parse(undefined);

/** The same body radius the server loads the map with. */
const BODY_RADIUS = 0.5;

export interface Landmark {
  id: string;
  name: string;
  x: number;
  z: number;
  /** What players call it (the map's `aliases`; an NPC's own places have none). */
  aliases?: readonly string[];
}

export interface CorpusWorld {
  map: WorldMap;
  /** What the server passes to `personaMessage` (npc-system.ts builds it the same way). */
  facts: WorldFacts;
  scripts: NpcScript[];
}

/** Loads the map and every NPC script through the server's loaders (schema defaults apply). Throws on any script problem. */
export function loadCorpusWorld(opts: { npcDir?: string; mapPath?: string } = {}): CorpusWorld {
  const map = loadWorldMap(opts.mapPath ?? DEFAULT_WORLD_MAP, BODY_RADIUS);
  const loaded = loadNpcScripts(opts.npcDir ?? DEFAULT_NPC_DIR, { map });
  if (loaded.problems.length) throw new Error(`NPC scripts have problems:\n${loaded.problems.map(formatProblem).join('\n')}`);
  if (loaded.scripts.length === 0) throw new Error(`no NPC scripts in ${opts.npcDir ?? DEFAULT_NPC_DIR}`);
  return { map, facts: worldFacts(map), scripts: loaded.scripts };
}

export interface NpcContext {
  script: NpcScript;
  world: CorpusWorld;
  persona: ChatMessage;
  lore: LoreIndex;
  loreFacts: number;
  voice: Voice;
  self: SelfRef;
  first: string;
  landmarks: Map<string, Landmark>;
  /** The landmark nearest the NPC's home (its workplace). */
  home: Landmark | undefined;
}

/** The script's `pronouns`; for a script that leaves the default, a guess from how the lore talks about the NPC ("Bram built his forge"). */
function genderOf(script: NpcScript, all: readonly NpcScript[]): Gender {
  if (script.pronouns !== 'they') return script.pronouns;
  const first = firstName(script.name);
  let he = 0;
  let she = 0;
  for (const s of all) {
    for (const fact of s.lore) {
      for (const m of fact.matchAll(new RegExp(`\\b${first}\\b([^;.]{0,60})`, 'g'))) {
        const tail = m[1]!;
        if (/\b(he|his|him)\b/.test(tail)) he++;
        if (/\b(she|her)\b/.test(tail)) she++;
      }
    }
  }
  return he > she ? 'he' : she > he ? 'she' : 'they';
}

export function npcContexts(world: CorpusWorld, loreFacts = SERVER_LORE_FACTS): NpcContext[] {
  const genders = new Map(world.scripts.map((s) => [s.id, genderOf(s, world.scripts)]));
  return world.scripts.map((script) => {
    // The map's landmarks and the NPC's own places (script `places`), as the server resolves them.
    const landmarks = new Map(npcLandmarks(script, world.map.landmarks).map((l) => [l.id, l]));
    const gender = genders.get(script.id)!;
    let home: Landmark | undefined;
    for (const l of world.map.landmarks) {
      if (!home || Math.hypot(l.x - script.home.x, l.z - script.home.z) < Math.hypot(home.x - script.home.x, home.z - script.home.z)) home = l;
    }
    return {
      script,
      world,
      persona: personaMessage(script, world.facts),
      lore: createLoreIndex(script.lore),
      loreFacts,
      voice: { ...voiceOf(script, gender), gender },
      self: {
        name: script.name,
        role: script.role,
        gender,
        others: world.scripts.filter((o) => o !== script).map((o) => ({ name: o.name, gender: genders.get(o.id)! })),
      },
      first: firstName(script.name),
      landmarks,
      home,
    };
  });
}

/** The prompt the server would build for this line: `turnMessages` from server/src/npc/prompt.ts. */
export function promptMessages(ctx: NpcContext, playerLine: string, memory: Recollection = EMPTY_MEMORY, situation?: Situation): ChatMessage[] {
  return turnMessages({ persona: ctx.persona, lore: ctx.lore, loreFacts: ctx.loreFacts, memory, playerLine, situation, situationBudget: SERVER_SITUATION_BUDGET }).messages;
}

export const EMPTY_MEMORY: Recollection = Object.freeze({ turns: [], tokens: 0, folded: 0 }) as Recollection;

/** Compass direction from the NPC's home to a landmark (+z is north on the town map). */
export function directionTo(ctx: NpcContext, l: Landmark): string {
  const dx = l.x - ctx.script.home.x;
  const dz = l.z - ctx.script.home.z;
  if (Math.hypot(dx, dz) < 12) return 'right here';
  const angle = (Math.atan2(dx, dz) * 180) / Math.PI; // 0 = north, 90 = east
  const dirs = ['north', 'north-east', 'east', 'south-east', 'south', 'south-west', 'west', 'north-west'];
  return `to the ${dirs[Math.round(((angle + 360) % 360) / 45) % 8]}`;
}
