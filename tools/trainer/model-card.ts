/**
 * The model card (README.md in the model directory): what the model is, what it was trained on and under
 * which licences, every training run in its lineage, its evaluation table, and the one command that
 * reproduces it. Written from the directory's own config.json, the corpus manifests and an eval report.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ACTION_MEMORY_FILE, readActionMemoryFile } from '../../server/src/npc/action-memory.ts';

export interface ModelCardInput {
  modelDir: string;
  title: string;
  /** The command that reproduces the model from a clean clone. */
  command: string;
  /** The eval table as printed by `npm run eval` (formatReport) and its JSON line. */
  evalTable?: string;
  evalJson?: string;
  generalManifestPath?: string;
  worldManifestPath?: string;
  /** Wall time of the whole pipeline and anything else worth recording. */
  notes?: string[];
}

interface Run {
  mode: string;
  method: string;
  steps: number;
  batch: number;
  accumulate: number;
  sequence: number;
  lr: number;
  tokens: number;
  seconds: number;
  final_loss: number;
  valid_loss?: number;
  lora?: { rank: number; alpha: number; targets: string[] };
  corpus?: { dir?: string };
}

export function writeModelCard(input: ModelCardInput): string {
  const config = JSON.parse(readFileSync(join(input.modelDir, 'config.json'), 'utf8')) as Record<string, unknown> & {
    worldmind?: { training?: { runs?: Run[] }; tokenizer_vocab_size?: number };
  };
  const runs = config.worldmind?.training?.runs ?? [];
  const lines: string[] = [];
  lines.push(`# ${input.title}`, '');
  lines.push(
    'A small Llama-architecture language model trained by Worldmind\'s own pipeline (`tools/trainer`), on CPU, from scratch: ' +
      'pre-trained on public-domain and freely licensed English, then fine-tuned on dialogue generated from the NPC scripts ' +
      'and rendered by the server\'s own prompt code. It is made to voice Emberfall\'s townsfolk and to pick their actions, not ' +
      'for general use.',
    '',
  );
  lines.push('## Architecture', '', '| field | value |', '|---|---|');
  for (const key of ['model_type', 'vocab_size', 'hidden_size', 'intermediate_size', 'num_hidden_layers', 'num_attention_heads', 'num_key_value_heads', 'head_dim', 'max_position_embeddings', 'rope_theta', 'tie_word_embeddings']) {
    if (key in config) lines.push(`| ${key} | ${String(config[key])} |`);
  }
  lines.push(`| parameters | ${(parameterCount(config) / 1e6).toFixed(2)} M |`);
  lines.push(`| tokenizer | byte-level BPE, ${config.worldmind?.tokenizer_vocab_size ?? '?'} tokens, learned from the general corpus and the NPC scripts |`, '');

  lines.push('## Training runs', '', '| # | stage | method | steps × batch | sequence | peak lr | tokens | wall time | final loss | valid loss |', '|---|---|---|---|---|---|---|---|---|---|');
  runs.forEach((r, i) => {
    const method = r.lora ? `LoRA r=${r.lora.rank} α=${r.lora.alpha} (${r.lora.targets.join(', ')})` : r.method;
    lines.push(
      `| ${i + 1} | ${r.mode} (${r.corpus?.dir ?? '?'}) | ${method} | ${r.steps} × ${r.batch}${r.accumulate > 1 ? `×${r.accumulate}` : ''} | ${r.sequence} | ${r.lr} | ${(r.tokens / 1e6).toFixed(2)} M | ${minutes(r.seconds)} | ${r.final_loss} | ${r.valid_loss ?? '–'} |`,
    );
  });
  lines.push('', 'Tokens count the positions that carry loss (every position in pre-training, the reply tokens in fine-tuning). Loss curves: ' +
    listCharts(input.modelDir).map((f) => `[\`${f}\`](training/${f})`).join(', ') + '.', '');

  lines.push('## Data and licences', '');
  if (input.generalManifestPath && existsSync(input.generalManifestPath)) {
    const m = JSON.parse(readFileSync(input.generalManifestPath, 'utf8')) as { seed?: number; sources?: Array<Record<string, unknown>>; splits?: Record<string, { bytes: number; passages: number }> };
    lines.push(`**General English** (pre-training; \`npm run corpus\`, seed ${m.seed ?? '?'}; train ${mb(m.splits?.train?.bytes)}, valid ${mb(m.splits?.valid?.bytes)}, test ${mb(m.splits?.test?.bytes)}), from Debian packages:`, '');
    lines.push('| source | package | licence | bytes kept |', '|---|---|---|---|');
    for (const s of m.sources ?? []) {
      lines.push(`| ${String(s.title ?? s.id ?? s.name ?? '?')} | ${String(s.package ?? '?')} ${String(s.version ?? '')} | ${String(s.licence ?? s.license ?? '?').replace(/\|/g, '/').replace(/\n/g, ' ').slice(0, 140)} | ${mb(Number(s.bytesKept ?? s.bytesOut ?? s.bytes_out ?? 0))} |`);
    }
    lines.push('');
  }
  if (input.worldManifestPath && existsSync(input.worldManifestPath)) {
    const m = JSON.parse(readFileSync(input.worldManifestPath, 'utf8')) as { seed?: number; counts?: Record<string, { total: number; byKind: Record<string, number> }> };
    lines.push(`**World dialogue** (fine-tuning; generated from \`assets/npcs/*.yaml\` by \`tools/corpus/world\`, seed ${m.seed ?? '?'}; project data, same licence as the project). Whole facts and whole phrasing templates are held out for the test split, which also holds the hand-written lines of \`assets/eval/handwritten.yaml\`.`, '');
    const counts = m.counts ?? {};
    const kinds = [...new Set(Object.values(counts).flatMap((c) => Object.keys(c.byKind)))].sort();
    lines.push(`| split | ${kinds.join(' | ')} | total |`, `|---|${kinds.map(() => '---|').join('')}---|`);
    for (const [split, c] of Object.entries(counts)) lines.push(`| ${split} | ${kinds.map((k) => c.byKind[k] ?? 0).join(' | ')} | ${c.total} |`);
    lines.push('');
  }
  const memory = readActionMemoryFile(input.modelDir);
  if (memory) {
    const counts = Object.entries(memory.npcs).map(([id, pairs]) => `${id} ${pairs.length}`);
    lines.push(
      '## Action memory',
      '',
      `\`${ACTION_MEMORY_FILE}\`: the player lines of its dialogue fine-tuning with their calls${memory.related ? ", plus WordNet's greeting and farewell expressions with each NPC's greeting call" : ''} (${counts.join(', ')})${memory.related ? `, and ${Object.keys(memory.related).length.toLocaleString('en')} words they never use with related words they do (WordNet)` : ''}, which the server recalls as a prior over an NPC's calls at decode time (\`NPC_ACTION_MEMORY\`; README "Action memory").`,
      '',
    );
  }
  if (input.evalTable) {
    lines.push('## Evaluation', '', 'On the world corpus\'s held-out test split (generated and hand-written lines), greedy decoding through the server\'s engine, action grammar, lore grounding and call prior (its defaults), beside the untrained model of the same shape (`npm run eval -- --model ' + input.modelDir + '`):', '', '```', input.evalTable.trimEnd(), '```', '');
    if (input.evalJson) lines.push('<details><summary>JSON</summary>', '', '```json', input.evalJson.trim(), '```', '', '</details>', '');
  }
  lines.push('## Reproduce', '', '```sh', input.command, '```', '');
  if (input.notes?.length) lines.push('## Notes', '', ...input.notes.map((n) => `- ${n}`), '');
  const text = lines.join('\n');
  writeFileSync(join(input.modelDir, 'README.md'), text);
  return text;
}

function parameterCount(c: Record<string, unknown>): number {
  const h = c.hidden_size as number;
  const v = c.vocab_size as number;
  const i = c.intermediate_size as number;
  const layers = c.num_hidden_layers as number;
  const hd = (c.head_dim as number) ?? h / (c.num_attention_heads as number);
  const q = (c.num_attention_heads as number) * hd;
  const kv = (c.num_key_value_heads as number) * hd;
  const layer = 2 * h + h * q + 2 * h * kv + q * h + 3 * h * i;
  return v * h * (c.tie_word_embeddings === false ? 2 : 1) + h + layers * layer;
}

function listCharts(dir: string): string[] {
  const training = join(dir, 'training');
  return existsSync(training) ? readdirSync(training).filter((f) => f.endsWith('.svg')).sort() : [];
}

function mb(bytes: number | undefined): string {
  return bytes === undefined || !Number.isFinite(bytes) ? '?' : `${(bytes / 1e6).toFixed(2)} MB`;
}

function minutes(seconds: number): string {
  return seconds >= 90 ? `${(seconds / 60).toFixed(1)} min` : `${Math.round(seconds)} s`;
}
