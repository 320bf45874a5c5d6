/**
 * The PyTorch peer (torch_llama.py) as a long-lived child: Debian's /usr/bin/python3 with python3-torch and
 * OpenBLAS (installed on demand when running as root). It reads the same initial weights and token rows
 * this process writes to a scratch directory, and answers JSON commands one line each, so the benchmark
 * interleaves it with the other contenders without paying Python's start-up per round. Every request has a
 * deadline; the child is killed when the benchmark exits, however it exits.
 */
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { headDimOf } from '../../model-builder/architecture.ts';
import { baseParamSpecs } from '../../trainer/llama-train-graph.ts';
import type { StepBatch } from '../../trainer/step-runner.ts';
import type { TrainWorkload } from './workload.ts';

export const PYTHON = '/usr/bin/python3';
const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), 'torch_llama.py');
const INSTALL = 'apt-get install -y --no-install-recommends python3-torch libopenblas0-pthread';

export interface BlasInfo {
  name: string;
  libraries: string[];
  matmul_1024_gflops: number;
  config?: string;
  core?: string;
  threads?: number;
}

export interface TorchInfo {
  torch: string;
  threads: number;
  attention: string;
  params: number;
  blas: BlasInfo;
}

function torchImports(): boolean {
  return spawnSync(PYTHON, ['-c', 'import torch'], { stdio: 'ignore', timeout: 60_000 }).status === 0;
}

function openBlasInstalled(): boolean {
  return spawnSync('dpkg', ['-s', 'libopenblas0-pthread'], { stdio: 'ignore', timeout: 30_000 }).status === 0;
}

/**
 * Makes sure python3-torch and OpenBLAS are there; installs them when root. Returns null when ready, or the
 * one line saying why the peer is skipped and how to get it.
 */
