/**
 * npm run bench:train -- [--preset small] [--vocab 4096] [--hidden H] [--layers L] [--heads A] [--kv-heads K]
 *                        [--intermediate I] [--batch 8] [--seq 256] [--threads 2] [--rounds 3] [--steps 5]
 *                        [--warmup 2] [--no-torch] [--no-install] [--torch-attention manual|sdpa] [--torch-omp-wait passive|active]
 *                        [--openblas-core auto|Haswell|SkylakeX|...]
 *                        [--no-parity] [--profile] [--ours-spin] [--timeout 900] [--json]
 *
 * Training throughput of Worldmind's trainer against PyTorch and the machine's limit, in one run on this
 * machine, on one architecture and batch (every position carries loss: the pre-training shape):
 *
 * - ours: full optimizer steps — StepRunner.run (forward + backward graph in onnxruntime) + AdamW in JS;
 * - torch: the same Llama in PyTorch (tools/bench/train/torch_llama.py, Debian's python3-torch on OpenBLAS,
 *   installed on demand when root), float32, forward + backward + grad clipping + AdamW, started from the
 *   same weights on the same tokens;
 * - roofline: only the step's matrix multiplies (forward and backward, exact shapes, chained along the
 *   step's data flow) in onnxruntime, the better of its spinning and blocking thread pools.
 * - with --ours-spin, also our trainer with onnxruntime's spin-wait on (StepRunner's spinWait; off by default).
 *
 * All get the same intra-op thread count. The contenders run interleaved in rounds (ours, torch, roofline,
 * repeat), each round a few timed steps after warm-up, so a noisy shared machine hits them alike; the table
 * shows medians over all timed steps with min–max, and the ratios come from the same run. tok/s counts
 * loss-carrying tokens (batch × seq) per second of optimizer step; CPU ms/step is the process's CPU time
 * (all threads) per step, which shows spin-waiting. GFLOP/s counts the model's forward + backward FLOPs
 * (6 × tokens × matmul weights + attention's dense S×S products; the same count for every contender, so it
 * is tok/s in other units). Both trainers compute the loss on the same weights and batch before timing
 * (|Δ| ≤ 1e-4), and their loss curves over every step must agree (|Δ| ≤ 1e-3). --profile adds where our
 * graph's kernel time goes. Prints a table, then one JSON line (with --json: only the line).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseCliArgs } from '../../server/src/cli-args.ts';
import { headDimOf } from '../model-builder/architecture.ts';
import { isPresetName } from '../model-builder/presets.ts';
import { round, table } from './stats.ts';
import { OursContender, type StepSample } from './train/ours.ts';
import { profileTrainStep, type StepProfile } from './train/profile.ts';
import { profileJson, renderProfile } from './ort-profile.ts';
import { RooflineContender } from './train/roofline.ts';
import { ensureTorch, TorchPeer, writePeerInputs, type TorchInfo } from './train/torch-peer.ts';
import { makeArchitecture, matmulParams, stepFlops, totalParams, type TrainWorkload } from './train/workload.ts';

const USAGE = `usage: npm run bench:train -- [--preset small] [--vocab 4096] [--hidden H] [--layers L] [--heads A] [--kv-heads K]
                              [--intermediate I] [--batch 8] [--seq 256] [--threads 2] [--rounds 3] [--steps 5]
                              [--warmup 2] [--seed 1] [--no-torch] [--no-install] [--torch-attention manual|sdpa]
                              [--torch-omp-wait passive|active] [--openblas-core auto|Haswell|SkylakeX|...]
                              [--no-parity] [--profile] [--ours-spin] [--timeout 900] [--json]

Training throughput of Worldmind's trainer against PyTorch and the MatMul roofline, interleaved in rounds
on one architecture and batch; a table, then one JSON line (--json: only the line).
`;

const { values: args } = parseCliArgs('bench:train', USAGE, {
  options: {
    preset: { type: 'string', default: 'small' },
    vocab: { type: 'string', default: '4096' },
    hidden: { type: 'string' },
    layers: { type: 'string' },
    heads: { type: 'string' },
    'kv-heads': { type: 'string' },
    intermediate: { type: 'string' },
    batch: { type: 'string', default: '8' },
    seq: { type: 'string', default: '256' },
    threads: { type: 'string', default: '2' },
    rounds: { type: 'string', default: '3' },
    steps: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '2' },
    seed: { type: 'string', default: '1' },
    'no-torch': { type: 'boolean', default: false },
    'no-install': { type: 'boolean', default: false },
    'torch-attention': { type: 'string', default: 'manual' },
    'torch-omp-wait': { type: 'string' },
    'openblas-core': { type: 'string', default: 'auto' },
    'no-parity': { type: 'boolean', default: false },
    profile: { type: 'boolean', default: false },
    'ours-spin': { type: 'boolean', default: false },
    timeout: { type: 'string', default: '900' },
    json: { type: 'boolean', default: false },
  },
});

const fail = (message: string): never => {
  console.error(`bench:train: ${message}`);
  process.exit(2);
};
const positive = (name: string, value: string | undefined): number | undefined => {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) fail(`--${name} must be a positive integer, got ${value}`);
  return n;
};
const need = (name: string, value: string | undefined) => positive(name, value)!;
if (!isPresetName(args.preset!)) fail(`unknown --preset ${args.preset}`);
if (args['torch-attention'] !== 'manual' && args['torch-attention'] !== 'sdpa') fail('--torch-attention is manual or sdpa');
const ompWait = (args['torch-omp-wait'] ?? process.env.OMP_WAIT_POLICY ?? 'passive').toUpperCase();
if (ompWait !== 'PASSIVE' && ompWait !== 'ACTIVE') fail('--torch-omp-wait is passive or active');

const log = (message: string) => process.stderr.write(`[bench:train] ${message}\n`);

let arch;
try {
  arch = makeArchitecture(args.preset as 'small', {
    vocab: positive('vocab', args.vocab),
    hidden: positive('hidden', args.hidden),
    layers: positive('layers', args.layers),
    heads: positive('heads', args.heads),
    kvHeads: positive('kv-heads', args['kv-heads']),
    intermediate: positive('intermediate', args.intermediate),
  });
} catch (error) {
  fail((error as Error).message);
}
const batch = need('batch', args.batch);
const sequence = need('seq', args.seq);
if (sequence > arch!.maxPositionEmbeddings) fail(`--seq ${sequence} exceeds the ${args.preset} preset's ${arch!.maxPositionEmbeddings} positions`);
const work: TrainWorkload = { arch: arch!, batch, sequence, tokensPerStep: batch * sequence };
const threads = need('threads', args.threads);
const rounds = need('rounds', args.rounds);
const stepsPerRound = need('steps', args.steps);
const warmup = Number(args.warmup);
if (!Number.isInteger(warmup) || warmup < 0) fail('--warmup must be an integer ≥ 0');
const seed = Number(args.seed);
const timeoutS = need('timeout', args.timeout);

/** Median (mean of the middle two for an even count), min and max. */
function spread(samples: readonly number[]): { median: number; min: number; max: number } {
  if (samples.length === 0) return { median: Number.NaN, min: Number.NaN, max: Number.NaN };
  const s = [...samples].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return { median: s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2, min: s[0]!, max: s.at(-1)! };
}

