/**
 * Just enough English for NPC lore: verb forms, tokens, articles, and turning a lore fact about an NPC
 * into that NPC's first person ("Bram built his forge" → "I built my forge") or into the player's second
 * person ("you built your forge"). The server grounds a reply on the first-person form of the retrieved
 * fact (lore-grounding.ts); the corpus generator (tools/corpus/world) writes its answers with the same
 * rewrite. Rule-based on purpose: the facts are short designer sentences, and the output is checked by
 * eye (the corpus manifest lists every rewritten fact).
 */

// ---------------------------------------------------------------------------------------------------
// Verbs

interface VerbForms {
  lemma: string;
  s: string;
  past: string;
  participle: string;
}

/** Irregular verbs: lemma → [past, participle]. */
const IRREGULAR: Record<string, [string, string]> = {
  build: ['built', 'built'], hold: ['held', 'held'], come: ['came', 'come'], light: ['lit', 'lit'],
  give: ['gave', 'given'], leave: ['left', 'left'], write: ['wrote', 'written'], swear: ['swore', 'sworn'],
  fall: ['fell', 'fallen'], wake: ['woke', 'woken'], go: ['went', 'gone'], see: ['saw', 'seen'], run: ['ran', 'run'],
  cost: ['cost', 'cost'], eat: ['ate', 'eaten'], pay: ['paid', 'paid'], keep: ['kept', 'kept'], buy: ['bought', 'bought'],
  grind: ['ground', 'ground'], drink: ['drank', 'drunk'], draw: ['drew', 'drawn'], stand: ['stood', 'stood'],
  lead: ['led', 'led'], steal: ['stole', 'stolen'], forget: ['forgot', 'forgotten'], let: ['let', 'let'],
  sell: ['sold', 'sold'], hear: ['heard', 'heard'], say: ['said', 'said'], take: ['took', 'taken'], lose: ['lost', 'lost'],
  wear: ['wore', 'worn'], feed: ['fed', 'fed'], know: ['knew', 'known'], tell: ['told', 'told'], make: ['made', 'made'],
  find: ['found', 'found'], meet: ['met', 'met'], bring: ['brought', 'brought'], send: ['sent', 'sent'],
  sleep: ['slept', 'slept'], hide: ['hid', 'hidden'], spend: ['spent', 'spent'], grow: ['grew', 'grown'],
  throw: ['threw', 'thrown'], ring: ['rang', 'rung'], shine: ['shone', 'shone'], begin: ['began', 'begun'],
  break: ['broke', 'broken'], choose: ['chose', 'chosen'], drive: ['drove', 'driven'], fly: ['flew', 'flown'],
  hang: ['hung', 'hung'], hit: ['hit', 'hit'], hurt: ['hurt', 'hurt'], lay: ['laid', 'laid'], lend: ['lent', 'lent'],
  mean: ['meant', 'meant'], put: ['put', 'put'], read: ['read', 'read'], ride: ['rode', 'ridden'], rise: ['rose', 'risen'],
  seek: ['sought', 'sought'], set: ['set', 'set'], shake: ['shook', 'shaken'], shut: ['shut', 'shut'], sit: ['sat', 'sat'],
  speak: ['spoke', 'spoken'], strike: ['struck', 'struck'], sweep: ['swept', 'swept'], swim: ['swam', 'swum'],
  teach: ['taught', 'taught'], think: ['thought', 'thought'], understand: ['understood', 'understood'], win: ['won', 'won'],
  sing: ['sang', 'sung'], get: ['got', 'got'], catch: ['caught', 'caught'], fight: ['fought', 'fought'], dig: ['dug', 'dug'],
  feel: ['felt', 'felt'], kneel: ['knelt', 'knelt'], deal: ['dealt', 'dealt'], bite: ['bit', 'bitten'], become: ['became', 'become'],
  forgive: ['forgave', 'forgiven'], freeze: ['froze', 'frozen'], shoot: ['shot', 'shot'], spin: ['spun', 'spun'],
  stick: ['stuck', 'stuck'], weave: ['wove', 'woven'], wind: ['wound', 'wound'], tear: ['tore', 'torn'], bear: ['bore', 'borne'],
};

