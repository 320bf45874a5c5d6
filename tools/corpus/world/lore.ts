/**
 * Lore facts as question material: each fact's first-person form (the answer), its keywords (what a
 * correct answer must contain), its topics (distinctive names and noun phrases a player would ask
 * about) and, when the sentence parses, its main clause (for who/when/where/why questions). Facts that
 * say the same thing in several NPCs' lore are clustered, so a held-out fact is held out everywhere.
 */
import { STOP_WORDS, stem } from '../../../server/src/npc/lore-index.ts';
import {
  ADVERBS,
  DETERMINERS,
  PREPOSITIONS,
  capitalize,
  isNumberWord,
  nameVariants,
  rewritePerson,
  secondPersonVerb,
  tokenize,
  verbInfo,
  words,
  type VerbInfo,
} from '../../../server/src/npc/english.ts';
import type { NpcContext } from './npc-context.ts';

export interface Topic {
  /** As a player would say it to this NPC ("your forge", "the Market Well", "Selka's caravans"). */
  phrase: string;
  /** How many of this NPC's facts mention it (1 = only this one). */
  df: number;
}

export interface Clause {
  /** Subject as the player says it ("you", "Finn the bard", "the Salt Road"). */
  subject: string;
  self: boolean;
  person: boolean;
  plural: boolean;
  /** Verb group as in the second-person text ("built", "have commanded", "quench"). */
  verb: string;
  main: VerbInfo;
  /** Present when the group starts with an auxiliary or modal ("have", "are", "must"). */
  aux?: { word: string; rest: string };
  copula: boolean;
  /** Object and the rest of the clause, second person, cut at the first clause boundary. */
  object: string;
  /** The object without its time expression / place phrase / duration (undefined when it has none). */
  objectNoTime?: string;
  objectNoPlace?: string;
  duration?: { objectNoDuration: string };
  /** "six guards" → "guards", for "how many". */
  countedNoun?: string;
  hasReason: boolean;
}

export interface LoreFact {
  /** `${npcId}#${index}` */
  id: string;
  npcId: string;
  index: number;
  text: string;
  /** The fact as the NPC says it. */
  firstPerson: string;
  /** The fact as the player says it to the NPC. */
  secondPerson: string;
  keywords: string[];
  topics: Topic[];
  clause?: Clause;
  /** Facts with the same content across NPCs share a cluster id (held out together). */
  cluster: string;
}

/** Words too generic to be a topic or a keyword. */
const GENERIC = new Set(
  ('day days night nights time times way ways thing things one ones side place places morning evening year years word words people ' +
    'rain road roads town door last first new old great small only half every each own other same good well little many way end ' +
    'since ever before after until while because whole usual ago').split(' '),
);
const SUBORDINATORS = new Set(['because', 'so', 'when', 'while', 'which', 'who', 'whom', 'whose', 'until', 'since', 'if', 'though', 'although', 'whenever', 'where', 'that']);
const TIME_RE =
  /\b(?:[\w-]+ (?:years?|days?|weeks?|months?) ago|(?:every|each) (?:spring|summer|autumn|winter|morning|evening|night|day|week|year|dawn)|every [\w-]+ days|at (?:noon|dawn|dusk|sundown|sunrise|midnight|midsummer|ten|nine|eight|seven|six|five|four|three|two|one|eleven|twelve)|last (?:week|autumn|spring|summer|winter|year|night|month)|(?:by|at) (?:day|night)|after (?:dark|rain|curfew|sundown)|before (?:dawn|sunrise|sundown)|with the dawn bell|since the town was founded|ever since|on the day [^,;.]+|in the (?:spring|summer|autumn|winter|morning|evening))\b/;
const DURATION_RE = /\bfor (?:[\w-]+ (?:years|days|nights|weeks|months)|a night|a year)\b/;
const REASON_RE = /\b(?:because|out of|for luck|so that|in exchange for|in return for|to join)\b|, so\b/;
const PERSON_WORDS = /\b(?:bard|miller|widow|boy|girl|man|woman|stranger|guard|guards|founders|traders|bandits|sergeant|blacksmith|merchant|innkeeper|anyone)\b/i;
const PLACE_PREPS = new Set(['by', 'at', 'in', 'from', 'behind', 'above', 'near', 'under', 'on', 'beside', 'beneath', 'over', 'past', 'to', 'across']);

