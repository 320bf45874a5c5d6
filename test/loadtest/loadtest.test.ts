/**
 * The load tester, run the way operators run it (`node --import tsx loadtest/src/cli.ts`, a real
 * server on loopback, real bot processes): a short run completes with zero join failures and writes
 * its JSON report and SVG chart; non-loopback endpoints are refused unless explicitly allowed.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkEndpoint, isLoopbackHost, OptionsError, parseOptions } from '../../loadtest/src/options.ts';
import { histogramQuantile, readHistogram } from '../../loadtest/src/metrics-scrape.ts';
import { startTestServer } from '../support/world-server.ts';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** Processes of the run's process group still alive after the CLI exited (server child, bot processes). */
  leftovers: string;
}

/** Runs the CLI with a hard bound; the CLI bounds itself too, this is a backstop. */
function runCli(args: string[], timeoutMs = 75_000): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'loadtest/src/cli.ts', ...args], {
      cwd: repoRoot,
      env: { ...process.env, LOG_LEVEL: 'error' },
      stdio: ['ignore', 'pipe', 'pipe'],
      // Its own process group, so the test can check that no child outlives the run.
      detached: true,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => process.kill(-child.pid!, 'SIGKILL'), timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      let leftovers = '';
      try {
        // Zombies (state Z) are already dead, only not yet reaped by init: they are not leftovers.
        leftovers = execFileSync('ps', ['-o', 'pid=,stat=,args=', '-g', String(child.pid)], { encoding: 'utf8' })
          .split('\n')
          .filter((line) => line.trim() && !/^\s*\d+\s+Z/.test(line))
          .join('\n')
          .trim();
      } catch {
        leftovers = ''; // ps exits 1 when the group is empty
      }
      if (leftovers) process.kill(-child.pid!, 'SIGKILL');
      resolve({ code, stdout, stderr, leftovers });
    });
  });
}

