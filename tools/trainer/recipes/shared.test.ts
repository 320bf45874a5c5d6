import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { npcScriptHashes } from './shared.ts';

describe('npcScriptHashes: what training sees of a script', () => {
  const dir = mkdtempSync(join(tmpdir(), 'wm-hash-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const original = readFileSync('assets/npcs/bram.yaml', 'utf8');
  const hashOf = (text: string) => {
    writeFileSync(join(dir, 'bram.yaml'), text);
    return npcScriptHashes(dir).bram!;
  };

  it('ignores the voice, comments and layout; changes with anything the prompt or corpus uses', () => {
    const base = hashOf(original);
    expect(original).toMatch(/^voice: /m);
    expect(hashOf(original.replace(/^voice: .*$/m, 'voice: { engine: espeak-ng, name: "en-us", pitch: 20, rate: 120 }'))).toBe(base);
    expect(hashOf(original.replace(/^voice: .*\n/m, ''))).toBe(base);
    expect(hashOf(`# a designer's note\n${original}`)).toBe(base);
    expect(hashOf(original.replace('blacksmith of Emberfall', 'smith of Emberfall'))).not.toBe(base);
    expect(hashOf(original.replace(/^role: .*$/m, 'role: farrier'))).not.toBe(base);
  });
});
