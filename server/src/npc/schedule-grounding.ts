/**
 * Schedule grounding: "where will you be at noon?" answered from the NPC's own `schedule` (or `patrol`),
 * which the server holds but the prompt does not carry (the situation block says what the NPC does now,
 * not at noon). Like lore grounding (lore-grounding.ts), it is a decode-time nudge towards one sentence —
 * here the schedule entry the question names, in the NPC's first person ("From noon I'm at the Gilded
 * Lantern, eating Marta's mutton stew.") — and it takes the place of lore grounding for that turn.
 *
 * Three questions are recognised:
 * - a time of day with a where/what-are-you-doing question ("what are you up to after lunch?"): the entry
 *   in force then;
 * - "when do you …?" naming an entry's activity ("when do you light the furnace?"): that entry;
 * - the whole day ("how do you spend your days?"): the day's first entries.
 * An NPC on patrol answers all three with its rounds. Anything else is left to lore grounding.
 */
import { rewritePerson } from './english.ts';
import { groundingRecord, type GroundingRecord } from './lore-grounding.ts';
import { normalizeWord, splitWords, stem } from './lore-index.ts';
import { npcLandmarks, type NpcScript } from './script-schema.ts';
import { clockMinutes, HOURS, scheduledEntry, timeInWords } from './situation.ts';

/** `GroundingRecord.fact` of a schedule grounding (lore groundings carry the fact's position, ≥ 0). */
export const SCHEDULE_FACT = -1;
/** A "when do you …?" question names an entry's activity when it shares this many of its content words. */
const ACTIVITY_WORDS = 2;
/** Entries a whole-day answer lists. */
const DAY_ENTRIES = 4;

/**
 * Times of day a player names without a clock, in minutes after midnight. Hand-written: a town's day
 * (the dawn bell, supper time, after lunch) is not what date-parsing libraries read, and they read
 * dates and zones this needs none of. Longer phrases first.
 */
const NAMED_TIMES: Array<[RegExp, number]> = [
  [/\bearly in the morning\b/, 5 * 60 + 45],
  [/\blate at night\b/, 23 * 60],
  [/\bafter (?:lunch|midday|noon)\b/, 13 * 60 + 30],
  [/\bafter (?:dark|sundown|sunset|supper|dinner)\b/, 21 * 60],
  [/\b(?:dawn|sunrise|daybreak|first light)\b/, 6 * 60],
  [/\b(?:midday|noon)\b/, 12 * 60],
  [/\blunch(?:time| time)?\b/, 12 * 60 + 15],
  [/\b(?:supper|dinner)(?:time| time)?\b/, 18 * 60 + 30],
  [/\b(?:dusk|sundown|sunset)\b/, 19 * 60],
  [/\bmidnight\b/, 0],
  [/\btonight\b/, 21 * 60],
  [/\b(?:at|in the) night\b/, 22 * 60],
  [/\b(?:in the )?evening\b/, 19 * 60 + 30],
  [/\b(?:in the )?afternoon\b/, 15 * 60],
  [/\b(?:in the )?morning\b/, 8 * 60 + 30],
];

/** "at 7", "at 7am", "around one", "at ten in the morning", "at 19:00", "by 6 pm". */
const CLOCK = new RegExp(`\\b(?:at|around|about|by|before|after|till|until|from)\\s+(\\d{1,2}|${HOURS.join('|')})(?::(\\d{2}))?\\s*(am|pm|a\\.m\\.|p\\.m\\.|o'?clock)?`);

/**
 * The time of day `line` names, in minutes after midnight, or undefined. A bare hour reads as the day's
 * waking hours do: 7–11 in the morning, 12 noon, 1–6 in the afternoon or evening.
 */
export function timeNamed(line: string): number | undefined {
  const text = line.toLowerCase();
  const clock = CLOCK.exec(text);
  if (clock) {
    const word = clock[1]!;
    let hour = /\d/.test(word) ? Number(word) : HOURS.indexOf(word);
    const minutes = clock[2] ? Number(clock[2]) : 0;
    const suffix = clock[3]?.replace(/\./g, '');
    const rest = text.slice(clock.index + clock[0].length);
    if (hour <= 23 && minutes < 60) {
      if (hour <= 12) {
        const pm = suffix === 'pm' || /^\s*(?:in the (?:afternoon|evening)|at night|tonight)/.test(rest);
        const am = suffix === 'am' || /^\s*in the morning/.test(rest);
        if (pm && hour < 12) hour += 12;
        else if (am && hour === 12) hour = 0;
        else if (!pm && !am && hour >= 1 && hour <= 6) hour += 12;
      }
      return hour * 60 + minutes;
    }
  }
  for (const [pattern, minutes] of NAMED_TIMES) if (pattern.test(text)) return minutes;
  return undefined;
}

