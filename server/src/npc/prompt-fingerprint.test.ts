import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadWorldMap } from '../world/world-map.ts';
import { promptFingerprint, promptFingerprints } from './prompt-fingerprint.ts';
import { worldFacts } from './prompt.ts';
import { loadNpcScripts } from './script-loader.ts';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const map = loadWorldMap(`${root}assets/world/town.json`, 0.5);
const world = worldFacts(map);
const scripts = loadNpcScripts(`${root}assets/npcs`, { map }).scripts;

/** The prompt fingerprints the shipped model's latest fine-tuning run recorded (tools/trainer/recipes). */
function shippedModelPrompts(): Record<string, string> | undefined {
  const config = JSON.parse(readFileSync(`${root}assets/models/default/config.json`, 'utf8')) as { worldmind?: { training?: { runs?: Array<{ npc_prompts?: Record<string, string> }> } } };
  const runs = config.worldmind?.training?.runs ?? [];
  for (let i = runs.length - 1; i >= 0; i--) if (runs[i]!.npc_prompts) return runs[i]!.npc_prompts;
  return undefined;
}

describe('prompt fingerprints', () => {
  it('the shipped NPCs are prompted exactly as the shipped model was trained (a prompt change needs npm run train:default or train:npcs)', () => {
    const trained = shippedModelPrompts();
    expect(trained, 'assets/models/default records no prompt fingerprints').toBeDefined();
    expect(promptFingerprints(scripts, world)).toEqual(trained);
  });

  it('follow what the prompt says, not what it does not', () => {
    const bram = scripts.find((s) => s.id === 'bram')!;
    const base = promptFingerprint(bram, world);
    expect(promptFingerprint({ ...bram }, world)).toBe(base);
    expect(promptFingerprint({ ...bram, persona: `${bram.persona} He hums.` }, world)).not.toBe(base);
    expect(promptFingerprint({ ...bram, lore: [] }, world)).not.toBe(base);
    expect(promptFingerprint({ ...bram, voice: { engine: 'espeak-ng', name: 'en-us', pitch: 10, rate: 100 } }, world)).toBe(base);
    expect(promptFingerprint(bram, { ...world, name: 'Elsewhere' })).not.toBe(base);
  });
});
