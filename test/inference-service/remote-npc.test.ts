/**
 * A game server whose NPCs think in a separate inference service process (INFERENCE_URL), end to end:
 * a player's talk turn streams through the remote service (action grammar and shared prefix travelling
 * with the request); killing the service mid-turn gives the NPC's scripted fallback line at once (not
 * after the first-token deadline, which is set far beyond the wait here); and once the service is started
 * again on the same port the game process reconnects by itself and the next turn is the model's again.
 * A frozen service (SIGSTOP) is not waited on either: first-token deadline and heartbeat end the wait.
 *
 * Runs on the default model's untrained twin (same tokenizer and template, random weights): the subject
 * is the data path, not what the model says.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { WorldClient } from '../../client-sdk/src/index.ts';
import { ConfigSchema } from '../../server/src/config.ts';
import { RemoteEngine } from '../../server/src/inference/service/remote-engine.ts';
import { createLogger } from '../../server/src/observability/logger.ts';
import { buildUntrainedTwin } from '../../tools/eval/baseline.ts';
import { npcDirWith, stationaryBramGivingOneHorseshoe, walkUpTo } from '../support/npc-fixtures.ts';
import { freePort } from '../support/server-process.ts';
import { connect, startTestServer, waitFor } from '../support/world-server.ts';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const FORGE = { x: 150, z: 70 };
const FALLBACK_LINES = (parse(readFileSync(join(repoRoot, 'assets/npcs/bram.yaml'), 'utf8')) as { fallback: string[] }).fallback;

interface ServiceProcess {
  child: ChildProcess;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** `npm run inference` as a real child process; resolves once it listens (bounded). */
async function startService(env: Record<string, string>): Promise<ServiceProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'server/src/inference/service/main.ts'], {
    cwd: repoRoot,
    env: { ...process.env, LOG_LEVEL: 'info', HOST: '127.0.0.1', INFERENCE_THREADS: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const service = { child, output: () => out, exited };
  const deadline = Date.now() + 60_000;
  while (!/inference service listening/.test(out)) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`the inference service exited early:\n${out}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`the inference service did not listen within 60 s:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return service;
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([promise, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms))]);
}

async function talkFully(client: WorldClient, line: string) {
  const turn = client.talk('bram', line);
  const chunks: string[] = [];
  for await (const chunk of turn) chunks.push(chunk.text);
  return { chunks, result: await turn.result };
}

