/**
 * Writes the world corpus: `{train,valid,test}.jsonl` (one WorldSample per line) and `manifest.json`
 * (counts per NPC/kind/split, what was held out, the seed, sha256 of each file). Same seed and inputs →
 * byte-identical files (no timestamps).
 */
import { createHash } from 'node:crypto';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { serializeSamples, SPLITS, type Split, type WorldSample } from '../sample.ts';
import { buildWorldCorpus, type CorpusStats, type HeldOut, type WorldCorpusOptions } from './generate.ts';
import { DEFAULT_HANDWRITTEN, DEFAULT_HANDWRITTEN_VALID, handwrittenLineKey, loadHandwritten } from './handwritten.ts';
import { loadCorpusWorld, SERVER_LORE_FACTS } from './npc-context.ts';

export const WORLD_CORPUS_FORMAT = 1;

export interface SplitCounts {
  total: number;
  byKind: Record<string, number>;
  byNpc: Record<string, number>;
  byNpcKind: Record<string, Record<string, number>>;
}

export interface WorldManifest {
  kind: 'world';
  format: number;
  seed: number;
  options: { scale: number; validSize: number; testSize: number; memoryRate: number; loreFacts: number; npcDir: string | null; mapPath: string | null; handwritten: string | null; handwrittenValid: string | null };
  npcs: string[];
  counts: Record<Split, SplitCounts>;
  /** Hand-written lines (in test.jsonl with source "handwritten"). */
  handwritten: { samples: number; byKind: Record<string, number>; loreFactNotInPrompt: number; loreOnHeldOutFacts: number };
  /** Hand-written validation lines (in valid.jsonl with source "handwritten"). */
  handwrittenValid: { samples: number; byKind: Record<string, number> };
  heldOut: HeldOut;
  stats: CorpusStats;
  /** Every lore fact as the generator read it: the answer it trains, the keywords it checks, the topics it asks about. */
  facts: { id: string; cluster: string; firstPerson: string; keywords: string[]; topics: string[] }[];
  files: Record<string, { samples: number; bytes: number; sha256: string }>;
}

export interface WriteWorldCorpusOptions extends WorldCorpusOptions {
  /** Output folder (…/world). */
  outDir: string;
  /** Hand-written test lines (default assets/eval/handwritten.yaml; null = none). */
  handwrittenPath?: string | null;
  /** Hand-written validation lines (default assets/eval/handwritten-valid.yaml; null = none). */
  handwrittenValidPath?: string | null;
}

function countSplit(samples: readonly WorldSample[]): SplitCounts {
  const c: SplitCounts = { total: samples.length, byKind: {}, byNpc: {}, byNpcKind: {} };
  for (const s of samples) {
    c.byKind[s.kind] = (c.byKind[s.kind] ?? 0) + 1;
    c.byNpc[s.npcId] = (c.byNpc[s.npcId] ?? 0) + 1;
    (c.byNpcKind[s.npcId] ??= {})[s.kind] = (c.byNpcKind[s.npcId]![s.kind] ?? 0) + 1;
  }
  return c;
}

/** Builds and writes the world corpus; returns its manifest. */
export function writeWorldCorpus(opts: WriteWorldCorpusOptions): WorldManifest {
  const world = opts.world ?? loadCorpusWorld({ ...(opts.npcDir ? { npcDir: opts.npcDir } : {}), ...(opts.mapPath ? { mapPath: opts.mapPath } : {}) });
  const corpus = buildWorldCorpus({ ...opts, world });
  const handwrittenPath = opts.handwrittenPath === undefined ? DEFAULT_HANDWRITTEN : opts.handwrittenPath;
  const handwritten = handwrittenPath ? loadHandwritten(world, handwrittenPath) : [];
  const handwrittenValidPath = opts.handwrittenValidPath === undefined ? DEFAULT_HANDWRITTEN_VALID : opts.handwrittenValidPath;
  const handwrittenValid = handwrittenValidPath ? loadHandwritten(world, handwrittenValidPath, undefined, 'valid') : [];
  // A line in both would let tuning on the validation split see a test line.
  const testLines = new Set(handwritten.map((s) => handwrittenLineKey(s.npcId, s.player)));
  const shared = handwrittenValid.filter((s) => testLines.has(handwrittenLineKey(s.npcId, s.player)));
  if (shared.length) throw new Error(`hand-written validation lines also in the test lines: ${shared.map((s) => `${s.npcId}: "${s.player}"`).join('; ')}`);
  const splits: Record<Split, WorldSample[]> = { train: corpus.train, valid: [...corpus.valid, ...handwrittenValid], test: [...corpus.test, ...handwritten] };

  mkdirSync(opts.outDir, { recursive: true });
  const files: WorldManifest['files'] = {};
  for (const split of SPLITS) {
    const text = serializeSamples(splits[split]);
    const file = `${split}.jsonl`;
    const path = join(opts.outDir, file);
    writeFileSync(`${path}.tmp`, text);
    renameSync(`${path}.tmp`, path);
    files[file] = { samples: splits[split].length, bytes: Buffer.byteLength(text), sha256: createHash('sha256').update(text).digest('hex') };
  }
  const heldFacts = new Set([...corpus.heldOut.facts.test, ...corpus.heldOut.facts.valid].map((f) => f.text));
  const manifest: WorldManifest = {
    kind: 'world',
    format: WORLD_CORPUS_FORMAT,
    seed: opts.seed,
    options: {
      scale: opts.scale ?? 1,
      validSize: opts.validSize ?? 400,
      testSize: opts.testSize ?? 600,
      memoryRate: opts.memoryRate ?? 0.15,
      loreFacts: SERVER_LORE_FACTS,
      npcDir: opts.npcDir ?? null,
      mapPath: opts.mapPath ?? null,
      handwritten: handwrittenPath,
      handwrittenValid: handwrittenValidPath,
    },
    npcs: world.scripts.map((s) => s.id),
    counts: { train: countSplit(splits.train), valid: countSplit(splits.valid), test: countSplit(splits.test) },
    handwritten: {
      samples: handwritten.length,
      byKind: countSplit(handwritten).byKind,
      loreFactNotInPrompt: handwritten.filter((s) => s.factInPrompt === false).length,
      loreOnHeldOutFacts: handwritten.filter((s) => s.fact && heldFacts.has(s.fact)).length,
    },
    handwrittenValid: { samples: handwrittenValid.length, byKind: countSplit(handwrittenValid).byKind },
    heldOut: corpus.heldOut,
    stats: corpus.stats,
    facts: corpus.facts.map((f) => ({ id: f.id, cluster: f.cluster, firstPerson: f.firstPerson, keywords: f.keywords, topics: f.topics.map((t) => t.phrase) })),
    files,
  };
  const manifestPath = join(opts.outDir, 'manifest.json');
  writeFileSync(`${manifestPath}.tmp`, `${JSON.stringify(manifest, null, 2)}\n`);
  renameSync(`${manifestPath}.tmp`, manifestPath);
  return manifest;
}