/** Regular verbs likely in NPC lore (the irregular ones above are verbs too). */
const REGULAR = (
  'forge mend quench shoe nail work pick look join play fine carve creak hum turn burn cross inherit stay bake serve ask ' +
  'close open end command watch guard drown try wade walk carry pass quote report stop reach rest move trade lodge travel ' +
  'settle dye pretend hate mock owe inspect raid plant remember fear care wait live die want need arrive return gather ' +
  'fix sharpen vanish disappear visit protect use fill save help love like dance laugh cheer point salute frown sigh ' +
  'wink clap kneel sit pour count start finish guess hope wish offer order claim collect deliver check learn teach marry ' +
  'bury kill rescue defend attack hunt fish sail row climb smile smell taste touch hammer polish stamp brew cook roast ' +
  'charge toll bless curse pray preach ring-in sign swear-in found crown rule lock unlock repair grind patrol settle ' +
  'tend herd milk shear plough harvest store trade sew knit paint carve-out whistle shout call name smoke ' +
  'weigh measure price borrow lend belong seem appear happen remain ring toll bang creak chime welcome greet thank'
).split(/\s+/).filter((w) => /^[a-z]+$/.test(w));

/** Verbs whose final consonant doubles (stop → stopped). */
const DOUBLING = new Set(['travel', 'stop', 'plan', 'drop', 'grab', 'nod', 'hum', 'ship', 'trap', 'beg', 'rob', 'tip', 'step', 'shop', 'wrap', 'dig', 'chat', 'pat', 'rub', 'hug']);

function thirdPerson(lemma: string): string {
  if (lemma === 'have') return 'has';
  if (lemma === 'do') return 'does';
  if (lemma === 'go') return 'goes';
  if (/(s|sh|ch|x|z|o)$/.test(lemma)) return `${lemma}es`;
  if (/[^aeiou]y$/.test(lemma)) return `${lemma.slice(0, -1)}ies`;
  return `${lemma}s`;
}

function regularPast(lemma: string): string {
  if (lemma.endsWith('e')) return `${lemma}d`;
  if (/[^aeiou]y$/.test(lemma)) return `${lemma.slice(0, -1)}ied`;
  if (DOUBLING.has(lemma)) return `${lemma}${lemma.at(-1)}ed`;
  return `${lemma}ed`;
}

function forms(lemma: string): VerbForms {
  const irr = IRREGULAR[lemma];
  return { lemma, s: thirdPerson(lemma), past: irr ? irr[0] : regularPast(lemma), participle: irr ? irr[1] : regularPast(lemma) };
}

export type VerbTense = 'present3' | 'base' | 'past' | 'participle' | 'aux' | 'modal';

export interface VerbInfo {
  lemma: string;
  tense: VerbTense;
  forms: VerbForms;
}

const AUX: Record<string, VerbInfo> = {};
for (const [form, lemma, tense] of [
  ['is', 'be', 'present3'], ['are', 'be', 'base'], ['was', 'be', 'past'], ['were', 'be', 'past'], ['am', 'be', 'base'], ['be', 'be', 'base'], ['been', 'be', 'participle'],
  ['has', 'have', 'present3'], ['have', 'have', 'base'], ['had', 'have', 'past'],
  ['does', 'do', 'present3'], ['do', 'do', 'base'], ['did', 'do', 'past'],
] as const) {
  AUX[form] = { lemma, tense: tense === 'present3' || tense === 'base' || tense === 'past' || tense === 'participle' ? 'aux' : tense, forms: { lemma, s: lemma === 'be' ? 'is' : thirdPerson(lemma), past: lemma === 'be' ? 'was' : lemma === 'have' ? 'had' : 'did', participle: lemma === 'be' ? 'been' : lemma === 'have' ? 'had' : 'done' } };
}
const MODALS = new Set(['must', 'can', 'could', 'will', 'would', 'shall', 'should', 'may', 'might']);

const VERB_FORMS = new Map<string, VerbInfo>();
for (const lemma of [...Object.keys(IRREGULAR), ...REGULAR]) {
  const f = forms(lemma);
  const add = (form: string, tense: VerbTense) => {
    if (!VERB_FORMS.has(form)) VERB_FORMS.set(form, { lemma, tense, forms: f });
  };
  add(f.s, 'present3');
  add(lemma, 'base');
  add(f.past, 'past');
  if (f.participle !== f.past) add(f.participle, 'participle');
}

