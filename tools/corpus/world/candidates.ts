/**
 * Sample candidates for one NPC: a clean player line, the template it came from (the unit held out for
 * valid/test), what it needs (a fact, an out-of-world topic) and how the NPC answers. The generator
 * turns each candidate into several samples (player-typing variants, some with memory) and builds
 * their prompts with the server's prompt code.
 */
import { formatActionCall } from '../../../server/src/npc/action-syntax.ts';
import { isActionAllowed, type Emote, type NpcAction } from '../../../server/src/npc/script-schema.ts';
import type { Situation } from '../../../server/src/npc/situation.ts';
import type { SampleKind } from '../sample.ts';
import { capitalize, firstName, rewritePerson, verbInfo, withArticle, wordCount } from '../../../server/src/npc/english.ts';
import { contentStems, fill, LORE_TOPIC_TEMPLATES, loreQuestions, type LoreFact } from './lore.ts';
import { directionTo, type Landmark, type NpcContext } from './npc-context.ts';
import { catalogueItem } from '../../../server/src/world/world-map.ts';
import {
  EMOTE_REQUESTS,
  EMOTE_SPEECH,
  FAREWELLS,
  FOLLOW,
  GIVE,
  GREETINGS,
  INJECTIONS,
  type InjectionTemplate,
  MISSING_ITEMS,
  MISSING_PLACES,
  NEEDS,
  OUT_OF_WORLD,
  OUT_OF_WORLD_FRAMES,
  OUT_OF_WORLD_LINES,
  SCHEDULE_ACTIVITY,
  SCHEDULE_AT,
  SCHEDULE_DAY,
  SITUATION_QUESTIONS,
  SMALLTALK,
  STOP,
  TIME_PHRASES,
  WALK,
} from './phrasebook.ts';
import type { Rng } from './rng.ts';
import { COMPOSED_VERBS, composeFrames, composeInjections, composeNeeds } from './composed-requests.ts';

/** Composed request frames (composed-requests.ts), one family per action beside the hand-written one. */
const WALK_C = composeFrames(COMPOSED_VERBS.walk, WALK);
const GIVE_C = composeFrames(COMPOSED_VERBS.give, GIVE);
const FOLLOW_C = composeFrames(COMPOSED_VERBS.follow, FOLLOW);
const STOP_C = composeFrames(COMPOSED_VERBS.stop, STOP);
/** Composed indirect requests (need statement × ask), per item, a family beside the whole need lines. */
const NEEDS_C = composeNeeds(Object.values(NEEDS).flat());
/** Composed injections (override marker × order), a family of their own beside the hand-written ones. */
const INJECT_C = composeInjections(INJECTIONS);

export interface Reply {
  speech: string;
  action: NpcAction | null;
}

export interface Candidate {
  kind: SampleKind;
  /** Template id, e.g. `lore.topic.t05`, `walk.w03`: held out as a whole. */
  template: string;
  /** A second held-out unit: the fact cluster (`fact:bram#3`) or out-of-world topic (`oow:tech:bitcoin`). */
  unit?: string;
  /** The clean line; the generator derives typing variants from it. */
  player: string;
  /** Whether typing variants (typos, case, slang…) apply. */
  noisy: boolean;
  /** How many samples to draw from this candidate (before de-duplication). */
  variants: number;
  /** The reply; `situation` is what the NPC perceives in this sample (its prompt's situation block). */
  reply(rng: Rng, situation?: Situation): Reply;
  /** The answer depends on the situation: the same line with another situation is another sample. */
  perSituation?: boolean;
  fact?: string;
  factKeywords?: string[];
  refusal?: boolean;
  /** Lore: the fact must be among the lore the server retrieves for the line, else the sample is dropped. */
  needsFact?: string;
}

/** Template families and their ids (the hold-out units), over every NPC. */
export function phrasebookFamilies(): { family: string; ids: string[] }[] {
  const ids = (prefix: string, t: Record<string, unknown>) => Object.keys(t).map((k) => `${prefix}.${k}`);
  return [
    { family: 'walk', ids: ids('walk', WALK) },
    { family: 'walk.c', ids: ids('walk.c', WALK_C) },
    { family: 'give', ids: ids('give', GIVE) },
    { family: 'give.c', ids: ids('give.c', GIVE_C) },
    { family: 'give.need', ids: Object.entries(NEEDS).flatMap(([item, lines]) => lines.map((_, i) => `give.need.${item}.${i}`)) },
    { family: 'give.need.c', ids: Object.entries(NEEDS_C).flatMap(([item, t]) => Object.keys(t).map((k) => `give.need.c.${item}.${k}`)) },
    { family: 'follow', ids: ids('follow', FOLLOW) },
    { family: 'follow.c', ids: ids('follow.c', FOLLOW_C) },
    { family: 'stop', ids: ids('stop', STOP) },
    { family: 'stop.c', ids: ids('stop.c', STOP_C) },
    { family: 'emote', ids: Object.entries(EMOTE_REQUESTS).flatMap(([emote, lines]) => lines.map((_, i) => `emote.${emote}.${i}`)) },
    { family: 'greet', ids: ids('greet', GREETINGS) },
    { family: 'bye', ids: ids('bye', FAREWELLS) },
    ...Object.entries(SMALLTALK).map(([intent, t]) => ({ family: `small.${intent}`, ids: ids(`small.${intent}`, t) })),
    { family: 'sched.at', ids: ids('sched.at', SCHEDULE_AT) },
    { family: 'sched.day', ids: ids('sched.day', SCHEDULE_DAY) },
    { family: 'sched.act', ids: ids('sched.act', SCHEDULE_ACTIVITY) },
    { family: 'oow.frame', ids: ids('oow.frame', OUT_OF_WORLD_FRAMES) },
    { family: 'inject', ids: ids('inject', INJECTIONS) },
    { family: 'inject.c', ids: ids('inject.c', INJECT_C) },
    { family: UNKNOWN_FAMILY, ids: Object.keys(LORE_TOPIC_TEMPLATES).map((k) => `${UNKNOWN_FAMILY}.${k}`) },
    ...Object.entries(SITUATION_QUESTIONS).map(([intent, t]) => ({ family: `sit.${intent}`, ids: ids(`sit.${intent}`, t) })),
  ];
}

