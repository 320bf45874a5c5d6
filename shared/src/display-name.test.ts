import { describe, expect, it } from 'vitest';
import { disambiguatedName, displayNameKey, normalizeDisplayName } from './display-name.ts';
import { JoinOptionsSchema } from './messages.ts';

const ok = (raw: string) => {
  const r = normalizeDisplayName(raw);
  if (!r.ok) throw new Error(`refused ${JSON.stringify(raw)}: ${r.reason}`);
  return r.name;
};
const reason = (raw: string) => {
  const r = normalizeDisplayName(raw);
  if (r.ok) throw new Error(`accepted ${JSON.stringify(raw)} as ${JSON.stringify(r.name)}`);
  return r.reason;
};

describe('display names', () => {
  it('normalises to NFKC and collapses whitespace', () => {
    expect(ok('Ａｄａ')).toBe('Ada');
    expect(ok('  Ada \u00A0\u2003 Lovelace ')).toBe('Ada Lovelace');
    expect(ok('ﬁnn')).toBe('finn');
    expect(ok('Zoë')).toBe('Zoë');
    expect(ok('Ada ❤️')).toBe('Ada ❤️'); // emoji with its variation selector
    expect(ok('李小龙')).toBe('李小龙');
  });

  it('refuses control, bidi, zero-width, invisible and unassigned characters, naming them', () => {
    expect(reason('a\u0000b')).toMatch(/NUL character \(U\+0000\)/);
    expect(reason('\u001b[2Jhi')).toMatch(/escape character/);
    expect(reason('a\tb')).toMatch(/control character \(U\+0009\)/);
    expect(reason('two\nlines')).toMatch(/line break/);
    expect(reason('a\u2028b')).toMatch(/U\+2028/);
    for (const c of ['\u202A', '\u202B', '\u202D', '\u202E', '\u2066', '\u2067', '\u2068', '\u2069', '\u200E', '\u200F', '\u061C']) expect(reason(`x${c}y`)).toMatch(/bidirectional-text control/);
    for (const c of ['\u200B', '\u200C', '\u200D', '\u2060', '\uFEFF']) expect(reason(`x${c}y`)).toMatch(/zero-width character/);
    expect(reason('x\u00ADy')).toMatch(/U\+00AD/); // soft hyphen
    expect(reason('\u3164')).toMatch(/invisible/); // Hangul filler
    expect(reason('a\u2800b')).toMatch(/invisible/); // braille blank
    expect(reason('a\uE000b')).toMatch(/U\+E000/); // private use
    expect(reason('a\uD800b')).toMatch(/U\+D800/); // lone surrogate
    expect(reason('a\u{E0041}b')).toMatch(/U\+E0041/); // tag character
  });

  it('bounds length, needs a letter or digit, limits stacked marks, reserves the "(n)" suffix', () => {
    expect(ok('x'.repeat(24))).toHaveLength(24);
    expect(reason('x'.repeat(25))).toMatch(/longer than 24/);
    expect(reason('x'.repeat(10_000))).toMatch(/longer than 24/);
    expect(ok('𝒜'.repeat(3))).toBe('A'.repeat(3)); // NFKC: mathematical letters become plain
    expect(reason('')).toMatch(/empty/);
    expect(reason(' \u3000 ')).toMatch(/empty/);
    expect(reason('—*—')).toMatch(/letter or digit/);
    expect(reason('Z\u0335\u0336\u0337alg')).toMatch(/combining marks/);
    expect(reason('\u0301abc')).toMatch(/combining marks/);
    expect(reason('Ada (2)')).toMatch(/parentheses/);
    expect(ok('Ada (the smith)')).toBe('Ada (the smith)');
  });

  it('compares names by a key that ignores case, width, diacritics, spacing and Latin look-alikes', () => {
    const key = displayNameKey('Alice');
    for (const same of ['alice', 'ALICE', 'Ａｌｉｃｅ', '\u0410lice', 'Alicé', 'A l i c e', 'A1ice', 'AIice', 'Al\u0456ce', '\u0391lice']) expect(displayNameKey(same), same).toBe(key);
    expect(displayNameKey('Alicia')).not.toBe(key);
    expect(displayNameKey('Bob')).toBe(displayNameKey('B\u043Eb'));
  });

  it('disambiguates within the length limit', () => {
    expect(disambiguatedName('Ada', 1)).toBe('Ada');
    expect(disambiguatedName('Ada', 2)).toBe('Ada (2)');
    const long = disambiguatedName('x'.repeat(24), 12);
    expect(long).toBe(`${'x'.repeat(19)} (12)`);
    expect([...long].length).toBeLessThanOrEqual(24);
  });

  it('join options carry the normalised name, or the reason it was refused', () => {
    expect(JoinOptionsSchema.parse({ name: ' Ａｄａ ' })).toEqual({ name: 'Ada' });
    expect(JoinOptionsSchema.parse({ name: 'Ada', token: 'ignored', aoiRadius: null })).toEqual({ name: 'Ada' });
    const bad = JoinOptionsSchema.safeParse({ name: 'A\u202Eda' });
    expect(bad.success).toBe(false);
    expect(bad.error!.issues[0]!.message).toMatch(/bidirectional/);
    expect(JoinOptionsSchema.safeParse({ name: 42 }).success).toBe(false);
  });
});
