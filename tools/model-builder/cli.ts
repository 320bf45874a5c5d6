/**
 * npm run build-model -- --preset <name> --out <dir> [--seed N] [--kv-dtype float16]
 * npm run build-model -- --config <file.json> --out <dir>
 *
 * The config file holds architecture fields (see architecture.ts), optionally `"preset": "<name>"` to start
 * from a preset and override some fields, and optionally `"seed"`.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseCliArgs } from '../../server/src/cli-args.ts';
import type { LlamaArchitectureInput } from './architecture.ts';
import { buildModelDirectory } from './build-model-dir.ts';
import { PRESETS, isPresetName } from './presets.ts';

const USAGE = `usage: npm run build-model -- (--preset <${Object.keys(PRESETS).join('|')}> | --config <file.json>) --out <dir> [--seed N] [--kv-dtype float32|float16]

  --preset <name>    a built-in architecture
  --config <file>    architecture fields (JSON), optionally "preset", "seed" and "corpusFiles" (tokenizer training text)
  --out <dir>        the model directory to write
  --seed N           weight initialisation seed (default 0)
  --kv-dtype <type>  KV cache type: float32 (default) or float16
`;

function usage(problem: string): never {
  console.error(`build-model: ${problem}`);
  console.error(USAGE);
  process.exit(2);
}

function presetArchitecture(name: string): LlamaArchitectureInput {
  if (!isPresetName(name)) usage(`unknown preset "${name}" (known: ${Object.keys(PRESETS).join(', ')})`);
  return PRESETS[name];
}

const { values } = parseCliArgs('build-model', USAGE, {
  options: {
    preset: { type: 'string' },
    config: { type: 'string' },
    out: { type: 'string' },
    seed: { type: 'string' },
    'kv-dtype': { type: 'string' },
  },
});

if (!values.out) usage('--out <dir> is required');
if (!values.preset && !values.config) usage('give --preset <name> or --config <file.json>');

let architecture: LlamaArchitectureInput;
let presetName = values.preset ?? 'custom';
let seed = 0;
let corpus: string | undefined;
if (values.config) {
  const fileConfig = JSON.parse(readFileSync(values.config, 'utf8')) as Record<string, unknown> & { preset?: string; seed?: number; corpusFiles?: string[] };
  const { preset, seed: fileSeed, corpusFiles, ...fields } = fileConfig;
  // The tokenizer learns its merges from these files (paths relative to the config file), e.g. the
  // NPC scripts, so domain words compress into few tokens.
  if (corpusFiles) corpus = corpusFiles.map((f) => readFileSync(resolve(dirname(values.config!), f), 'utf8')).join('\n');
  const base = preset ?? values.preset;
  if (base) presetName = `${base}+config`;
  architecture = { ...(base ? presetArchitecture(base) : {}), ...fields } as LlamaArchitectureInput;
  if (typeof fileSeed === 'number') seed = fileSeed;
} else {
  architecture = presetArchitecture(values.preset!);
}
if (values.seed !== undefined) {
  seed = Number(values.seed);
  if (!Number.isSafeInteger(seed)) usage(`--seed must be an integer, got "${values.seed}"`);
}
if (values['kv-dtype'] !== undefined) {
  if (values['kv-dtype'] !== 'float16' && values['kv-dtype'] !== 'float32' && values['kv-dtype'] !== 'fp16' && values['kv-dtype'] !== 'fp32') {
    usage(`--kv-dtype must be float32 or float16, got "${values['kv-dtype']}"`);
  }
  architecture = { ...architecture, kvDtype: values['kv-dtype'].endsWith('16') ? 'float16' : 'float32' };
}

const started = performance.now();
try {
  const built = buildModelDirectory({ outDir: values.out, architecture, seed, presetName, ...(corpus ? { corpus } : {}) });
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  console.log(
    `built ${presetName} (${(built.parameterCount / 1e6).toFixed(2)}M parameters, vocab ${built.architecture.vocabSize}, ` +
      `tokenizer ${built.tokenizer.size} tokens, KV ${built.architecture.kvDtype}${built.externalData ? ', external weights' : ''}) ` +
      `into ${built.dir} in ${seconds}s`,
  );
} catch (error) {
  console.error(`build-model: ${(error as Error).message}`);
  process.exit(1);
}