/** What a word is as a verb form (lower-case), or undefined when it is not one we know. */
export function verbInfo(word: string): VerbInfo | undefined {
  const w = word.toLowerCase();
  if (AUX[w]) return AUX[w];
  if (MODALS.has(w)) return { lemma: w, tense: 'modal', forms: { lemma: w, s: w, past: w, participle: w } };
  return VERB_FORMS.get(w);
}

/** The form of a verb that goes with "I" ("has" → "have", "is" → "am", "quenches" → "quench"). */
export function firstPersonVerb(word: string): string {
  const w = word.toLowerCase();
  if (w === 'is') return 'am';
  if (w === 'has') return 'have';
  if (w === 'does') return 'do';
  const info = VERB_FORMS.get(w);
  if (info && info.tense === 'present3') return info.lemma;
  return word;
}

/** The form of a verb that goes with "you" ("has" → "have", "is" → "are", "was" → "were", "quenches" → "quench"). */
export function secondPersonVerb(word: string): string {
  const w = word.toLowerCase();
  if (w === 'am' || w === 'is') return 'are';
  if (w === 'was') return 'were';
  return firstPersonVerb(word);
}

// ---------------------------------------------------------------------------------------------------
// Words

export const PREPOSITIONS = new Set(
  'about above across after against along among around at before behind below beneath beside besides between beyond by down during for from in inside into near of off on onto out outside over past since through throughout to toward towards under until up upon with within without'.split(' '),
);
export const DETERMINERS = new Set('a an the this that these those every each his her its their our my your some any no another'.split(' '));
export const ADVERBS = new Set('never still only also always now partly really just often usually sometimes even already once ever gladly rarely seldom nearly almost'.split(' '));
/** Verbs that take an indirect object ("brings her news" = brings news to her). */
const DITRANSITIVE = new Set(['give', 'bring', 'tell', 'show', 'send', 'pay', 'offer', 'ask', 'buy', 'sell', 'lend', 'owe', 'hand', 'teach', 'promise', 'feed', 'fine', 'let', 'make']);

const NUMBER_WORDS = new Set(
  'one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety hundred thousand half dozen first second third fourth fifth'.split(' '),
);

export function isNumberWord(word: string): boolean {
  const w = word.toLowerCase();
  return /^\d+$/.test(w) || NUMBER_WORDS.has(w) || w.split('-').every((p) => NUMBER_WORDS.has(p));
}

/** "a" or "an" for a phrase. */
export function article(phrase: string): string {
  return /^(?:[aeio]|u(?!ni|se|su|tr)|hour|honest|heir)/i.test(phrase) ? 'an' : 'a';
}

export function withArticle(phrase: string): string {
  return `${article(phrase)} ${phrase}`;
}

export function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** Word tokens and the separators between them, so a sentence can be rebuilt exactly. */
export interface Token {
  text: string;
  word: boolean;
}

