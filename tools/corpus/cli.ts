/**
 * npm run corpus [-- --seed N --npc-dir assets/npcs --map assets/world/town.json --out data/corpus
 *                    --only world|general --scale X --handwritten assets/eval/handwritten.yaml|none --handwritten-valid assets/eval/handwritten-valid.yaml|none]
 * npm run corpus -- --feedback [--db data/worldmind.sqlite | --database-url postgres://…] [--corrections assets/npcs/corrections.yaml]
 *
 * Builds the training corpora: the world-dialogue corpus (data/corpus/world/{train,valid,test}.jsonl +
 * manifest.json, from the NPC scripts through the server's own prompt code) and the general-English
 * corpus (data/corpus/general/). Prints a summary table, then one JSON line with the counts.
 * With --feedback, instead turns well-rated turns from the turn log and designer corrections into
 * data/corpus/world/feedback.jsonl (fine-tuning data: `npm run train:npcs` picks it up).
 */
import { join } from 'node:path';
import { parseCliArgs } from '../../server/src/cli-args.ts';
import { mkdirSync, writeFileSync } from 'node:fs';
import { CORPUS_DIR, SPLITS, serializeSamples } from './sample.ts';
import { feedbackSamples } from './feedback.ts';
import { buildGeneralCorpus, type GeneralCorpusManifest } from './general/build.ts';
import { writeWorldCorpus, type WorldManifest } from './world/write.ts';

function fail(message: string): never {
  console.error(`corpus: ${message}`);
  process.exit(2);
}

const USAGE = `usage: npm run corpus [-- --seed N --npc-dir assets/npcs --map assets/world/town.json --out data/corpus
                        --only world|general --scale X --handwritten <file>|none --handwritten-valid <file>|none --valid-size N --test-size N]
       npm run corpus -- --feedback [--db data/worldmind.sqlite | --database-url postgres://… (default DATABASE_URL)] [--corrections assets/npcs/corrections.yaml] [--min-rating N]`;

const { values } = parseCliArgs('corpus', USAGE, {
  options: {
    seed: { type: 'string', default: '1' },
    'npc-dir': { type: 'string' },
    map: { type: 'string' },
    out: { type: 'string', default: CORPUS_DIR },
    only: { type: 'string' },
    scale: { type: 'string' },
    handwritten: { type: 'string' },
    'handwritten-valid': { type: 'string' },
    'valid-size': { type: 'string' },
    'test-size': { type: 'string' },
    // Rated turns from the turn log (the server's DB_PATH) and designer corrections → feedback samples.
    feedback: { type: 'boolean', default: false },
    db: { type: 'string', default: process.env.DB_PATH ?? 'data/worldmind.sqlite' },
    // A cluster's turn log and ratings live in its PostgreSQL (the server's DATABASE_URL); it wins over --db.
    'database-url': { type: 'string', default: process.env.DATABASE_URL || undefined },
    corrections: { type: 'string' },
    'min-rating': { type: 'string' },
  },
});

const int = (flag: string, text: string | undefined): number | undefined => {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0) fail(`--${flag} must be a non-negative integer, got "${text}"`);
  return n;
};
const seed = int('seed', values.seed)!;
const scale = values.scale === undefined ? undefined : Number(values.scale);
if (scale !== undefined && !(scale > 0)) fail(`--scale must be a positive number, got "${values.scale}"`);
const only = values.only;
if (only !== undefined && only !== 'world' && only !== 'general') fail(`--only must be "world" or "general", got "${only}"`);
const outDir = values.out!;
const log = (line: string) => console.error(line);

if (values.feedback) {
  const npcDir = values['npc-dir'] ?? process.env.NPC_DIR ?? 'assets/npcs';
  try {
    const { samples, report } = await feedbackSamples({
      dbPath: values.db!,
      ...(values['database-url'] ? { databaseUrl: values['database-url'] } : {}),
      npcDir,
      ...(values.corrections ? { correctionsPath: values.corrections } : {}),
      ...(values['min-rating'] !== undefined ? { minRating: int('min-rating', values['min-rating'])! } : {}),
    });
    const path = join(outDir, 'world', 'feedback.jsonl');
    mkdirSync(join(outDir, 'world'), { recursive: true });
    writeFileSync(path, serializeSamples(samples));
    console.log(`feedback: ${report.rated} rated turns, ${report.used} samples written to ${path}; skipped ${JSON.stringify(report.skipped)}`);
    console.log(JSON.stringify({ feedback: { file: path, ...report } }));
  } catch (error) {
    fail((error as Error).message);
  }
  process.exit(0);
}

