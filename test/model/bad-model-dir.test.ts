/** Each way a model directory can be unusable gives one clear sentence naming the missing piece. */
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ModelLoadError, loadModel, type ModelLoadFailure } from '../../server/src/inference/model/index.ts';
import { ElementType, GraphBuilder } from '../../tools/model-builder/onnx/graph-builder.ts';
import { writeOnnxModel } from '../../tools/model-builder/onnx/serialize.ts';
import { buildTinyModel, removeTempDirs, tempDir } from './helpers.ts';

let good: string;

beforeAll(() => {
  good = buildTinyModel().dir;
});
afterAll(removeTempDirs);

/** A copy of the good model directory, changed by `edit`. */
function brokenCopy(edit: (dir: string) => void): string {
  const dir = join(tempDir('broken'), 'model');
  cpSync(good, dir, { recursive: true });
  edit(dir);
  return dir;
}

function editJson(dir: string, file: string, change: (json: Record<string, unknown>) => void): void {
  const path = join(dir, file);
  const json = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  change(json);
  writeFileSync(path, JSON.stringify(json));
}

/** Replaces onnx/model.onnx with a graph whose cache inputs are of `kvType`, or that has no cache at all. */
function writeGraph(dir: string, options: { kvType?: number; withCache: boolean }): void {
  const g = new GraphBuilder('broken');
  g.input('input_ids', ElementType.INT64, ['batch_size', 'sequence_length']);
  g.input('attention_mask', ElementType.INT64, ['batch_size', 'total_sequence_length']);
  const table = g.initializer('table', ElementType.FLOAT, [320, 4], new Float32Array(320 * 4));
  g.output('logits', ElementType.FLOAT, ['batch_size', 'sequence_length', 4]);
  g.op('Gather', [table, 'input_ids'], { axis: { int: 0 } }, 'logits');
  if (options.withCache) {
    const type = (options.kvType ?? ElementType.FLOAT) as ElementType;
    for (const kind of ['key', 'value']) {
      g.input(`past_key_values.0.${kind}`, type, ['batch_size', 2, 'past_sequence_length', 16]);
      g.output(`present.0.${kind}`, type, ['batch_size', 2, 'past_sequence_length', 16]);
      g.op('Identity', [`past_key_values.0.${kind}`], {}, `present.0.${kind}`);
    }
  }
  writeOnnxModel(g.build(), { path: join(dir, 'onnx/model.onnx'), producerName: 'test' });
}

async function loadFailure(dir: string): Promise<ModelLoadError> {
  try {
    const model = await loadModel(dir);
    await model.dispose();
  } catch (error) {
    expect(error).toBeInstanceOf(ModelLoadError);
    return error as ModelLoadError;
  }
  throw new Error(`loading ${dir} unexpectedly succeeded`);
}

const INT8 = 3;

const cases: Array<[string, ModelLoadFailure, RegExp, () => string]> = [
  ['a directory that does not exist', 'missing-directory', /does not exist/, () => join(tempDir('none'), 'nothing-here')],
  ['an empty directory', 'unknown-layout', /neither config\.json .* nor genai_config\.json/, () => tempDir('empty')],
  ['config.json that is not JSON', 'invalid-json', /config\.json is not valid JSON/, () => brokenCopy((d) => writeFileSync(join(d, 'config.json'), '{ "model_type": '))],
  ['config.json without model_type', 'invalid-config', /invalid field model_type/, () => brokenCopy((d) => editJson(d, 'config.json', (j) => delete j['model_type']))],
  ['config.json with a wrong-typed field', 'invalid-config', /invalid field num_hidden_layers/, () => brokenCopy((d) => editJson(d, 'config.json', (j) => (j['num_hidden_layers'] = 'two')))],
  ['no tokenizer.json', 'missing-file', /missing tokenizer\.json/, () => brokenCopy((d) => rmSync(join(d, 'tokenizer.json')))],
  ['no tokenizer_config.json', 'missing-file', /missing tokenizer_config\.json/, () => brokenCopy((d) => rmSync(join(d, 'tokenizer_config.json')))],
  ['a tokenizer.json that is not a tokenizer', 'invalid-tokenizer', /tokenizer\.json is not a Hugging Face tokenizers file/, () => brokenCopy((d) => writeFileSync(join(d, 'tokenizer.json'), '{"hello": 1}'))],
  ['a tokenizer.json the library rejects', 'invalid-tokenizer', /tokenizer\.json that @huggingface\/tokenizers cannot load/, () => brokenCopy((d) => editJson(d, 'tokenizer.json', (j) => (j['model'] = { type: 'NoSuchModel' })))],
  ['no onnx/model.onnx', 'missing-file', /missing onnx\/model\.onnx/, () => brokenCopy((d) => rmSync(join(d, 'onnx'), { recursive: true }))],
  ['a model.onnx that is not ONNX', 'invalid-onnx', /could not be loaded by onnxruntime/, () => brokenCopy((d) => writeFileSync(join(d, 'onnx/model.onnx'), 'definitely not protobuf'))],
  ['a graph without a KV cache', 'unsupported-graph', /has no past_key_values\.0\.key input, so it has no KV cache/, () => brokenCopy((d) => writeGraph(d, { withCache: false }))],
  ['a KV cache in int8', 'unsupported-graph', /uses int8 for its KV cache; only float32 and float16 are supported/, () => brokenCopy((d) => writeGraph(d, { withCache: true, kvType: INT8 }))],
  [
    'no end-of-sequence token anywhere',
    'missing-special-token',
    /names no end-of-sequence token/,
    () =>
      brokenCopy((d) => {
        editJson(d, 'config.json', (j) => delete j['eos_token_id']);
        editJson(d, 'generation_config.json', (j) => delete j['eos_token_id']);
        editJson(d, 'tokenizer_config.json', (j) => delete j['eos_token']);
      }),
  ],
  [
    'a genai_config.json naming a missing decoder file',
    'missing-file',
    /missing decoder\.onnx, the decoder file genai_config\.json names/,
    () => {
      const dir = tempDir('genai-broken');
      writeFileSync(
        join(dir, 'genai_config.json'),
        JSON.stringify({ model: { type: 'llama', context_length: 256, eos_token_id: 2, decoder: { filename: 'decoder.onnx', inputs: {}, outputs: {} } } }),
      );
      return dir;
    },
  ],
];

describe('bad model directories', () => {
  it.each(cases)('%s → %s', async (_label, reason, message, makeDir) => {
    const error = await loadFailure(makeDir());
    expect(error.reason).toBe(reason);
    expect(error.message).toMatch(message);
    expect(error.message).not.toContain('\n');
    expect(error.message.endsWith('.') || error.message.endsWith('"')).toBe(true);
  });

  it('a missing external data file names that file', async () => {
    const dir = join(tempDir('external'), 'model');
    mkdirSync(dir);
    const { buildModelDirectory } = await import('../../tools/model-builder/build-model-dir.ts');
    const { PRESETS } = await import('../../tools/model-builder/presets.ts');
    buildModelDirectory({ outDir: dir, architecture: PRESETS.tiny, externalData: true });
    rmSync(join(dir, 'onnx/model.onnx_data'));
    const error = await loadFailure(dir);
    expect(error.reason).toBe('invalid-onnx');
    expect(error.message).toMatch(/model\.onnx_data/);
  });
});
