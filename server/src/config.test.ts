import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, redact, schedulerSettingsFrom } from './config.ts';

describe('configuration errors never print a secret', () => {
  it('hides the password of a malformed database URL and the whole auth secret', () => {
    let message = '';
    try {
      loadConfig({ DATABASE_URL: 'mysql://worldmind:s3cret-pw@10.0.0.7:5432/worldmind', AUTH_SECRET: 'short' });
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      message = (error as Error).message;
    }
    expect(message).toMatch(/DATABASE_URL="mysql:\/\/worldmind:\*\*\*@10\.0\.0\.7:5432\/worldmind": expected a postgres/);
    expect(message).not.toContain('s3cret-pw');
    expect(redact('AUTH_SECRET', 'abc')).toBe('(3 characters, hidden)');
    expect(redact('REDIS_URL', 'redis://:pw@host:6379')).toBe('redis://:***@host:6379');
    expect(redact('PORT', '99999')).toBe('99999');
  });
});

describe('engine scheduling from the environment', () => {
  it('maps the INFERENCE_* scheduling variables onto the engine scheduler, and names a bad value', () => {
    expect(schedulerSettingsFrom(loadConfig({}))).toEqual({ maxBatchSize: 32, maxQueue: 256, kvBudgetBytes: 1024 * 1024 * 1024, prefillOrder: 'shortest', decodeShareWhilePrefilling: 0.1, kvKeepWarmMs: 30_000, kvReserveTokens: 0 });
    const tuned = schedulerSettingsFrom(loadConfig({ INFERENCE_PREFILL_ORDER: 'admission', INFERENCE_DECODE_SHARE: '1', INFERENCE_MAX_BATCH: '8' }));
    expect(tuned).toMatchObject({ prefillOrder: 'admission', decodeShareWhilePrefilling: 1, maxBatchSize: 8 });
    expect(() => loadConfig({ INFERENCE_DECODE_SHARE: '1.5' })).toThrow(/INFERENCE_DECODE_SHARE="1\.5"/);
    expect(() => loadConfig({ INFERENCE_PREFILL_ORDER: 'longest' })).toThrow(/INFERENCE_PREFILL_ORDER="longest"/);
  });
});
