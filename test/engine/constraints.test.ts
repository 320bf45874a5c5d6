/**
 * The per-request constraint hook, as the NPC action grammar will use it from the main thread: either a
 * serializable token automaton or a module the worker imports. Evaluated in the worker at every step.
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import { InferenceEngine } from '../../server/src/inference/engine/engine-client.ts';
import type { TokenAutomaton } from '../../server/src/inference/engine/constraint-spec.ts';
import { buildTestModel } from './support.ts';

let built: ReturnType<typeof buildTestModel>;
let engine: InferenceEngine;

beforeAll(async () => {
  built = buildTestModel();
  engine = await InferenceEngine.start({ modelDir: built.dir, intraOpThreads: 1 });
});
afterAll(async () => {
  await engine.close();
  built.cleanup();
});

test('an automaton forces free text, then exactly one of the legal actions', async () => {
  // Three tokens of free speech (anything but the action opener or EOS), then the opener, then exactly one
  // of two legal actions (token sequences), then done.
  const opener = 100;
  const actions = [
    [201, 202],
    [211, 212, 213],
  ];
  const speech = { allow: 'any' as const, deny: [opener, ...engine.model.eosTokenIds] };
  const automaton: TokenAutomaton = {
    states: [
      { ...speech, otherwise: 1 }, // 0
      { ...speech, otherwise: 2 }, // 1
      { ...speech, otherwise: 3 }, // 2
      { allow: [opener], edges: [[opener, 4]] }, // 3: the action must start now
      { allow: [201, 211], edges: [[201, 5], [211, 7]] }, // 4: which action
      { allow: [202], edges: [[202, 6]] }, // 5
      { allow: [], final: true }, // 6: done
      { allow: [212], edges: [[212, 8]] }, // 7
      { allow: [213], edges: [[213, 6]] }, // 8
    ],
  };
  const result = await engine.generate({ prompt: 'Mara nods and', maxTokens: 40, constraint: { kind: 'automaton', automaton } }).result;
  expect(result.finishReason).toBe('constraint');
  const free = result.tokens.slice(0, 3);
  expect(free).not.toContain(opener);
  expect(result.tokens[3]).toBe(opener);
  const action = result.tokens.slice(4);
  expect(actions.map((a) => a.join())).toContain(action.join());
});

test('a constraint module is imported in the worker and applied per request', async () => {
  const module = new URL('./fixtures/even-tokens-constraint.ts', import.meta.url).href;
  const [constrained, free] = await Promise.all([
    engine.generate({ prompt: 'Count with me:', maxTokens: 30, constraint: { kind: 'module', module, options: { length: 12 } } }).result,
    engine.generate({ prompt: 'Count with me:', maxTokens: 30 }).result,
  ]);
  expect(constrained.finishReason).toBe('constraint');
  expect(constrained.tokens).toHaveLength(12);
  expect(constrained.tokens.every((t) => t % 2 === 0)).toBe(true);
  // The unconstrained neighbour in the same batch is unaffected.
  expect(free.tokens.some((t) => t % 2 === 1)).toBe(true);
});

test('a broken constraint fails only its own request, with the reason', async () => {
  const bad = engine.generate({ prompt: 'x', constraint: { kind: 'module', module: '/nonexistent/grammar.ts' } }).result;
  await expect(bad).rejects.toMatchObject({ code: 'invalid-request', message: expect.stringMatching(/failed to load/) });
  const outOfVocab = engine.generate({ prompt: 'x', constraint: { kind: 'automaton', automaton: { states: [{ allow: [10_000_000] }] } } });
  await expect(outOfVocab.result).rejects.toMatchObject({ code: 'invalid-request', message: expect.stringMatching(/outside the vocabulary/) });
  expect((await engine.generate({ prompt: 'still fine', maxTokens: 3 }).result).tokens.length).toBeGreaterThan(0);
});