export function ensureTorch(log: (message: string) => void, install: boolean): string | null {
  const missing = () => [...(torchImports() ? [] : ['python3-torch']), ...(openBlasInstalled() ? [] : ['libopenblas0-pthread'])];
  let absent = missing();
  if (absent.length === 0) return null;
  const how = `PyTorch peer skipped: ${absent.join(' and ')} missing; install with \`${INSTALL}\` (as root), then rerun.`;
  if (!install || process.getuid?.() !== 0) return how;
  log(`installing ${absent.join(', ')} for the PyTorch peer (${INSTALL})...`);
  const apt = (args: string[]) => spawnSync('apt-get', args, { stdio: ['ignore', 'ignore', 'pipe'], timeout: 15 * 60_000, env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  let result = apt(['install', '-y', '--no-install-recommends', 'python3-torch', 'libopenblas0-pthread']);
  if (result.status !== 0) {
    log('apt-get install failed; running apt-get update and trying once more...');
    apt(['update']);
    result = apt(['install', '-y', '--no-install-recommends', 'python3-torch', 'libopenblas0-pthread']);
  }
  absent = missing();
  if (absent.length === 0) return null;
  const stderr = result.stderr?.toString().trim().split('\n').at(-1) ?? '';
  return `PyTorch peer skipped: installing ${absent.join(' and ')} failed (${stderr || `exit ${result.status ?? result.signal}`}); install with \`${INSTALL}\`, then rerun.`;
}

/**
 * Writes the peer's inputs: every base weight as raw little-endian float32 in the trainer's layout, the
 * batches' ids and targets as int64 [count, 2, B, S], and a manifest naming them with the architecture.
 */
export function writePeerInputs(dir: string, work: TrainWorkload, params: ReadonlyMap<string, Float32Array>, batches: readonly StepBatch[]): string {
  const specs = baseParamSpecs(work.arch);
  const total = specs.reduce((n, s) => n + params.get(s.name)!.length, 0);
  const blob = new Float32Array(total);
  let offset = 0;
  const tensors = specs.map((s) => {
    const data = params.get(s.name)!;
    blob.set(data, offset);
    const entry = { name: s.name, shape: s.shape, offset: offset * 4 };
    offset += data.length;
    return entry;
  });
  const N = work.batch * work.sequence;
  const ids = new BigInt64Array(batches.length * 2 * N);
  batches.forEach((b, i) => {
    if (b.lossRows.length !== N) throw new Error('bench:train: the PyTorch peer assumes every position carries loss');
    ids.set(b.inputIds, i * 2 * N);
    ids.set(b.targets, i * 2 * N + N);
  });
  const weightsPath = join(dir, 'weights.f32');
  const batchesPath = join(dir, 'batches.i64');
  writeFileSync(weightsPath, new Uint8Array(blob.buffer));
  writeFileSync(batchesPath, new Uint8Array(ids.buffer));
  const manifestPath = join(dir, 'manifest.json');
  const config = { ...work.arch, headDim: headDimOf(work.arch), batch: work.batch, sequence: work.sequence };
  writeFileSync(manifestPath, JSON.stringify({ config, weights: weightsPath, batches: batchesPath, batchCount: batches.length, tensors }));
  return manifestPath;
}

export interface PeerStep {
  step: number;
  ms: number;
  /** CPU time of the Python process during the step (all threads): user + system, and system alone. */
  cpu_ms: number;
  sys_ms: number;
  loss: number;
}

export class TorchPeer {
  readonly #child: ChildProcessWithoutNullStreams;
  readonly #lines: string[] = [];
  #waiter: (() => void) | null = null;
  #exited: string | null = null;
  #stderr = '';
  #closed = false;
  readonly #killOnExit = () => this.#child.kill('SIGKILL');

  /**
   * `ompWait`: GNU OpenMP's OMP_WAIT_POLICY for torch's pool. PASSIVE by default: with OpenBLAS's own pthread
   * pool beside it, spinning OpenMP workers fight the BLAS threads for the cores, and on a shared machine
   * a step then takes several times longer (measured 5–10×); passive waiting costs a futex wake per region.
   */
  constructor(manifestPath: string, threads: number, attention: 'manual' | 'sdpa', readonly ompWait: string, openblasCore: string) {
    const threadEnv = String(threads);
    const env: NodeJS.ProcessEnv = { ...process.env, OMP_WAIT_POLICY: ompWait, OMP_NUM_THREADS: threadEnv, OPENBLAS_NUM_THREADS: threadEnv, MKL_NUM_THREADS: threadEnv, PYTHONUNBUFFERED: '1' };
    // OpenBLAS is built for every x86 core (DYNAMIC_ARCH) and picks its kernels from the CPU; an inherited
    // OPENBLAS_CORETYPE (some images pin Haswell = AVX2) would hand torch slower kernels than onnxruntime's.
    if (openblasCore === 'auto') delete env.OPENBLAS_CORETYPE;
    else env.OPENBLAS_CORETYPE = openblasCore;
    this.#child = spawn(PYTHON, [SCRIPT, '--manifest', manifestPath, '--threads', threadEnv, '--attention', attention], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env,
    });
    process.on('exit', this.#killOnExit);
    createInterface({ input: this.#child.stdout }).on('line', (line) => {
      this.#lines.push(line);
      this.#waiter?.();
    });
    this.#child.stderr.on('data', (chunk: Buffer) => {
      this.#stderr = (this.#stderr + chunk.toString()).slice(-4000);
    });
    this.#child.on('exit', (code, signal) => {
      this.#exited = `exited with ${code ?? signal}`;
      process.off('exit', this.#killOnExit);
      this.#waiter?.();
    });
  }

  async #next(deadline: number): Promise<Record<string, unknown>> {
    while (this.#lines.length === 0) {
      if (this.#exited) throw new Error(`PyTorch peer ${this.#exited}: ${this.#stderr.trim().split('\n').slice(-3).join(' | ')}`);
      const left = deadline - performance.now();
      if (left <= 0) {
        this.close();
        throw new Error('PyTorch peer timed out (killed)');
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#waiter = null;
    }
    const line = this.#lines.shift()!;
    try {
      return JSON.parse(line) as Record<string, unknown>;
    } catch {
      throw new Error(`PyTorch peer printed a non-JSON line: ${line.slice(0, 200)}`);
    }
  }

  #send(command: Record<string, unknown>): void {
    this.#child.stdin.write(`${JSON.stringify(command)}\n`);
  }

  async info(timeoutMs: number): Promise<TorchInfo> {
    this.#send({ cmd: 'info' });
    return (await this.#next(performance.now() + timeoutMs)).info as TorchInfo;
  }

  async loss(timeoutMs: number): Promise<number> {
    this.#send({ cmd: 'loss' });
    return (await this.#next(performance.now() + timeoutMs)).loss as number;
  }

  /**
   * `count` optimizer steps; each line is one timed step. The deadline is for the whole call. `lr` sets the
   * learning rate from now on (default: the script's --lr).
   */
  async steps(count: number, timeoutMs: number, lr?: number): Promise<PeerStep[]> {
    const deadline = performance.now() + timeoutMs;
    this.#send({ cmd: 'steps', count, ...(lr === undefined ? {} : { lr }) });
    const out: PeerStep[] = [];
    for (;;) {
      const msg = await this.#next(deadline);
      if ('done' in msg) return out;
      out.push(msg as unknown as PeerStep);
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (!this.#exited) {
      this.#child.stdin.end(`${JSON.stringify({ cmd: 'quit' })}\n`);
      setTimeout(() => this.#child.kill('SIGKILL'), 2000).unref();
    }
  }
}