/** Out-of-world topics (each a hold-out unit). */
export function outOfWorldUnits(): string[] {
  return [
    ...Object.entries(OUT_OF_WORLD).flatMap(([cat, things]) => things.map((t) => `oow:${cat}:${slug(t)}`)),
    ...Object.entries(OUT_OF_WORLD_LINES).flatMap(([cat, lines]) => lines.map((l) => `oow:${cat}:${slug(l)}`)),
  ];
}

function slug(s: string): string {
  return s.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '').slice(0, 40);
}

// ---------------------------------------------------------------------------------------------------
// Speech helpers

/** Fills voice slots and adds an opener/closer when there is room (speech stays ~10–40 words). */
export function voiced(ctx: NpcContext, rng: Rng, core: string, opts: { opener?: number; closer?: number } = {}): string {
  const slots = { addr: rng.pick(ctx.voice.address), world: ctx.world.map.name, name: ctx.script.name, first: ctx.first, role: ctx.script.role };
  let speech = fill(core, slots);
  if (rng.chance(opts.opener ?? 0.25) && wordCount(speech) <= 34) speech = `${fill(rng.pick(ctx.voice.openers), slots)} ${speech}`;
  if (rng.chance(opts.closer ?? 0.15) && wordCount(speech) <= 30) speech = `${speech} ${fill(rng.pick(ctx.voice.closers), slots)}`;
  if (speech.includes('[')) throw new Error(`speech must not contain "[": ${speech}`);
  return capitalize(speech.replace(/\s{2,}/g, ' ').trim());
}

function legal(ctx: NpcContext, action: NpcAction): NpcAction | null {
  return isActionAllowed(ctx.script.actions, action) ? action : null;
}

/** The first of these emotes this NPC may play, or null. */
function emoteOf(ctx: NpcContext, prefs: Emote[]): NpcAction | null {
  for (const emote of prefs) {
    const a = legal(ctx, { type: 'emote', emote });
    if (a) return a;
  }
  return null;
}

