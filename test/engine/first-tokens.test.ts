/**
 * First tokens under a burst (issue 14, part 5), on real engine sessions of a tiny model built on the spot,
 * driven step by step in-process (no worker) so each token's step is known exactly; no timing asserts:
 *  - shortest-prompt-first: admitted prompts of one priority get their first tokens in order of the prompt
 *    tokens left to compute, not in arrival order;
 *  - the decode share: with `decodeShareWhilePrefilling: 0` no decode run happens while a prompt of the
 *    burst still waits for its first token; with 1 (the old behaviour) decode runs interleave;
 *  - neither changes what a request produces: each request's tokens equal the one-sequence reference.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { DEFAULT_SCHEDULER } from '../../server/src/inference/engine/engine-client.ts';
import { EngineCore, epochNow } from '../../server/src/inference/engine/engine-core.ts';
import { openEngineModel } from '../../server/src/inference/engine/engine-model.ts';
import type { SchedulerSettings, TokensMessage, WireRequest } from '../../server/src/inference/engine/protocol.ts';
import type { DecoderModel } from '../../server/src/inference/model/index.ts';
import { PLAYER_LINES, buildTestModel, openModel, referenceTokens } from './support.ts';

let built: ReturnType<typeof buildTestModel>;
let reference: DecoderModel;

beforeAll(async () => {
  built = buildTestModel();
  reference = await openModel(built.dir);
});
afterAll(async () => {
  await reference.dispose();
  built.cleanup();
});

interface Burst {
  /** Step index of each request's tokens, by request id. */
  steps: Map<number, number[]>;
  tokens: Map<number, number[]>;
  /** Steps that ran a decode run. */
  decodeSteps: number[];
}

/** Submit every prompt at once (ids 0..n-1, greedy), then step the engine until all are done. */
async function runBurst(prompts: number[][], maxTokens: number, settings: Partial<SchedulerSettings>): Promise<Burst> {
  const opened = await openEngineModel(built.dir, { intraOpNumThreads: 1 }, 'inplace');
  expect(opened.kvStrategy).toBe('inplace');
  const burst: Burst = { steps: new Map(), tokens: new Map(), decodeSteps: [] };
  let step = 0;
  const sink = {
    tokens: (m: TokensMessage) => {
      m.ids.forEach((id, i) => {
        (burst.steps.get(id) ?? burst.steps.set(id, []).get(id)!).push(step);
        (burst.tokens.get(id) ?? burst.tokens.set(id, []).get(id)!).push(m.tokens[i]!);
      });
    },
    done: () => {},
    failed: (id: number, error: Error) => {
      throw new Error(`request ${id} failed: ${error.message}`);
    },
  };
  const core = new EngineCore(opened.model, { ...DEFAULT_SCHEDULER, ...settings }, sink, opened.kvStrategy);
  try {
    for (const [id, prompt] of prompts.entries()) {
      const request: WireRequest = {
        promptTokens: Int32Array.from(prompt),
        maxTokens,
        sampling: { temperature: 0 },
        stop: [],
        priority: 'interactive',
        retainKv: false,
      };
      await core.submit(id, request, epochNow());
    }
    let decodeRuns = 0;
    while (core.hasWork) {
      await core.step();
      const runs = core.metrics().steps.decodeSteps;
      if (runs > decodeRuns) burst.decodeSteps.push(step);
      decodeRuns = runs;
      step++;
    }
  } finally {
    await core.dispose();
  }
  return burst;
}

const firstStep = (b: Burst, id: number) => b.steps.get(id)![0]!;

describe('first tokens under a burst', () => {
  // Longest first in arrival order, so shortest-first and arrival order disagree everywhere.
  const lines = [...PLAYER_LINES, ...[0, 1, 3, 5, 7].map((i) => `${PLAYER_LINES[i]} ${PLAYER_LINES[i]}`)];
  let prompts: number[][];
  let expected: number[][];
  const maxTokens = 6;
  // A small step budget: the burst's prompts take several prefill runs.
  const base = { maxBatchSize: 16, stepTokenBudget: 64, minPrefillChunk: 8 } as const;
  const meanFirstStep = (b: Burst) => prompts.reduce((sum, _, id) => sum + firstStep(b, id), 0) / prompts.length;
  let shortestFirst: Burst;

  beforeAll(async () => {
    prompts = lines.map((l) => reference.tokenizer.encode(l)).sort((a, b) => b.length - a.length);
    expect(new Set(prompts.map((p) => p.length)).size).toBeGreaterThan(8);
    // Every prompt fits one run alone (none is passed over often enough for the starvation guard).
    expect(Math.max(...prompts.map((p) => p.length))).toBeLessThan(base.stepTokenBudget);
    expected = await Promise.all(prompts.map((p) => referenceTokens(reference, p, maxTokens)));
  });

  test('shortest-prompt-first: first tokens come in order of prompt length, and outputs are unchanged', async () => {
    const burst = (shortestFirst = await runBurst(prompts, maxTokens, { ...base, prefillOrder: 'shortest', decodeShareWhilePrefilling: 0 }));
    prompts.forEach((_, id) => expect(burst.tokens.get(id), `request ${id}`).toEqual(expected[id]));
    // A longer prompt never gets its first token in an earlier step than a shorter one.
    for (let a = 0; a < prompts.length; a++) {
      for (let b = 0; b < prompts.length; b++) {
        if (prompts[a]!.length < prompts[b]!.length) expect(firstStep(burst, a), `${prompts[a]!.length} vs ${prompts[b]!.length} tokens`).toBeLessThanOrEqual(firstStep(burst, b));
      }
    }
    // The shortest prompt, submitted last, is among the first answered; the longest, submitted first, is last.
    const firsts = prompts.map((_, id) => firstStep(burst, id));
    expect(new Set(firsts).size, 'first tokens spread over several steps').toBeGreaterThanOrEqual(4);
    expect(firsts[prompts.length - 1]).toBe(Math.min(...firsts));
    expect(firsts[0]).toBe(Math.max(...firsts));
  });

  test('admission order (the old behaviour): the same outputs, first tokens later on average', async () => {
    const burst = await runBurst(prompts, maxTokens, { ...base, prefillOrder: 'admission', decodeShareWhilePrefilling: 0 });
    prompts.forEach((_, id) => expect(burst.tokens.get(id), `request ${id}`).toEqual(expected[id]));
    console.info(`mean first-token step: shortest-first ${meanFirstStep(shortestFirst).toFixed(2)}, admission order ${meanFirstStep(burst).toFixed(2)}`);
    expect(meanFirstStep(shortestFirst)).toBeLessThan(meanFirstStep(burst));
  });

  test('decode share 0: no decode run until every prompt of the burst has its first token; 1: they interleave', async () => {
    const held = await runBurst(prompts, maxTokens, { ...base, decodeShareWhilePrefilling: 0 });
    const lastFirst = (b: Burst) => Math.max(...prompts.map((_, id) => firstStep(b, id)));
    expect(held.decodeSteps.length).toBeGreaterThan(0);
    expect(Math.min(...held.decodeSteps)).toBeGreaterThan(lastFirst(held));
    prompts.forEach((_, id) => expect(held.tokens.get(id), `request ${id}`).toEqual(expected[id]));

    const interleaved = await runBurst(prompts, maxTokens, { ...base, decodeShareWhilePrefilling: 1 });
    expect(Math.min(...interleaved.decodeSteps)).toBeLessThan(lastFirst(interleaved));
    prompts.forEach((_, id) => expect(interleaved.tokens.get(id), `request ${id}`).toEqual(expected[id]));
  });
});
