import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { InferenceSession } from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';
import { loadModel } from '../../server/src/inference/model/index.ts';
import { buildModelDirectory } from '../../tools/model-builder/build-model-dir.ts';
import { PRESETS, readArchitectureFile } from '../../tools/model-builder/presets.ts';
import { randomLlamaWeights } from '../../tools/model-builder/weights.ts';
import { parseArchitecture } from '../../tools/model-builder/build-model-dir.ts';
import { buildTinyModel, fullSequence, logitsRow, maxAbsDifference, removeTempDirs, tempDir } from './helpers.ts';

afterAll(removeTempDirs);

describe('model builder', () => {
  it('writes the HF/Optimum layout, and the tiny preset stays well under 1 MB', () => {
    const built = buildTinyModel();
    for (const file of ['config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json', 'onnx/model.onnx']) {
      expect(existsSync(join(built.dir, file)), file).toBe(true);
    }
    expect(existsSync(join(built.dir, 'onnx/model.onnx_data'))).toBe(false);
    expect(statSync(join(built.dir, 'onnx/model.onnx')).size).toBeLessThan(512 * 1024);
    const config = JSON.parse(readFileSync(join(built.dir, 'config.json'), 'utf8'));
    expect(config).toMatchObject({
      model_type: 'llama',
      architectures: ['LlamaForCausalLM'],
      hidden_size: 64,
      num_hidden_layers: 2,
      num_attention_heads: 4,
      num_key_value_heads: 2,
      vocab_size: 320,
      tie_word_embeddings: true,
    });
    expect(built.tokenizer.size).toBe(320);
  });

  it('produces a graph onnxruntime loads, with the I/O names, dtypes and shapes of DESIGN.md', async () => {
    const built = buildTinyModel();
    const session = await InferenceSession.create(join(built.dir, 'onnx/model.onnx'));
    const inputs = Object.fromEntries(session.inputMetadata.map((m) => [m.name, m]));
    const outputs = Object.fromEntries(session.outputMetadata.map((m) => [m.name, m]));
    expect(Object.keys(inputs)).toEqual([
      'input_ids',
      'attention_mask',
      'position_ids',
      'past_key_values.0.key',
      'past_key_values.0.value',
      'past_key_values.1.key',
      'past_key_values.1.value',
    ]);
    expect(inputs['input_ids']).toMatchObject({ type: 'int64', shape: ['batch_size', 'sequence_length'] });
    expect(inputs['attention_mask']).toMatchObject({ type: 'int64', shape: ['batch_size', 'total_sequence_length'] });
    expect(inputs['past_key_values.1.value']).toMatchObject({ type: 'float32', shape: ['batch_size', 2, 'past_sequence_length', 16] });
    expect(outputs['logits']).toMatchObject({ type: 'float32', shape: ['batch_size', 'sequence_length', 320] });
    expect(outputs['present.0.key']).toMatchObject({ type: 'float32', shape: ['batch_size', 2, 'total_sequence_length', 16] });
    await session.release();

    // Concrete shapes from a run: B=2, P=0, S=3.
    const model = await loadModel(built.dir);
    const step = await model.step({
      batchSize: 2,
      inputIds: BigInt64Array.of(5n, 6n, 7n, 8n, 9n, 10n),
      attentionMask: new BigInt64Array(6).fill(1n),
      positionIds: BigInt64Array.of(0n, 1n, 2n, 0n, 1n, 2n),
      past: model.emptyCache(2),
    });
    expect(step.logits.length).toBe(2 * 3 * 320);
    expect(step.present.keys[1]!.dims).toEqual([2, 2, 3, 16]);
    expect(step.logits.every(Number.isFinite)).toBe(true);
    await model.dispose();
  });

  it('is deterministic per seed, and different seeds give different weights', async () => {
    const a = buildTinyModel({}, 1);
    const b = buildTinyModel({}, 1);
    const c = buildTinyModel({}, 2);
    const bytes = (dir: string) => readFileSync(join(dir, 'onnx/model.onnx'));
    expect(bytes(a.dir).equals(bytes(b.dir))).toBe(true);
    expect(bytes(a.dir).equals(bytes(c.dir))).toBe(false);
  });

  it('accepts given weights (the trainer path) and an untied LM head', async () => {
    const architecture = parseArchitecture({ ...PRESETS.tiny, tieWordEmbeddings: false });
    const weights = randomLlamaWeights(architecture, 11);
    const given = buildModelDirectory({ outDir: tempDir('given'), architecture, weights });
    const seeded = buildModelDirectory({ outDir: tempDir('seeded'), architecture, seed: 11 });
    const [m1, m2] = await Promise.all([loadModel(given.dir), loadModel(seeded.dir)]);
    const ids = [3, 40, 41, 42, 100];
    const [o1, o2] = await Promise.all([fullSequence(m1, ids), fullSequence(m2, ids)]);
    expect(maxAbsDifference(logitsRow(o1, 4), logitsRow(o2, 4))).toBe(0);
    expect(JSON.parse(readFileSync(join(given.dir, 'config.json'), 'utf8')).tie_word_embeddings).toBe(false);

    // A zeroed LM head gives zero logits: proof the given tensors are the ones used.
    const zeroed = { ...weights, lmHead: new Float32Array(weights.lmHead!.length) };
    const zeroModel = await loadModel(buildModelDirectory({ outDir: tempDir('zero'), architecture, weights: zeroed }).dir);
    expect((await fullSequence(zeroModel, ids)).logits.every((x) => x === 0)).toBe(true);
    await Promise.all([m1.dispose(), m2.dispose(), zeroModel.dispose()]);
  });

  it('reads an architecture file (train and train:default --config): fields over a preset or a base, checked up front', () => {
    const dir = tempDir('arch');
    const file = (name: string, json: unknown) => {
      const path = join(dir, name);
      writeFileSync(path, JSON.stringify(json));
      return path;
    };
    const base = { ...PRESETS.small, vocabSize: 4096 };
    expect(readArchitectureFile(file('wider.json', { hiddenSize: 384, numLayers: 6 }), base)).toEqual({ ...base, hiddenSize: 384, numLayers: 6 });
    expect(readArchitectureFile(file('tiny.json', { preset: 'tiny', numLayers: 3 }), base)).toEqual({ ...PRESETS.tiny, numLayers: 3 });
    expect(() => readArchitectureFile(file('typo.json', { numLayers: 'six' }), base)).toThrow(/typo\.json: Invalid model architecture: numLayers/);
    expect(() => readArchitectureFile(file('preset.json', { preset: 'huge' }), base)).toThrow(/preset\.json: unknown preset "huge"/);
    expect(() => readArchitectureFile(file('list.json', [1, 2]), base)).toThrow(/expected a JSON object/);
    expect(() => readArchitectureFile(join(dir, 'missing.json'), base)).toThrow(/missing\.json/);
  });

  it('rejects weights that do not match the architecture, naming the tensor', () => {
    const architecture = parseArchitecture(PRESETS.tiny);
    const weights = randomLlamaWeights(architecture, 1);
    weights.layers[1]!.kProj = new Float32Array(3);
    expect(() => buildModelDirectory({ outDir: tempDir('bad'), architecture, weights })).toThrow(/layers\.1\.kProj/);
    expect(() => parseArchitecture({ ...PRESETS.tiny, numKeyValueHeads: 3 })).toThrow(/numKeyValueHeads/);
  });

  it('puts large weights in onnx/model.onnx_data and records a tokenizer smaller than the vocabulary', async () => {
    const built = buildModelDirectory({
      outDir: tempDir('external'),
      architecture: { ...PRESETS.tiny, vocabSize: 4096, hiddenSize: 128, numAttentionHeads: 4 },
      seed: 3,
    });
    expect(built.externalData).toBe(true);
    expect(statSync(join(built.dir, 'onnx/model.onnx_data')).size).toBeGreaterThan(2 * 1024 * 1024);
    expect(statSync(join(built.dir, 'onnx/model.onnx')).size).toBeLessThan(64 * 1024);
    const config = JSON.parse(readFileSync(join(built.dir, 'config.json'), 'utf8'));
    expect(config.worldmind.tokenizer_vocab_size).toBe(built.tokenizer.size);
    expect(built.tokenizer.size).toBeLessThan(4096);

    const model = await loadModel(built.dir);
    expect(model.vocabSize).toBe(4096);
    expect(model.usableVocabSize).toBe(built.tokenizer.size);
    await model.dispose();
  });
});
