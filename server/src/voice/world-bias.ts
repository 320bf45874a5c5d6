/**
 * What players are likely to say in this world, as sentences for the recogniser's bias
 * (RecognitionBias): built from the NPC scripts (names, roles, lore, example lines, greetings, their
 * places and items) and the map's landmarks, plus phrase templates for the things players ask NPCs
 * (where is…, take me to…, do you have…, tell me about…). Rebuilt whenever the scripts change.
 */
import { createHash } from 'node:crypto';
import type { Landmark } from '@worldmind/shared';
import type { NpcScript } from '../npc/script-schema.ts';
import type { RecognitionBias } from './speech.ts';

/** Player phrasings around a name: {x} is a place, person or thing of the world. */
const PLACE_TEMPLATES = ['where is the {x}', 'where is {x}', 'take me to the {x}', 'can you show me the way to the {x}', 'how do i get to the {x}', 'walk me to the {x}', 'lead the way to the {x}', 'is the {x} far from here', 'what is at the {x}', 'tell me about the {x}'];
const ITEM_TEMPLATES = ['do you have a {x}', 'can i have a {x}', 'could you spare a {x}', 'i would like to buy a {x}', 'how much for a {x}', 'give me a {x}', 'what do you want for the {x}', 'i need a {x}'];
const PERSON_TEMPLATES = ['hello {x}', 'good morning {x}', 'tell me about {x}', 'who is {x}', 'where can i find {x}', 'what do you think of {x}', 'do you know {x}', 'thank you {x}', 'goodbye {x}'];
const GENERAL = [
  'hello', 'hi there', 'good morning', 'good evening', 'how are you', 'what is your name', 'who are you', 'what do you do here',
  'thank you', 'thanks', 'goodbye', 'see you later', 'yes', 'no', 'please', 'sorry', 'what news is there', 'any rumours',
  'what are you doing', 'can you help me', 'i am looking for work', 'i am new in town', 'what time is it', 'follow me', 'stop', 'wait here',
  'is it true', 'tell me a story', 'sing me a song', 'what happened', 'why', 'how much', 'where are you going', 'come with me',
  // How players ask about anything (the world's nouns are filled in by the templates below).
  'how did you get here', 'how did you lose it', 'how long have you been here', 'how long has it been', 'how do you know',
  'what happened to you', 'what happened to the last one', 'what do you think', 'what are you making', 'what is that',
  'what do you have for sale', 'what can you tell me', 'what is your name again', 'what are you selling', 'what do you need',
  'where do you come from', 'where do you live', 'where do you get it from', 'where can i find work', 'where are you from',
  'who made that', 'who are they', 'who runs this town', 'who is in charge here', 'who told you that',
  'why do you do that', 'why is it called that', 'why are you here', 'why not', 'do you need any help',
  'do you know anything about it', 'do you have anything for me', 'have you seen anyone', 'have you heard the news',
  'can you tell me more', 'can you show me', 'can you help me find it', 'can you fix it', 'could you do me a favour',
  'i need help', 'i need a room for the night', 'i am hungry', 'i am lost', 'i would like to buy something',
  'that is enough', 'stay here', 'follow me please', 'wait for me', 'let us go', 'never mind', 'good night', 'see you tomorrow',
];

/**
 * Everyday words a player may use that the world's text might not: kept in the model's vocabulary (as
 * unlikely unigrams) so an off-script line is not forced onto world words.
 */
const COMMON_WORDS = `a about after again all also always am an and any anything are around as ask at away back bad be because been
before being best better big bit but buy by call came can can't come could day did didn't do does doing don't done down each
eat else enough even ever every far feel few find fine first for friend from get give go going gone good got great had has have
he hear help her here him his home how i i'm if in into is it it's just keep kind know last late leave left let like little long
look lost lot make man many may me mean more morning much must my need never new next nice night no not nothing now of off ok
okay old on one only or other our out over people place please put quite really right road said say see sell she should show
so some someone something sorry still such sure take talk tell than thank thanks that that's the their them then there these they
thing think this those though through time to today told too town tried true try two up us very wait want was way we well went
were what what's when where which while who why will with without work would yes yet you you're your`.split(/\s+/);

/** Sentences for the world's recognition bias. */
export function worldBiasSentences(scripts: readonly NpcScript[], landmarks: readonly Landmark[]): string[] {
  const out: string[] = [...GENERAL];
  const fill = (templates: readonly string[], x: string) => templates.forEach((t) => out.push(t.replace('{x}', x)));
  const places = new Set<string>();
  for (const l of landmarks) {
    places.add(l.name.replace(/^the\s+/i, ''));
    places.add(l.id.replace(/_/g, ' '));
  }
  for (const s of scripts) {
    for (const p of Object.values(s.places)) places.add(p.name.replace(/^the\s+/i, ''));
    const first = s.name.split(/\s+/)[0]!;
    for (const who of new Set([s.name, first, `the ${s.role}`])) fill(PERSON_TEMPLATES, who);
    for (const item of Object.keys(s.inventory)) fill(ITEM_TEMPLATES, item.replace(/_/g, ' '));
    for (const e of s.examples) out.push(e.player);
    out.push(s.greeting, ...s.lore);
  }
  for (const p of places) fill(PLACE_TEMPLATES, p);
  return out;
}

export function worldBias(scripts: readonly NpcScript[], landmarks: readonly Landmark[]): RecognitionBias {
  const sentences = worldBiasSentences(scripts, landmarks);
  return { id: createHash('sha256').update(sentences.join('\n')).update(COMMON_WORDS.join(' ')).digest('hex').slice(0, 16), sentences, vocabulary: COMMON_WORDS };
}