/** Where/what the NPC is or does: "where will you be", "what are you up to", "you around", "find you". */
const WHEREABOUTS = /\b(?:where(?:'?ll| will| would| are| r| do| d'?you| can i find)|what(?:'?re| are| r| will| do)\s+(?:you|u|ya)\s+(?:up to|doing|do)|(?:you|u|ya)\s+(?:around|about|busy)|find (?:you|u|ya)|where (?:you|u|ya)\b)/;
/** Asking when the NPC does something. */
const WHEN = /\b(?:when|what time|at what hour)\b/;
/** Asking about the NPC's whole day. */
const DAY = /\b(?:(?:your|ur|yer) (?:days?|routine)|all day|during the day|daily|every day|usually)\b/;

/** An NPC's schedule as sentences it would say, built once per script version. */
export interface ScheduleSentences {
  /** The sentence for a time of day. */
  at(minutes: number): string;
  /** The entry whose activity the line names, as a "when" answer, or undefined. */
  when(line: string): string | undefined;
  /** The day in one sentence. */
  day: string;
}

/** The sentences for `script` (undefined when it has neither schedule nor patrol). */
export function scheduleSentences(script: NpcScript, landmarks: readonly { id: string; name: string }[]): ScheduleSentences | undefined {
  const names = new Map(npcLandmarks(script, landmarks).map((l) => [l.id, l.name]));
  const first = script.name.split(/\s+/)[0]!;
  const place = (where: NonNullable<NpcScript['schedule']>[number]['place']) => (typeof where === 'string' ? placePhrase(names.get(where) ?? where, first) : 'out and about');
  const self = { name: script.name, role: script.role, gender: script.pronouns };
  if (script.patrol) {
    const stops = [...new Set(script.patrol.waypoints.map(place))];
    const route = stops.length > 1 ? `${stops.slice(0, -1).join(', ')} and ${stops.at(-1)}` : stops[0]!;
    const sentence = `I walk my rounds all day: ${route}.`;
    return { at: () => sentence, when: () => undefined, day: sentence };
  }
  const schedule = script.schedule;
  if (!schedule || schedule.length === 0) return undefined;
  const doing = (entry: (typeof schedule)[number]) => (entry.activity ? `, ${rewritePerson(entry.activity, self, 'first').replace(/\b(?:his|her|their)\b/, 'my')}` : '');
  const activityTerms = schedule.map((entry) => new Set(contentTerms(entry.activity ?? '')));
  return {
    at(minutes) {
      const entry = scheduledEntry(script, minutes)!;
      return `From ${timeInWords(clockMinutes(entry.at))} I'm at ${place(entry.place)}${doing(entry)}.`;
    },
    when(line) {
      const asked = new Set(contentTerms(line));
      let best = -1;
      let shared = ACTIVITY_WORDS - 1;
      activityTerms.forEach((terms, i) => {
        const n = [...terms].filter((t) => asked.has(t)).length;
        if (n > shared) [best, shared] = [i, n];
      });
      const entry = schedule[best];
      return entry && `At ${timeInWords(clockMinutes(entry.at))}, at ${place(entry.place)}.`;
    },
    day: `${schedule
      .slice(0, DAY_ENTRIES)
      .map((entry, i) => (i === 0 ? `From ${timeInWords(clockMinutes(entry.at))} I'm at ${place(entry.place)}` : `from ${timeInWords(clockMinutes(entry.at))} at ${place(entry.place)}`))
      .join(', ')}${schedule.length > DAY_ENTRIES ? ', and so on' : ''}.`,
  };
}

/**
 * The turn's schedule grounding for `line`, at `strength` nats (the lore grounding's setting), or
 * undefined when the line asks nothing about the NPC's day.
 */
export function scheduleGrounding(sentences: ScheduleSentences | undefined, line: string, strength: number): GroundingRecord | undefined {
  if (!sentences || strength <= 0) return undefined;
  const text = line.toLowerCase();
  let answer: string | undefined;
  const minutes = timeNamed(text);
  if (WHEN.test(text)) answer = sentences.when(text);
  if (!answer && minutes !== undefined && WHEREABOUTS.test(text)) answer = sentences.at(minutes);
  if (!answer && DAY.test(text) && /\b(?:you|u|ya)\b/.test(text)) answer = sentences.day;
  if (!answer) return undefined;
  return groundingRecord(SCHEDULE_FACT, answer, strength);
}

/** "Bram's Forge" → "my forge" (said by Bram); "The Old Oak" → "the Old Oak"; "Market Square" → "the Market Square". */
function placePhrase(name: string, first: string): string {
  const own = new RegExp(`^${first}['’]s `);
  if (own.test(name)) return `my ${name.replace(own, '').toLowerCase()}`;
  if (/^the /i.test(name)) return `the ${name.slice(4)}`;
  return /['’]s\b/.test(name.split(/\s+/)[0]!) ? name : `the ${name}`;
}

/** A text's words of four letters or more, as index terms (the lore index's normalising and stemming). */
function contentTerms(text: string): string[] {
  return splitWords(text)
    .map(normalizeWord)
    .filter((w) => w.length >= 4)
    .map(stem);
}