describe('NPC turns through a remote inference service', () => {
  const modelRoot = mkdtempSync(join(tmpdir(), 'wm-remote-'));
  let model: { dir: string };
  let port: number;
  let service: ServiceProcess | undefined;
  let server: Awaited<ReturnType<typeof startTestServer>> | undefined;
  let ada: WorldClient | undefined;

  beforeAll(async () => {
    model = buildUntrainedTwin(ConfigSchema.shape.MODEL_DIR.parse(undefined), join(modelRoot, 'model'), 1);
    port = await freePort();
    service = await startService({ MODEL_DIR: model.dir, INFERENCE_PORT: String(port) });
    server = await startTestServer({
      INFERENCE_URL: `ws://127.0.0.1:${port}`,
      MODEL_DIR: model.dir,
      NPC_DIR: npcDirWith({ bram: stationaryBramGivingOneHorseshoe }),
      RUN_SPEED: 30,
      TALK_BURST: 100,
      TALK_PER_SECOND: 100,
      // Far beyond every wait below: a fallback seen here comes from the service dying, not from the clock.
      NPC_FIRST_TOKEN_DEADLINE_MS: 60_000,
    });
    ada = await connect(server.endpoint, 'Ada');
    await walkUpTo(ada, 'bram', FORGE);
  }, 120_000);

  afterAll(async () => {
    await ada?.leave().catch(() => undefined);
    await server?.shutdown();
    if (service && service.child.exitCode === null && service.child.signalCode === null) {
      service.child.kill('SIGKILL');
      await withTimeout(service.exited, 10_000, 'the killed service');
    }
    rmSync(modelRoot, { recursive: true, force: true });
  });

  it('streams a talk turn through the service, with the action grammar applied there', async () => {
    const engine = server!.npc!.engine as RemoteEngine;
    expect(engine.services()).toMatchObject([{ state: 'ready', url: `ws://127.0.0.1:${port}/engine` }]);
    const { chunks, result } = await withTimeout(talkFully(ada!, 'Good day, smith! Anything for luck?'), 30_000, 'the remote turn');
    expect(result.finishReason).not.toBe('fallback');
    expect(result.text.length).toBeGreaterThan(0);
    expect(chunks.length).toBeGreaterThan(0);
    expect(chunks.join('').trim()).toBe(result.text);
    // The action grammar (a constraint module, sent by name with its options) ran in the service: the
    // random model's reply ended with one of Bram's legal calls, and the generation ended by the grammar.
    const logged = (await server!.store.getTurn(result.turnId))!;
    expect(logged.output.trim()).toMatch(/^\[\[(none|give_item horseshoe)\]\]/);
    if (result.action) expect(result.action.name).toBe('give_item');
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(metrics).toMatch(/^worldmind_inference_requests_total\{api="engine",outcome="constraint"\} 1$/m);
    const gameMetrics = await server!.metrics.registry.metrics();
    expect(gameMetrics).toMatch(/^worldmind_inference_services\{state="ready"\} 1$/m);
  }, 60_000);

  it('carries a turn\'s lore grounding to the service with the grammar', async () => {
    const { result } = await withTimeout(talkFully(ada!, 'Who mends the spears and helmets of the town watch?'), 30_000, 'the grounded remote turn');
    // The service checked the grounding options against its wire schema and ran the turn (no fallback).
    expect(result.finishReason).not.toBe('fallback');
    const logged = (await server!.store.getTurn(result.turnId))!;
    const grammar = (logged.sampling as { grammar: { grounding?: { text: string; bias: number } } }).grammar;
    expect(grammar.grounding?.text).toMatch(/^I mend the spears and helmets/);
    expect(grammar.grounding?.bias).toBeGreaterThan(0);
  }, 60_000);

  it('falls back to a scripted line at once when the service dies mid-turn, and recovers after it restarts', async () => {
    const engine = server!.npc!.engine as RemoteEngine;
    // Freeze the service so the turn is certainly in flight there when it dies (its request sits in the
    // service's socket), then kill it.
    service!.child.kill('SIGSTOP');
    const turn = ada!.talk('bram', 'Tell me about the war at the bridge.');
    await waitFor('the turn to be in flight at the service', () => engine.inFlight === 1, 15_000);
    service!.child.kill('SIGKILL');
    await withTimeout(service!.exited, 10_000, 'the killed service');
    const fallen = await withTimeout(turn.result, 15_000, 'the turn whose service died');
    expect(fallen.finishReason).toBe('fallback');
    expect(FALLBACK_LINES).toContain(fallen.text);
    expect(engine.inFlight).toBe(0);

    // While it is down, turns fall back at once too (no service to send them to).
    const meanwhile = await withTimeout(ada!.talk('bram', 'Hello?').result, 15_000, 'a turn without a service');
    expect(meanwhile.finishReason).toBe('fallback');

    // Back on the same port: the game process reconnects on its own (bounded backoff).
    service = await startService({ MODEL_DIR: model.dir, INFERENCE_PORT: String(port) });
    await waitFor('the game process to reconnect', () => engine.services()[0]!.state === 'ready', 20_000, 50);
    const { result } = await withTimeout(talkFully(ada!, 'Are you back at the anvil?'), 30_000, 'the turn after the restart');
    expect(result.finishReason).not.toBe('fallback');
    expect(result.text.length).toBeGreaterThan(0);
  }, 120_000);

  it('does not wait on a frozen service: the request fails at its deadline, the silent link is dropped, and it is used again once it thaws', async () => {
    const remote = await RemoteEngine.start({ urls: [`ws://127.0.0.1:${port}`], modelHash: server!.npc!.modelHash, log: createLogger('silent'), heartbeatMs: 500, deadlineGraceMs: 100 });
    try {
      service!.child.kill('SIGSTOP');
      const frozen = remote.generate({ prompt: 'Hello, is anyone there?', maxTokens: 8, firstTokenDeadlineMs: 300 });
      await expect(withTimeout(frozen.result, 10_000, 'a request to a frozen service')).rejects.toMatchObject({ code: 'deadline-exceeded', retryable: true });
      await waitFor('the heartbeat to drop the silent link', () => remote.services()[0]!.state !== 'ready', 10_000);
      expect(remote.services()[0]!.problem).toMatch(/no pong/);
      service!.child.kill('SIGCONT');
      await waitFor('the link to come back', () => remote.services()[0]!.state === 'ready', 20_000, 50);
      const thawed = await withTimeout(remote.generate({ prompt: 'Hello again.', maxTokens: 8 }).result, 30_000, 'a request after the thaw');
      expect(thawed.tokens.length).toBeGreaterThan(0);
    } finally {
      service!.child.kill('SIGCONT');
      await remote.close();
    }
    service!.child.kill('SIGTERM');
    expect((await withTimeout(service!.exited, 15_000, 'the service on SIGTERM')).code).toBe(0);
  }, 120_000);
});
