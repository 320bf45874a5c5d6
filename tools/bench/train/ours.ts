/**
 * Our trainer as the benchmark runs it: full optimizer steps, StepRunner.run (forward + backward in one
 * onnxruntime run) then AdamW.update in JS, exactly as train-loop.ts does without accumulation.
 */
import { AdamW, DEFAULT_ADAMW } from '../../trainer/optimizer.ts';
import { StepRunner } from '../../trainer/step-runner.ts';
import type { StepBatch } from '../../trainer/step-runner.ts';
import { initialParams, makeBatch, type TrainWorkload } from './workload.ts';

const NO_DECAY = /(layernorm|norm)\.weight$/;

export interface StepSample {
  ms: number;
  loss: number;
  /** Time inside StepRunner.run (graph) and AdamW.update (optimizer). */
  runMs: number;
  optMs: number;
  /** CPU time of the whole process during the step (all threads), user + system, and system alone. */
  cpuMs: number;
  sysMs: number;
}

export class OursContender {
  readonly params: Map<string, Float32Array>;
  readonly #runner: StepRunner;
  #optimizer?: AdamW;
  /** The step batches (cycled), built up front so batch construction stays out of the timing. */
  readonly batches: StepBatch[];
  #step = 0;

  /**
   * `spin`: the trainer with onnxruntime's intra-op threads spin-waiting between kernels (StepRunner's
   * `spinWait`, off by default since blocking won on this shared machine), to measure what it changes.
   */
  constructor(readonly work: TrainWorkload, options: { threads: number; seed: number; spin?: boolean }) {
    this.params = initialParams(work.arch, options.seed);
    this.#runner = new StepRunner(work.arch, { threads: options.threads, ...(options.spin ? { spinWait: true } : {}) });
    this.batches = Array.from({ length: 4 }, (_, i) => makeBatch(work, i));
  }

  /** Loss of batch 0 on the current weights, without an update (the parity check runs this before any step). */
  async loss(): Promise<number> {
    return (await this.#runner.run(this.params, this.batches[0]!)).loss;
  }

  async #oneStep(): Promise<StepSample> {
    const batch = this.batches[this.#step % this.batches.length]!;
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const result = await this.#runner.run(this.params, batch);
    const t1 = performance.now();
    this.#optimizer ??= new AdamW(DEFAULT_ADAMW, [...result.grads.keys()].map((name) => ({ name, size: this.params.get(name)!.length, decay: !NO_DECAY.test(name) })));
    this.#optimizer.update(this.params, result.grads, 1e-4);
    const t2 = performance.now();
    const cpu = process.cpuUsage(cpu0);
    this.#step++;
    return { ms: t2 - t0, loss: result.loss, runMs: t1 - t0, optMs: t2 - t1, cpuMs: (cpu.user + cpu.system) / 1000, sysMs: cpu.system / 1000 };
  }

  async steps(count: number): Promise<StepSample[]> {
    const out: StepSample[] = [];
    for (let i = 0; i < count; i++) out.push(await this.#oneStep());
    return out;
  }

  release(): Promise<void> {
    return this.#runner.release();
  }
}
