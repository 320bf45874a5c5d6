/** The npm scripts: build-model (preset, config file, fp16 KV) and generate (--json contract). */
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { generate } from '../../server/src/inference/generate/index.ts';
import { loadModel } from '../../server/src/inference/model/index.ts';
import { removeTempDirs, tempDir } from './helpers.ts';

const run = promisify(execFile);
const root = join(import.meta.dirname, '../..');

afterAll(removeTempDirs);

function tsx(script: string, args: string[]) {
  return run(process.execPath, ['--import', 'tsx', join(root, script), ...args], { cwd: root, timeout: 60_000 });
}

describe('build-model and generate CLIs', () => {
  it('builds a preset and generates a reply whose --json line matches the library result', async () => {
    const dir = tempDir('cli');
    const built = await tsx('tools/model-builder/cli.ts', ['--preset', 'tiny', '--out', dir, '--seed', '3']);
    expect(built.stdout).toMatch(/built tiny/);

    const { stdout } = await tsx('tools/generate.ts', ['--model', dir, '--prompt', 'hi', '--system', 'Be brief.', '--max-tokens', '12', '--temperature', '0', '--json']);
    const lines = stdout.trimEnd().split('\n');
    const result = JSON.parse(lines.at(-1)!);
    expect(Object.keys(result).sort()).toEqual(['finish_reason', 'prompt_tokens', 'text', 'tok_s', 'tokens', 'ttft_ms'].sort());
    expect(['stop', 'length']).toContain(result.finish_reason);
    expect(result.ttft_ms).toBeGreaterThan(0);

    const model = await loadModel(dir);
    const expected = await generate(model, {
      prompt: { messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'hi' }] },
      sampling: { temperature: 0 },
      maxTokens: 12,
    });
    await model.dispose();
    expect(result.tokens).toEqual(expected.tokens);
    expect(result.text).toBe(expected.text);
    expect(result.prompt_tokens).toBe(expected.promptTokens);
  });

  it('builds from a config file (preset + overrides) with an fp16 KV cache', async () => {
    const dir = tempDir('cli-config');
    const configFile = join(dir, 'arch.json');
    writeFileSync(configFile, JSON.stringify({ preset: 'tiny', numLayers: 1, seed: 5 }));
    const out = join(dir, 'model');
    await tsx('tools/model-builder/cli.ts', ['--config', configFile, '--out', out, '--kv-dtype', 'fp16']);
    const config = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
    expect(config.num_hidden_layers).toBe(1);
    expect(config.worldmind).toMatchObject({ kv_cache_dtype: 'float16', seed: 5 });
    const model = await loadModel(out);
    expect(model.io.kvDtype).toBe('float16');
    await model.dispose();
  });

  it('fails with one clear line for a bad model directory or a bad flag', async () => {
    await expect(tsx('tools/generate.ts', ['--model', join(tempDir('cli-bad'), 'missing'), '--prompt', 'hi'])).rejects.toMatchObject({
      stderr: expect.stringMatching(/^generate: Model directory .* does not exist\.\n$/),
    });
    await expect(tsx('tools/model-builder/cli.ts', ['--preset', 'huge', '--out', tempDir('cli-bad')])).rejects.toMatchObject({
      stderr: expect.stringMatching(/unknown preset "huge"/),
    });
  });
});
