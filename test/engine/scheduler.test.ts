/**
 * Scheduler policy in isolation (pure: no model involved): the per-step token budget and chunked prefill,
 * priority order, and what admission books.
 */
import { describe, expect, test } from 'vitest';
import type { WireRequest } from '../../server/src/inference/engine/protocol.ts';
import { Scheduler, type KvLedger, type SchedulerLimits } from '../../server/src/inference/engine/scheduler.ts';
import { Sequence } from '../../server/src/inference/engine/sequence.ts';

const limits: SchedulerLimits = {
  maxBatchSize: 8,
  maxQueue: 16,
  stepTokenBudget: 64,
  minPrefillChunk: 16,
  ambientShare: 0.5,
  contextLength: 1024,
  kvBudgetBytes: 1_000_000,
  kvBytesPerToken: 100,
};

function ledger(budget = limits.kvBudgetBytes): KvLedger & { reserved: number } {
  const l = {
    reserved: 0,
    tryReserve: (bytes: number) => (l.reserved + bytes <= budget ? ((l.reserved += bytes), true) : false),
    canReserve: (bytes: number) => l.reserved + bytes <= budget,
    release: (bytes: number) => void (l.reserved -= bytes),
  };
  return l;
}

let nextId = 1;
function seq(promptLength: number, priority: WireRequest['priority'] = 'interactive', maxTokens = 16): Sequence {
  const request: WireRequest = { maxTokens, sampling: {}, stop: [], priority, retainKv: false };
  return new Sequence({
    id: nextId++,
    kind: 'request',
    request,
    submittedAt: 0,
    prompt: new Int32Array(promptLength).fill(3),
    sharedPrefixLength: 0,
    contextLength: limits.contextLength,
  });
}

describe('Scheduler', () => {
  test('decodes get one token each, prefill chunks share the rest of the step budget', () => {
    const s = new Scheduler(limits, ledger());
    const long = seq(200);
    const short = seq(10);
    s.enqueue(long);
    s.enqueue(short);
    s.admit(0);
    const decoding = Array.from({ length: 5 }, () => seq(4));
    for (const d of decoding) {
      s.enqueue(d);
      s.admit(0);
      d.computed = d.prompt.length;
      s.startDecoding(d);
    }
    const plan = s.plan();
    expect(plan.decode).toHaveLength(5);
    // 64 - 5 decodes = 59 prefill tokens: the long prompt gets a 59-token chunk, the short one can't join
    // (it would be padded to 59 as well).
    expect(plan.prefill).toEqual([{ seq: long, tokens: 59 }]);
    expect(plan.prefillWidth).toBe(59);
  });

  test('a long prompt is prefilled in chunks and never starves even when decodes fill the budget', () => {
    const s = new Scheduler({ ...limits, stepTokenBudget: 8 }, ledger());
    const long = seq(100);
    s.enqueue(long);
    s.admit(0);
    for (let i = 0; i < 7; i++) {
      const d = seq(2);
      s.enqueue(d);
      s.admit(0);
      d.computed = 2;
      s.startDecoding(d);
    }
    const chunks: number[] = [];
    while (long.remainingPrompt > 0) {
      const [chunk] = s.plan().prefill;
      chunks.push(chunk!.tokens);
      long.computed += chunk!.tokens;
    }
    // minPrefillChunk (16) per step although 7 decodes leave only 1 token of an 8-token budget.
    expect(chunks).toEqual([16, 16, 16, 16, 16, 16, 4]);
  });

  test('several short prompts share one prefill run, padded to the same width', () => {
    const s = new Scheduler(limits, ledger());
    const prompts = [seq(20), seq(12), seq(20), seq(20)];
    for (const p of prompts) s.enqueue(p);
    s.admit(0);
    const plan = s.plan();
    expect(plan.prefillWidth).toBe(20);
    expect(plan.prefill.map((c) => c.tokens)).toEqual([20, 12, 20]); // a fourth would exceed 64 padded tokens
  });

  test('interactive requests are admitted and prefilled before ambient ones', () => {
    const s = new Scheduler({ ...limits, maxBatchSize: 2, ambientShare: 1 }, ledger());
    const ambient = [seq(10, 'ambient'), seq(10, 'ambient')];
    const interactive = seq(10, 'interactive');
    for (const a of ambient) s.enqueue(a);
    s.enqueue(interactive);
    expect(s.waiting[0]).toBe(interactive);
    const admitted = s.admit(0);
    expect(admitted).toEqual([interactive, ambient[0]]);
    expect(s.plan().prefill[0]!.seq).toBe(interactive);
  });

  test('admission books the worst case and stops at the KV budget, in order', () => {
    const l = ledger(5_000);
    const s = new Scheduler({ ...limits, kvBudgetBytes: 5_000 }, l);
    const a = seq(20, 'interactive', 10); // 30 tokens × 100 B
    const b = seq(20, 'interactive', 10);
    s.enqueue(a);
    s.enqueue(b);
    expect(s.admit(0)).toEqual([a]);
    expect(l.reserved).toBe(3_000);
    expect(s.waiting).toEqual([b]);
  });
});
