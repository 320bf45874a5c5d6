import { describe, expect, it } from 'vitest';
import { createConstraint } from './action-constraint.ts';
import { CONTINUATION_FACTOR, loreGrounding, RAMP_FROM, RAMP_TO } from './lore-grounding.ts';
import { SpeechGrounding } from './speech-grounding.ts';

describe('choosing a turn\'s lore grounding', () => {
  const firstPerson = ['I built my forge by the east wall.', 'I quench my blades in well water.'];
  const hit = (score: number, index = 1) => ({ text: `fact ${index}`, index, score });

  it('takes the best-matching fact in the NPC\'s first person, at full strength for a strong match', () => {
    expect(loreGrounding(hit(RAMP_TO + 3), firstPerson, 4)).toEqual({ fact: 1, text: 'I quench my blades in well water.', bias: 4, continuation: 4 * CONTINUATION_FACTOR });
  });

  it('ramps with the match score, and is absent for a weak match, no match, or strength 0', () => {
    const middle = loreGrounding(hit((RAMP_FROM + RAMP_TO) / 2), firstPerson, 4)!;
    expect(middle.bias).toBeCloseTo(2, 3);
    expect(middle.continuation).toBeCloseTo(2 * CONTINUATION_FACTOR, 3);
    expect(loreGrounding(hit(RAMP_FROM), firstPerson, 4)).toBeUndefined();
    expect(loreGrounding(undefined, firstPerson, 4)).toBeUndefined();
    expect(loreGrounding(hit(RAMP_TO + 3), firstPerson, 0)).toBeUndefined();
  });
});

describe('speech grounding (worker side)', () => {
  const row = (n = 10) => new Float32Array(n);
  // The fact's tokens: 2 3 4 5 (e.g. "I built my forge"); 7 is a token outside it.
  const options = { sequences: [[2, 3, 4, 5]], bias: 1, continuation: 3 };

  it('adds the bias to every token of the fact, and the continuation to its first token, then to the one that follows the last one said', () => {
    const g = new SpeechGrounding(options);
    let logits = row();
    g.bias(logits);
    expect([...logits]).toEqual([0, 0, 3, 1, 1, 1, 0, 0, 0, 0]); // the first token starts the fact
    g.accept(3);
    logits = row();
    g.bias(logits);
    expect(logits[4]).toBe(3); // continues the fact after "built"
    expect(logits[2]).toBe(1);
    expect(logits[7]).toBe(0);
  });

  it('continues where the speech follows the fact when the last token said occurs in it more than once', () => {
    // "the South Gate , the Guardhouse , the Well": 2 = " the", 3 = " South", 4 = " Gate", 5 = ",", 6 = " Guardhouse", 8 = " Well".
    const g = new SpeechGrounding({ sequences: [[2, 3, 4, 5, 2, 6, 5, 2, 8]], bias: 0, continuation: 3 });
    for (const t of [2, 3, 4, 5, 2]) g.accept(t);
    const logits = row();
    g.bias(logits);
    expect([...logits]).toEqual([0, 0, 0, 0, 0, 0, 3, 0, 0, 0]); // only " Guardhouse": ", the" after " Gate" is the second "the"
    // Said out of order (" the Well , the"), the longest run that matches decides (", the" matches twice).
    const h = new SpeechGrounding({ sequences: [[2, 3, 4, 5, 2, 6, 5, 2, 8, 9]], bias: 0, continuation: 3 });
    for (const t of [2, 8, 5, 2]) h.accept(t);
    const out = row();
    h.bias(out);
    expect([...out]).toEqual([0, 0, 0, 0, 0, 0, 3, 0, 3, 0]);
  });

  it('never boosts a token that would repeat a trigram already said', () => {
    const g = new SpeechGrounding({ sequences: [[2, 3, 2, 3, 4, 6]], bias: 0, continuation: 3 });
    for (const t of [2, 3, 2, 3]) g.accept(t);
    const logits = row();
    g.bias(logits);
    expect(logits[2]).toBe(0); // "3 2" after "2 3": "2 3 2" was said already
    expect(logits[4]).toBe(3); // "2 3 4" was not
  });

  it('stops once the fact has been said to its end', () => {
    const g = new SpeechGrounding(options);
    for (const t of [2, 3, 4]) g.accept(t);
    expect(g.done).toBe(false);
    g.accept(5);
    expect(g.done).toBe(true);
    const logits = row();
    g.bias(logits);
    expect([...logits].every((v) => v === 0)).toBe(true);
  });
});

describe('the action constraint with lore grounding', () => {
  // 0 eos, 1 "[", 2 "none", 3 "]]", 4 "give", 5..8 speech words.
  const vocab = ['', '[', 'none', ']]', 'give', 'I', ' built', ' my', ' forge'];
  const ctx = { vocabSize: vocab.length, eosTokenIds: [0], tokenText: (id: number) => vocab[id]! };
  const grounding = { sequences: [[5, 6, 7, 8]], bias: 2, continuation: 5 };
  const options = { openerId: 1, alternatives: [[1, 2, 3], [1, 4, 3]], maxSpeechTokens: 6, minSpeechTokens: 1, noneAlternative: 0, grounding };
  const speechRow = (call: number[]) => {
    const c = createConstraint(options, ctx);
    for (const t of call) c.accept(t);
    const logits = new Float32Array(vocab.length);
    c.mask(logits);
    return [...logits];
  };

  it('biases the speech after a [[none]] call only; the call itself is untouched', () => {
    expect(speechRow([1, 1, 2, 3]).slice(5)).toEqual([5, 2, 2, 2]); // "I" starts the fact
    expect(speechRow([1, 1, 4, 3]).slice(5)).toEqual([0, 0, 0, 0]); // an NPC that acts speaks about what it does
    const c = createConstraint(options, ctx);
    c.accept(1);
    c.accept(1);
    const call = new Float32Array(vocab.length);
    c.mask(call);
    expect(call[2]).toBe(0); // the call phase: only the legal calls, no bias
    expect(call[5]).toBe(-Infinity);
  });

  it('refuses grounding it cannot apply', () => {
    expect(() => createConstraint({ ...options, grounding: { ...grounding, sequences: [[5, 99]] } }, ctx)).toThrow(/vocabulary/);
    expect(() => createConstraint({ ...options, grounding: { ...grounding, bias: Number.NaN } }, ctx)).toThrow(/finite/);
    expect(() => createConstraint({ ...options, grounding: { ...grounding, continuation: -1 } }, ctx)).toThrow(/finite/);
  });
});