export function tokenize(text: string): Token[] {
  const out: Token[] = [];
  const re = /[\p{L}\p{N}][\p{L}\p{N}'’-]*|[^\p{L}\p{N}]+/gu;
  for (const m of text.matchAll(re)) out.push({ text: m[0], word: /^[\p{L}\p{N}]/u.test(m[0]) });
  return out;
}

export function words(text: string): string[] {
  return tokenize(text).filter((t) => t.word).map((t) => t.text);
}

export function wordCount(text: string): number {
  return words(text).length;
}

// ---------------------------------------------------------------------------------------------------
// Who is who in a fact

/** How a lore fact refers to the NPC (a script's `pronouns`). */
export const GENDERS = ['he', 'she', 'they'] as const;
export type Gender = (typeof GENDERS)[number];

export interface SelfRef {
  /** Display name ("Bram Ironhand", "Sergeant Roderick"). */
  name: string;
  role: string;
  gender: Gender;
  /** Other people of the world (the other NPCs), so a pronoun is not taken for the NPC when it means them. */
  others?: readonly { name: string; gender: Gender }[];
}

/** Words for people: a fact that has one may use he/she for that person, not for the NPC. */
const PERSON_NOUNS = /\b(stranger|man|men|woman|women|boy|girl|miller|widow|husband|wife|mother|father|son|daughter|traveller|bard|guard|smith|merchant|trader|priest|child|king|queen|lord|lady|founder)s?\b/i;

const TITLES = new Set(['sergeant', 'captain', 'widow', 'old', 'mother', 'father', 'sir', 'lady', 'lord', 'master', 'mistress', 'brother', 'sister', 'dame', 'young', 'elder']);

/** The NPC's first name ("Sergeant Roderick" → "Roderick", "Selka of the Salt Road" → "Selka"). */
export function firstName(name: string): string {
  const parts = name.split(/\s+/);
  return parts.find((p) => !TITLES.has(p.toLowerCase())) ?? parts[0]!;
}

/** Ways a fact may name the NPC, longest first. */
export function nameVariants(self: SelfRef): string[] {
  const first = firstName(self.name);
  const parts = self.name.split(/\s+/);
  const title = TITLES.has(parts[0]!.toLowerCase()) ? parts[0]! : undefined;
  const variants = new Set([self.name, `${first} the ${self.role}`, ...(title ? [`${title} ${first}`] : []), first]);
  return [...variants].sort((a, b) => b.length - a.length);
}

const SELF = '\u0001SELF\u0001';
const POSS = '\u0001POSS\u0001';
const ME = '\u0001ME\u0001';
const NAME_WORD = /^[A-Z][a-z'’-]+$/;

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * Rewrites a fact about `self` in the person of the NPC speaking (`first`: I/me/my) or of the player
 * addressing it (`second`: you/your). Mentions of other people are left alone. Returns the text
 * unchanged when it does not mention the NPC.
 */
export function rewritePerson(fact: string, self: SelfRef, person: 'first' | 'second'): string {
  const names = nameVariants(self).map(escapeRe).join('|');
  let text = fact
    .replace(new RegExp(`\\b(?:${names})(?:'s|’s)(?![\\p{L}])`, 'gu'), POSS)
    .replace(new RegExp(`\\b(?:${names})\\b`, 'g'), SELF);
  if (!text.includes(SELF) && !text.includes(POSS)) {
    // Not named, but "his horseshoes" can only be the NPC's when no one else it could mean is in the fact.
    const poss = self.gender === 'he' ? 'his' : self.gender === 'she' ? 'her' : undefined;
    const sameGender = (self.others ?? []).filter((o) => o.gender === self.gender).map((o) => firstName(o.name));
    if (!poss || PERSON_NOUNS.test(fact) || sameGender.some((n) => new RegExp(`\\b${escapeRe(n)}\\b`).test(fact))) return fact;
    if (self.gender === 'he' ? /\b(he|him)\b/i.test(fact) : /\bshe\b/i.test(fact)) return fact;
    if (!new RegExp(`\\b${poss}\\b`).test(fact)) return fact;
    text = text.replace(new RegExp(`\\b${poss}\\b(?= [a-z])`, 'g'), POSS);
  }

  // "SELF and Roderick held" / "Roderick and SELF held" → "Roderick and I held"; elsewhere "… and me".
  const nameSeq = '((?:[A-Z][a-z\'’-]+ )*[A-Z][a-z\'’-]+)';
  text = text.replace(new RegExp(`${escapeRe(SELF)} and ${nameSeq} (\\w+)`, 'g'), (m, other: string, next: string) =>
    verbInfo(next) ? `${other} and ${SELF} ${next}` : m,
  );
  text = text.replace(new RegExp(`(\\w+ )?${nameSeq} and ${escapeRe(SELF)}(?= (\\w+))`, 'g'), (m, before: string | undefined, other: string, _next: string, offset: number, all: string) => {
    const next = /^ (\w+)/.exec(all.slice(offset + m.length))?.[1] ?? '';
    const prev = before?.trim().toLowerCase();
    const objectPosition = prev !== undefined && (PREPOSITIONS.has(prev) || !!verbInfo(prev));
    return objectPosition || !verbInfo(next) ? `${before ?? ''}${other} and ${ME}` : m;
  });

  const pronoun = self.gender === 'he' ? { subj: 'he', obj: 'him', poss: 'his' } : self.gender === 'she' ? { subj: 'she', obj: 'her', poss: 'her' } : undefined;
  const tokens = tokenize(text.replaceAll(SELF, ' SELFTOKEN ').replaceAll(POSS, ' POSSTOKEN ').replaceAll(ME, ' METOKEN ').replace(/ {2,}/g, ' ').replace(/^ | $/g, ''));
  const I = person === 'first' ? 'I' : 'you';
  const meWord = person === 'first' ? 'me' : 'you';
  const myWord = person === 'first' ? 'my' : 'your';
  const agree = person === 'first' ? firstPersonVerb : secondPersonVerb;

  const out: string[] = [];
  let mentioned = false; // the NPC has been named earlier in the fact
  let clauseSelf = false; // the current clause's subject is the NPC
  let pendingAgreement = false; // the next verb (after adverbs) must agree with I/you
  const prevWord = (i: number): string | undefined => {
    for (let j = i - 1; j >= 0; j--) if (tokens[j]!.word) return tokens[j]!.text;
    return undefined;
  };
  const nextWord = (i: number, skipAdverbs = true): string | undefined => {
    for (let j = i + 1; j < tokens.length; j++) {
      const t = tokens[j]!;
      if (!t.word) {
        if (/[;.,:]/.test(t.text)) return undefined;
        continue;
      }
      if (skipAdverbs && ADVERBS.has(t.text.toLowerCase())) continue;
      return t.text;
    }
    return undefined;
  };
  const isObjectPosition = (i: number) => {
    const p = prevWord(i)?.toLowerCase();
    if (!p) return false;
    return PREPOSITIONS.has(p) || (!!verbInfo(p) && !['and', 'but'].includes(p));
  };

  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (!t.word) {
      if (/[;.]/.test(t.text)) {
        clauseSelf = false;
        pendingAgreement = false;
      }
      out.push(t.text);
      continue;
    }
    const lower = t.text.toLowerCase();
    if (t.text === 'SELFTOKEN') {
      mentioned = true;
      const next = nextWord(i);
      if (!isObjectPosition(i) && next && verbInfo(next)) {
        out.push(I);
        clauseSelf = true;
        pendingAgreement = true;
      } else out.push(meWord);
      continue;
    }
    if (t.text === 'METOKEN') {
      mentioned = true;
      out.push(meWord);
      continue;
    }
    if (t.text === 'POSSTOKEN') {
      mentioned = true;
      out.push(myWord);
      continue;
    }
    if (pronoun && mentioned && lower === pronoun.subj) {
      out.push(I);
      clauseSelf = true;
      pendingAgreement = true;
      continue;
    }
    if (pronoun && mentioned && (lower === pronoun.poss || lower === pronoun.obj)) {
      // "her" is possessive before a noun, except after verbs that take an indirect object ("brings her news").
      const prev = prevWord(i)?.toLowerCase();
      const prevVerb = prev ? verbInfo(prev) : undefined;
      const next = nextWord(i, false)?.toLowerCase();
      const possessive = lower === pronoun.poss && (lower !== pronoun.obj || (!!next && !PREPOSITIONS.has(next) && !(prevVerb && DITRANSITIVE.has(prevVerb.lemma))));
      if (possessive) out.push(myWord);
      else if (!clauseSelf) out.push(meWord);
      else out.push(t.text);
      continue;
    }
    if ((lower === 'and' || lower === 'but') && clauseSelf) {
      const next = nextWord(i);
      const info = next ? verbInfo(next) : undefined;
      // "… but hums it" (a second verb of the same subject); "… and nails." is a noun, not a verb.
      const nextIdx = next ? tokens.findIndex((tk, j) => j > i && tk.text === next) : -1;
      if (info && (info.tense === 'present3' || info.tense === 'aux') && nextWord(nextIdx, false) !== undefined) pendingAgreement = true;
      else if (next && /^[A-Z]/.test(next)) clauseSelf = false; // a new subject ("and Marta pays him")
      out.push(t.text);
      continue;
    }
    if ((lower === 'and' || lower === 'but') && !clauseSelf) {
      out.push(t.text);
      continue;
    }
    // A new subject starts a new clause: "because Marta fed him", "she trades", "anyone who brings her".
    if (!ADVERBS.has(lower) && (/^[A-Z]/.test(t.text) || ['he', 'she', 'they', 'it', 'who', 'which', 'that'].includes(lower))) {
      const next = nextWord(i, false);
      const info = next ? verbInfo(next) : undefined;
      if (info && !pendingAgreement) clauseSelf = false;
    }
    if (pendingAgreement && !ADVERBS.has(lower)) {
      pendingAgreement = false;
      if (verbInfo(t.text)) {
        out.push(agree(t.text));
        continue;
      }
    }
    out.push(t.text);
  }
  let result = out.join('').replace(/\bI am\b/g, "I'm");
  // Sentence starts.
  result = result.replace(/(^|[.!?]\s+)([a-z])/g, (_m, pre: string, c: string) => pre + c.toUpperCase());
  return result;
}
