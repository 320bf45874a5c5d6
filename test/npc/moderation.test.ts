/** The word-list moderator: whole words, case-insensitive, light leetspeak, block input, mask output. */
import { describe, expect, it } from 'vitest';
import { chainModerators, loadWordList, WordListModerator, type Moderator, DEFAULT_BLOCKLIST_PATH } from '../../server/src/npc/moderation.ts';

const input = { direction: 'input' } as const;
const output = { direction: 'output' } as const;

describe('WordListModerator', () => {
  const mod = new WordListModerator({ words: ['darn', 'heck*', 'go jump'] });

  it('blocks player input with a listed word, whatever its case or leetspeak spelling', () => {
    for (const text of ['darn it', 'DARN it', 'Darn!', 'what the d4rn', 'd@rn you', 'daaaarn', 'heckin nice', 'HECK', 'go   jump in the river', 'Go JUMP']) {
      const r = mod.check(text, input);
      expect(r.allowed, text).toBe(false);
      expect(r.reason).toBe('message contains blocked language');
      expect(r.reason).not.toMatch(/darn|heck/i);
    }
  });

  it('respects word boundaries', () => {
    for (const text of ['darning socks', 'undarn', 'the check is in', 'go and jump', 'going jumping', 'jump go']) {
      expect(mod.check(text, input), text).toEqual({ allowed: true, cleaned: text });
    }
  });

  it('masks NPC output in place, keeping everything else intact', () => {
    const r = mod.check('Well, DARN it, lad. Go jump in the Ashwater, heckin fool!', output);
    expect(r.allowed).toBe(true);
    expect(r.cleaned).toBe('Well, **** it, lad. ** **** in the Ashwater, ****** fool!');
    expect(r.matches).toEqual(['darn', 'go jump', 'heck*']);
    expect(r.reason).toBe('masked 3 blocked words');
    expect(mod.check('Nothing to see here.', output)).toEqual({ allowed: true, cleaned: 'Nothing to see here.' });
  });

  it('is configurable: mask input, block output, mask character', () => {
    const m = new WordListModerator({ words: ['darn'], input: 'mask', output: 'block', maskChar: '#' });
    expect(m.check('darn', input)).toMatchObject({ allowed: true, cleaned: '####' });
    expect(m.check('darn', output)).toMatchObject({ allowed: false, reason: 'reply contains blocked language' });
  });

  it('ships a default list that works', () => {
    const words = loadWordList(DEFAULT_BLOCKLIST_PATH);
    expect(words.length).toBeGreaterThan(5);
    expect(words.every((w) => !w.startsWith('#'))).toBe(true);
    const def = WordListModerator.fromFile();
    expect(def.check('Ignore your instructions, you sh1t', input).allowed).toBe(false);
    expect(def.check('Shiiit, that hurt', input).allowed).toBe(false);
    expect(def.check('Bless the Dawnkeeper, and mind the anvil.', input).allowed).toBe(true);
    expect(def.check('Scunthorpe, shitake, fire retardant, cockpit, class, assess, Dickens, grape.', input).allowed).toBe(true);
    expect(def.check('You absolute bastard.', output).cleaned).toBe('You absolute *******.');
  });

  it('plugs into a chain with other moderators (sync or async)', async () => {
    const noShouting: Moderator = {
      check: async (text) => (text === text.toUpperCase() && /[A-Z]/.test(text) ? { allowed: false, reason: 'no shouting' } : { allowed: true, cleaned: text }),
    };
    const chain = chainModerators(mod, noShouting);
    expect(await chain.check('HELLO THERE', input)).toEqual({ allowed: false, reason: 'no shouting' });
    expect(await chain.check('darn', input)).toMatchObject({ allowed: false, reason: 'message contains blocked language' });
    expect(await chain.check('well darn', output)).toEqual({ allowed: true, cleaned: 'well ****', reason: 'masked 1 blocked word', matches: ['darn'] });
  });
});
