/**
 * Worker-thread entry: owns the onnxruntime session (whose `run` blocks the thread it runs on) and the
 * engine core, and exchanges messages with the engine client. Steps run back to back while there is
 * work; between steps the event loop delivers submits and cancels; when idle it sleeps until a message.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
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

/**
 * Idle GC. A load leaves this thread's KV buffers and ONNX output tensors released but not collected: an
 * idle worker allocates nothing, so V8 never runs a collection here and the native memory behind those
 * ArrayBuffers (hundreds of MB after an NPC load) stays with the process until the next load. So once the
 * engine has been idle for IDLE_GC_DELAY_MS after work, it runs one full collection (milliseconds on this
 * thread's heap; the game loop is another thread).
 */
const IDLE_GC_DELAY_MS = 2_000;
const startupWarnings: string[] = [];
const collectGarbage = exposeGc();
let idleGcTimer: ReturnType<typeof setTimeout> | undefined;
/** Frees the batch buffers kept warm once the engine has been idle for `kvKeepWarmMs` (then collects). */
let keepWarmTimer: ReturnType<typeof setTimeout> | undefined;

/** V8's gc() for this thread, without the process's --expose-gc (flags apply to contexts made after them). */
function exposeGc(): (() => void) | undefined {
  try {
    setFlagsFromString('--expose-gc');
    const gc: unknown = runInNewContext('gc');
    setFlagsFromString('--no-expose-gc');
    if (typeof gc === 'function') return gc as () => void;
    startupWarnings.push('idle GC unavailable (gc was not exposed): memory released after a load is returned only when V8 next collects on the engine thread');
  } catch (error) {
    startupWarnings.push(`idle GC unavailable (${(error as Error).message}): memory released after a load is returned only when V8 next collects on the engine thread`);
  }
  return undefined;
}

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
      if (collectGarbage && !idleGcTimer) {
        idleGcTimer = setTimeout(collectGarbage, IDLE_GC_DELAY_MS);
        idleGcTimer.unref();
      } else idleGcTimer?.refresh(); // still busy: the idle collection waits for a real idle stretch
      const keepWarmMs = engine.settings.kvKeepWarmMs;
      if (keepWarmMs > 0 && !keepWarmTimer) {
        keepWarmTimer = setTimeout(() => {
          keepWarmTimer = undefined;
          if (engine.releaseIdleBuffers()) collectGarbage?.();
        }, keepWarmMs);
        keepWarmTimer.unref();
      } else keepWarmTimer?.refresh();
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
  clearTimeout(idleGcTimer);
  clearTimeout(keepWarmTimer);
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
      sessionOptions: { enableCpuMemArena: config.session.cpuMemArena, enableMemPattern: config.session.memPattern },
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
  send({ type: 'ready', model: engine.info, warnings: startupWarnings });
  for (const message of early.splice(0)) handle(engine, message);
  await loop(engine);
}

void main();