/** A landmark as the NPC names it ("my forge" for Bram's own, "the Gilded Lantern"). */
export function placeName(ctx: NpcContext, l: Landmark): string {
  const own = new RegExp(`^${ctx.first}['’]s `);
  if (own.test(l.name)) return l.name.replace(own, 'my ').replace(/\b([A-Z])([a-z]+)$/, (_m, c: string, r: string) => c.toLowerCase() + r);
  if (/^The /.test(l.name)) return l.name.replace(/^The /, 'the ');
  // "the Market Square", but "Ashwater Mill" and "Widow Hale's Orchard": a first word the town also writes in lower case is a common noun.
  const head = l.name.split(/\s+/)[0]!;
  if (/['’]s$/.test(head) || !commonWords(ctx).has(head.toLowerCase())) return l.name;
  return `the ${l.name}`;
}

const COMMON_WORDS = new WeakMap<object, Set<string>>();
/** Words the world's texts write in lower case somewhere. */
function commonWords(ctx: NpcContext): Set<string> {
  let set = COMMON_WORDS.get(ctx.world);
  if (!set) {
    set = new Set<string>();
    const texts = [ctx.world.map.description, ...ctx.world.scripts.flatMap((s) => [s.persona, ...s.lore])];
    for (const t of texts) for (const w of t.match(/\b[a-z][a-z'-]*\b/g) ?? []) set.add(w);
    COMMON_WORDS.set(ctx.world, set);
  }
  return set;
}

/** How a player names a landmark to this NPC: the map name, the id and common names. */
function playerPlaceNames(ctx: NpcContext, l: Landmark): string[] {
  const aliases = l.aliases?.length ? l.aliases : [`the ${l.id.replace(/-/g, ' ')}`];
  const names = new Set<string>([l.name.startsWith('The ') ? `the ${l.name.slice(4)}` : /^[A-Z][a-z]+['’]s /.test(l.name) ? l.name : `the ${l.name}`, ...aliases]);
  const own = new RegExp(`^${ctx.first}['’]s `, 'i');
  return [...names].map((n) => n.replace(own, 'your '));
}

function itemInfo(ctx: NpcContext, item: string): { name: string; names: readonly string[]; mass: boolean; a: string } {
  const { names, mass } = catalogueItem(ctx.world.map.items, item);
  return { name: names[0]!, names, mass, a: mass ? `some ${names[0]}` : withArticle(names[0]!) };
}

/** "pouch of salt" → "pouches of salt", "song sheet" → "song sheets"; mass nouns stay. */
export function plural(name: string, mass = false): string {
  if (mass) return name;
  const pl = (w: string) => (/(s|sh|ch|x)$/.test(w) ? `${w}es` : /[^aeiou]y$/.test(w) ? `${w.slice(0, -1)}ies` : `${w}s`);
  const of = / of /.exec(name);
  if (of) return `${pl(name.slice(0, of.index))}${name.slice(of.index)}`;
  return name.replace(/(\S+)$/, (w) => pl(w));
}

function withA(info: { name: string; mass: boolean }, name: string): string {
  return info.mass && name === info.name ? `some ${name}` : withArticle(name);
}

// ---------------------------------------------------------------------------------------------------
// Lore

export function loreCandidates(ctx: NpcContext, fact: LoreFact, variants: number): Candidate[] {
  return loreQuestions(fact).map((q) => ({
    kind: 'lore',
    template: q.template,
    unit: `fact:${fact.cluster}`,
    player: q.line,
    noisy: true,
    variants,
    fact: fact.text,
    factKeywords: fact.keywords,
    needsFact: fact.text,
    reply: (rng) => ({
      speech: voiced(ctx, rng, fact.firstPerson, { opener: 0.3, closer: 0.12 }),
      // No incidental gesture: an action the player's line does not call for would be a coin flip to
      // learn and to score (eval counts every non-null action as expected).
      action: null,
    }),
  }));
}

/** Reply ids of "I don't know about that" lines (held out like templates). */
export const UNKNOWN_FAMILY = 'unknown';

/**
 * Questions about things this NPC's lore and persona never mention (other NPCs' facts): the NPC says it
 * does not know, instead of reciting whatever retrieval put in the prompt.
 */
export function unknownCandidates(ctx: NpcContext, allFacts: readonly LoreFact[], rng: Rng, scale: number): Candidate[] {
  const known = new Set<string>();
  for (const text of [ctx.script.persona, ...ctx.script.lore, ...ctx.script.examples.map((e) => e.npc)]) for (const w of contentStems(text)) known.add(w);
  // topic → the fact cluster it comes from (held out with that fact, so a held-out fact is not even named in train).
  const topics = new Map<string, string>();
  for (const f of allFacts) {
    if (f.npcId === ctx.script.id) continue;
    for (const t of f.topics) {
      if (/^your /.test(t.phrase) || t.phrase.startsWith('"')) continue;
      const stems = [...contentStems(t.phrase)];
      if (stems.length && stems.every((w) => !known.has(w)) && !topics.has(t.phrase)) topics.set(t.phrase, f.cluster);
    }
  }
  const out: Candidate[] = [];
  for (const [topic, cluster] of topics) {
    for (const [id, tpl] of rng.sample(Object.entries(LORE_TOPIC_TEMPLATES), 4)) {
      out.push({
        kind: 'smalltalk',
        template: `${UNKNOWN_FAMILY}.${id}`,
        unit: `fact:${cluster}`,
        player: fill(tpl, { t: topic }),
        noisy: true,
        variants: Math.max(1, Math.round(scale)),
        reply: (r) => ({
          speech: voiced(ctx, r, r.pick([`Can't say I know anything about ${topic}, {addr}.`, `${capitalize(topic)}? Not something I know about, {addr}.`, `I don't know much about ${topic}. Ask around town, {addr}.`]), { opener: 0.2, closer: 0 }),
          action: null,
        }),
      });
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------
// Actions

export function actionCandidates(ctx: NpcContext, rng: Rng, scale: number): Candidate[] {
  const out: Candidate[] = [];
  const a = ctx.script.actions;
  const walkable = new Set(a.walk_to?.landmark ?? []);
  const point = emoteOf(ctx, ['point']);
  const v = (n: number) => Math.max(1, Math.round(n * scale));

  // walk_to every landmark of the map: legal ones are walked to, the others get directions.
  for (const l of ctx.landmarks.values()) {
    const names = playerPlaceNames(ctx, l);
    const canWalk = walkable.has(l.id);
    const frames = [...Object.entries(WALK).map(([id, tpl]) => [`walk.${id}`, tpl] as const), ...rng.sample(Object.entries(WALK_C), canWalk ? 24 : 6).map(([id, tpl]) => [`walk.c.${id}`, tpl] as const)];
    for (const [template, tpl] of frames) {
      for (const p of canWalk ? names : rng.sample(names, 1)) {
        out.push({
          kind: 'action',
          template,
          player: fill(tpl, { p }),
          noisy: true,
          variants: v(canWalk ? 1.2 : 0.5),
          reply: (r) => {
            const place = placeName(ctx, l);
            if (canWalk) {
              const core = r.pick([
                `Follow me. ${capitalize(place)} is this way.`,
                `Come on, then. I'll take you to ${place}.`,
                `This way, {addr}. Keep up.`,
                `Right. To ${place}, stay close.`,
                `${capitalize(place)}? Easy. Walk with me.`,
                `I'll show you, {addr}. It's not far.`,
              ]);
              return { speech: voiced(ctx, r, core, { opener: 0.2, closer: 0.05 }), action: { type: 'walk_to', landmark: l.id } };
            }
            const dir = directionTo(ctx, l);
            const core = dir === 'right here'
              ? `${capitalize(place)} is right here, {addr}.`
              : r.pick([`I can't take you there, {addr}, but ${place} is ${dir}.`, `I can't leave my post. ${capitalize(place)} is ${dir}, {addr}.`, `Not with you, {addr}. Head ${dir.replace(/^to the /, '')} and you'll find ${place}.`]);
            return { speech: voiced(ctx, r, core, { opener: 0.15, closer: 0 }), action: point };
          },
        });
      }
    }
  }
  for (const place of MISSING_PLACES) {
    for (const [id, tpl] of rng.sample(Object.entries(WALK), 3)) {
      out.push({
        kind: 'action',
        template: `walk.${id}`,
        player: fill(tpl, { p: place }),
        noisy: true,
        variants: v(0.5),
        reply: (r) => ({ speech: voiced(ctx, r, r.pick([`There's no ${place.replace(/^the /, '')} in {world}, {addr}.`, `${capitalize(place)}? Never heard of one in {world}.`]), { opener: 0.2, closer: 0 }), action: null }),
      });
    }
  }

  // give_item: legal items are handed over; others are declined (with who has them, when someone does).
  const giveable = new Set(a.give_item?.item ?? []);
  const otherHolders = new Map<string, string>();
  for (const other of ctx.world.scripts) for (const item of other.actions.give_item?.item ?? []) if (other.id !== ctx.script.id && !otherHolders.has(item)) otherHolders.set(item, firstName(other.name));
  const askable = [...giveable, ...[...otherHolders.keys()].filter((i) => !giveable.has(i))];
  for (const item of askable) {
    const info = itemInfo(ctx, item);
    const can = giveable.has(item);
    const frames = [...Object.entries(GIVE).map(([id, tpl]) => [`give.${id}`, tpl] as const), ...rng.sample(Object.entries(GIVE_C), can ? 20 : 6).map(([id, tpl]) => [`give.c.${id}`, tpl] as const)];
    for (const [template, tpl] of frames) {
      for (const name of can ? info.names : [info.name]) {
        out.push({
          kind: 'action',
          template,
          player: fill(tpl, { a: withA(info, name) }),
          noisy: true,
          variants: v(can ? 1.5 : 0.4),
          reply: (r) => giveReply(ctx, r, item, can, otherHolders.get(item)),
        });
      }
    }
    (NEEDS[item] ?? []).forEach((line, i) => {
      out.push({ kind: 'action', template: `give.need.${item}.${i}`, player: line, noisy: true, variants: v(can ? 6 : 1), reply: (r) => giveReply(ctx, r, item, can, otherHolders.get(item)) });
    });
    for (const [id, line] of rng.sample(Object.entries(NEEDS_C[item] ?? {}), can ? 30 : 4)) {
      out.push({ kind: 'action', template: `give.need.c.${item}.${id}`, player: line, noisy: true, variants: v(1), reply: (r) => giveReply(ctx, r, item, can, otherHolders.get(item)) });
    }
  }
  for (const missing of MISSING_ITEMS) {
    for (const [id, tpl] of rng.sample(Object.entries(GIVE), 2)) {
      out.push({
        kind: 'action',
        template: `give.${id}`,
        player: fill(tpl, { a: withArticle(missing) }),
        noisy: true,
        variants: v(0.5),
        reply: (r) => ({ speech: voiced(ctx, r, r.pick([`I've no ${missing} to give, {addr}.`, `${capitalize(withArticle(missing))}? Not from me, {addr}.`]), { opener: 0.2, closer: 0 }), action: null }),
      });
    }
  }

  // follow / stop.
  const home = ctx.home ? placeName(ctx, ctx.home) : 'my post';
  for (const [template, line, weight] of [...Object.entries(FOLLOW).map(([id, line]) => [`follow.${id}`, line, 1] as const), ...Object.entries(FOLLOW_C).map(([id, line]) => [`follow.c.${id}`, line, 0.25] as const)]) {
    out.push({
      kind: 'action',
      template,
      player: line,
      noisy: true,
      variants: v((a.follow ? 8 : 3) * weight),
      reply: (r) => a.follow
        ? { speech: voiced(ctx, r, r.pick(["Lead on, {addr}. I'm right behind you.", "Alright, I'll follow.", "Go on then, I'm with you.", 'Right behind you, {addr}.']), { opener: 0.2, closer: 0 }), action: { type: 'follow' } }
        : { speech: voiced(ctx, r, r.pick([`I can't leave ${home}, {addr}.`, `Can't. I've work here at ${home}.`, `Not today, {addr}. ${capitalize(home)} needs me.`]), { opener: 0.2, closer: 0 }), action: null },
    });
  }
  for (const [template, line, weight] of [...Object.entries(STOP).map(([id, line]) => [`stop.${id}`, line, 1] as const), ...Object.entries(STOP_C).map(([id, line]) => [`stop.c.${id}`, line, 0.25] as const)]) {
    out.push({
      kind: 'action',
      template,
      player: line,
      noisy: true,
      variants: v(8 * weight),
      reply: (r) => a.stop
        ? { speech: voiced(ctx, r, r.pick(["Right, I'll wait here.", 'As you like. I stay put.', "Fine, I'm staying here, {addr}.", 'Stopping here.']), { opener: 0.15, closer: 0 }), action: { type: 'stop' } }
        : { speech: voiced(ctx, r, "I'm not going anywhere, {addr}.", { opener: 0.2, closer: 0 }), action: null },
    });
  }

  // Emotes: the NPC's own on request; a few it cannot do are declined.
  const own = new Set<string>(a.emote ?? []);
  const others = Object.keys(EMOTE_REQUESTS).filter((e) => !own.has(e));
  for (const emote of [...own, ...rng.sample(others, 4)]) {
    const can = own.has(emote);
    (EMOTE_REQUESTS[emote] ?? []).forEach((line, i) => {
      out.push({
        kind: 'action',
        template: `emote.${emote}.${i}`,
        player: line,
        noisy: true,
        variants: v(can ? 6 : 2),
        reply: (r) => can
          ? { speech: voiced(ctx, r, r.pick(EMOTE_SPEECH[emote] ?? ['There.']), { opener: 0.1, closer: 0.05 }), action: { type: 'emote', emote: emote as Emote } }
          : { speech: voiced(ctx, r, r.pick(["That's not my way, {addr}.", "I don't do that, {addr}.", 'Ha, no. Not me.']), { opener: 0.2, closer: 0 }), action: null },
      });
    });
  }
  return out;
}

function giveReply(ctx: NpcContext, r: Rng, item: string, can: boolean, holder: string | undefined): Reply {
  const info = itemInfo(ctx, item);
  if (can) {
    const core = r.pick([`Here, take ${info.a}.`, `${capitalize(info.a)} for you, {addr}.`, `Here you go. ${capitalize(info.a)}, and look after it.`, `Take this ${info.name}, {addr}.`]);
    return { speech: voiced(ctx, r, core, { opener: 0.2, closer: 0.15 }), action: { type: 'give_item', item } };
  }
  const core = holder && r.chance(0.7)
    ? r.pick([`I've no ${info.name} to give, {addr}. Ask ${holder}.`, `Not from me, {addr}. ${holder} has those.`])
    : r.pick([`I've no ${info.name} to give, {addr}.`, `Sorry, {addr}, no ${info.name} here.`]);
  return { speech: voiced(ctx, r, core, { opener: 0.15, closer: 0 }), action: null };
}

// ---------------------------------------------------------------------------------------------------
// Greetings and small talk

export function socialCandidates(ctx: NpcContext, scale: number): Candidate[] {
  const out: Candidate[] = [];
  const v = (n: number) => Math.max(1, Math.round(n * scale));
  const greetEmote = emoteOf(ctx, ['wave', 'salute', 'bow', 'nod']);
  const nod = emoteOf(ctx, ['nod', 'bow', 'wave']);
  for (const [id, line] of Object.entries(GREETINGS)) {
    out.push({
      kind: 'greeting',
      template: `greet.${id}`,
      player: fill(line, { first: ctx.first }),
      noisy: true,
      variants: v(8),
      reply: (r) => ({
        speech: r.chance(0.75) ? ctx.script.greeting : voiced(ctx, r, r.pick(['Hello, {addr}.', 'Well met, {addr}.', 'Good day to you, {addr}.']), { opener: 0, closer: 0.5 }),
        action: greetEmote,
      }),
    });
  }
  for (const [id, line] of Object.entries(FAREWELLS)) {
    out.push({ kind: 'greeting', template: `bye.${id}`, player: line, noisy: true, variants: v(6), reply: (r) => ({ speech: voiced(ctx, r, r.pick(ctx.voice.farewells), { opener: 0, closer: 0 }), action: greetEmote }) });
  }
  const intro = introduction(ctx);
  const wares = (ctx.script.actions.give_item?.item ?? []).map((i) => { const info = itemInfo(ctx, i); return plural(info.name, info.mass); });
  const wareList = wares.length > 1 ? `${wares.slice(0, -1).join(', ')} and ${wares[wares.length - 1]}` : wares[0];
  const replies: Record<string, (r: Rng) => Reply> = {
    thanks: (r) => ({ speech: voiced(ctx, r, r.pick(["You're welcome, {addr}.", 'Any time, {addr}.', "Don't mention it."]), { opener: 0.1, closer: 0.2 }), action: nod }),
    how: (r) => ({ speech: voiced(ctx, r, r.pick(ctx.voice.moods), { opener: 0.1, closer: 0.1 }), action: null }),
    who: (r) => ({ speech: voiced(ctx, r, intro, { opener: 0.2, closer: 0.2 }), action: null }),
    place: (r) => ({ speech: voiced(ctx, r, placeIntro(ctx), { opener: 0.2, closer: 0 }), action: null }),
    wares: (r) => ({ speech: voiced(ctx, r, wareList ? r.pick([`I've got ${wareList}. What do you need?`, `${capitalize(wareList)}, {addr}. Ask and we'll see.`]) : 'Nothing to give, {addr}.', { opener: 0.15, closer: 0 }), action: null }),
    busy: (r) => ({ speech: voiced(ctx, r, r.pick(['For a moment, {addr}. What is it?', 'Always, {addr}. Go on.', "I've a moment. Speak."]), { opener: 0.15, closer: 0 }), action: nod }),
    compliment: (r) => ({ speech: voiced(ctx, r, r.pick(['Kind of you, {addr}.', 'Ha. Flattery gets you nowhere, but thank you.', 'Good of you to say, {addr}.']), { opener: 0.15, closer: 0.2 }), action: nod }),
  };
  for (const [intent, templates] of Object.entries(SMALLTALK)) {
    for (const [id, line] of Object.entries(templates)) {
      out.push({ kind: 'smalltalk', template: `small.${intent}.${id}`, player: line, noisy: true, variants: v(6), reply: replies[intent]! });
    }
  }
  // The script's own examples: the voice designers wrote.
  ctx.script.examples.forEach((ex, i) => {
    const action = ex.action ?? null;
    out.push({
      kind: action && action.type !== 'emote' ? 'action' : 'smalltalk',
      template: `example.${ctx.script.id}.${i}`,
      player: ex.player,
      noisy: true,
      variants: v(10),
      reply: () => ({ speech: ex.npc, action }),
    });
  });
  return out;
}

/** "I'm Bram Ironhand, the blacksmith of Emberfall." from the persona's first sentence. */
function introduction(ctx: NpcContext): string {
  const first = ctx.script.persona.trim().split(/(?<=[.!?])\s+/)[0]!.replace(/\s+/g, ' ');
  if (/^You are /.test(first) && wordCount(first) <= 30) {
    return first.replace(/^You are /, "I'm ").replace(/\byour\b/g, 'my').replace(/\byou\b/g, 'I').replace(/\bYou\b/g, 'I');
  }
  return `I'm ${ctx.script.name}, the ${ctx.script.role} of ${ctx.world.map.name}.`;
}

function placeIntro(ctx: NpcContext): string {
  const desc = ctx.world.map.description.trim().split(/(?<=[.!?])\s+/)[0] ?? '';
  if (!desc) return `This is ${ctx.world.map.name}, {addr}.`;
  return `This is ${ctx.world.map.name}, ${desc.charAt(0).toLowerCase()}${desc.slice(1)}`;
}

// ---------------------------------------------------------------------------------------------------
// Schedule

function minutes(hhmm: string): number {
  const [h, m] = hhmm.split(':').map(Number);
  return h! * 60 + m!;
}

/** "06:00" → "six in the morning", "12:00" → "noon", "17:30" → "half past five in the afternoon". */
export function spokenTime(hhmm: string): string {
  const [h, m] = hhmm.split(':').map(Number) as [number, number];
  if (h === 12 && m === 0) return 'noon';
  if (h === 0 && m === 0) return 'midnight';
  const words = ['twelve', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine', 'ten', 'eleven'];
  const hour = words[h % 12]!;
  const part = h < 12 ? 'in the morning' : h < 18 ? 'in the afternoon' : 'in the evening';
  const min = m === 0 ? hour : m === 30 ? `half past ${hour}` : m === 15 ? `quarter past ${hour}` : m === 45 ? `quarter to ${words[(h + 1) % 12]}` : `${hour} ${m}`;
  return `${min} ${part}`;
}

/** Gerund activity → the player's "when do you …?" form ("lighting the furnace" → "light the furnace"). */
function activityBase(ctx: NpcContext, activity: string): string | undefined {
  const [head, ...rest] = activity.split(' ');
  if (!head || !/^[a-z]+ing$/.test(head)) return undefined;
  const stemmed = head.slice(0, -3);
  const options = [stemmed, `${stemmed}e`, stemmed.replace(/(.)\1$/, '$1')];
  const base = options.find((c) => verbInfo(c)?.tense === 'base');
  if (!base) return undefined;
  return rewritePerson([base, ...rest].join(' '), ctx.self, 'second').replace(/\b(his|her|my)\b/, 'your');
}

export function scheduleCandidates(ctx: NpcContext, scale: number): Candidate[] {
  const out: Candidate[] = [];
  const v = (n: number) => Math.max(1, Math.round(n * scale));
  const where = (place: string | { x: number; z: number }) => (typeof place === 'string' ? (ctx.landmarks.get(place) ? placeName(ctx, ctx.landmarks.get(place)!) : place) : 'out and about');
  const keyOf = (place: string | { x: number; z: number }) => {
    if (typeof place !== 'string') return [];
    const l = ctx.landmarks.get(place);
    return [(l?.name ?? place).split(/\s+/).pop()!.toLowerCase().replace(/['’]s$/, '')];
  };
  const schedule = ctx.script.schedule;
  const patrol = ctx.script.patrol;
  if (!schedule && !patrol) return out;

  if (schedule) {
    /** The entry in force at a time; before the first entry of the day, the first one (the NPC is not up yet). */
    const entryAt = (hhmm: string) => {
      const t = minutes(hhmm);
      let entry: (typeof schedule)[number] | undefined;
      for (const e of schedule) if (minutes(e.at) <= t) entry = e;
      return { entry: entry ?? schedule[0]!, early: !entry };
    };
    const describe = (e: (typeof schedule)[number]) => `${where(e.place)}${e.activity ? `, ${rewritePerson(e.activity, ctx.self, 'first').replace(/\b(his|her)\b/, 'my')}` : ''}`;
    const factOf = (e: (typeof schedule)[number]) => `From ${e.at} ${ctx.script.name} is at ${typeof e.place === 'string' ? e.place : `${e.place.x},${e.place.z}`}${e.activity ? ` (${e.activity})` : ''}.`;
    for (const [id, tpl] of Object.entries(SCHEDULE_AT)) {
      for (const [phrase, hhmm] of TIME_PHRASES) {
        const { entry: e, early } = entryAt(hhmm);
        out.push({
          kind: 'schedule',
          template: `sched.at.${id}`,
          player: fill(tpl, { time: phrase }),
          noisy: true,
          variants: v(0.6),
          fact: factOf(e),
          factKeywords: keyOf(e.place),
          reply: (r) => ({
            speech: early
              ? voiced(ctx, r, `Not that early, {addr}. From ${spokenTime(e.at)} I'm at ${describe(e)}.`, { opener: 0.15, closer: 0 })
              : voiced(ctx, r, r.pick([`${capitalize(phrase)}? I'm at ${describe(e)}.`, `${capitalize(phrase)} you'll find me at ${describe(e)}.`, `At ${describe(e)}, {addr}.`]), { opener: 0.15, closer: 0 }),
            action: null,
          }),
        });
      }
    }
    const day = schedule.slice(0, 4).map((e, i) => `${i === 0 ? 'At' : 'at'} ${spokenTime(e.at)} ${i === 0 ? "I'm at" : ''} ${where(e.place)}`.replace(/\s{2,}/g, ' '));
    const dayText = `${day.join(', ')}${schedule.length > 4 ? ', and so on' : ''}.`;
    for (const [id, line] of Object.entries(SCHEDULE_DAY)) {
      out.push({
        kind: 'schedule',
        template: `sched.day.${id}`,
        player: line,
        noisy: true,
        variants: v(5),
        fact: schedule.map(factOf).join(' '),
        factKeywords: [...new Set(schedule.slice(0, 4).flatMap((e) => keyOf(e.place)))],
        reply: (r) => ({ speech: voiced(ctx, r, dayText, { opener: 0.15, closer: 0 }), action: null }),
      });
    }
    for (const e of schedule) {
      const act = e.activity ? activityBase(ctx, e.activity) : undefined;
      if (!act) continue;
      for (const [id, tpl] of Object.entries(SCHEDULE_ACTIVITY)) {
        out.push({
          kind: 'schedule',
          template: `sched.act.${id}`,
          player: fill(tpl, { act }),
          noisy: true,
          variants: v(3),
          fact: factOf(e),
          factKeywords: keyOf(e.place),
          reply: (r) => ({ speech: voiced(ctx, r, r.pick([`At ${spokenTime(e.at)}, at ${where(e.place)}.`, `From ${spokenTime(e.at)}, {addr}, at ${where(e.place)}.`]), { opener: 0.15, closer: 0 }), action: null }),
        });
      }
    }
  } else if (patrol) {
    const stops = [...new Set(patrol.waypoints.map(where))];
    const route = stops.length > 1 ? `${stops.slice(0, -1).join(', ')} and ${stops[stops.length - 1]}` : stops[0]!;
    const fact = `${ctx.script.name} patrols: ${patrol.waypoints.map((w) => (typeof w === 'string' ? w : `${w.x},${w.z}`)).join(', ')}.`;
    const keywords = [...new Set(patrol.waypoints.slice(0, 2).flatMap(keyOf))];
    for (const [id, tpl] of Object.entries(SCHEDULE_AT)) {
      for (const [phrase] of TIME_PHRASES) {
        out.push({
          kind: 'schedule',
          template: `sched.at.${id}`,
          player: fill(tpl, { time: phrase }),
          noisy: true,
          variants: v(0.4),
          fact,
          factKeywords: keywords,
          reply: (r) => ({ speech: voiced(ctx, r, r.pick([`Somewhere on my rounds, {addr}: ${route}.`, `${capitalize(phrase)}? On my rounds, between ${route}.`]), { opener: 0.15, closer: 0 }), action: null }),
        });
      }
    }
    for (const [id, line] of Object.entries(SCHEDULE_DAY)) {
      out.push({
        kind: 'schedule',
        template: `sched.day.${id}`,
        player: line,
        noisy: true,
        variants: v(5),
        fact,
        factKeywords: keywords,
        reply: (r) => ({ speech: voiced(ctx, r, r.pick([`I walk my rounds all day: ${route}.`, `Round and round, {addr}: ${route}.`]), { opener: 0.15, closer: 0 }), action: null }),
      });
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------
// Out of world and prompt injection

export function refusalCandidates(ctx: NpcContext, rng: Rng, scale: number): Candidate[] {
  const out: Candidate[] = [];
  const v = (n: number) => Math.max(1, Math.round(n * scale));
  const puzzled = (r: Rng, thing?: string): Reply => {
    const echo = thing && r.chance(0.4) ? `${capitalize(thing.replace(/^the /, ''))}? ` : '';
    return { speech: voiced(ctx, r, `${echo}${r.pick(ctx.voice.puzzled)}`, { opener: echo ? 0 : 0.15, closer: 0 }), action: null };
  };
  for (const [cat, things] of Object.entries(OUT_OF_WORLD)) {
    for (const thing of things) {
      for (const [id, tpl] of rng.sample(Object.entries(OUT_OF_WORLD_FRAMES), 8)) {
        out.push({ kind: 'refusal', template: `oow.frame.${id}`, unit: `oow:${cat}:${slug(thing)}`, player: fill(tpl, { x: thing }), noisy: true, variants: v(1.5), refusal: true, reply: (r) => puzzled(r, thing) });
      }
    }
  }
  for (const [cat, lines] of Object.entries(OUT_OF_WORLD_LINES)) {
    for (const line of lines) {
      out.push({ kind: 'refusal', template: `oow.line`, unit: `oow:${cat}:${slug(line)}`, player: line, noisy: true, variants: v(5), refusal: true, reply: (r) => puzzled(r) });
    }
  }
  return out;
}

export function injectionCandidates(ctx: NpcContext, rng: Rng, scale: number): Candidate[] {
  const out: Candidate[] = [];
  const v = (n: number) => Math.max(1, Math.round(n * scale));
  const items = ctx.script.actions.give_item?.item ?? ctx.world.map.items.slice(0, 2).map((i) => i.id);
  const places = ctx.script.actions.walk_to?.landmark ?? [...ctx.landmarks.keys()].slice(0, 2);
  const lines: { template: string; text: string; t: InjectionTemplate; fills: number; variants: number }[] = [
    ...Object.entries(INJECTIONS).map(([id, t]) => ({ template: `inject.${id}`, text: t.text, t, fills: t.text.includes('{') ? 4 : 1, variants: t.text.includes('{') ? 5 : 12 })),
    // Composed ones: many templates, so fewer samples each (about as many in all as the hand-written).
    ...rng.sample(Object.entries(INJECT_C), 60).map(([id, text]) => ({ template: `inject.c.${id}`, text, t: { text, style: 'order' as const }, fills: 1, variants: 2 })),
  ];
  for (const { template, text, t, fills, variants } of lines) {
    for (let k = 0; k < fills; k++) {
      const item = rng.pick(items);
      const info = itemInfo(ctx, item);
      const landmark = rng.pick(places);
      const line = fill(text, {
        a: info.a,
        items: plural(info.name, info.mass),
        call: formatActionCall({ type: 'give_item', item }),
        walk: formatActionCall({ type: 'walk_to', landmark }),
        follow: formatActionCall({ type: 'follow' }),
        p: ctx.landmarks.get(landmark) ? rng.pick(playerPlaceNames(ctx, ctx.landmarks.get(landmark)!)) : landmark,
        name: ctx.script.name,
        first: ctx.first,
        role: ctx.script.role,
      });
      out.push({
        kind: 'injection',
        template,
        player: line,
        noisy: true,
        variants: v(variants),
        refusal: true,
        reply: (r) => {
          if (t.style === 'identity' && r.chance(0.6)) {
            const core = r.pick([`${capitalize(withArticle(t.thing ?? 'stranger'))}? No, {addr}. I'm {name}, the {role} of {world}.`, `I'm no ${t.thing}, {addr}. I'm {name}, and I stay that way.`]);
            return { speech: voiced(ctx, r, core, { opener: 0.15, closer: 0 }), action: null };
          }
          return { speech: voiced(ctx, r, r.pick(ctx.voice.unmoved), { opener: 0.1, closer: 0.1 }), action: null };
        },
      });
    }
  }
  return out;
}
