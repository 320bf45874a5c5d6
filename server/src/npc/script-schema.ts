/**
 * The NPC script format: the zod schema that is the single source of truth for `assets/npcs/*.yaml`,
 * the JSON Schema published from it for editors, the checks against a world map, and the action types
 * the dialogue code consumes (what an NPC may do, and one concrete action call).
 *
 * YAML field names are snake_case (designer-facing); `samplingOverrides()` maps them to the engine's
 * camelCase options.
 */
import { GENDERS } from './english.ts';
import { z } from 'zod';
import type { WorldMap } from '../world/world-map.ts';
import { collidesAny, insideBounds } from '../world/world-map.ts';
import { DEFAULT_NOTICES, SITUATION_EVENT_KINDS } from './situation.ts';
import { DEFAULT_TRUST_AFTER, DEFAULT_TRUST_MODERATED, trustSchema } from './trust.ts';
import { ACTION_TYPES, ACTIONS, anyKind, type AnyActionKind, type NpcAction, type NpcActions, type NpcActionType } from './actions/index.ts';
import { EMOTES, SLUG, slug, type Emote } from './actions/kind.ts';
import { NpcVoiceSchema } from '../voice/voice-schema.ts';

export { ACTION_TYPES, EMOTES, SLUG, type Emote, type NpcAction, type NpcActions, type NpcActionType };

const text = (max: number) => z.string().trim().min(1, 'must not be empty').max(max, `must be at most ${max} characters`);
const finite = z.number().finite();

const Point = z.strictObject({ x: finite, z: finite }).describe('a point on the map, in world units');
/** A place is a landmark id from the world map or an explicit point. */
const Place = z.union([slug('a landmark id'), Point], { error: 'expected a landmark id (e.g. forge) or a point {x, z}' })
  .describe('a landmark id from the world map (e.g. forge) or a point {x, z}');

type Kinds = typeof ACTIONS;
const domainShape = Object.fromEntries(ACTION_TYPES.map((t) => [t, ACTIONS[t].domain.optional()])) as { [K in NpcActionType]: z.ZodOptional<Kinds[K]['domain']> };
const callSchemas = ACTION_TYPES.map((t) => ACTIONS[t].call) as unknown as [Kinds[NpcActionType]['call'], ...Kinds[NpcActionType]['call'][]];

/** What an NPC may do, each kind with its argument domain (actions/<kind>.ts). Absent = not allowed. */
export const NpcActionsSchema = z.strictObject(domainShape)
  .describe('allowed actions with their argument domains; an action not listed here can never be produced');

/** One concrete action call, as the dialogue code produces and the room executes it. */
export const NpcActionSchema = z.discriminatedUnion('type', callSchemas).describe('one action call, e.g. {type: give_item, item: bread}');

/** A named place of the NPC's own (its stall, its fishing spot), used like a map landmark by this NPC only. */
const OwnPlace = z.strictObject({
  name: text(80).describe('the place\'s name, as the NPC says it ("the Ferry Landing")'),
  x: finite,
  z: finite,
}).describe('a place of this NPC\'s own');

const Example = z.strictObject({
  player: text(500).describe('what the player says'),
  npc: text(800).describe('what the NPC answers, in its own voice'),
  action: NpcActionSchema.optional().describe('the action the NPC takes with that answer; must be allowed by `actions`'),
});

const ScheduleEntry = z.strictObject({
  at: z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'must be a time of day "HH:MM" (24-hour)').describe('game time of day, "HH:MM"'),
  place: Place,
  activity: text(200).optional().describe('what the NPC does there, for the prompt ("hammering horseshoes")'),
});

const Sampling = z.strictObject({
  temperature: z.number().min(0).max(2).optional().describe('0 = greedy'),
  top_p: z.number().gt(0).max(1).optional(),
  top_k: z.number().int().min(0).optional().describe('0 = off'),
  max_tokens: z.number().int().min(1).max(1024).optional().describe('longest reply, in tokens'),
  repetition_penalty: z.number().gt(0).max(3).optional().describe('1 = off'),
}).describe('per-NPC overrides of the model\'s sampling settings');