/** One timed step of any contender: wall ms, and the process's CPU ms (all threads; user + system, system). */
interface Timed {
  ms: number;
  cpuMs: number;
  sysMs: number;
}

async function main(): Promise<void> {
  // The one-off install (if any) comes before the clock starts: it has its own 15-minute bound.
  let torchSkipped: string | null = null;
  if (args['no-torch']) torchSkipped = 'PyTorch peer skipped (--no-torch).';
  else {
    torchSkipped = ensureTorch(log, !args['no-install']);
    if (torchSkipped) log(torchSkipped);
  }
  const scratch = mkdtempSync(join(tmpdir(), 'worldmind-bench-train-'));
  let peer: TorchPeer | undefined;
  let ours: OursContender | undefined;
  let oursNoSpin: OursContender | undefined;
  let roofline: RooflineContender | undefined;
  const abandon = (why: string, code: number) => {
    log(why);
    peer?.close();
    rmSync(scratch, { recursive: true, force: true });
    process.exit(code);
  };
  // Bound the whole run, and leave no child behind on Ctrl-C or a kill.
  const watchdog = setTimeout(() => abandon(`gave up after --timeout ${timeoutS} s`, 1), timeoutS * 1000);
  watchdog.unref();
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => abandon(`stopped by ${signal}`, 130));
  try {
    const flops = stepFlops(work);
    const hd = headDimOf(work.arch);
    log(
      `model: ${args.preset} vocab ${work.arch.vocabSize}, hidden ${work.arch.hiddenSize}, ${work.arch.numLayers} layers, ${work.arch.numAttentionHeads} heads (${work.arch.numKeyValueHeads} KV, dim ${hd}), ` +
        `intermediate ${work.arch.intermediateSize}; ${(totalParams(work.arch) / 1e6).toFixed(2)}M params; batch ${batch} × seq ${sequence}; ${threads} threads; ` +
        `${(flops.total / 1e9).toFixed(1)} GFLOP per step (${((flops.attention / flops.total) * 100).toFixed(0)}% attention)`,
    );

    ours = new OursContender(work, { threads, seed });
    if (args['ours-spin']) oursNoSpin = new OursContender(work, { threads, seed, spin: true });
    roofline = new RooflineContender(work, threads);
    if (roofline.graph.flops !== flops.total) throw new Error(`roofline graph counts ${roofline.graph.flops} FLOPs, the model ${flops.total}`);

    let torchInfo: TorchInfo | undefined;
    if (!torchSkipped) {
      const manifest = writePeerInputs(scratch, work, ours.params, ours.batches);
      peer = new TorchPeer(manifest, threads, args['torch-attention'] as 'manual' | 'sdpa', ompWait, args['openblas-core']!);
      try {
        torchInfo = await peer.info(180_000);
        const b = torchInfo.blas;
        log(`PyTorch ${torchInfo.torch}, ${torchInfo.threads} threads (OMP_WAIT_POLICY=${ompWait}), ${torchInfo.attention} attention, BLAS: ${b.name}${b.config ? ` (${b.config}; kernels for ${b.core}${args['openblas-core'] === 'auto' ? ', autodetected' : ' via --openblas-core'})` : ''}, ${b.matmul_1024_gflops} GFLOP/s on a 1024² matmul`);
        if (b.name !== 'OpenBLAS' && b.name !== 'MKL') log(`warning: torch is not on an optimized BLAS (${b.libraries.join(', ') || 'none found'}); install libopenblas0-pthread`);
      } catch (error) {
        torchSkipped = `PyTorch peer failed to start: ${(error as Error).message}`;
        log(torchSkipped);
        peer.close();
        peer = undefined;
      }
    }

    // Parity: the same weights and batch through both trainers, before any update.
    let parity: { ours_loss: number; torch_loss: number; abs_diff: number; pass: boolean; curve_steps?: number; curve_max_abs_diff?: number; curve_pass?: boolean } | null = null;
    if (peer && !args['no-parity']) {
      const oursLoss = await ours.loss();
      const torchLoss = await peer.loss(120_000);
      const diff = Math.abs(oursLoss - torchLoss);
      parity = { ours_loss: oursLoss, torch_loss: torchLoss, abs_diff: diff, pass: diff <= 1e-4 };
      log(`parity: loss ours ${oursLoss.toFixed(6)}, torch ${torchLoss.toFixed(6)}, |Δ| ${diff.toExponential(2)} → ${parity.pass ? 'pass' : 'FAIL'}`);
    }

    const peerTimeout = (count: number) => 120_000 + count * 60_000;
    const timed = { ours: [] as Timed[], oursNoSpin: [] as Timed[], torch: [] as Timed[], rooflineSpin: [] as Timed[], rooflineBlock: [] as Timed[] };
    // Every step's loss, warm-up included: both trainers take the same steps on the same batches, so the
    // curves must agree (the whole gradient + AdamW chain, not just the forward).
    const losses = { ours: [] as number[], torch: [] as number[] };
    const oursSteps = async (count: number) => {
      const out = await ours!.steps(count);
      losses.ours.push(...out.map((s) => s.loss));
      return out;
    };
    const torchSteps = async (count: number) => {
      const out = await peer!.steps(count, peerTimeout(count));
      losses.torch.push(...out.map((s) => s.loss));
      return out.map((s) => ({ ms: s.ms, cpuMs: s.cpu_ms, sysMs: s.sys_ms }));
    };
    const oursDetail: StepSample[] = [];
    log(`warm-up: ${warmup} step(s) each`);
    await oursSteps(warmup);
    await oursNoSpin?.steps(warmup);
    if (peer) await torchSteps(warmup);
    await roofline.steps(Math.max(1, warmup));
    for (let r = 0; r < rounds; r++) {
      log(`round ${r + 1}/${rounds}: ${stepsPerRound} steps each`);
      const o = await oursSteps(stepsPerRound);
      oursDetail.push(...o);
      timed.ours.push(...o);
      if (oursNoSpin) timed.oursNoSpin.push(...(await oursNoSpin.steps(stepsPerRound)));
      if (peer) timed.torch.push(...(await torchSteps(stepsPerRound)));
      const rf = await roofline.steps(stepsPerRound);
      timed.rooflineSpin.push(...rf.spin);
      timed.rooflineBlock.push(...rf.block);
    }
    await roofline.release();

    let profile: StepProfile | undefined;
    if (args.profile) {
      log('profiling our training graph (onnxruntime profiler, 3 runs)...');
      profile = await profileTrainStep(work, ours.params, ours.batches[0]!, { threads, runs: 3, scratchDir: scratch });
    }
    await ours.release();
    await oursNoSpin?.release();
    peer?.close();

    // Summaries: per-step tok/s samples; GFLOP/s at the median.
    const tokS = (ms: number) => (work.tokensPerStep * 1000) / ms;
    const summarize = (steps: Timed[]) => {
      const ms = spread(steps.map((s) => s.ms));
      const t = spread(steps.map((s) => tokS(s.ms)));
      return {
        step_ms: { median: round(ms.median, 1), min: round(ms.min, 1), max: round(ms.max, 1) },
        tok_s: { median: round(t.median, 1), min: round(t.min, 1), max: round(t.max, 1) },
        gflops: round(flops.total / (ms.median * 1e6), 1),
        cpu_ms_median: round(spread(steps.map((s) => s.cpuMs)).median, 1),
        sys_ms_median: round(spread(steps.map((s) => s.sysMs)).median, 1),
      };
    };
    const oursSummary = summarize(timed.ours);
    // The ceiling is the better of onnxruntime's two waiting modes on this machine right now.
    const roofSpin = summarize(timed.rooflineSpin);
    const roofBlock = summarize(timed.rooflineBlock);
    const rooflineSpins = roofSpin.step_ms.median <= roofBlock.step_ms.median;
    const roofSummary = rooflineSpins ? roofSpin : roofBlock;
    const torchSummary = timed.torch.length ? summarize(timed.torch) : null;
    const noSpinSummary = timed.oursNoSpin.length ? summarize(timed.oursNoSpin) : null;
    const compared = Math.min(losses.ours.length, losses.torch.length);
    const curveDiff = compared ? Math.max(...Array.from({ length: compared }, (_, i) => Math.abs(losses.ours[i]! - losses.torch[i]!))) : Number.NaN;
    if (parity && compared) Object.assign(parity, { curve_steps: compared, curve_max_abs_diff: curveDiff, curve_pass: curveDiff <= 1e-3 });
    const fraction = (gflops: number) => round(gflops / roofSummary.gflops, 3);
    const ratio = (a: number, b: number) => round(a / b, 3);
    const result = {
      bench: 'train',
      model: {
        preset: args.preset,
        vocab: work.arch.vocabSize,
        hidden: work.arch.hiddenSize,
        layers: work.arch.numLayers,
        heads: work.arch.numAttentionHeads,
        kv_heads: work.arch.numKeyValueHeads,
        intermediate: work.arch.intermediateSize,
        params: totalParams(work.arch),
        matmul_params: matmulParams(work.arch),
      },
      batch,
      sequence,
      tokens_per_step: work.tokensPerStep,
      threads,
      rounds,
      steps_per_round: stepsPerRound,
      gflop_per_step: round(flops.total / 1e9, 3),
      ours: {
        ...oursSummary,
        roofline_fraction: fraction(oursSummary.gflops),
        graph_ms_median: round(spread(oursDetail.map((s) => s.runMs)).median, 1),
        optimizer_ms_median: round(spread(oursDetail.map((s) => s.optMs)).median, 1),
      },
      ours_spin: noSpinSummary ? { ...noSpinSummary, roofline_fraction: fraction(noSpinSummary.gflops), vs_torch: torchSummary ? ratio(noSpinSummary.tok_s.median, torchSummary.tok_s.median) : null } : null,
      torch: torchSummary && torchInfo ? { ...torchSummary, roofline_fraction: fraction(torchSummary.gflops), version: torchInfo.torch, attention: torchInfo.attention, omp_wait_policy: ompWait, blas: torchInfo.blas } : null,
      torch_skipped: torchSkipped,
      roofline: { ...roofSummary, matmuls: roofline.graph.matmuls, ort_spin_wait: rooflineSpins, spin_step_ms_median: roofSpin.step_ms.median, block_step_ms_median: roofBlock.step_ms.median },
      ratios: {
        ours_vs_torch: torchSummary ? ratio(oursSummary.tok_s.median, torchSummary.tok_s.median) : null,
        ours_vs_roofline: ratio(oursSummary.tok_s.median, roofSummary.tok_s.median),
      },
      parity,
      // A contender above the ceiling, or one whose steps spread by more than 1.5×, means the machine's
      // other load moved during the run: the ratios are then weak evidence.
      noisy: [oursSummary, torchSummary, roofSummary].some((x) => x && x.tok_s.max / x.tok_s.min > 1.5) || oursSummary.gflops > roofSummary.gflops || (torchSummary?.gflops ?? 0) > roofSummary.gflops,
      goals: {
        roofline_50pct: oursSummary.gflops / roofSummary.gflops >= 0.5,
        torch_1x: torchSummary ? oursSummary.tok_s.median >= torchSummary.tok_s.median : null,
      },
      ...(profile ? { profile: profileJson(profile) } : {}),
    };

    if (!args.json) {
      const range = (s: { median: number; min: number; max: number }) => `${s.median.toFixed(0)} [${s.min.toFixed(0)}–${s.max.toFixed(0)}]`;
      type Summary = typeof oursSummary;
      const row = (name: string, x: Summary, fractionOfRoofline: number, versusOurs: number) => [
        name,
        range(x.tok_s),
        x.step_ms.median.toFixed(0),
        `${x.cpu_ms_median.toFixed(0)} (${((x.sys_ms_median / Math.max(1e-9, x.cpu_ms_median)) * 100).toFixed(0)}% sys)`,
        x.gflops.toFixed(1),
        `${(fractionOfRoofline * 100).toFixed(0)}%`,
        `${versusOurs.toFixed(2)}×`,
      ];
      const rows: (string | number)[][] = [row('ours (onnxruntime + JS AdamW)', oursSummary, result.ours.roofline_fraction, 1)];
      if (noSpinSummary) rows.push(row('  same, ORT spin-wait on', noSpinSummary, noSpinSummary.gflops / roofSummary.gflops, oursSummary.tok_s.median / noSpinSummary.tok_s.median));
      if (torchSummary && result.torch) rows.push(row(`PyTorch ${result.torch.version} (${result.torch.blas.name})`, torchSummary, result.torch.roofline_fraction, result.ratios.ours_vs_torch!));
      rows.push(row(`roofline (MatMuls only, ORT ${rooflineSpins ? 'spinning' : 'blocking'})`, roofSummary, 1, result.ratios.ours_vs_roofline));
      console.log(
        `\n${args.preset} vocab ${work.arch.vocabSize} (${(totalParams(work.arch) / 1e6).toFixed(2)}M params), batch ${batch} × seq ${sequence} = ${work.tokensPerStep} tokens/step, ` +
          `${threads} threads, ${rounds} rounds × ${stepsPerRound} steps, ${result.gflop_per_step.toFixed(1)} GFLOP/step\n`,
      );
      console.log(table(['contender', 'tok/s median [min–max]', 'step ms', 'CPU ms/step', 'GFLOP/s', 'of roofline', 'ours ÷ it'], rows));
      if (torchSkipped) console.log(`\n${torchSkipped}`);
      if (result.torch) {
        const b = result.torch.blas;
        console.log(
          `\nPyTorch ${result.torch.version}: BLAS ${b.name}${b.config ? ` — ${b.config.replace(/\s+/g, ' ')}, ${b.core} kernels (${args['openblas-core'] === 'auto' ? 'autodetected' : '--openblas-core'})` : ''}; ` +
            `${b.matmul_1024_gflops} GFLOP/s on a 1024² matmul; ${result.torch.attention} attention; OMP_WAIT_POLICY=${result.torch.omp_wait_policy}`,
        );
      }
      console.log(`\nours: graph ${result.ours.graph_ms_median} ms + AdamW ${result.ours.optimizer_ms_median} ms per step (medians)`);
      if (parity) {
        console.log(`parity: initial loss ours ${parity.ours_loss.toFixed(6)} vs torch ${parity.torch_loss.toFixed(6)}, |Δ| ${parity.abs_diff.toExponential(2)} — ${parity.pass ? 'pass' : 'FAIL'}`);
        if (parity.curve_steps) console.log(`        loss curves over ${parity.curve_steps} AdamW steps on the same batches: max |Δ| ${parity.curve_max_abs_diff!.toExponential(2)} — ${parity.curve_pass ? 'pass' : 'FAIL'} (≤ 1e-3)`);
      }
      if (result.noisy) console.log('note: noisy run (a contender beat the roofline or its steps spread by > 1.5×): the machine was busy; compare ratios over several runs or add --rounds.');
      const goal = (ok: boolean | null) => (ok === null ? 'n/a' : ok ? 'met' : 'NOT met');
      console.log(`goals: ≥ 50% of roofline ${goal(result.goals.roofline_50pct)} (${(result.ours.roofline_fraction * 100).toFixed(0)}%), ≥ 1.0× PyTorch ${goal(result.goals.torch_1x)}${result.ratios.ours_vs_torch !== null ? ` (${result.ratios.ours_vs_torch.toFixed(2)}×)` : ''}`);
      if (profile) console.log(`\n${renderProfile('profile of our graph', profile)}`);
      console.log('');
    }
    console.log(JSON.stringify(result));
  } finally {
    clearTimeout(watchdog);
    peer?.close();
    rmSync(scratch, { recursive: true, force: true });
  }
}

await main();