/** A small well-formedness check: one root <svg>, every tag closed in order, attributes quoted. */
function assertWellFormedXml(text: string): void {
  const body = text.replace(/^<\?xml[^>]*\?>\s*/, '');
  const stack: string[] = [];
  const tag = /<(\/?)([a-zA-Z][\w:-]*)((?:\s+[\w:-]+="[^"]*")*)\s*(\/?)>|<!--[\s\S]*?-->/g;
  let last = 0;
  let roots = 0;
  for (const m of body.matchAll(tag)) {
    expect(body.slice(last, m.index).includes('<'), `stray "<" before offset ${m.index}`).toBe(false);
    last = m.index + m[0].length;
    if (m[0].startsWith('<!--')) continue;
    const [, closing, name, , selfClosing] = m;
    if (closing) {
      expect(stack.pop(), `closing </${name}>`).toBe(name);
    } else if (!selfClosing) {
      if (stack.length === 0) roots++;
      stack.push(name!);
    } else if (stack.length === 0) roots++;
  }
  expect(body.slice(last).trim()).toBe('');
  expect(stack).toEqual([]);
  expect(roots).toBe(1);
  expect(body.trimStart().startsWith('<svg')).toBe(true);
}

describe('loadtest CLI', () => {
  let out: string;
  beforeAll(async () => {
    out = await mkdtemp(join(tmpdir(), 'worldmind-loadtest-'));
  });
  afterAll(async () => {
    await rm(out, { recursive: true, force: true });
  });

  it('runs a short load against a server it starts, with zero join failures, and writes its JSON report and chart', async () => {
    const dir = join(out, 'own');
    const result = await runCli(['--players', '8', '--duration', '5', '--talk-every', '4', '--max-talkers', '2', '--json', '--out', dir]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/starting a server \(in its own child process/);
    expect(result.leftovers, 'processes left behind').toBe('');

    const lines = result.stdout.trim().split('\n');
    const summary = JSON.parse(lines.at(-1)!);
    expect(Object.keys(summary)).toEqual(['players', 'joined', 'join_failures', 'duration_s', 'tick_ms', 'bytes_per_client_s', 'state_latency_ms', 'npc', 'errors', 'bot_cpu']);
    expect(Object.keys(summary.tick_ms)).toEqual(['p50', 'p99', 'max']);
    expect(Object.keys(summary.state_latency_ms)).toEqual(['p50', 'p99']);
    expect(Object.keys(summary.npc)).toEqual(['turns', 'ttft_ms', 'tok_s', 'fallbacks', 'illegal_actions']);
    expect(summary).toMatchObject({ players: 8, joined: 8, join_failures: 0 });
    expect(summary.duration_s).toBeGreaterThanOrEqual(4.5);
    expect(summary.tick_ms.p99).toBeGreaterThan(0);
    expect(summary.tick_ms.max).toBeGreaterThanOrEqual(summary.tick_ms.p99);
    expect(summary.bytes_per_client_s).toBeGreaterThan(0);
    expect(summary.state_latency_ms.p50).toBeGreaterThan(0);
    // The bots' own CPU over the measured phase: some, and no more than the machine has.
    expect(summary.bot_cpu.cores).toBeGreaterThan(0);
    expect(summary.bot_cpu.share_of_machine).toBeGreaterThan(0);
    expect(summary.bot_cpu.share_of_machine).toBeLessThanOrEqual(1);
    expect(result.stdout).toMatch(/bot CPU .* core\(s\) busy/);
    // The human table comes first.
    expect(result.stdout).toMatch(/tick p50 \/ p99 \/ max/);
    expect(result.stdout).toMatch(/state latency p50 \/ p99/);

    const files = await readdir(dir);
    const json = files.find((f) => f.endsWith('.json'));
    const svg = files.find((f) => f.endsWith('.svg'));
    expect(json && svg, files.join(', ')).toBeTruthy();
    const report = JSON.parse(await readFile(join(dir, json!), 'utf8'));
    expect(report).toMatchObject({ players: 8, joined: 8, join_failures: 0 });
    expect(report.details.server).toBe('child');
    // The server child's own CPU beside the bots': some, and no more than the machine has.
    expect(report.details.server_cpu_cores).toBeGreaterThan(0);
    expect(report.details.server_cpu_cores).toBeLessThanOrEqual(report.details.machine.cpus);
    expect(result.stdout).toMatch(/server CPU .* core\(s\) busy/);
    expect(report.tick_series.length).toBeGreaterThan(0);

    const chart = await readFile(join(dir, svg!), 'utf8');
    assertWellFormedXml(chart);
    expect(chart).toMatch(/<g id="tick-series"[^>]*>\s*<path [^>]*d="M[\d.]+,[\d.]+ L/);
    expect(chart).toContain('<g id="ttft-series"');
    expect(chart).toMatch(/NPC time to first token/);
    // Every series the legend names is drawn, the reference line explained.
    for (const series of ['tick-p99', 'tick-p50', 'tick-max', 'tick-target', 'measured-phase']) {
      expect(chart, series).toContain(`data-legend="${series}"`);
      expect(chart, series).toMatch(new RegExp(`data-series="${series}"`));
    }
    expect(chart).toContain('target: tick p99 &lt; 20 ms');
    if (summary.npc.turns > 0) expect(chart).toMatch(/<g id="ttft-series"[^>]*>\s*<circle /);
  });

  it('loads a running loopback server through --endpoint and reads its tick times from /metrics', async () => {
    const server = await startTestServer({ LOG_LEVEL: 'silent' });
    try {
      const dir = join(out, 'remote');
      const result = await runCli(['--endpoint', server.endpoint, '--players', '4', '--duration', '3', '--talk-every', '0', '--json', '--out', dir]);
      expect(result.code, result.stderr).toBe(0);
      const summary = JSON.parse(result.stdout.trim().split('\n').at(-1)!);
      expect(summary).toMatchObject({ players: 4, joined: 4, join_failures: 0, errors: 0 });
      expect(summary.npc.turns).toBe(0);
      expect(summary.tick_ms.p99).toBeGreaterThan(0);
      expect(result.stdout).toMatch(/tick source: remote \/metrics/);
      // Rooms of a server it did not start come from that server's /metrics, not a '?'.
      expect(result.stdout).toMatch(/remote; 1 world room\(s\)/);
      const files = await readdir(dir);
      const report = JSON.parse(await readFile(join(dir, files.find((f) => f.endsWith('.json'))!), 'utf8'));
      expect(report.details.rooms).toBe(1);
      expect(report.details.rooms_source).toMatch(/worldmind_rooms/);
      expect(summary.bot_cpu.cores).toBeGreaterThan(0);
    } finally {
      await server.shutdown();
    }
  });

  it('refuses non-loopback endpoints unless --allow-remote is given', async () => {
    for (const endpoint of ['ws://10.0.0.5:2567', 'ws://example.com:2567', 'ws://0.0.0.0:2567', 'ws://[::ffff:192.168.1.2]:2567']) {
      const result = await runCli(['--endpoint', endpoint, '--players', '1', '--duration', '1'], 20_000);
      expect(result.code, endpoint).toBe(2);
      expect(result.stderr).toMatch(/refusing to load a non-loopback host/);
      expect(result.stderr).toMatch(/--allow-remote/);
      expect(result.stdout).toBe('');
    }
  });
});

describe('loadtest options', () => {
  it('accepts loopback addresses only, unless remote is explicitly allowed', () => {
    for (const host of ['127.0.0.1', '127.255.3.4', 'localhost', 'LOCALHOST', '[::1]', '::1', '::ffff:127.0.0.1']) expect(isLoopbackHost(host), host).toBe(true);
    for (const host of ['0.0.0.0', '10.0.0.1', '128.0.0.1', '192.168.1.1', 'example.com', 'localhost.example.com', '::', '::2', '::ffff:10.0.0.1']) expect(isLoopbackHost(host), host).toBe(false);
    expect(checkEndpoint('ws://127.0.0.1:2567', false)).toBeUndefined();
    expect(checkEndpoint('ws://localhost:2567', false)).toBeUndefined();
    expect(checkEndpoint('ws://[::1]:2567', false)).toBeUndefined();
    expect(checkEndpoint('ws://203.0.113.7:2567', false)).toMatch(/refusing/);
    expect(checkEndpoint('ws://203.0.113.7:2567', true)).toBeUndefined();
    expect(checkEndpoint('not a url', true)).toMatch(/not a URL/);
    expect(parseOptions(['--players', '3', '--duration', '2', '--endpoint', 'ws://203.0.113.7:2567', '--allow-remote']).endpoint).toBe('ws://203.0.113.7:2567');
    expect(() => parseOptions(['--players', '3', '--duration', '2', '--endpoint', 'ws://203.0.113.7:2567'])).toThrow(OptionsError);
  });

  it('bounds players and duration and reports every problem at once', () => {
    try {
      parseOptions(['--players', '0', '--duration', '99999', '--processes', 'two']);
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(OptionsError);
      expect((err as Error).message).toMatch(/--players "0"/);
      expect((err as Error).message).toMatch(/--duration "99999"/);
      expect((err as Error).message).toMatch(/--processes "two"/);
    }
    expect(() => parseOptions(['--duration', '5'])).toThrow(/--players is required/);
    expect(parseOptions(['--players', '100', '--duration', '5', '--talk-every', '0']).tracked).toBe(16);
    expect(parseOptions(['--players', '100', '--duration', '5']).tracked).toBe(32);
    const o = parseOptions(['--players', '2500', '--duration', '30']);
    expect(o).toMatchObject({ processes: 3, tracked: 50, inputHz: 10, server: 'child', aoi: true, talkEveryS: 90 });
    // Nobody talks: tracked bots only measure state latency, so a big crowd decodes state in 16 of them, not 2 %.
    expect(parseOptions(['--players', '2500', '--duration', '30', '--talk-every', '0']).tracked).toBe(16);
    expect(parseOptions(['--players', '10', '--duration', '30', '--talk-every', '0']).tracked).toBe(10);
  });

  it('estimates histogram quantiles from Prometheus buckets', () => {
    const text = [
      'worldmind_tick_duration_seconds_bucket{le="0.001",room="world"} 50',
      'worldmind_tick_duration_seconds_bucket{le="0.01",room="world"} 99',
      'worldmind_tick_duration_seconds_bucket{le="0.1",room="world"} 100',
      'worldmind_tick_duration_seconds_bucket{le="+Inf",room="world"} 100',
      'worldmind_tick_duration_seconds_count{room="world"} 100',
    ].join('\n');
    const h = readHistogram(text, 'worldmind_tick_duration_seconds', { room: 'world' })!;
    expect(h.count).toBe(100);
    expect(histogramQuantile(h, 0.5)).toBeCloseTo(0.001);
    expect(histogramQuantile(h, 0.99)).toBeCloseTo(0.01);
  });
});
