/**
 * Test support for NPC suites: a temporary copy of the town's NPC scripts with some edited (e.g. an
 * NPC that can only give one item), and a helper that walks an SDK client up to an NPC.
 */
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseDocument } from 'yaml';
import type { WorldClient } from '../../client-sdk/src/index.ts';

const NPC_DIR = fileURLToPath(new URL('../../assets/npcs/', import.meta.url));

/** Copies assets/npcs to a temp dir, applying `edits[npcId]` to the parsed YAML of that NPC. */
export function npcDirWith(edits: Record<string, (doc: Record<string, unknown>) => void>): string {
  const dir = mkdtempSync(join(tmpdir(), 'wm-npcs-'));
  cpSync(NPC_DIR, dir, { recursive: true });
  for (const [id, edit] of Object.entries(edits)) {
    const file = join(dir, `${id}.yaml`);
    const doc = parseDocument(readFileSync(file, 'utf8'));
    const data = doc.toJS() as Record<string, unknown>;
    edit(data);
    writeFileSync(file, `# yaml-language-server: $schema=./npc.schema.json\n${JSON.stringify(data, null, 2)}\n`);
  }
  return dir;
}

/** Bram standing still at home, able only to hand over his single horseshoe (or do nothing). */
export function stationaryBramGivingOneHorseshoe(doc: Record<string, unknown>): void {
  delete doc.schedule;
  delete doc.patrol;
  doc.actions = { give_item: { item: ['horseshoe'] } };
  doc.inventory = { horseshoe: 1 };
  doc.examples = [];
  doc.sampling = { temperature: 1.5, max_tokens: 40 };
}

/**
 * Bram standing still at home with one horseshoe to give, his persona otherwise as the model was trained on
 * it (examples, emotes, speaking style): tests that need the model itself to choose a give use this one,
 * because a trained model's choices depend on the persona it learned. No walk_to (he must stay in range)
 * and no whetstones (a give must be the horseshoe).
 */
export function stationaryBramWithOneHorseshoe(doc: Record<string, unknown>): void {
  delete doc.schedule;
  delete doc.patrol;
  const actions = doc.actions as Record<string, unknown>;
  doc.actions = { give_item: { item: ['horseshoe'] }, emote: actions.emote, stop: true };
  doc.inventory = { horseshoe: 1 };
  doc.sampling = { ...(doc.sampling as Record<string, unknown>), temperature: 1.0 };
}

/** Steers the client toward the NPC until within `range`, re-aiming as the NPC moves. Bounded. */
export async function walkUpTo(client: WorldClient, npcId: string, approach: { x: number; z: number }, range = 2.5, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const npc = client.npcs.get(npcId);
    const me = client.me;
    if (npc && me && Math.hypot(npc.x - me.x, npc.z - me.z) <= range) {
      client.move({ stop: true });
      return;
    }
    if (Date.now() > deadline) throw new Error(`could not reach NPC ${npcId} within ${timeoutMs} ms (me ${me?.x},${me?.z}; npc ${npc?.x},${npc?.z})`);
    if (npc) client.move({ target: { x: npc.x - 1.5, z: npc.z }, run: true });
    else if (me) client.move({ target: approach, run: true }); // toward where the NPC lives until it is in view
    await new Promise((r) => setTimeout(r, 100));
  }
}
