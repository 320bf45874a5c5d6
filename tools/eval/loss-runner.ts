/**
 * Runs the loss pass (loss.ts) in a worker thread so the main thread stays free for the inference
 * engine's messages, with an idle bound: a worker that reports no progress for `idleTimeoutMs` is
 * terminated and the pass fails.
 */
import { spawnTsWorker } from '../../server/src/inference/engine/spawn-worker.ts';
import type { WorldSample } from '../corpus/sample.ts';
import type { CopyProbe, NllSum, SampleLoss } from './loss.ts';

export interface LossWorkerData {
  modelDir: string;
  threads: number;
  samples: WorldSample[];
  general: { content: string; maxTokens: number } | null;
}

export type LossWorkerMessage =
  | { type: 'progress'; done: number; total: number }
  | { type: 'result'; losses: SampleLoss[]; general: (NllSum & { chunks: number }) | null; copy: CopyProbe; copyCommon: CopyProbe | null }
  | { type: 'error'; message: string };

export interface LossPassResult {
  losses: SampleLoss[];
  general: (NllSum & { chunks: number }) | null;
  copy: CopyProbe;
  /** The same probe on tokens drawn at corpus frequency from the general text (null without it). */
  copyCommon: CopyProbe | null;
}

export function runLossPass(
  data: LossWorkerData,
  options: { idleTimeoutMs: number; signal?: AbortSignal; onProgress?: (done: number, total: number) => void },
): Promise<LossPassResult> {
  return new Promise<LossPassResult>((resolve, reject) => {
    const worker = spawnTsWorker(new URL('./loss-worker.ts', import.meta.url), { workerData: data });
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    const finish = (outcome: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      void worker.terminate();
      outcome();
    };
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => finish(() => reject(new Error(`the loss pass made no progress for ${options.idleTimeoutMs} ms`))), options.idleTimeoutMs);
    };
    const onAbort = () => finish(() => reject(options.signal!.reason ?? new Error('aborted')));
    options.signal?.addEventListener('abort', onAbort, { once: true });
    arm();
    worker.on('message', (message: LossWorkerMessage) => {
      if (message.type === 'progress') {
        arm();
        options.onProgress?.(message.done, message.total);
      } else if (message.type === 'result') finish(() => resolve({ losses: message.losses, general: message.general, copy: message.copy, copyCommon: message.copyCommon }));
      else finish(() => reject(new Error(`the loss pass failed: ${message.message}`)));
    });
    worker.on('error', (error) => finish(() => reject(error)));
    worker.on('exit', (code) => finish(() => reject(new Error(`the loss worker exited with code ${code}`))));
  });
}