const NpcScriptObject = z.strictObject({
  id: slug('id').describe('unique NPC id (not a landmark id of the map)'),
  name: text(80).describe('display name, shown above the NPC'),
  role: text(80).describe('what the NPC is in the town ("blacksmith")'),
  pronouns: z.enum(GENDERS).default('they')
    .describe('he, she or they: how the lore speaks of the NPC, so a retrieved fact can be turned into its first person ("Bram built his forge" → "I built my forge")'),
  persona: text(4000).describe('who the NPC is: backstory, temperament, wants; written in the second person ("You are …")'),
  style: text(1000).describe('how the NPC speaks: register, verbal tics, sentence length'),
  greeting: text(300).describe('first line when a player walks up'),
  lore: z.array(text(400)).min(1, 'give at least one lore fact').max(200).describe('facts the NPC knows; the most relevant ones are retrieved into each prompt'),
  examples: z.array(Example).max(12).default([]).describe('sample exchanges that show the voice and how actions are used'),
  actions: NpcActionsSchema,
  inventory: z.record(slug('an item id'), z.number().int().min(0, 'must be 0 or more')).default({})
    .describe('starting stock: item id → count; items it can give must be here'),
  places: z.record(slug('a place id'), OwnPlace).default({})
    .describe('places of its own, id → {name, x, z}: usable wherever a landmark id is (walk_to, point_at, patrol, schedule), without editing the map; an id must not be a map landmark\'s'),
  home: z.strictObject({
    x: finite,
    z: finite,
    heading: finite.optional().describe('facing, radians'),
  }).describe('where the NPC is placed in the world and stands when idle (walkable, not inside an obstacle)'),
  patrol: z.strictObject({
    waypoints: z.array(Place).min(2, 'a patrol needs at least two waypoints'),
    pause_s: z.number().min(0).max(3600).default(10).describe('seconds to linger at each waypoint'),
  }).optional().describe('walk these waypoints in a loop between conversations'),
  schedule: z.array(ScheduleEntry).min(1).optional().describe('daily routine: where to be from each time of day on'),
  notices: z.array(z.enum(SITUATION_EVENT_KINDS)).default([...DEFAULT_NOTICES])
    .describe('events this NPC notices and may mention (player_arrived, player_left, item_given, chat = overheard chat); default: all but chat'),
  trust: trustSchema(ACTION_TYPES).default({ requires: {}, after: { ...DEFAULT_TRUST_AFTER }, moderated: DEFAULT_TRUST_MODERATED }),
  sampling: Sampling.default({}),
  voice: NpcVoiceSchema.optional(),
  fallback: z.array(text(300)).min(1, 'give at least one fallback line').describe('scripted lines said when the model cannot answer in time'),
});

/** The NPC script schema, including checks that span fields (no map needed). */
export const NpcScriptSchema = NpcScriptObject.superRefine((s, ctx) => {
  checkScriptFields(s, (path, message) => ctx.addIssue({ code: 'custom', path, message }));
});

export type NpcScript = z.output<typeof NpcScriptSchema>;
export type NpcScriptInput = z.input<typeof NpcScriptSchema>;
export type NpcExample = z.output<typeof Example>;
export type NpcPlace = z.output<typeof Place>;
export type NpcScheduleEntry = z.output<typeof ScheduleEntry>;
export type NpcSamplingOverrides = z.output<typeof Sampling>;

/** The kind of a (schema-valid) action: the registry has one for every type. */
function kind(type: NpcActionType): AnyActionKind {
  return anyKind(type)!;
}

/** The call's written form without brackets: `walk_to forge`, `follow`. */
export function actionArgs(a: NpcAction): string[] {
  return kind(a.type).args(a);
}

/**
 * Which action kinds are open for the player at hand (trust.ts `actionGate`); absent = every listed
 * kind. Persona text never depends on it (it is shared by every player); the grammar and the room do.
 */
export type ActionGate = (kind: NpcActionType) => boolean;

