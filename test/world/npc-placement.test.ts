/**
 * NPCs are placed by their scripts, not the map: a new NPC file whose home is declared only in its YAML
 * stands there in the world (real server on loopback, real SDK client), a broken script's NPC is left
 * out, and a map that still lists NPCs is refused with the fix. The placement is a world service, so
 * NPC brains stay off here (no model to load).
 */
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WorldClient } from '../../client-sdk/src/index.ts';
import { parseWorldMap, WorldMapError } from '../../server/src/world/world-map.ts';
import { npcDirWith } from '../support/npc-fixtures.ts';
import { connect, startTestServer, waitFor } from '../support/world-server.ts';

/**
 * A new NPC by the south gate (near the spawn points, so a fresh player sees it), named nowhere in
 * town.json, with a place of its own (the Ferry Landing is not a map landmark) in its actions and routine.
 */
const TOMAS = `# yaml-language-server: $schema=./npc.schema.json
id: tomas
name: Tomas the Ferryman
role: ferryman
persona: You are Tomas, who ferries travellers across the Ashwater when the bridge is crowded.
style: Slow and friendly.
greeting: Need a crossing?
lore:
  - Tomas keeps his boat under Ashwater Bridge.
actions:
  emote: [wave, nod]
  point_at: { landmark: [ferry-landing, gate] }
places:
  ferry-landing: { name: the Ferry Landing, x: 20, z: 96 }
home: { x: 94, z: 24, heading: 1.57 }
schedule:
  - { at: "06:00", place: gate, activity: waiting for travellers }
  - { at: "18:00", place: ferry-landing, activity: tying up the boat }
fallback:
  - One moment.
`;

describe('NPC placement from scripts', () => {
  let server: Awaited<ReturnType<typeof startTestServer>>;
  let ada: WorldClient;
  let npcDir: string;

  beforeAll(async () => {
    npcDir = npcDirWith({});
    writeFileSync(join(npcDir, 'tomas.yaml'), TOMAS);
    // A second new NPC whose home is inside the guardhouse: reported at start-up and not placed.
    writeFileSync(join(npcDir, 'walled.yaml'), TOMAS.replace('id: tomas', 'id: walled').replace('home: { x: 94, z: 24, heading: 1.57 }', 'home: { x: 116, z: 17 }'));
    server = await startTestServer({ NPC_ENABLED: false, NPC_DIR: npcDir, GAME_MINUTES_PER_SECOND: 0 });
    ada = await connect(server.endpoint, 'Ada');
  }, 30_000);
  afterAll(async () => {
    await ada?.leave();
    await server?.shutdown();
    rmSync(npcDir, { recursive: true, force: true });
  });

  it('places a new NPC at the home its YAML declares, with no edit of the map', async () => {
    expect(server.services.map.landmarks.some((l) => l.id === 'ferry-landing')).toBe(false);
    const tomas = await waitFor('Tomas in the replicated state', () => ada.npcs.get('tomas'));
    expect(tomas).toMatchObject({ id: 'tomas', name: 'Tomas the Ferryman', role: 'ferryman' });
    expect(Math.hypot(tomas.x - 94, tomas.z - 24)).toBeLessThan(0.01);
    expect(tomas.heading).toBeCloseTo(1.57, 2);
    // Every shipped NPC is placed the same way (from its script's home), and the broken one is not.
    expect(server.services.npcs.map((n) => n.id).sort()).toEqual(['bram', 'finn', 'marta', 'roderick', 'selka', 'tomas']);
    expect(server.services.npcs.find((n) => n.id === 'bram')).toMatchObject({ x: 152, z: 70, heading: 4.71 });
  });

  it('refuses a map that still places NPCs, saying where they go now', () => {
    const map = { id: 'm', name: 'M', bounds: { minX: 0, minZ: 0, maxX: 10, maxZ: 10 }, spawnPoints: [{ x: 5, z: 5 }], npcs: [{ id: 'a', name: 'A', role: 'r', x: 1, z: 1 }] };
    expect(() => parseWorldMap(map, 'old.json', 0.5)).toThrow(WorldMapError);
    expect(() => parseWorldMap(map, 'old.json', 0.5)).toThrow(/old\.json: npcs: .*`home: \{x, z, heading\}` in its script/);
  });
});
