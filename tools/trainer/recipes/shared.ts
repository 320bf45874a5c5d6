/** Pieces the training recipes share: NPC script fingerprints, evaluation into the model dir, the card. */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { evaluateModel, formatReport, reportJson } from '../../eval/index.ts';
import { writeModelCard } from '../model-card.ts';
import { promptFingerprints } from '../../../server/src/npc/prompt-fingerprint.ts';
import { loadCorpusWorld } from '../../corpus/world/npc-context.ts';

/** Extra text the tokenizer of a fresh model learns from, so NPC names, places and items compress well. */
export function tokenizerExtraFiles(npcDir = 'assets/npcs', worldMap = 'assets/world/town.json'): string[] {
  return [...readdirSync(npcDir).filter((f) => f.endsWith('.yaml')).map((f) => join(npcDir, f)), worldMap];
}

/** sha256 of every NPC script as training sees it (trainedContent), by file stem: what a model was fine-tuned on. */
export function npcScriptHashes(npcDir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const file of readdirSync(npcDir).filter((f) => f.endsWith('.yaml') && f !== 'corrections.yaml').sort()) {
    out[file.replace(/\.yaml$/, '')] = createHash('sha256').update(trainedContent(readFileSync(join(npcDir, file), 'utf8'))).digest('hex').slice(0, 16);
  }
  return out;
}

/** Script fields that never reach the model (how replies sound): editing them needs no retraining. */
const UNTRAINED_FIELDS = ['voice'];

/** The script as training sees it: parsed (comments and layout do not count), without UNTRAINED_FIELDS, keys sorted. */
function trainedContent(yamlText: string): string {
  const parsed: unknown = parseYaml(yamlText);
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) return yamlText;
  const script = { ...(parsed as Record<string, unknown>) };
  for (const field of UNTRAINED_FIELDS) delete script[field];
  return JSON.stringify(script, (_key, value: unknown) =>
    value && typeof value === 'object' && !Array.isArray(value) ? Object.fromEntries(Object.entries(value as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b))) : value,
  );
}

/**
 * What a fine-tuning run records about the NPCs it trained on: each script's hash (what `train:npcs`
 * compares) and its prompt fingerprint (server/src/npc/prompt-fingerprint.ts: what the server tests
 * compare with the prompt it builds now).
 */
export function npcTrainingRecord(npcDir: string): { npc_scripts: Record<string, string>; npc_prompts: Record<string, string> } {
  const world = loadCorpusWorld({ npcDir });
  return { npc_scripts: npcScriptHashes(npcDir), npc_prompts: promptFingerprints(world.scripts, world.facts) };
}

/** The script hashes recorded by the model's latest fine-tuning run, if any. */
export function trainedScriptHashes(modelDir: string): Record<string, string> | undefined {
  const config = JSON.parse(readFileSync(join(modelDir, 'config.json'), 'utf8')) as { worldmind?: { training?: { runs?: Array<{ npc_scripts?: Record<string, string> }> } } };
  const runs = config.worldmind?.training?.runs ?? [];
  for (let i = runs.length - 1; i >= 0; i--) if (runs[i]!.npc_scripts) return runs[i]!.npc_scripts;
  return undefined;
}

/** Evaluates the model on the world test split and keeps the table and JSON in <model>/training/. */
export async function evaluateIntoModelDir(modelDir: string, options: { limit?: number; log: (line: string) => void }): Promise<{ table: string; json: string }> {
  const report = await evaluateModel({ model: modelDir, split: 'test', ...(options.limit ? { limit: options.limit } : {}), log: options.log });
  const table = formatReport(report);
  const json = reportJson(report);
  mkdirSync(join(modelDir, 'training'), { recursive: true });
  writeFileSync(join(modelDir, 'training', 'eval.txt'), `${table.trimEnd()}\n`);
  writeFileSync(join(modelDir, 'training', 'eval.json'), `${json.trim()}\n`);
  return { table, json };
}

/** Keeps the corpus manifests a model was trained on beside it (data/ is not part of a clone). */
export function recordCorpusManifests(modelDir: string, manifests: { general?: string; world?: string }): void {
  mkdirSync(join(modelDir, 'training'), { recursive: true });
  if (manifests.general && existsSync(manifests.general)) writeFileSync(join(modelDir, 'training', 'general-corpus.json'), readFileSync(manifests.general));
  if (manifests.world && existsSync(manifests.world)) writeFileSync(join(modelDir, 'training', 'world-corpus.json'), readFileSync(manifests.world));
}

export function refreshModelCard(modelDir: string, command: string, notes: string[]): void {
  const evalTable = join(modelDir, 'training', 'eval.txt');
  const evalJson = join(modelDir, 'training', 'eval.json');
  writeModelCard({
    modelDir,
    title: 'Worldmind default NPC model',
    command,
    ...(existsSync(evalTable) ? { evalTable: readFileSync(evalTable, 'utf8') } : {}),
    ...(existsSync(evalJson) ? { evalJson: readFileSync(evalJson, 'utf8') } : {}),
    generalManifestPath: join(modelDir, 'training', 'general-corpus.json'),
    worldManifestPath: join(modelDir, 'training', 'world-corpus.json'),
    notes,
  });
}