/** True when `action` is one this NPC's script allows, arguments included (and its kind open, given a gate). */
export function isActionAllowed(actions: NpcActions, action: NpcAction, gate?: ActionGate): boolean {
  const domain = actions[action.type];
  if (domain === undefined || (gate && !gate(action.type))) return false;
  const key = [action.type, ...actionArgs(action)].join(' ');
  return kind(action.type).legal(domain).some((legal) => [legal.type, ...actionArgs(legal)].join(' ') === key);
}

/** Every concrete action the script allows (of the kinds a gate leaves open), in a stable order (the grammar's alternatives). */
export function legalActions(actions: NpcActions, gate?: ActionGate): NpcAction[] {
  const out: NpcAction[] = [];
  for (const type of ACTION_TYPES) {
    const domain = actions[type];
    if (domain !== undefined && (!gate || gate(type))) out.push(...kind(type).legal(domain));
  }
  return out;
}

/** The wire form of an action (`NpcActionCall` in shared/: a name and string arguments). */
export function actionToCall(a: NpcAction): { name: NpcActionType; args: Record<string, string> } {
  return { name: a.type, args: kind(a.type).wireArgs(a) };
}

/** Parses a wire-form action back; undefined when it is not a well-formed action of a known kind. */
export function actionFromCall(call: { name: string; args?: Record<string, unknown> }): NpcAction | undefined {
  const parsed = NpcActionSchema.safeParse({ ...(call.args ?? {}), type: call.name });
  return parsed.success ? parsed.data : undefined;
}

export function describeAction(a: NpcAction): string {
  return `${a.type}(${actionArgs(a).join(', ')})`;
}

/** The script's sampling overrides as engine options (`GenerateOptions` field names); absent = model default. */
export function samplingOverrides(script: Pick<NpcScript, 'sampling'>): { temperature?: number; topP?: number; topK?: number; maxTokens?: number; repetitionPenalty?: number } {
  const s = script.sampling;
  return {
    ...(s.temperature !== undefined ? { temperature: s.temperature } : {}),
    ...(s.top_p !== undefined ? { topP: s.top_p } : {}),
    ...(s.top_k !== undefined ? { topK: s.top_k } : {}),
    ...(s.max_tokens !== undefined ? { maxTokens: s.max_tokens } : {}),
    ...(s.repetition_penalty !== undefined ? { repetitionPenalty: s.repetition_penalty } : {}),
  };
}

/** The parts of a world map the script checks need. */
export type ScriptMap = Pick<WorldMap, 'id' | 'bounds' | 'obstacles' | 'landmarks'>;

/** A problem found in a script, with the path of the offending field. */
export interface ScriptIssue {
  path: (string | number)[];
  message: string;
}

/**
 * What could be read of a script whose whole may be invalid: each field (each action kind, each example,
 * each schedule entry) that passes its own schema. The cross-field and map checks run on this, so one
 * run reports a file's schema errors and its cross-check and map problems together.
 */
export interface PartialScript {
  id?: string;
  actions: NpcActions;
  /** Action kinds present in the file whose domain is invalid (checks naming them would only repeat it). */
  brokenKinds: ReadonlySet<string>;
  inventory?: Record<string, number>;
  examples: (NpcExample | undefined)[];
  home?: NpcScript['home'];
  patrol?: NpcScript['patrol'];
  schedule: (NpcScheduleEntry | undefined)[];
  /** Whether the file gives both `patrol` and `schedule` (whatever their contents). */
  patrolAndSchedule: boolean;
  trust?: NpcScript['trust'];
  places?: NpcScript['places'];
  /** Ids under `places`, read even when a place there is invalid (references to them are not unknown). */
  placeIds: string[];
  /** Action kinds named under `trust.requires`, read even when a value there is invalid. */
  trustRequires: string[];
}

const field = <K extends keyof typeof NpcScriptObject.shape>(key: K, value: unknown): z.output<(typeof NpcScriptObject.shape)[K]> | undefined => {
  const parsed = NpcScriptObject.shape[key].safeParse(value);
  return parsed.success ? (parsed.data as z.output<(typeof NpcScriptObject.shape)[K]>) : undefined;
};

