/**
 * npm run export-gguf -- --model <dir> [--out <file.gguf>] [--type f32|f16] [--name <text>]
 *
 * Writes a Worldmind model directory as one GGUF v3 file for llama.cpp-based tools (llama-cli,
 * llama-server, node-llama-cpp, LM Studio, Ollama…). See export-gguf.ts for the mapping.
 */
import { existsSync, statSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { parseCliArgs } from '../../server/src/cli-args.ts';
import { exportGguf, type GgufWeightType } from './export-gguf.ts';

const USAGE = `usage: npm run export-gguf -- --model <dir> [--out <file.gguf>] [--type f32|f16] [--name <text>]

Writes a model directory (config.json, tokenizer.json, tokenizer_config.json, onnx/model.onnx, as the
project's builder and trainer write them) as a GGUF v3 file that llama.cpp-based tools load: the weights,
the byte-level BPE tokenizer with its special tokens, the chat template and the llama.* architecture keys.

  --model <dir>       model directory (required)
  --out <file.gguf>   output file (default: <dir>/<dir name>-<type>.gguf)
  --type f32|f16      storage of the weight matrices (default f32; norms always stay f32)
  --name <text>       general.name in the file (default: the directory's name)
`;

function fail(message: string, code = 2): never {
  process.stderr.write(`export-gguf: ${message}\n`);
  process.exit(code);
}

const { values, positionals } = parseCliArgs('export-gguf', USAGE, {
  options: {
    model: { type: 'string' },
    out: { type: 'string' },
    type: { type: 'string', default: 'f32' },
    name: { type: 'string' },
  },
  allowPositionals: true,
});
if (positionals.length > 0) fail(`unexpected argument "${positionals[0]}" (did you mean --model ${positionals[0]}?)\n${USAGE}`);
if (!values.model) fail(`--model <dir> is required\n${USAGE}`);
if (values.type !== 'f32' && values.type !== 'f16') fail(`--type must be f32 or f16, got "${values.type}"`);
const modelDir = resolve(values.model);
if (!existsSync(modelDir) || !statSync(modelDir).isDirectory()) fail(`--model ${values.model} is not a directory`);
const weightType = values.type as GgufWeightType;
const outPath = resolve(values.out ?? `${modelDir}/${basename(modelDir)}-${weightType}.gguf`);
if (!outPath.endsWith('.gguf')) fail(`--out must name a .gguf file, got "${values.out}"`);
if (!existsSync(dirname(outPath))) fail(`the folder of --out (${dirname(outPath)}) does not exist`);

const started = performance.now();
try {
  const summary = exportGguf({ modelDir, outPath, weightType, ...(values.name ? { name: values.name } : {}) });
  const a = summary.architecture;
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  process.stdout.write(
    `wrote ${summary.path} (${(summary.bytes / 1024 ** 2).toFixed(1)} MiB, ${weightType}) in ${seconds} s: ` +
      `llama, ${a.numLayers} layers, hidden ${a.hiddenSize}, ${a.numAttentionHeads}/${a.numKeyValueHeads} heads, ` +
      `vocab ${a.vocabSize} (${summary.tokenizerTokens} tokenizer tokens, ${summary.merges} merges), ` +
      `${summary.tensorCount} tensors, ${summary.metadataCount} metadata keys\n`,
  );
} catch (error) {
  fail((error as Error).message, 1);
}
