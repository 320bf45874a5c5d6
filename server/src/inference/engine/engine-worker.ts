/**
 * Worker-thread entry: owns the onnxruntime session (whose `run` blocks the thread it runs on) and the
 * engine core, and exchanges messages with the engine client. Steps run back to back while there is
 * work; between steps the event loop delivers submits and cancels; when idle it sleeps until a message.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { EngineCore } from './engine-core.ts';
import { openEngineModel, type EngineModel } from './engine-model.ts';
import type { EngineError } from './errors.ts';
import type { DoneMessage, FromWorker, ToWorker, TokensMessage, WorkerConfig } from './protocol.ts';

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
  let opened: EngineModel;
  try {
    const runtime = {
      executionProviders: config.session.executionProviders as never,
      intraOpNumThreads: config.session.intraOpThreads,
      interOpNumThreads: config.session.interOpThreads,
    };
    opened = await openEngineModel(config.modelDir, runtime, config.scheduler.kvStrategy);
  } catch (error) {
    send({ type: 'startup-failed', message: (error as Error).message });
    port.close();
    return;
  }
  const sink = {
    tokens: (message: TokensMessage) => send(message, [message.ids.buffer as ArrayBuffer, message.tokens.buffer as ArrayBuffer]),
    done: (message: DoneMessage) => send(message),
    failed: (id: number, error: EngineError) => send({ type: 'failed', id, error: error.toInfo() }),
  };
  const engine = new EngineCore(opened.model, config.scheduler, sink, opened.kvStrategy, opened.fallbackReason);
  core = engine;
  send({ type: 'ready', model: engine.info });
  for (const message of early.splice(0)) handle(engine, message);
  await loop(engine);
}

void main();
