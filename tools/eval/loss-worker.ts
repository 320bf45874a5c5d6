/**
 * Worker-thread entry for the loss pass: onnxruntime's `run` blocks the thread it runs on, so the
 * teacher-forced forward passes run here while the main thread keeps feeding the inference engine.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { loadModel, loadModelText } from '../../server/src/inference/model/index.ts';
import { copyProbe, replyLosses, textLoss } from './loss.ts';
import type { LossWorkerData, LossWorkerMessage } from './loss-runner.ts';

if (!parentPort) throw new Error('loss-worker.ts must run in a worker thread');
const port = parentPort;
const data = workerData as LossWorkerData;
const send = (message: LossWorkerMessage) => port.postMessage(message);

try {
  const model = await loadModel(data.modelDir, { intraOpNumThreads: data.threads });
  try {
    const text = loadModelText(data.modelDir);
    const onProgress = (done: number, total: number) => send({ type: 'progress', done, total });
    const losses = await replyLosses(model, text, data.samples, { onProgress });
    const general = data.general ? await textLoss(model, text, data.general.content, { maxTokens: data.general.maxTokens, onProgress }) : null;
    const copy = await copyProbe(model);
    const copyCommon = data.general ? await copyProbe(model, { pool: text.tokenizer.encode(data.general.content.slice(0, 200_000)) }) : null;
    send({ type: 'result', losses, general, copy, copyCommon });
  } finally {
    await model.dispose();
  }
} catch (error) {
  send({ type: 'error', message: error instanceof Error ? error.message : String(error) });
}
