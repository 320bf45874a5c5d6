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
  describe('ambient work never delays a player\'s turn', () => {
    /** Admits `a` and runs its prompt to the first token: it decodes from now on. */
    function decodingNow(s: Scheduler, a: Sequence): void {
      a.computed = a.prompt.length;
      a.generated.push(1);
      s.startDecoding(a);
    }

    test('no ambient prefill is planned while an interactive request is queued', () => {
      // One slot: the ambient request mid-prefill holds it, a player's request waits for it.
      const s = new Scheduler({ ...limits, maxBatchSize: 2, ambientShare: 1 }, ledger());
      const ambient = seq(200, 'ambient');
      const decoding = seq(4, 'interactive');
      s.enqueue(decoding);
      s.enqueue(ambient);
      expect(s.admit(0)).toEqual([decoding, ambient]);
      decodingNow(s, decoding);
      expect(s.plan().prefill.map((c) => c.seq)).toEqual([ambient]); // nobody waits: ambient prefill runs
      const player = seq(10, 'interactive');
      s.enqueue(player);
      expect(s.admit(0)).toEqual([]); // no slot free
      const plan = s.plan();
      expect(plan.decode).toEqual([decoding]);
      expect(plan.prefill).toEqual([]);
    });

    test('an admitted interactive prompt prefills alone until its first token, then ambient resumes', () => {
      const s = new Scheduler({ ...limits, ambientShare: 1 }, ledger());
      const ambient = seq(20, 'ambient');
      s.enqueue(ambient);
      s.admit(0);
      const player = seq(20, 'interactive');
      s.enqueue(player);
      s.admit(0);
      // Both would fit one 64-token run; the ambient one is left out while the player waits.
      expect(s.plan().prefill.map((c) => c.seq)).toEqual([player]);
      decodingNow(s, player);
      expect(s.plan().prefill.map((c) => c.seq)).toEqual([ambient]);
    });

    test('a queued ambient request is not admitted past a waiting interactive one', () => {
      const l = ledger(3_000);
      const s = new Scheduler({ ...limits, kvBudgetBytes: 3_000, ambientShare: 1 }, l);
      const running = seq(10, 'interactive', 10); // 2 000 B
      s.enqueue(running);
      s.admit(0);
      const player = seq(20, 'interactive', 10); // 3 000 B: waits for KV
      const ambient = seq(4, 'ambient', 4); // 800 B would fit now
      s.enqueue(ambient);
      s.enqueue(player);
      expect(s.admit(0)).toEqual([]);
      expect(s.waiting).toEqual([player, ambient]);
    });

    test('a prefix job an interactive request waits on counts as interactive', () => {
      const s = new Scheduler({ ...limits, ambientShare: 1 }, ledger());
      const ambientOwner = seq(30, 'ambient');
      const job = new Sequence({ id: -1, kind: 'prefix-job', request: { ...ambientOwner.request, maxTokens: 0 }, submittedAt: 0, prompt: new Int32Array(20).fill(3), sharedPrefixLength: 0, contextLength: limits.contextLength });
      s.addAdmitted(job, 0);
      const player = seq(30, 'interactive');
      s.enqueue(player);
      s.admit(0);
      player.phase = 'awaiting-prefix';
      player.waitingFor = job;
      job.dependents.push(player);
      expect(s.plan().prefill.map((c) => c.seq)).toEqual([job]);
    });

    test('when nothing else can run, ambient prefill goes on (it is what frees the waiting request\'s KV)', () => {
      const l = ledger(3_000);
      const s = new Scheduler({ ...limits, kvBudgetBytes: 3_000, ambientShare: 1 }, l);
      const ambient = seq(10, 'ambient', 10); // 2 000 B
      s.enqueue(ambient);
      s.admit(0);
      const player = seq(20, 'interactive', 10); // 3 000 B: cannot be admitted until the ambient one ends
      s.enqueue(player);
      expect(s.admit(0)).toEqual([]);
      expect(s.plan().prefill.map((c) => c.seq)).toEqual([ambient]);
    });
  });

  describe('first tokens under a burst', () => {
    function decodingRows(s: Scheduler, n: number, priority: WireRequest['priority'] = 'interactive'): Sequence[] {
      return Array.from({ length: n }, () => {
        const d = seq(4, priority);
        s.enqueue(d);
        s.admit(0);
        d.computed = d.prompt.length;
        s.startDecoding(d);
        return d;
      });
    }

    test('shortest-first: fewest prompt tokens left first within a priority; a prompt passed over 8 times goes first', () => {
      const s = new Scheduler({ ...limits, maxBatchSize: 64, maxQueue: 64, stepTokenBudget: 15, minPrefillChunk: 4, prefillOrder: 'shortest' }, ledger());
      const long = seq(18);
      s.enqueue(long);
      const ambient = seq(2, 'ambient');
      s.enqueue(ambient);
      s.admit(0);
      const passes: number[] = [];
      for (let i = 0; i < 10; i++) {
        // A steady stream of short interactive prompts, admitted after the long one: three fill a run.
        for (let k = 0; k < 3; k++) s.enqueue(seq(5));
        s.admit(0);
        const plan = s.plan();
        expect(plan.prefill.some((c) => c.seq === ambient)).toBe(false); // priority still comes first
        if (plan.prefill[0]!.seq === long) break;
        passes.push(long.prefillPasses);
        for (const c of plan.prefill) {
          c.seq.computed += c.tokens;
          if (c.seq.remainingPrompt === 0) s.remove(c.seq);
        }
      }
      // The short prompts went first eight times, then the long one was planned first.
      expect(passes).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    });

    test('decode runs take at most their share of the prefill time while prompts wait for first tokens', () => {
      const s = new Scheduler({ ...limits, maxBatchSize: 16, decodeShareWhilePrefilling: 0.25 }, ledger());
      decodingRows(s, 3);
      const prompt = seq(800);
      s.enqueue(prompt);
      s.admit(0);
      const decoded: boolean[] = [];
      for (let step = 0; step < 8; step++) {
        const plan = s.plan();
        decoded.push(plan.decode.length > 0);
        // The whole budget goes to the prompt when the decode run waits.
        expect(plan.prefill[0]!.tokens).toBe(plan.decode.length > 0 ? limits.stepTokenBudget - 3 : limits.stepTokenBudget);
        if (plan.decode.length > 0) s.recordRun('decode', 40, plan.decode.length);
        s.recordRun('prefill', 100);
        prompt.computed += plan.prefill[0]!.tokens;
      }
      // Prefill first; then a 40 ms decode whenever 40 ms more stays under a quarter of the prefill time:
      // A decode runs when decode time so far + the estimate (40 ms; 0 before the first) < 0.25 × prefill
      // time so far: 0 < 0 no; 0 < 25 yes; 80 < 50 no; 80 < 75 no; 80 < 100 yes; 120 < 125 yes; 160 < 150
      // no; 160 < 175 yes.
      expect(decoded).toEqual([false, true, false, false, true, true, false, true]);
    });

    test('a decode run is estimated from a line through recent runs: fixed part plus a part per row', () => {
      const s = new Scheduler(limits, ledger());
      expect(s.estimateDecodeMs(8)).toBe(0);
      s.recordRun('decode', 100, 4);
      // One batch size seen: half the proportional slope (100 ms / 4 rows / 2 per row).
      expect(s.estimateDecodeMs(4)).toBeCloseTo(100);
      expect(s.estimateDecodeMs(8)).toBeCloseTo(150);
      for (const rows of [8, 12, 16]) s.recordRun('decode', 60 + 10 * rows, rows);
      // 60 ms + 10 ms per row, fitted exactly whatever the weights.
      expect(s.estimateDecodeMs(32)).toBeCloseTo(380);
    });

    test('ambient prompts never hold back interactive decodes; the share resets once no prompt waits', () => {
      const s = new Scheduler({ ...limits, maxBatchSize: 16, ambientShare: 1, decodeShareWhilePrefilling: 0 }, ledger());
      decodingRows(s, 2);
      const ambient = seq(30, 'ambient');
      s.enqueue(ambient);
      s.admit(0);
      expect(s.plan().decode).toHaveLength(2);
      s.remove(ambient);
      const player = seq(30);
      s.enqueue(player);
      s.admit(0);
      expect(s.plan().decode).toHaveLength(0); // share 0: the player's prompt goes first
      player.computed = player.prompt.length;
      s.startDecoding(player);
      expect(s.plan().decode).toHaveLength(3);
    });

    test('without the settings the old behaviour holds: a decode run every step, admission order', () => {
      const s = new Scheduler(limits, ledger());
      decodingRows(s, 2);
      const a = seq(30);
      const b = seq(10);
      s.enqueue(a);
      s.enqueue(b);
      s.admit(0);
      const plan = s.plan();
      expect(plan.decode).toHaveLength(2);
      expect(plan.prefill[0]!.seq).toBe(a);
    });
  });
});
