import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ConfigSchema } from '../../server/src/config.ts';

describe('README', () => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

  it('documents every configuration variable with its real default', () => {
    for (const [name, schema] of Object.entries(ConfigSchema.shape)) {
      const row = readme.split('\n').find((line) => line.startsWith(`| \`${name}\` |`));
      expect(row, `README is missing a row for ${name}`).toBeDefined();
      const fallback = (schema as { parse(v: unknown): unknown }).parse(undefined);
      if (fallback === undefined) continue; // computed at run time (e.g. all cores); the row says so
      const repoRelative = typeof fallback === 'string' ? fallback.replace(/^.*\/(assets|data)\//, '$1/') : String(fallback);
      expect(row).toContain(`\`${repoRelative}\``);
    }
  });

  it('keeps the two-command quick start', () => {
    expect(readme).toMatch(/npm install && npm start/);
    expect(readme).toMatch(/^npm test\b/m);
  });
});
