/**
 * The inference service on loopback with a tiny model built on the spot: the engine protocol through
 * RemoteEngine (streaming identical to the service's own engine, constraints as data, cancel freeing the
 * sequence, admission answers), the API key, /health and /metrics, and the OpenAI-compatible API with
 * plain fetch (streamed and whole completions, models, errors in OpenAI's shape).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EngineError } from '../../server/src/inference/engine/errors.ts';
import type { EngineSnapshot } from '../../server/src/inference/engine/engine-client.ts';
import { RemoteEngine } from '../../server/src/inference/service/remote-engine.ts';
import { startInferenceService, type InferenceService } from '../../server/src/inference/service/service.ts';
import { loadServiceConfig } from '../../server/src/inference/service/service-config.ts';
import { constraintToWire } from '../../server/src/inference/service/wire.ts';
import { createLogger } from '../../server/src/observability/logger.ts';
import { buildTestModel } from '../engine/support.ts';

const API_KEY = 'test-inference-key-0123456789';
const log = createLogger('silent');

let built: ReturnType<typeof buildTestModel>;
let service: InferenceService;
let remote: RemoteEngine;
let http: string;

beforeAll(async () => {
  built = buildTestModel();
  // One slot and a queue of one: admission answers are reachable with three requests.
  service = await startInferenceService(
    loadServiceConfig({}, { HOST: '127.0.0.1', INFERENCE_PORT: 0, MODEL_DIR: built.dir, INFERENCE_THREADS: 1, INFERENCE_API_KEY: API_KEY, INFERENCE_MAX_BATCH: 1, INFERENCE_MAX_QUEUE: 1 }),
    log,
  );
  http = `http://127.0.0.1:${service.port}`;
  remote = await RemoteEngine.start({ urls: [service.url], apiKey: API_KEY, modelHash: service.modelHash, log, connectTimeoutMs: 10_000 });
}, 60_000);

afterAll(async () => {
  await remote?.close();
  await service?.close();
  built?.cleanup();
});

/** Polls the service's engine until nothing is queued or running (bounded). */
async function idle(): Promise<EngineSnapshot['engine']> {
  for (let i = 0; i < 200; i++) {
    const m = (await service.engine.metrics()).engine;
    if (m.decoding === 0 && m.prefilling === 0 && m.queueDepth === 0) return m;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error('the service engine never went idle');
}

/** A constraint that forbids end-of-sequence: the request runs to maxTokens (long enough to cancel mid-way). */
function noEos() {
  return { kind: 'automaton' as const, automaton: { states: [{ allow: 'any' as const, deny: remote.model.eosTokenIds }] } };
}

describe('engine protocol over WebSocket', () => {
  it('streams a generation token by token, identical to the service engine run directly', async () => {
    const request = { prompt: 'The smith looked up from the anvil and said', maxTokens: 24, temperature: 0.8, seed: 11, constraint: noEos() };
    const generation = remote.generate(request);
    const streamed: number[] = [];
    let text = '';
    for await (const chunk of generation) {
      if (chunk.token !== null) streamed.push(chunk.token);
      text += chunk.text;
    }
    const result = await generation.result;
    expect(result.finishReason).toBe('length');
    expect(result.tokens).toEqual(streamed);
    expect(result.tokens).toHaveLength(24);
    expect(result.text).toBe(text);
    expect(result.promptTokens).toBeGreaterThan(0);

    const direct = await service.engine.generate(request).result;
    expect(result.tokens).toEqual(direct.tokens);
    expect(result.text).toBe(direct.text);
  });

  it('carries an automaton constraint as data: only its tokens come out', async () => {
    const allowed = [5, 6, 7];
    const constraint = { kind: 'automaton' as const, automaton: { states: [{ allow: allowed }] } };
    const result = await remote.generate({ prompt: 'Count with me:', maxTokens: 12, temperature: 1, seed: 3, constraint }).result;
    expect(result.tokens.length).toBe(12);
    for (const token of result.tokens) expect(allowed).toContain(token);
  });

  it('refuses a constraint module that is not registered, before anything is sent', async () => {
    expect(() => constraintToWire({ kind: 'module', module: '/tmp/evil.ts' })).toThrow(/not registered/);
    await expect(remote.generate({ prompt: 'x', constraint: { kind: 'module', module: '/tmp/evil.ts' } }).result).rejects.toMatchObject({ code: 'invalid-request', retryable: false });
  });

  it('cancel stops the generation and frees its slot and KV on the service', async () => {
    const before = await idle();
    const generation = remote.generate({ prompt: 'Tell me a very long story about the forge.', maxTokens: 400, constraint: noEos() });
    let tokens = 0;
    for await (const chunk of generation) {
      if (chunk.token !== null) tokens++;
      if (tokens === 3) break; // leaving the loop cancels, as with the in-process engine
    }
    await expect(generation.result).rejects.toMatchObject({ code: 'aborted' });
    const after = await idle();
    expect(after.kv.bytesReserved).toBe(0);
    expect(after.kv.decodeBatchBytes).toBe(0);
    expect(after.generatedTokens - before.generatedTokens).toBeLessThan(400);
    expect(remote.inFlight).toBe(0);
  });

  it('answers admission: retry later when the queue is full, never when the prompt cannot fit', async () => {
    await idle();
    const running = remote.generate({ prompt: 'First in line, a long tale.', maxTokens: 300, constraint: noEos() });
    await running[Symbol.asyncIterator]().next(); // it holds the only slot now
    const queued = remote.generate({ prompt: 'Second, waiting.', maxTokens: 4 });
    const refused = remote.generate({ prompt: 'Third, no room.', maxTokens: 4 });
    const error = (await refused.result.catch((e: unknown) => e)) as EngineError;
    expect(error).toBeInstanceOf(EngineError);
    expect(error.code).toBe('queue-full');
    expect(error.retryable).toBe(true);
    running.cancel();
    await queued.result;

    const tooLong = 'word '.repeat(remote.model.contextLength * 2);
    await expect(remote.generate({ prompt: tooLong, maxTokens: 4 }).result).rejects.toMatchObject({ code: 'never-fits', retryable: false });
  });

  it('refuses connections without the API key, and reports health and metrics', async () => {
    await expect(RemoteEngine.start({ urls: [service.url], modelHash: service.modelHash, log, connectTimeoutMs: 1_500 })).rejects.toThrow(/INFERENCE_API_KEY/);

    const health = await fetch(`${http}/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: 'ok', model: service.modelId, modelHash: service.modelHash });

    const metrics = await (await fetch(`${http}/metrics`)).text();
    expect(metrics).toMatch(/^worldmind_inference_connections 1$/m);
    expect(metrics).toMatch(/^worldmind_inference_requests_total\{api="engine",outcome="length"\} \d+$/m);
    expect(metrics).toMatch(/^worldmind_engine_generated_tokens_total \d+$/m);
  });

  it('refuses a service whose model files differ', async () => {
    await expect(RemoteEngine.start({ urls: [service.url], apiKey: API_KEY, modelHash: 'f'.repeat(64), log, connectTimeoutMs: 1_500 })).rejects.toThrow(/other model files/);
  });
});

describe('OpenAI-compatible API', () => {
  const auth = { Authorization: `Bearer ${API_KEY}`, 'Content-Type': 'application/json' };
  const body = (extra: Record<string, unknown> = {}) =>
    JSON.stringify({ model: service.modelId, messages: [{ role: 'system', content: 'You are a smith.' }, { role: 'user', content: 'Can you mend my sword?' }], max_tokens: 16, temperature: 0, ...extra });

  it('lists the model', async () => {
    const res = await fetch(`${http}/v1/models`, { headers: auth });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ object: 'list', data: [{ id: service.modelId, object: 'model', owned_by: 'worldmind' }] });
  });

  it('answers a whole completion, and streams the same text as server-sent events', async () => {
    const res = await fetch(`${http}/v1/chat/completions`, { method: 'POST', headers: auth, body: body() });
    expect(res.status).toBe(200);
    const completion = (await res.json()) as { object: string; model: string; choices: Array<{ message: { role: string; content: string }; finish_reason: string }>; usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number } };
    expect(completion.object).toBe('chat.completion');
    expect(completion.model).toBe(service.modelId);
    expect(completion.choices).toHaveLength(1);
    expect(completion.choices[0]!.message.role).toBe('assistant');
    expect(['stop', 'length']).toContain(completion.choices[0]!.finish_reason);
    expect(completion.usage.prompt_tokens).toBeGreaterThan(0);
    expect(completion.usage.total_tokens).toBe(completion.usage.prompt_tokens + completion.usage.completion_tokens);

    const streamed = await fetch(`${http}/v1/chat/completions`, { method: 'POST', headers: auth, body: body({ stream: true, stream_options: { include_usage: true } }) });
    expect(streamed.status).toBe(200);
    expect(streamed.headers.get('content-type')).toBe('text/event-stream');
    const events = (await streamed.text()).split('\n\n').filter(Boolean).map((e) => e.replace(/^data: /, ''));
    expect(events.at(-1)).toBe('[DONE]');
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e) as { object: string; choices: Array<{ delta: { role?: string; content?: string }; finish_reason: string | null }>; usage?: { completion_tokens: number } });
    for (const c of chunks) expect(c.object).toBe('chat.completion.chunk');
    expect(chunks[0]!.choices[0]!.delta.role).toBe('assistant');
    const content = chunks.flatMap((c) => c.choices.map((ch) => ch.delta.content ?? '')).join('');
    expect(content).toBe(completion.choices[0]!.message.content);
    expect(chunks.flatMap((c) => c.choices.map((ch) => ch.finish_reason)).filter(Boolean)).toEqual([completion.choices[0]!.finish_reason]);
    expect(chunks.at(-1)!.usage?.completion_tokens).toBe(completion.usage.completion_tokens);
  });

  it('drops a streamed request whose caller hangs up, freeing its place', async () => {
    await idle();
    // The only batch slot is busy, so the HTTP request waits in the queue until its caller goes away.
    const busy = remote.generate({ prompt: 'Hold the slot with a long tale.', maxTokens: 300, constraint: noEos() });
    await busy[Symbol.asyncIterator]().next(); // running (not a for-await with break: leaving that loop cancels)
    const caller = new AbortController();
    const pending = fetch(`${http}/v1/chat/completions`, { method: 'POST', headers: auth, body: body({ stream: true }), signal: caller.signal }).catch((e: unknown) => e);
    for (let i = 0; (await service.engine.metrics()).engine.queueDepth === 0; i++) {
      if (i > 200) throw new Error('the HTTP request never reached the queue');
      await new Promise((r) => setTimeout(r, 20));
    }
    caller.abort();
    expect(await pending).toMatchObject({ name: 'AbortError' });
    for (let i = 0; (await service.engine.metrics()).engine.queueDepth !== 0; i++) {
      if (i > 200) throw new Error('the abandoned request stayed queued');
      await new Promise((r) => setTimeout(r, 20));
    }
    const metrics = await (await fetch(`${http}/metrics`)).text();
    expect(metrics).toMatch(/^worldmind_inference_requests_total\{api="openai",outcome="aborted"\} 1$/m);
    busy.cancel();
    await idle();
  });

  it('answers errors in OpenAI\'s shape', async () => {
    const unauthorized = await fetch(`${http}/v1/chat/completions`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: body() });
    expect(unauthorized.status).toBe(401);
    expect(await unauthorized.json()).toMatchObject({ error: { type: 'invalid_request_error', code: 'invalid_api_key' } });

    const unknownModel = await fetch(`${http}/v1/chat/completions`, { method: 'POST', headers: auth, body: body({ model: 'gpt-4o' }) });
    expect(unknownModel.status).toBe(404);
    expect(await unknownModel.json()).toMatchObject({ error: { code: 'model_not_found', param: 'model' } });

    const unsupported = await fetch(`${http}/v1/chat/completions`, { method: 'POST', headers: auth, body: body({ n: 2 }) });
    expect(unsupported.status).toBe(400);
    expect(await unsupported.json()).toMatchObject({ error: { type: 'invalid_request_error', param: 'n' } });

    const notJson = await fetch(`${http}/v1/chat/completions`, { method: 'POST', headers: auth, body: '{' });
    expect(notJson.status).toBe(400);
    expect(((await notJson.json()) as { error: { message: string } }).error.message).toMatch(/not valid JSON/);

    const tooLong = await fetch(`${http}/v1/chat/completions`, { method: 'POST', headers: auth, body: body({ messages: [{ role: 'user', content: 'word '.repeat(4096) }] }) });
    expect(tooLong.status).toBe(400);
    expect(await tooLong.json()).toMatchObject({ error: { code: 'context_length_exceeded' } });

    const metrics = await (await fetch(`${http}/metrics`)).text();
    expect(metrics).toMatch(/^worldmind_inference_requests_total\{api="openai",outcome="never-fits"\} 1$/m);
  });
});

describe('several services', () => {
  it('spreads requests by load, sums their metrics, and stops using a service that goes away', async () => {
    const second = await startInferenceService(
      loadServiceConfig({}, { HOST: '127.0.0.1', INFERENCE_PORT: 0, MODEL_DIR: built.dir, INFERENCE_THREADS: 1, INFERENCE_API_KEY: API_KEY, INFERENCE_MAX_BATCH: 4, INFERENCE_MAX_QUEUE: 8 }),
      log,
    );
    const both = await RemoteEngine.start({ urls: [service.url, second.url], apiKey: API_KEY, modelHash: service.modelHash, log, connectTimeoutMs: 10_000 });
    try {
      await waitForLinks(both, 2);
      await idle();
      // Long requests, so each service still has the previous ones running when the next is placed.
      const long = () => both.generate({ prompt: 'A long tale for a long evening.', maxTokens: 200, constraint: { kind: 'automaton', automaton: { states: [{ allow: 'any', deny: both.model.eosTokenIds }] } } });
      const first = long();
      const secondRequest = long();
      const perService = both.services().map((s) => s.inFlight);
      expect(perService).toEqual([1, 1]);
      const snapshot = await both.metrics();
      const parts = await Promise.all([service.engine.metrics(), second.engine.metrics()]);
      // Capacities add up (live counters move between the queries, budgets do not).
      expect(snapshot.engine.kv.budgetBytes).toBe(parts[0].engine.kv.budgetBytes + parts[1].engine.kv.budgetBytes);
      expect(snapshot.engine.prefixCache.maxBytes).toBe(parts[0].engine.prefixCache.maxBytes + parts[1].engine.prefixCache.maxBytes);

      // The second service goes away: its request fails at once (retryable), the next ones go to the first.
      const onSecond = both.services()[1]!.inFlight === 1 ? secondRequest : first;
      const onFirst = onSecond === first ? secondRequest : first;
      await second.close();
      await expect(onSecond.result).rejects.toMatchObject({ code: 'worker-died', retryable: true });
      await waitFor(() => both.services()[1]!.state !== 'ready');
      const next = both.generate({ prompt: 'Still there?', maxTokens: 4 });
      // It went to the first service (which may or may not have finished its long request by now).
      expect(both.services()[0]!.inFlight).toBeGreaterThanOrEqual(1);
      expect(both.services()[1]!.inFlight).toBe(0);
      onFirst.cancel();
      await next.result;
    } finally {
      await both.close();
      await second.close();
    }
  }, 60_000);
});

describe('a full service', () => {
  it('has a refused request placed on another service at once', async () => {
    // The full service never reports its load (its status interval is an hour), so the client, seeing two
    // idle services, places the request on it first (the first listed wins a tie) and hears "queue full".
    const full = await startInferenceService(
      loadServiceConfig({}, { HOST: '127.0.0.1', INFERENCE_PORT: 0, MODEL_DIR: built.dir, INFERENCE_THREADS: 1, INFERENCE_API_KEY: API_KEY, INFERENCE_MAX_BATCH: 1, INFERENCE_MAX_QUEUE: 1 }),
      log,
      { statusIntervalMs: 3_600_000 },
    );
    const roomy = await startInferenceService(
      loadServiceConfig({}, { HOST: '127.0.0.1', INFERENCE_PORT: 0, MODEL_DIR: built.dir, INFERENCE_THREADS: 1, INFERENCE_API_KEY: API_KEY, INFERENCE_MAX_BATCH: 4, INFERENCE_MAX_QUEUE: 8 }),
      log,
    );
    const both = await RemoteEngine.start({ urls: [full.url, roomy.url], apiKey: API_KEY, modelHash: full.modelHash, log, connectTimeoutMs: 10_000 });
    const direct: Array<{ cancel(): void }> = [];
    try {
      await waitForLinks(both, 2);
      const noEosOn = (engine: InferenceService['engine']) => ({ kind: 'automaton' as const, automaton: { states: [{ allow: 'any' as const, deny: engine.model.eosTokenIds }] } });
      // Fill it: one running (it holds the only slot until cancelled below), one queued.
      const holder = full.engine.generate({ prompt: 'A long tale.', maxTokens: 300, constraint: noEosOn(full.engine) });
      direct.push(holder);
      await holder[Symbol.asyncIterator]().next();
      direct.push(full.engine.generate({ prompt: 'Waiting.', maxTokens: 4 }));
      expect((await full.engine.metrics()).engine.queueDepth).toBe(1);

      const result = await both.generate({ prompt: 'Where is there room?', maxTokens: 4 }).result;
      expect(result.tokens.length).toBeGreaterThan(0);
      expect(both.retries).toBe(1);
      expect(both.services().map((s) => s.inFlight)).toEqual([0, 0]);
    } finally {
      for (const g of direct) g.cancel();
      await both.close();
      await full.close();
      await roomy.close();
    }
  }, 60_000);
});

async function waitFor(check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function waitForLinks(engine: RemoteEngine, ready: number): Promise<void> {
  await waitFor(() => engine.services().filter((s) => s.state === 'ready').length === ready);
}
