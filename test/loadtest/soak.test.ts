/**
 * `npm run loadtest -- --soak N`: the real CLI against a server it starts on loopback (real bot processes,
 * the default model), reading the server's RSS from /metrics; and its options and report arithmetic.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OptionsError, parseOptions, SOAK_DEFAULTS } from '../../loadtest/src/options.ts';
import { buildSoak, thinSamples, type MemorySample } from '../../loadtest/src/soak.ts';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

/** Runs the CLI with a hard bound (the CLI bounds itself too; this is a backstop). */
function runCli(args: string[], timeoutMs: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'loadtest/src/cli.ts', ...args], {
      cwd: repoRoot,
      env: { ...process.env, LOG_LEVEL: 'error', INFERENCE_THREADS: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => process.kill(-child.pid!, 'SIGKILL'), timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('loadtest --soak', () => {
  let out: string;
  beforeAll(async () => {
    out = await mkdtemp(join(tmpdir(), 'worldmind-soak-'));
  });
  afterAll(async () => {
    await rm(out, { recursive: true, force: true });
  });

  it('drives NPC talk for the given minutes and reports the server RSS over time: baseline, peak, after', { timeout: 120_000 }, async () => {
    const result = await runCli(['--soak', '0.25', '--players', '4', '--max-talkers', '4', '--settle', '4', '--sample-every', '5', '--out', out], 110_000);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/soak baseline RSS [\d.]+ MiB/);
    const soak = JSON.parse(result.stdout.trim().split('\n').at(-1)!);
    expect(Object.keys(soak)).toEqual(['soak_min', 'players', 'max_talkers', 'turns', 'fallbacks', 'errors', 'rss_mib', 'after_minus_baseline_mib', 'samples', 'load']);
    expect(soak).toMatchObject({ soak_min: 0.25, players: 4, max_talkers: 4, errors: 0 });
    expect(soak.turns).toBeGreaterThan(0);
    const rss = soak.rss_mib;
    // A Node process with a model loaded: tens to hundreds of MiB, and the peak is the highest read.
    expect(rss.baseline).toBeGreaterThan(30);
    expect(rss.peak).toBeGreaterThanOrEqual(Math.max(rss.baseline, rss.after));
    expect(rss.after_s).toBeGreaterThanOrEqual(4);
    expect(soak.after_minus_baseline_mib).toBeCloseTo(rss.after - rss.baseline, 0);
    const phases = soak.samples.map((s: [number, string, number]) => s[1]);
    expect(phases[0]).toBe('baseline');
    expect(phases).toContain('load');
    expect(phases.at(-1)).toBe('settle');
    // The table, and the report file with every read.
    expect(result.stdout).toMatch(/t \(s\)\s+phase\s+RSS MiB\s+heap MiB\s+external MiB\s+engine KV MiB/);
    expect(result.stdout).toMatch(/RSS baseline [\d.]+ MiB · peak [\d.]+ MiB/);
    const file = (await readdir(out)).find((f) => f.startsWith('soak-'));
    expect(file).toBeDefined();
    const saved = JSON.parse(await readFile(join(out, file!), 'utf8'));
    expect(saved.memory_samples.length).toBeGreaterThanOrEqual(soak.samples.length);
    expect(saved.memory_samples.every((s: MemorySample) => s.rssBytes > 0)).toBe(true);
  });
});

describe('soak options and arithmetic', () => {
  it('takes minutes instead of a duration, with talk-heavy defaults, and reports conflicting options', () => {
    const o = parseOptions(['--soak', '5']);
    expect(o).toMatchObject({ soakMin: 5, durationS: 300, players: SOAK_DEFAULTS.players, talkEveryS: SOAK_DEFAULTS.talkEveryS, maxTalkers: SOAK_DEFAULTS.maxTalkers, settleS: 60, sampleEveryS: 15 });
    expect(parseOptions(['--soak', '1', '--players', '8', '--settle', '10', '--sample-every', '2'])).toMatchObject({ players: 8, settleS: 10, sampleEveryS: 2 });
    expect(parseOptions(['--players', '3', '--duration', '2'])).toMatchObject({ soakMin: undefined, talkEveryS: 90, maxTalkers: 32 });
    expect(() => parseOptions(['--soak', '1', '--duration', '60'])).toThrow(/--soak and --duration/);
    expect(() => parseOptions(['--soak', '0'])).toThrow(/--soak "0"/);
    expect(() => parseOptions(['--soak', '1', '--talk-every', '0'])).toThrow(/NPC talk load/);
    expect(() => parseOptions(['--players', '3', '--duration', '2', '--settle', '5'])).toThrow(OptionsError);
  });

  it('keeps the first read at or after each table mark and of each phase, and the last; after = the last read', () => {
    const at = (s: number) => 1_000_000 + s * 1000;
    const sample = (s: number, phase: MemorySample['phase'], mib: number): MemorySample => ({ at: at(s), phase, rssBytes: mib * 1048576, heapUsedBytes: undefined, externalBytes: undefined, kvBytes: undefined });
    const samples = [sample(0, 'baseline', 100), sample(2, 'baseline', 102), sample(4, 'join', 110), sample(6, 'load', 180), sample(8, 'load', 250), sample(10, 'load', 240), sample(12, 'drain', 200), sample(14, 'settle', 130), sample(16, 'settle', 120)];
    expect(thinSamples(samples, at(0), 10).map((s) => (s.at - at(0)) / 1000)).toEqual([0, 4, 6, 10, 12, 14, 16]);
    const { summary } = buildSoak({
      soakMin: 0.1,
      players: 2,
      maxTalkers: 2,
      talkEveryS: 5,
      settleS: 4,
      sampleEveryS: 10,
      startedAt: at(0),
      loadEndedAt: at(11),
      leftAt: at(13),
      baselineBytes: 101 * 1048576,
      samples,
      failedReads: 0,
      turnsAnswered: 7,
      fallbacks: 0,
      errors: 0,
    });
    expect(summary.rss_mib).toEqual({ baseline: 101, peak: 250, end_of_load: 240, after: 120, after_s: 3 });
    expect(summary.after_minus_baseline_mib).toBe(19);
  });
});