/** Proper words of the world: capitalized somewhere other than at a sentence start. */
export function properWords(contexts: readonly NpcContext[]): Set<string> {
  const out = new Set<string>();
  const texts = contexts.flatMap((c) => [...c.script.lore, c.script.persona, ...c.script.examples.map((e) => e.npc)]);
  texts.push(...contexts.flatMap((c) => c.world.map.landmarks.map((l) => l.name)), contexts[0]?.world.map.name ?? '');
  for (const text of texts) {
    const toks = tokenize(text);
    let sentenceStart = true;
    for (const t of toks) {
      if (!t.word) {
        if (/[.!?:"]/.test(t.text)) sentenceStart = true;
        continue;
      }
      if (!sentenceStart && /^[A-Z]/.test(t.text)) out.add(t.text.replace(/['’]s$/, ''));
      sentenceStart = false;
    }
  }
  for (const c of contexts) for (const w of c.script.name.split(/\s+/)) out.add(w);
  out.delete('I');
  return out;
}

/** Stemmed content words of a text (as BM25 retrieval sees them, minus generic words). */
export function contentStems(text: string): Set<string> {
  const out = new Set<string>();
  for (const w of words(text)) {
    const lw = w.toLowerCase().replace(/['’]s$/, '');
    if (lw.length < 3 || STOP_WORDS.has(lw) || GENERIC.has(lw)) continue;
    out.add(stem(lw));
  }
  return out;
}

/** Keywords: numbers, names and rare content words that survive the first-person rewrite. */
function keywordsOf(ctx: NpcContext, fact: string, firstPerson: string, docFreq: Map<string, number>, proper: Set<string>, max = 4): string[] {
  const own = new Set(nameVariants(ctx.self).flatMap((v) => v.toLowerCase().split(/\s+/)));
  const worldName = new Set([ctx.world.map.name.toLowerCase()]);
  const inReply = new Set(words(firstPerson).map((w) => w.toLowerCase().replace(/['’]s$/, '')));
  const scored: { word: string; score: number; pos: number }[] = [];
  const seen = new Set<string>();
  words(fact).forEach((raw, pos) => {
    const w = raw.toLowerCase().replace(/['’]s$/, '');
    if (seen.has(w) || w.length < 3 || STOP_WORDS.has(w) || GENERIC.has(w) || own.has(w) || !inReply.has(w)) return;
    if (['he', 'she', 'his', 'her', 'him', 'its', 'they', 'them'].includes(w) || PREPOSITIONS.has(w) || ADVERBS.has(w) || worldName.has(w)) return;
    if (/ing$/.test(w) && !proper.has(raw)) return;
    const info = verbInfo(w);
    if (info && !isNumberWord(w) && info.tense !== 'base') return; // "quenches" becomes "quench"
    seen.add(w);
    const df = docFreq.get(stem(w)) ?? 1;
    let score = 1 / df;
    if (isNumberWord(w)) score += 2 / df;
    if (proper.has(raw.replace(/['’]s$/, ''))) score += 0.5 / df;
    if (w.length >= 6) score += 0.2;
    scored.push({ word: w, score, pos });
  });
  return scored.sort((a, b) => b.score - a.score || a.pos - b.pos).slice(0, max).sort((a, b) => a.pos - b.pos).map((s) => s.word);
}

/** Noun phrases and names a player could ask about, in the player's person. */
function topicsOf(secondPerson: string, proper: Set<string>, selfNames: Set<string>): string[] {
  const toks = tokenize(secondPerson).filter((t) => t.word || /[,;.:"]/.test(t.text));
  const out: string[] = [];
  // Quoted titles: "The Anvil and the Ale".
  for (const m of secondPerson.matchAll(/"([^"]+)"/g)) out.push(`"${m[1]}"`);
  const ws = toks.map((t) => (t.word ? t.text : `\u0000${t.text}`));
  const isProper = (w: string | undefined) => !!w && !w.startsWith('\u0000') && /^[A-Z]/.test(w) && proper.has(w.replace(/['’]s$/, '')) && !selfNames.has(w.replace(/['’]s$/, ''));
  const isContent = (w: string | undefined) =>
    !!w && !w.startsWith('\u0000') && /^[a-z][a-z-]+$/.test(w) && !STOP_WORDS.has(w) && !PREPOSITIONS.has(w) && !DETERMINERS.has(w) && !ADVERBS.has(w) && !SUBORDINATORS.has(w) && !isNumberWord(w);
  for (let i = 0; i < ws.length; i++) {
    const w = ws[i]!;
    // Proper sequences, joined by "of"/"of the"/"and the" inside ("Chapel of the Dawnkeeper").
    if (isProper(w) && !(i > 0 && isProper(ws[i - 1]))) {
      let j = i;
      const parts = [w];
      for (;;) {
        if (isProper(ws[j + 1])) parts.push(ws[++j]!);
        else if (ws[j + 1] === 'of' && isProper(ws[j + 2])) parts.push('of', ws[(j += 2)]!);
        else if (ws[j + 1] === 'of' && ws[j + 2] === 'the' && isProper(ws[j + 3])) parts.push('of', 'the', ws[(j += 3)]!);
        else break;
      }
      let phrase = parts.join(' ');
      const prev = ws[i - 1];
      const possessive = /['’]s$/.test(parts[parts.length - 1]!);
      if (possessive && isContent(ws[j + 1])) {
        // "Selka's caravans", "the South Gate's hinges" ("Widow Hale's Orchard" is proper already).
        phrase = `${prev === 'the' || prev === 'The' ? 'the ' : ''}${phrase} ${ws[j + 1]}`;
      } else if (possessive) {
        phrase = phrase.replace(/['’]s$/, '');
      } else if ((prev === 'the' || prev === 'The') && isContent(ws[j + 1]) && !verbInfo(ws[j + 1]!)) {
        phrase = `the ${phrase} ${ws[j + 1]}`; // "the Ashwater war"
      } else if (prev === 'the' || prev === 'The') {
        phrase = `the ${phrase}`;
      }
      out.push(phrase);
      i = j;
      continue;
    }
    // Determiner + up to three content words: "your forge", "the iron hinges", "a mocking song".
    if (['the', 'your', 'a', 'an', 'The', 'Your'].includes(w) && isContent(ws[i + 1])) {
      let j = i + 1;
      const parts: string[] = [];
      while (isContent(ws[j]) && !(parts.length > 0 && verbInfo(ws[j]!) && !['hinges', 'nails', 'stones'].includes(ws[j]!))) parts.push(ws[j++]!);
      if (isProper(ws[j])) continue; // "the Ashwater war" is handled as a name
      const head = parts.slice(-2);
      if (head.length === 0 || head.every((p) => GENERIC.has(p))) continue;
      if (head.length === 1 && verbInfo(head[0]!) && !['forge', 'watch', 'guard', 'stall', 'well', 'charter'].includes(head[0]!)) continue;
      const det = w.toLowerCase() === 'your' ? 'your' : 'the';
      out.push(`${det} ${head.join(' ')}`);
    }
  }
  return [...new Set(out)];
}

/** "… and sell them", "… and stayed because": a second verb of the subject, not a second object ("and nails"). */
function isCoordinatedVerb(next: string | undefined, after: string | undefined): boolean {
  const info = next ? verbInfo(next) : undefined;
  if (!info || /^[A-Z]/.test(next!)) return false;
  if (info.tense === 'aux' || info.tense === 'modal') return true;
  if (!after) return true;
  const a = after.toLowerCase();
  return DETERMINERS.has(a) || PREPOSITIONS.has(a) || SUBORDINATORS.has(a) || ADVERBS.has(a) || ['it', 'them', 'him', 'her', 'me', 'us', 'you', 'there'].includes(a);
}

/** Parses the first clause: subject, verb group, object. Undefined when it does not parse cleanly. */
function clauseOf(secondPerson: string, proper: Set<string>, placeWords: Set<string>): Clause | undefined {
  const firstClause = secondPerson.split(/[;.]/)[0]!.trim();
  const toks = tokenize(firstClause);
  const ws: string[] = [];
  const seps: string[] = []; // separator after each word
  for (const t of toks) {
    if (t.word) {
      ws.push(t.text);
      seps.push('');
    } else if (seps.length) seps[seps.length - 1] += t.text;
  }
  if (ws.length < 3) return undefined;
  // The verb: first known verb form not right after a determiner/possessive, skipping reduced relatives ("nailed above … was").
  let v = -1;
  for (let i = 1; i < ws.length; i++) {
    const w = ws[i]!;
    const info = verbInfo(w);
    if (!info || /^[A-Z]/.test(w)) continue;
    const prev = ws[i - 1]!;
    if (DETERMINERS.has(prev.toLowerCase()) || /['’]s$/.test(prev) || ADVERBS.has(prev.toLowerCase()) && i === 1) continue;
    if (seps[i - 1]!.includes(',')) break; // a verb after a comma belongs to another clause
    if ((info.tense === 'past' || info.tense === 'participle') && /ed$/.test(w) && PREPOSITIONS.has((ws[i + 1] ?? '').toLowerCase())) {
      const later = ws.slice(i + 1).findIndex((x) => ['is', 'was', 'are', 'were', 'has', 'have'].includes(x));
      if (later >= 0) continue;
    }
    v = i;
    break;
  }
  if (v < 1) return undefined;
  let subjectWords = ws.slice(0, v);
  // A leading time phrase is not the subject ("Last week a hooded stranger crossed …").
  const leadTime = /^(?:last (?:week|night|year|month|autumn|spring|summer|winter)|yesterday|once|today)\b/i.exec(subjectWords.join(' '));
  if (leadTime) subjectWords = subjectWords.slice(leadTime[0].split(' ').length);
  if (subjectWords.length === 0) return undefined;
  const first = subjectWords[0]!;
  if (PREPOSITIONS.has(first.toLowerCase())) {
    // Fronted phrase ("In the Ashwater war Roderick and you held"): the subject is the trailing names.
    const tail: string[] = [];
    for (let i = subjectWords.length - 1; i >= 0; i--) {
      const w = subjectWords[i]!;
      if (/^[A-Z]/.test(w) || w === 'and' || w === 'you') tail.unshift(w);
      else break;
    }
    if (tail.length === 0) tail.push(subjectWords[subjectWords.length - 1]!);
    subjectWords = tail;
  }
  if (seps.slice(0, v - 1).some((s) => /[,"]/.test(s))) return undefined;
  const main = verbInfo(ws[v]!)!;
  let verbEnd = v + 1;
  let aux: Clause['aux'];
  let copula = false;
  if (main.tense === 'aux' || main.tense === 'modal') {
    const rest: string[] = [];
    while (verbEnd < ws.length && (ADVERBS.has(ws[verbEnd]!) || ws[verbEnd] === 'been' || (/^[a-z]{2,}ing$/.test(ws[verbEnd]!) && !PREPOSITIONS.has(ws[verbEnd]!)) || (verbInfo(ws[verbEnd]!) && /(ed|en|[^e]n)$|^(built|held|kept|lit|left|sold|paid|heard|said|made|found|fed|led|met|sent|taught|thought|brought|bought|caught|fought|stood|ground)$/.test(ws[verbEnd]!)) || (main.tense === 'modal' && rest.length === 0 && verbInfo(ws[verbEnd]!)))) {
      rest.push(ws[verbEnd]!);
      verbEnd++;
    }
    if (rest.length) aux = { word: ws[v]!, rest: rest.join(' ') };
    else copula = main.lemma === 'be';
  }
  const objWords: string[] = [];
  for (let i = verbEnd; i < ws.length; i++) {
    if (SUBORDINATORS.has(ws[i]!.toLowerCase()) && objWords.length > 0) break;
    if (ws[i] === 'and' && objWords.length > 0 && isCoordinatedVerb(ws[i + 1], ws[i + 2])) break;
    objWords.push(ws[i]!);
    if (/[,:;]/.test(seps[i]!)) break;
  }
  // The reason is not part of the object ("… in exchange for supper" answers "why", it is not what is played).
  const reasonAt = objWords.findIndex((w, i) => (w === 'in' && ['exchange', 'return'].includes(objWords[i + 1]!)) || (w === 'out' && objWords[i + 1] === 'of') || w === 'because' || (w === 'for' && objWords[i + 1] === 'luck'));
  if (reasonAt > 0) objWords.splice(reasonAt);
  while (objWords.length && /^(and|or|but|the|a|an|called|named|of|to|at|in|by|for)$/.test(objWords[objWords.length - 1]!)) objWords.pop();
  if ((objWords.length === 0 && !copula) || objWords[0] === 'that') return undefined;
  const subject = subjectWords.join(' ');
  const subjectLower = /^(The|A|An|Your)$/.test(subjectWords[0]!) ? subject.charAt(0).toLowerCase() + subject.slice(1) : subject;
  const self = /\byou\b/i.test(subject);
  const head = subject.split(/\s+of\s+/)[0]!;
  const person = self || PERSON_WORDS.test(head) || head.split(/\s+/).some((w) => /^[A-Z][a-z]+$/.test(w) && proper.has(w) && !placeWords.has(w) && !/^(The|A|An|Your)$/.test(w));
  const headWords = subject.split(/\s+(?:for|of|in|at|by|from|over|above|behind|on)\s+/)[0]!.split(/\s+/);
  const plural = /\band\b/.test(subject) || main.tense === 'base' || ['are', 'were', 'have'].includes(ws[v]!) || (/[^s]s$/.test(headWords[headWords.length - 1]!) && !/^[A-Z]/.test(headWords[headWords.length - 1]!));
  const limit = (list: string[]) => {
    if (list.length <= 13) return list.join(' ');
    let cut = 13;
    for (let i = 12; i >= 3; i--) if (PREPOSITIONS.has(list[i]!)) {
      cut = i;
      break;
    }
    const out = list.slice(0, cut);
    while (out.length && /^(and|or|but|the|a|an|called|named|of)$/.test(out[out.length - 1]!)) out.pop();
    return out.join(' ');
  };
  const object = limit(objWords);
  const strip = (re: RegExp) => {
    const m = re.exec(object);
    if (!m) return undefined;
    const out = object.replace(new RegExp(re.source, 'g'), '').replace(/\s{2,}/g, ' ').replace(/[\s,]+$/, '').trim();
    return out.split(' ').length >= 1 && out !== object ? out : undefined;
  };
  let objectNoPlace: string | undefined;
  for (let i = 0; i < objWords.length; i++) {
    if (!PLACE_PREPS.has(objWords[i]!)) continue;
    const window = objWords.slice(i + 1, i + 6);
    if (window.some((w) => /^[A-Z]/.test(w) && proper.has(w.replace(/['’]s$/, ''))) || ['guardhouse', 'forge', 'mill', 'anvil', 'shallows', 'stall'].some((p) => window.includes(p))) {
      if (i > 0) objectNoPlace = objWords.slice(0, i).join(' ');
      break;
    }
  }
  const countM = /^(?:[\w-]+ )?([\w-]+) ([a-z]+s)\b/.exec(object);
  const counted = countM && isNumberWord(countM[1]!) ? countM[2] : /^([\w-]+) ([a-z]+s)\b/.exec(object) && isNumberWord(object.split(' ')[0]!) ? object.split(' ')[1] : undefined;
  const objectNoDuration = strip(DURATION_RE);
  return {
    subject: self ? subjectLower.replace(/\bYou\b/, 'you') : subjectLower,
    self,
    person,
    plural,
    verb: ws.slice(v, verbEnd).join(' '),
    main,
    ...(aux ? { aux } : {}),
    copula,
    object,
    ...(TIME_RE.test(object) ? { objectNoTime: strip(TIME_RE) ?? '' } : {}),
    ...(objectNoPlace ? { objectNoPlace } : {}),
    ...(objectNoDuration && aux && main.lemma === 'have' ? { duration: { objectNoDuration } } : {}),
    ...(counted && main.lemma === 'have' && !aux ? { countedNoun: counted } : {}),
    hasReason: REASON_RE.test(secondPerson),
  };
}

/** Analyses every NPC's lore (document frequencies and proper names are computed over the whole town). */
export function analyzeLore(contexts: readonly NpcContext[]): LoreFact[] {
  const proper = properWords(contexts);
  const allFacts = contexts.flatMap((c) => c.script.lore);
  const docFreq = new Map<string, number>();
  for (const f of allFacts) for (const s of contentStems(f)) docFreq.set(s, (docFreq.get(s) ?? 0) + 1);

  // Words of place names: a subject made of them is a thing ("What wakes the town?"), not a person ("Who …?").
  const placeWords = new Set<string>();
  const world = contexts[0]?.world;
  for (const l of world?.map.landmarks ?? []) for (const w of l.name.split(/\s+/)) placeWords.add(w.replace(/['’]s$/, ''));
  if (world) placeWords.add(world.map.name);
  for (const f of allFacts) for (const m of f.matchAll(/\b([A-Z][a-z]+) (Road|Bay|hills|war|river)\b/g)) placeWords.add(m[1]!).add(m[2]!);
  for (const ctx of contexts) for (const w of ctx.script.name.split(/\s+/)) placeWords.delete(w);

  const facts: LoreFact[] = [];
  for (const ctx of contexts) {
    const selfNames = new Set(nameVariants(ctx.self).flatMap((v) => v.split(/\s+/)));
    const npcStems = ctx.script.lore.map((f) => contentStems(f));
    ctx.script.lore.forEach((text, index) => {
      const firstPerson = rewritePerson(text, ctx.self, 'first');
      let secondPerson = rewritePerson(text, ctx.self, 'second');
      secondPerson = secondPerson.replace(/\b((?:[A-Z][a-z]+ )*[A-Z][a-z]+) and you (\w+)/g, (m, other: string, verb: string) => (verbInfo(verb) ? `you and ${other} ${verb}` : m));
      const topics = topicsOf(secondPerson, proper, selfNames).map((phrase): Topic => {
        const stems = [...contentStems(phrase.replace(/^(the|your) /, ''))];
        const df = stems.length === 0 ? 99 : Math.min(...stems.map((s) => npcStems.filter((set) => set.has(s)).length || 1));
        const phraseDf = npcStems.filter((set) => stems.every((s) => set.has(s))).length || 1;
        return { phrase, df: Math.min(df, phraseDf) };
      });
      facts.push({
        id: `${ctx.script.id}#${index}`,
        npcId: ctx.script.id,
        index,
        text,
        firstPerson,
        secondPerson,
        keywords: keywordsOf(ctx, text, firstPerson, docFreq, proper),
        topics: (() => {
          const sorted = topics.sort((a, b) => a.df - b.df || b.phrase.split(' ').length - a.phrase.split(' ').length);
          const distinctive = sorted.filter((t) => t.df <= 2);
          return distinctive.length ? distinctive : sorted.slice(0, 2);
        })(),
        ...(() => {
          const clause = clauseOf(secondPerson, proper, placeWords);
          return clause ? { clause } : {};
        })(),
        cluster: '',
      });
    });
  }
  clusterFacts(facts);
  return facts;
}

/** Union–find over facts that share most of their rare content (the same event told by two NPCs). */
function clusterFacts(facts: LoreFact[]): void {
  const parent = facts.map((_, i) => i);
  const find = (i: number): number => (parent[i] === i ? i : (parent[i] = find(parent[i]!)));
  const stems = facts.map((f) => contentStems(f.text));
  const df = new Map<string, number>();
  for (const s of stems) for (const w of s) df.set(w, (df.get(w) ?? 0) + 1);
  for (let i = 0; i < facts.length; i++) {
    for (let j = i + 1; j < facts.length; j++) {
      if (facts[i]!.npcId === facts[j]!.npcId) continue;
      const a = stems[i]!;
      const b = stems[j]!;
      const shared = [...a].filter((w) => b.has(w));
      const rareShared = shared.filter((w) => (df.get(w) ?? 0) <= 4).length;
      const jaccard = shared.length / (a.size + b.size - shared.length);
      if (jaccard >= 0.3 || rareShared >= 3) parent[find(i)] = find(j);
    }
  }
  const names = new Map<number, string>();
  facts.forEach((f, i) => {
    const root = find(i);
    if (!names.has(root)) names.set(root, f.id);
  });
  facts.forEach((f, i) => (f.cluster = names.get(find(i))!));
}

// ---------------------------------------------------------------------------------------------------
// Question templates over a fact

export interface LoreQuestion {
  template: string;
  line: string;
}

/** Topic templates: a topic of the fact slotted into a question frame. */
export const LORE_TOPIC_TEMPLATES: Record<string, string> = {
  't01': 'What can you tell me about {t}?',
  't02': 'Tell me about {t}.',
  't03': 'What do you know about {t}?',
  't04': 'Anything interesting about {t}?',
  't05': "I keep hearing about {t}. What's the story?",
  't06': "What's the deal with {t}?",
  't07': '{T}? What about it?',
  't08': 'Know anything about {t}?',
  't09': 'Got any stories about {t}?',
  't10': "Someone mentioned {t}. What's that about?",
  't11': 'Can you tell me something about {t}?',
  't12': 'What should I know about {t}?',
  't13': 'Do you know much about {t}?',
  't14': "What's the story behind {t}?",
  't15': 'Explain {t} to me.',
  't16': "I'm curious about {t}.",
  't17': 'What do people say about {t}?',
  't18': 'Is there anything to know about {t}?',
  't19': 'Any idea about {t}?',
  't20': 'what about {t}',
  't21': 'Tell me more about {t}, please.',
  't22': "I'd like to hear about {t}.",
  't23': 'So, {t}. Go on.',
  't24': "Say, what's with {t}?",
  't25': 'Fill me in on {t}.',
  't26': "What's {t} all about?",
  't27': 'Could you say something about {t}?',
  't28': 'Have you got anything to say about {t}?',
  't29': 'Heard any talk about {t}?',
  't30': 'I was wondering about {t}.',
};

export const LORE_PAIR_TEMPLATES: Record<string, string> = {
  'p1': 'What do {t} and {u} have to do with each other?',
  'p2': 'Is there a link between {t} and {u}?',
  'p3': 'Tell me about {t} and {u}.',
  'p4': "What's the connection between {t} and {u}?",
  'p5': "{T} and {u}... what's the story there?",
};

/** Clause templates: questions built from the fact's main clause. Undefined when the clause does not fit. */
export const LORE_CLAUSE_TEMPLATES: Record<string, (c: Clause, statement: string) => string | undefined> = {
  'c-istrue': (_c, s) => `Is it true ${s}?`,
  'c-heard': (_c, s) => `I heard ${s}. True?`,
  'c-someone': (_c, s) => `Someone told me ${s}. Is that right?`,
  'c-right': (_c, s) => `${capitalize(s)}, right?`,
  'c-rumour': (_c, s) => `Rumour has it ${s}.`,
  'c-really': (_c, s) => `Did I hear right that ${s}?`,
  'c-who': (c) => (!c.copula && !isPassive(c) && !(c.aux?.word.match(/^(has|have|had)$/) && !c.person) ? `${c.person ? 'Who' : 'What'} ${thirdPersonGroup(c)} ${c.object}?` : undefined),
  'c-who2': (c) => (!c.copula && !isPassive(c) && !(c.aux?.word.match(/^(has|have|had)$/) && !c.person) ? `Do you know ${c.person ? 'who' : 'what'} ${thirdPersonGroup(c)} ${c.object}?` : undefined),
  'c-do': (c) => doQuestion(c, '', c.object),
  'c-when': (c) => (c.objectNoTime !== undefined && !isPerfect(c) ? doQuestion(c, 'When', c.objectNoTime) : undefined),
  'c-when2': (c) => (c.objectNoTime !== undefined && !isPerfect(c) ? doQuestion(c, isPast(c) ? 'How long ago' : 'At what time', c.objectNoTime) : undefined),
  'c-why': (c) => (c.hasReason ? doQuestion(c, 'Why', c.object) : undefined),
  'c-why2': (c) => (c.hasReason ? `How come ${c.subject} ${c.verb} ${c.object}?` : undefined),
  'c-where': (c) => (c.objectNoPlace ? doQuestion(c, 'Where', c.objectNoPlace) : undefined),
  'c-where2': (c) => (c.objectNoPlace ? doQuestion(c, 'Where exactly', c.objectNoPlace) : undefined),
  'c-howmany': (c) => (c.countedNoun ? `How many ${c.countedNoun} ${c.plural || c.self ? 'do' : 'does'} ${c.subject} have?` : undefined),
  'c-howlong': (c) => (c.duration && c.aux ? `How long ${secondPersonVerb(c.aux.word) === c.aux.word || !c.self ? c.aux.word : secondPersonVerb(c.aux.word)} ${c.subject} ${c.aux.rest} ${c.duration.objectNoDuration}?` : undefined),
  'c-whatis': (c) => (c.copula && !c.self ? `What ${c.plural ? 'are' : 'is'} ${c.subject}?` : undefined),
};

function isPerfect(c: Clause): boolean {
  return !!c.aux && c.main.lemma === 'have';
}

function isPast(c: Clause): boolean {
  return c.main.tense === 'past' || (!!c.aux && ['was', 'were', 'had', 'did'].includes(c.aux.word));
}

function isPassive(c: Clause): boolean {
  const last = c.aux?.rest.split(' ').pop() ?? '';
  const info = verbInfo(last);
  const beAux = c.main.lemma === 'be' || /^been /.test(c.aux?.rest ?? '');
  return !!c.aux && beAux && (/ed$|en$/.test(last) || (!!info && (info.tense === 'past' || info.tense === 'participle')));
}

/** "you built" → "built"; "you quench" → "quenches"; "you have commanded" → "has commanded". */
function thirdPersonGroup(c: Clause): string {
  if (!c.self && !c.plural) return c.verb;
  const [head, ...rest] = c.verb.split(' ');
  const info = verbInfo(head!);
  let third = head!;
  if (head === 'have') third = 'has';
  else if (head === 'are') third = 'is';
  else if (head === 'were') third = 'was';
  else if (info && info.tense === 'base') third = info.forms.s;
  return [third, ...rest].join(' ');
}

/** "When did you build your forge?" / "Why does the watch …?" / "Why are you looking for …?" */
function doQuestion(c: Clause, wh: string, object: string): string | undefined {
  const pre = wh ? `${wh} ` : '';
  const tail = object ? ` ${object}` : '';
  if (c.aux) {
    if (c.main.tense === 'modal') return undefined;
    const auxWord = c.self ? secondPersonVerb(c.aux.word) : c.aux.word;
    return `${capitalize(`${pre}${auxWord} ${c.subject} ${c.aux.rest}${tail}`)}?`;
  }
  if (c.copula) {
    if (!wh) return `${capitalize(`${c.self ? 'are' : c.verb} ${c.subject}${tail}`)}?`;
    return undefined;
  }
  if (c.main.tense === 'modal' || c.main.lemma === 'have') return undefined;
  const doWord = c.main.tense === 'past' ? 'did' : c.self || c.plural ? 'do' : 'does';
  return `${capitalize(`${pre}${doWord} ${c.subject} ${c.main.lemma}${tail}`)}?`;
}

/** The fact's first clause as a player states it ("you built your forge by the east wall of Emberfall"). */
export function statementOf(c: Clause): string {
  return `${c.subject} ${c.verb}${c.object ? ` ${c.object}` : ''}`.replace(/[,\s]+$/, '');
}

/** Every question line for a fact, with its template id (`lore.topic.t05`, `lore.pair.p2`, `lore.clause.c-when`). */
export function loreQuestions(fact: LoreFact, maxTopics = 4): LoreQuestion[] {
  const out: LoreQuestion[] = [];
  const topics = fact.topics.slice(0, maxTopics);
  for (const [id, tpl] of Object.entries(LORE_TOPIC_TEMPLATES)) {
    for (const t of topics) out.push({ template: `lore.topic.${id}`, line: fill(tpl, { t: t.phrase }) });
  }
  for (const [id, tpl] of Object.entries(LORE_PAIR_TEMPLATES)) {
    for (let i = 0; i < topics.length; i++) for (let j = i + 1; j < topics.length; j++) out.push({ template: `lore.pair.${id}`, line: fill(tpl, { t: topics[i]!.phrase, u: topics[j]!.phrase }) });
  }
  if (fact.clause) {
    const statement = statementOf(fact.clause);
    for (const [id, build] of Object.entries(LORE_CLAUSE_TEMPLATES)) {
      const line = build(fact.clause, statement);
      if (line) out.push({ template: `lore.clause.${id}`, line: line.replace(/\s+([?.,])/g, '$1').replace(/\s{2,}/g, ' ') });
    }
  }
  return out;
}

/** Every lore template id, for hold-out selection. */
export function loreTemplateIds(): { family: string; ids: string[] }[] {
  return [
    { family: 'lore.topic', ids: Object.keys(LORE_TOPIC_TEMPLATES).map((id) => `lore.topic.${id}`) },
    { family: 'lore.pair', ids: Object.keys(LORE_PAIR_TEMPLATES).map((id) => `lore.pair.${id}`) },
    { family: 'lore.clause', ids: Object.keys(LORE_CLAUSE_TEMPLATES).map((id) => `lore.clause.${id}`) },
  ];
}

/** Fills `{x}` slots; `{X}` is the same value with a capital first letter. */
export function fill(template: string, slots: Record<string, string>): string {
  return template.replace(/\{(\w+)\}/g, (m, key: string) => {
    const lower = key.toLowerCase();
    const value = slots[key] ?? slots[lower];
    if (value === undefined) return m;
    return key !== lower && key === key.charAt(0).toUpperCase() + key.slice(1) ? capitalize(value) : value;
  });
}