const asRecord = (v: unknown): Record<string, unknown> => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {});

/** Reads every field of `data` that is valid on its own (see PartialScript). */
export function partialScript(data: unknown): PartialScript {
  const d = asRecord(data);
  const rawActions = asRecord(d.actions);
  const actions: Record<string, unknown> = {};
  const brokenKinds = new Set<string>();
  for (const type of ACTION_TYPES) {
    if (rawActions[type] === undefined) continue;
    const parsed = ACTIONS[type].domain.safeParse(rawActions[type]);
    if (parsed.success) actions[type] = parsed.data;
    else brokenKinds.add(type);
  }
  const list = <T>(raw: unknown, schema: z.ZodType<T>): (T | undefined)[] => (Array.isArray(raw) ? raw.map((v) => { const p = schema.safeParse(v); return p.success ? p.data : undefined; }) : []);
  const out: PartialScript = {
    actions: actions as NpcActions,
    brokenKinds,
    examples: list(d.examples, Example),
    schedule: list(d.schedule, ScheduleEntry),
    patrolAndSchedule: d.patrol !== undefined && d.schedule !== undefined,
    trustRequires: Object.keys(asRecord(asRecord(d.trust).requires)).filter((k) => (ACTION_TYPES as readonly string[]).includes(k)),
    placeIds: Object.keys(asRecord(d.places)),
  };
  const id = field('id', d.id);
  if (id !== undefined) out.id = id;
  if (d.inventory !== undefined) {
    const inventory = field('inventory', d.inventory);
    if (inventory !== undefined) out.inventory = inventory;
  }
  const home = field('home', d.home);
  if (home !== undefined) out.home = home;
  const patrol = field('patrol', d.patrol);
  if (patrol !== undefined) out.patrol = patrol;
  const trust = field('trust', d.trust);
  if (trust !== undefined) out.trust = trust;
  const places = field('places', d.places);
  if (places !== undefined) out.places = places;
  return out;
}

/** A whole (valid) script as a PartialScript. */
function asPartial(s: NpcScript): PartialScript {
  return { ...s, brokenKinds: new Set(), examples: s.examples, schedule: s.schedule ?? [], patrolAndSchedule: s.patrol !== undefined && s.schedule !== undefined, trustRequires: Object.keys(s.trust.requires), placeIds: Object.keys(s.places) };
}

/**
 * Checks that span fields (no map needed): each action kind's own checks, example actions allowed,
 * patrol xor schedule, schedule times increasing, trust gates on listed actions. Runs on whatever of the
 * script is readable, so it also reports on a file that has schema errors elsewhere.
 */
export function checkScriptFields(script: NpcScript | PartialScript, issue: (path: (string | number)[], message: string) => void): void {
  const s = 'brokenKinds' in script ? script : asPartial(script);
  const a = s.actions;
  for (const type of ACTION_TYPES) {
    const domain = a[type];
    // A kind's checks read the inventory; without a readable one they would only repeat its error.
    if (domain !== undefined && s.inventory !== undefined) kind(type).checkScript?.(domain, { inventory: s.inventory }, issue);
  }
  s.examples.forEach((ex, i) => {
    if (ex?.action && !s.brokenKinds.has(ex.action.type) && !isActionAllowed(a, ex.action)) {
      issue(['examples', i, 'action'], `example action ${describeAction(ex.action)} is not allowed by this NPC's actions`);
    }
  });
  if (s.patrolAndSchedule) issue(['schedule'], 'give either patrol or schedule, not both');
  s.schedule.forEach((entry, i) => {
    const prev = s.schedule[i - 1];
    if (entry && prev && prev.at >= entry.at) issue(['schedule', i, 'at'], `schedule times must increase (${entry.at} comes after ${prev.at})`);
  });
  for (const type of s.trustRequires) {
    if (a[type as NpcActionType] === undefined && !s.brokenKinds.has(type)) issue(['trust', 'requires', type], `"${type}" needs trust but this NPC does not list it under actions`);
  }
}

