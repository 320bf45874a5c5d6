/** The onnxruntime-genai layout: genai_config.json names the decoder file and its I/O. */
import { copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ModelLoadError, loadModel } from '../../server/src/inference/model/index.ts';
import { buildTinyModel, fullSequence, maxAbsDifference, removeTempDirs, tempDir } from './helpers.ts';

afterAll(removeTempDirs);

function genaiCopy(hfDir: string, inputs: Record<string, string> = {}): string {
  const dir = tempDir('genai');
  copyFileSync(join(hfDir, 'onnx/model.onnx'), join(dir, 'decoder.onnx'));
  copyFileSync(join(hfDir, 'tokenizer.json'), join(dir, 'tokenizer.json'));
  copyFileSync(join(hfDir, 'tokenizer_config.json'), join(dir, 'tokenizer_config.json'));
  writeFileSync(
    join(dir, 'genai_config.json'),
    JSON.stringify({
      model: {
        type: 'llama',
        context_length: 200,
        vocab_size: 320,
        bos_token_id: 0,
        eos_token_id: [2],
        pad_token_id: 0,
        decoder: {
          filename: 'decoder.onnx',
          head_size: 16,
          hidden_size: 64,
          num_attention_heads: 4,
          num_key_value_heads: 2,
          num_hidden_layers: 2,
          inputs: {
            input_ids: 'input_ids',
            attention_mask: 'attention_mask',
            position_ids: 'position_ids',
            past_key_names: 'past_key_values.%d.key',
            past_value_names: 'past_key_values.%d.value',
            ...inputs,
          },
          outputs: { logits: 'logits', present_key_names: 'present.%d.key', present_value_names: 'present.%d.value' },
        },
      },
      search: { do_sample: true, temperature: 0.7, top_k: 20, top_p: 0.9, max_length: 200 },
    }),
  );
  return dir;
}

describe('onnxruntime-genai layout', () => {
  it('loads with the names, limits and search defaults of genai_config.json and computes the same logits', async () => {
    const hf = buildTinyModel();
    const [viaHf, viaGenai] = await Promise.all([loadModel(hf.dir), loadModel(genaiCopy(hf.dir))]);
    expect(viaGenai.spec.layout).toBe('genai');
    expect(viaGenai.contextLength).toBe(200);
    expect(viaGenai.specialTokens.eos).toEqual([2]);
    expect(viaGenai.generationDefaults).toMatchObject({ temperature: 0.7, topK: 20, topP: 0.9 });
    const ids = [4, 80, 81, 82];
    const [a, b] = await Promise.all([fullSequence(viaHf, ids), fullSequence(viaGenai, ids)]);
    expect(maxAbsDifference(a.logits, b.logits)).toBe(0);
    await Promise.all([viaHf.dispose(), viaGenai.dispose()]);
  });

  it('reads I/O names from genai_config.json (a wrong name is reported by name)', async () => {
    const dir = genaiCopy(buildTinyModel().dir, { past_key_names: 'past.%d.k' });
    await expect(loadModel(dir)).rejects.toThrow(ModelLoadError);
    await expect(loadModel(dir)).rejects.toThrow(/has no past\.0\.k input/);
  });
});
