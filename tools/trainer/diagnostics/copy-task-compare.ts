/**
 * The synthetic copying task, run by our trainer and by the PyTorch peer side by side on identical inputs:
 * the same initial weights, the same token rows, the same learning rate at every step. Rows are a stream of
 * `A SEP A SEP END` where A is 12–30 ids drawn uniformly from `--words` symbols; a model that copies
 * predicts the second A (uniform over the symbols is ln(words) nats, the unigram floor a little below).
 *
 * If the two loss curves part, the trainer's arithmetic differs from PyTorch's (graph, optimizer or
 * schedule); if they move together, what the trainer was fed (tokenization, data) made the difference.
 *
 *   node --import tsx tools/trainer/diagnostics/copy-task-compare.ts [--layers 2] [--steps 1500] [--lr 2e-3]
 *        [--words 400] [--vocab N (default words + 2)] [--threads 1] [--every 50] [--no-torch]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { seededRandom } from '../../bench/inference/arrivals.ts';
import { initialParams, makeArchitecture, plainRowsBatch, type TrainWorkload } from '../../bench/train/workload.ts';
import { ensureTorch, TorchPeer, writePeerInputs } from '../../bench/train/torch-peer.ts';
import { AdamW, DEFAULT_ADAMW, learningRate } from '../optimizer.ts';
import { StepRunner, type StepBatch } from '../step-runner.ts';

const { values } = parseArgs({
  options: {
    layers: { type: 'string', default: '2' },
    steps: { type: 'string', default: '1500' },
    lr: { type: 'string', default: '2e-3' },
    warmup: { type: 'string', default: '50' },
    words: { type: 'string', default: '400' },
    vocab: { type: 'string' },
    batch: { type: 'string', default: '16' },
    sequence: { type: 'string', default: '128' },
    threads: { type: 'string', default: '1' },
    every: { type: 'string', default: '50' },
    seed: { type: 'string', default: '1' },
    'weight-decay': { type: 'string' },
    eps: { type: 'string' },
    untied: { type: 'boolean', default: false },
    'block-min': { type: 'string', default: '12' },
    repeats: { type: 'string', default: '2' },
    'block-max': { type: 'string', default: '30' },
    'no-torch': { type: 'boolean', default: false },
  },
});
const steps = Number(values.steps);
const words = Number(values.words);
const every = Number(values.every);
const threads = Number(values.threads);
const schedule = { peak: Number(values.lr), floor: Number(values.lr) / 10, warmup: Number(values.warmup), total: steps };

const arch = { ...makeArchitecture('small', { vocab: Math.max(words + 2, Number(values.vocab ?? 0)), layers: Number(values.layers) }), ...(values.untied ? { tieWordEmbeddings: false } : {}) };
const work: TrainWorkload = { arch, batch: Number(values.batch), sequence: Number(values.sequence), tokensPerStep: 0 };
work.tokensPerStep = work.batch * work.sequence;

const random = seededRandom(Number(values.seed));
const SEP = words;
const END = words + 1;
const streamIds: number[] = [];
while (streamIds.length < 2_000_000) {
  const k = Number(values['block-min']) + Math.floor(random() * (Number(values['block-max']) - Number(values['block-min']) + 1));
  const a = Array.from({ length: k }, () => Math.floor(random() * words));
  for (let r = 0; r < Number(values.repeats); r++) streamIds.push(...a, SEP);
  streamIds.push(END);
}

function batchAt(): StepBatch {
  const { batch: B, sequence: S } = work;
  const N = B * S;
  const inputIds = new BigInt64Array(N);
  const targets = new BigInt64Array(N);
  for (let b = 0; b < B; b++) {
    const start = Math.floor(random() * (streamIds.length - S - 1));
    for (let i = 0; i < S; i++) {
      inputIds[b * S + i] = BigInt(streamIds[start + i]!);
      targets[b * S + i] = BigInt(streamIds[start + i + 1]!);
    }
  }
  return plainRowsBatch(B, S, inputIds, targets);
}

const batches = Array.from({ length: steps }, () => batchAt());
const params = initialParams(arch, Number(values.seed));
const runner = new StepRunner(arch, { threads });
let peer: TorchPeer | null = null;
let scratch: string | null = null;
if (!values['no-torch']) {
  const why = ensureTorch((m) => console.error(m), false);
  if (why) console.error(why);
  else {
    scratch = mkdtempSync(join(tmpdir(), 'copy-compare-'));
    const manifest = writePeerInputs(scratch, work, params, batches);
    peer = new TorchPeer(manifest, threads, 'manual', 'PASSIVE', 'auto');
  }
}

const NO_DECAY = /(layernorm|norm)\.weight$/;
let optimizer: AdamW | null = null;
const window: { ours: number[]; torch: number[] } = { ours: [], torch: [] };
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
console.log(`copy task: ${arch.numLayers} layers, ${words} symbols (uniform ${Math.log(words).toFixed(2)} nats), ${steps} steps × ${work.batch}×${work.sequence}, lr ${schedule.peak}`);
console.log('step    ours    torch   (mean loss over the last window)');
const t0 = performance.now();
try {
  for (let step = 0; step < steps; step++) {
    const lr = learningRate(step, schedule);
    const result = await runner.run(params, batches[step]!);
    optimizer ??= new AdamW({ ...DEFAULT_ADAMW, ...(values['weight-decay'] ? { weightDecay: Number(values['weight-decay']) } : {}), ...(values.eps ? { eps: Number(values.eps) } : {}) }, [...result.grads.keys()].map((name) => ({ name, size: params.get(name)!.length, decay: !NO_DECAY.test(name) })));
    optimizer.update(params, result.grads, lr);
    window.ours.push(result.loss);
    if (peer) window.torch.push((await peer.steps(1, 120_000, lr))[0]!.loss);
    if ((step + 1) % every === 0 || step === 0 || step === steps - 1) {
      console.log(`${String(step + 1).padStart(5)}  ${mean(window.ours).toFixed(3)}   ${peer ? mean(window.torch).toFixed(3) : '-'}   ${((performance.now() - t0) / 1000).toFixed(0)} s`);
      window.ours = [];
      window.torch = [];
    }
  }
  // Where the tied embedding's rows went: the ids the task uses, and the ones it never shows (their only
  // gradient is the softmax pushing their logits down).
  const embed = params.get('model.embed_tokens.weight')!;
  const H = arch.hiddenSize;
  const rowNorm = (r: number) => Math.sqrt(embed.subarray(r * H, (r + 1) * H).reduce((a, x) => a + x * x, 0));
  const used = Array.from({ length: words + 2 }, (_, r) => rowNorm(r));
  const unused = Array.from({ length: arch.vocabSize - words - 2 }, (_, r) => rowNorm(words + 2 + r));
  console.log(`embedding row norms: used ${mean(used).toFixed(3)}${unused.length ? `, unused ${mean(unused).toFixed(3)}` : ''} (init ~${(0.02 * Math.sqrt(H)).toFixed(3)})`);
} finally {
  peer?.close();
  await runner.release();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
}
