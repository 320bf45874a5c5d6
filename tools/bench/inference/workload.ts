/**
 * Synthetic NPC conversations for the inference benchmark: a few personas (long system prompts every
 * conversation with that NPC shares — what the prefix cache is for) and distinct player lines, rendered
 * through the model's own chat template and tokenized exactly as the engine would (persona on its own).
 */
import { readModelSpec } from '../../../server/src/inference/model/model-spec.ts';
import { ChatTemplate, TextTokenizer } from '../../../server/src/inference/tokenizer/index.ts';

export interface BenchRequest {
  persona: number;
  /** Full prompt: persona prefix tokens followed by the player's turn. */
  promptTokens: number[];
  /** Leading tokens that are the persona (cacheable). */
  sharedPrefixTokens: number;
}

/** The system prompts of the synthetic NPCs (also the int8 quality texts when there is no eval corpus). */
export const PERSONAS = [
  `You are Mara, the blacksmith of Oakvale. You are gruff but kind, you love your craft, and you never talk about
your past as a soldier in the river war. You sell swords, shields, horseshoes and nails, and you repair armour
for a fair price. You distrust the mayor, you owe the miller a favour, and you know the mines to the north were
closed after the collapse. Speak plainly, in one or two short sentences, and never break character.`,
  `You are Old Teodor, keeper of the Salted Eel tavern by the harbour. You have heard every rumour twice and believe
none of them. You serve ale, fish stew and rooms by the night. You are fond of sailors, suspicious of mages, and
you keep a crossbow under the counter. The harbour master owes you money. Answer warmly but briefly, with a joke
when you can, and never reveal who sleeps in the upstairs rooms.`,
  `You are Sister Ilse, the healer at the chapel of the dawn. You are patient, precise and tired. You brew remedies
from marsh herbs, you set bones, and you keep records of every plague since the old king died. You believe the
fever in the lower town comes from the wells. You refuse payment from children. Speak gently, in plain words,
and always ask the traveller how they feel.`,
  `You are Captain Rhun of the city watch. You are proud, strict and overworked. You know every gate, patrol and
curfew, and you hunt the smugglers who use the old sewers. You respect courage and despise bribes. You will
give directions, warnings and bounties, but never the names of your informants. Speak briskly, like an officer,
in one or two sentences.`,
];

const OPENERS = ['Hello!', 'Good evening.', 'Excuse me,', 'Hey you,', 'Greetings, friend.', 'Listen,', 'Pardon me,', 'Well met.'];
const QUESTIONS = [
  'what do you have for sale today?',
  'have you heard anything about the mines to the north?',
  'where can I find a place to sleep tonight?',
  'who runs this town, really?',
  'can you help me, I was robbed on the road?',
  'what happened to the old king?',
  'is it safe to travel to the harbour after dark?',
  'do you know anyone who is hiring sellswords?',
  'why is everyone in the lower town so sick?',
  'what is the strangest thing you have seen this year?',
];

export function buildWorkload(modelDir: string, count: number): { requests: BenchRequest[]; personaTokens: number[] } {
  const spec = readModelSpec(modelDir);
  const tokenizer = TextTokenizer.fromJson(spec.tokenizerJson, spec.tokenizerConfig);
  if (!spec.chatTemplate) throw new Error(`Model ${modelDir} has no chat template`);
  const text = (v: unknown) => (typeof v === 'string' ? v : v && typeof v === 'object' && 'content' in v ? String(v.content) : undefined);
  const strings: Record<string, string> = {};
  for (const key of ['bos_token', 'eos_token', 'pad_token', 'unk_token'] as const) {
    const value = text(spec.tokenizerConfig[key]);
    if (value !== undefined) strings[key] = value;
  }
  const template = new ChatTemplate(spec.chatTemplate, strings);
  const personas = PERSONAS.map((p) => p.replace(/\s+/g, ' '));
  const prefixes = personas.map((p) => template.render([{ role: 'system', content: p }], { addGenerationPrompt: false }));
  const prefixTokens = prefixes.map((p) => tokenizer.encode(p));
  const requests: BenchRequest[] = [];
  for (let i = 0; i < count; i++) {
    const persona = i % personas.length;
    const line = `${OPENERS[i % OPENERS.length]} ${QUESTIONS[Math.floor(i / OPENERS.length) % QUESTIONS.length]} (traveller ${i})`;
    const full = template.render([
      { role: 'system', content: personas[persona]! },
      { role: 'user', content: line },
    ]);
    if (!full.startsWith(prefixes[persona]!)) throw new Error('chat template does not render the system turn as a prefix');
    const tail = tokenizer.encode(full.slice(prefixes[persona]!.length));
    requests.push({ persona, promptTokens: [...prefixTokens[persona]!, ...tail], sharedPrefixTokens: prefixTokens[persona]!.length });
  }
  return { requests, personaTokens: prefixTokens.map((p) => p.length) };
}