/** Body radius of an NPC, as the room simulates it. */
const BODY_RADIUS = 0.5;

/**
 * Checks a script against a world map: every landmark it names exists, its home and explicit points are
 * walkable, and its id is not a landmark's (ids of places and NPCs share one namespace). Runs on whatever
 * of the script is readable.
 */
export function checkScriptAgainstMap(script: NpcScript | PartialScript, map: ScriptMap): ScriptIssue[] {
  const s = 'brokenKinds' in script ? script : asPartial(script);
  const issues: ScriptIssue[] = [];
  const mapIds = new Set(map.landmarks.map((l) => l.id));
  const landmarks = new Set([...mapIds, ...s.placeIds]);
  const own = s.placeIds;
  const known = () => [...mapIds].join(', ') + (own.length ? `; its own places: ${own.join(', ')}` : '');
  const checkLandmark = (id: string, path: (string | number)[]) => {
    if (!landmarks.has(id)) issues.push({ path, message: `"${id}" is not a landmark on the map "${map.id}" (landmarks: ${known()})` });
  };
  const checkPoint = (p: { x: number; z: number }, path: (string | number)[], what: string) => {
    if (!insideBounds(map, p.x, p.z, BODY_RADIUS)) issues.push({ path, message: `${what} (${p.x}, ${p.z}) is outside the map's walkable bounds` });
    else if (collidesAny(map.obstacles, p.x, p.z, BODY_RADIUS)) issues.push({ path, message: `${what} (${p.x}, ${p.z}) is inside an obstacle` });
  };
  const checkPlace = (place: NpcPlace, path: (string | number)[]) => {
    if (typeof place === 'string') checkLandmark(place, path);
    else checkPoint(place, path, 'point');
  };

  for (const [id, place] of Object.entries(s.places ?? {})) {
    if (mapIds.has(id)) issues.push({ path: ['places', id], message: `"${id}" is already a landmark on the map "${map.id}"; give this place another id` });
    checkPoint(place, ['places', id], 'place');
  }
  if (s.id !== undefined && landmarks.has(s.id)) issues.push({ path: ['id'], message: `"${s.id}" is a landmark id on the map "${map.id}"; give the NPC another id` });
  for (const type of ACTION_TYPES) {
    const domain = s.actions[type];
    if (domain !== undefined) kind(type).checkMap?.(domain, { checkLandmark });
  }
  s.examples.forEach((ex, i) => {
    const landmarks = ex?.action ? kind(ex.action.type).callLandmarks?.(ex.action) : undefined;
    for (const id of landmarks ?? []) checkLandmark(id, ['examples', i, 'action', 'landmark']);
  });
  s.patrol?.waypoints.forEach((w, i) => checkPlace(w, ['patrol', 'waypoints', i]));
  s.schedule.forEach((e, i) => e && checkPlace(e.place, ['schedule', i, 'place']));
  if (s.home) checkPoint(s.home, ['home'], 'home');
  return issues;
}

/** The places an NPC knows: the map's landmarks, then its own (`places`). The one list its actions, routine and prompt use. */
export function npcLandmarks<L extends { id: string; name: string }>(script: Pick<NpcScript, 'places'>, landmarks: readonly L[]): (L | { id: string; name: string; x: number; z: number })[] {
  return [...landmarks, ...Object.entries(script.places).map(([id, p]) => ({ id, name: p.name, x: p.x, z: p.z }))];
}

/** The JSON Schema published at `assets/npcs/npc.schema.json` (input shape: defaulted fields are optional). */
export function npcJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(NpcScriptObject, { io: 'input', target: 'draft-07' }) as Record<string, unknown>;
  return {
    $schema: schema.$schema,
    title: 'Worldmind NPC script',
    description: 'One NPC per YAML file under assets/npcs/. Generated from server/src/npc/script-schema.ts by `npm run npc:validate -- --write-schema`; do not edit by hand.',
    ...Object.fromEntries(Object.entries(schema).filter(([k]) => k !== '$schema')),
  };
}
