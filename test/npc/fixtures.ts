/** Shared fixtures for the NPC suites: a tiny world map and a minimal valid script with known line numbers. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { WorldMap } from '../../server/src/world/world-map.ts';

export const testMap: WorldMap = {
  id: 'testville',
  name: 'Testville',
  description: '',
  bounds: { minX: 0, minZ: 0, maxX: 200, maxZ: 160 },
  obstacles: [{ id: 'hut', kind: 'box', minX: 10, minZ: 10, maxX: 20, maxZ: 20 }],
  landmarks: [
    { id: 'well', name: 'Well', x: 104, z: 78, aliases: [] },
    { id: 'gate', name: 'Gate', x: 100, z: 14, aliases: [] },
    { id: 'market', name: 'Market', x: 104, z: 86, aliases: [] },
  ],
  items: [],
  spawnPoints: [{ x: 100, z: 30 }],
};

/** A valid script. Line numbers matter to the tests: see the comments. */
export function tessYaml(over: { id?: string; name?: string } = {}): string {
  return [
    '# yaml-language-server: $schema=./npc.schema.json', // 1
    `id: ${over.id ?? 'tess'}`, // 2
    `name: ${over.name ?? 'Tess Tester'}`, // 3
    'role: tester', // 4
    'persona: You are Tess, who tests things.', // 5
    'style: Brief and exact.', // 6
    'greeting: Hello there.', // 7
    'lore:', // 8
    '  - The well is in the middle of the market.', // 9
    '  - The gate closes at sundown.', // 10
    'actions:', // 11
    '  walk_to: { landmark: [well, gate] }', // 12
    '  give_item: { item: [bread] }', // 13
    '  emote: [wave, nod]', // 14
    '  stop: true', // 15
    'inventory:', // 16
    '  bread: 2', // 17
    'home: { x: 104, z: 90 }', // 18
    'fallback:', // 19
    '  - One moment.', // 20
    '',
  ].join('\n');
}

export const ottoYaml = (name = 'Otto Other') =>
  tessYaml({ id: 'otto', name }).replace('home: { x: 104, z: 90 }', 'home: { x: 50, z: 50 }');

/** Replace one 1-based line of a script. */
export function withLine(source: string, line: number, text: string): string {
  const lines = source.split('\n');
  lines[line - 1] = text;
  return lines.join('\n');
}

export function tempDir(prefix = 'wm-npc-'): { dir: string; write(name: string, text: string): string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return {
    dir,
    write(name, text) {
      const file = join(dir, name);
      writeFileSync(file, text);
      return file;
    },
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}