const summary: { seed: number; world?: Record<string, unknown>; general?: Record<string, unknown> } = { seed };

if (only !== 'general') {
  const started = performance.now();
  const manifest: WorldManifest = writeWorldCorpus({
    seed,
    outDir: join(outDir, 'world'),
    ...(values['npc-dir'] ? { npcDir: values['npc-dir'] } : {}),
    ...(values.map ? { mapPath: values.map } : {}),
    ...(scale !== undefined ? { scale } : {}),
    ...(values.handwritten !== undefined ? { handwrittenPath: values.handwritten === 'none' ? null : values.handwritten } : {}),
    ...(values['handwritten-valid'] !== undefined ? { handwrittenValidPath: values['handwritten-valid'] === 'none' ? null : values['handwritten-valid'] } : {}),
    ...(int('valid-size', values['valid-size']) !== undefined ? { validSize: int('valid-size', values['valid-size'])! } : {}),
    ...(int('test-size', values['test-size']) !== undefined ? { testSize: int('test-size', values['test-size'])! } : {}),
    log,
  });
  const seconds = (performance.now() - started) / 1000;
  printWorldTable(manifest);
  console.log(`world corpus: ${join(outDir, 'world')} in ${seconds.toFixed(1)} s`);
  summary.world = {
    dir: join(outDir, 'world'),
    seconds: Number(seconds.toFixed(2)),
    train: manifest.counts.train.total,
    valid: manifest.counts.valid.total,
    test: manifest.counts.test.total,
    handwritten: manifest.handwritten.samples,
    handwrittenValid: manifest.handwrittenValid.samples,
    heldOutFacts: { test: manifest.heldOut.facts.test.length, valid: manifest.heldOut.facts.valid.length },
    heldOutTemplates: { test: manifest.heldOut.templates.test.length, valid: manifest.heldOut.templates.valid.length },
    sha256: Object.fromEntries(Object.entries(manifest.files).map(([f, e]) => [f, e.sha256])),
  };
}

if (only !== 'world') {
  const started = performance.now();
  const manifest: GeneralCorpusManifest = await buildGeneralCorpus({ outDir: join(outDir, 'general'), seed, log });
  const seconds = (performance.now() - started) / 1000;
  console.log(`general corpus: ${join(outDir, 'general')} in ${seconds.toFixed(1)} s`);
  for (const split of SPLITS) {
    const e = manifest.splits[split];
    console.log(`  ${split.padEnd(6)} ${String(e.passages).padStart(8)} passages ${String(e.bytes).padStart(12)} bytes`);
  }
  summary.general = {
    dir: join(outDir, 'general'),
    seconds: Number(seconds.toFixed(2)),
    passages: Object.fromEntries(SPLITS.map((s) => [s, manifest.splits[s].passages])),
    bytes: manifest.totals.bytes,
  };
}

console.log(JSON.stringify(summary));

function printWorldTable(m: WorldManifest): void {
  const kinds = [...new Set(SPLITS.flatMap((s) => Object.keys(m.counts[s].byKind)))].sort();
  const col = (s: string | number, w: number) => String(s).padStart(w);
  const w = Math.max(9, ...kinds.map((k) => k.length + 1));
  console.log(`${'split'.padEnd(7)}${'npc'.padEnd(10)}${kinds.map((k) => col(k, w)).join('')}${col('total', 8)}`);
  for (const split of SPLITS) {
    const c = m.counts[split];
    for (const npc of [...m.npcs, 'all']) {
      const row = npc === 'all' ? c.byKind : (c.byNpcKind[npc] ?? {});
      const total = npc === 'all' ? c.total : (c.byNpc[npc] ?? 0);
      console.log(`${split.padEnd(7)}${npc.padEnd(10)}${kinds.map((k) => col(row[k] ?? 0, w)).join('')}${col(total, 8)}`);
    }
  }
  console.log(`held out for test: ${m.heldOut.facts.test.length} facts, ${m.heldOut.templates.test.length} templates, ${m.heldOut.topics.test.length} out-of-world topics; valid: ${m.heldOut.facts.valid.length} facts, ${m.heldOut.templates.valid.length} templates, ${m.heldOut.topics.valid.length} topics`);
  console.log(`hand-written test lines: ${m.handwritten.samples} (${m.handwritten.loreFactNotInPrompt} lore lines whose fact retrieval misses); validation lines: ${m.handwrittenValid.samples}`);
}
