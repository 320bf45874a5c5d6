/**
 * Worker-thread entry: owns the onnxruntime session (whose `run` blocks the thread it runs on) and the
 * engine core, and exchanges messages with the engine client. Steps run back to back while there is
 * work; between steps the event loop delivers submits and cancels; when idle it sleeps until a message.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { loadModel } from '../model/index.ts';
import { EngineCore } from './engine-core.ts';
import type { FromWorker, ToWorker, WorkerConfig } from './protocol.ts';

if (!parentPort) throw new Error('engine-worker.ts must run in a worker thread');
const port = parentPort;
const config = workerData as WorkerConfig;

function send(message: FromWorker, transfer: ArrayBuffer[] = []): void {
  port.postMessage(message, transfer);
}

// Messages that arrive while the model loads wait here.
const early: ToWorker[] = [];
let core: EngineCore | null = null;
let closing = false;
let wake: (() => void) | null = null;

port.on('message', (message: ToWorker) => {
  if (!core) {
    early.push(message);
    return;
  }
  handle(core, message);
});

function handle(engine: EngineCore, message: ToWorker): void {
  switch (message.type) {
    case 'submit':
      void engine.submit(message.id, message.request, message.submittedAt).finally(poke);
      break;
    case 'cancel':
      engine.cancel(message.id);
      poke();
      break;
    case 'metrics':
      send({ type: 'metrics', queryId: message.queryId, metrics: engine.metrics() });
      break;
    case 'shutdown':
      closing = true;
      poke();
      break;
    case 'crash':
      if (message.how === 'exit') process.exit(70);
      // An exception outside any handler, as a bug in a step would raise.
      setImmediate(() => {
        throw new Error('engine worker crashed (test hook)');
      });
      break;
  }
}

function poke(): void {
  const w = wake;
  wake = null;
  w?.();
}

async function loop(engine: EngineCore): Promise<void> {
  while (!closing) {
    const worked = engine.hasWork ? await engine.step() : false;
    if (closing) break;
    if (worked) {
      // Let queued messages (submits, cancels) in between steps.
      await new Promise<void>((resolve) => setImmediate(resolve));
    } else {
      // Idle, or everything waits on KV held by nobody running: sleep until a message (or a short tick,
      // so queued first-token deadlines still fire).
      await new Promise<void>((resolve) => {
        wake = resolve;
        if (engine.hasWork) setTimeout(poke, 5);
      });
    }
  }
  await engine.dispose();
  port.close();
}

async function main(): Promise<void> {
  let model;
  try {
    model = await loadModel(config.modelDir, {
      executionProviders: config.session.executionProviders as never,
      intraOpNumThreads: config.session.intraOpThreads,
      interOpNumThreads: config.session.interOpThreads,
    });
  } catch (error) {
    send({ type: 'startup-failed', message: (error as Error).message });
    port.close();
    return;
  }
  const engine = new EngineCore(model, config.scheduler, {
    tokens: (message) => send(message, [message.ids.buffer as ArrayBuffer, message.tokens.buffer as ArrayBuffer]),
    done: (message) => send(message),
    failed: (id, error) => send({ type: 'failed', id, error: error.toInfo() }),
  });
  core = engine;
  send({ type: 'ready', model: engine.info });
  for (const message of early.splice(0)) handle(engine, message);
  await loop(engine);
}

void main();
