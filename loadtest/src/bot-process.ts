/**
 * A bot process: forked by the orchestrator (`node --import tsx`), runs its share of the crowd and
 * reports over IPC (see protocol.ts). It only depends on the client SDK. It never outlives its
 * parent, and exits by itself at the hard deadline it was given.
 */
import { WorldClient } from '../../client-sdk/src/index.ts';
import { performance } from 'node:perf_hooks';
import { Bot, Crowd, type CrowdSink } from './bot.ts';
import type { BotCounters, BotProcessConfig, FromBot, ToBot, TurnRecord } from './protocol.ts';
import { mulberry32 } from './rng.ts';

const send = (message: FromBot) => {
  if (process.connected) process.send!(message);
};

const timers = new Set<ReturnType<typeof setTimeout>>();
let crowd: Crowd | undefined;
let measureStartedAt = 0;
/** process.cpuUsage() when the measured phase began: the bots' own CPU cost is reported against wall time. */
let cpuAtMeasure: NodeJS.CpuUsage | undefined;

const counters: BotCounters = { intents: 0, walkingSeconds: 0, chats: 0, talksSkipped: 0, talksAbandoned: 0, latencyUnmatched: 0 };
let errors: Record<string, number> = {};
let latencyMs: number[] = [];
let turns: TurnRecord[] = [];
const sink: CrowdSink = {
  counters,
  error(kind) {
    errors[kind] = (errors[kind] ?? 0) + 1;
  },
  latency(ms) {
    latencyMs.push(ms);
  },
  turn(record) {
    turns.push(record);
  },
};

let lastElu = performance.eventLoopUtilization();
function flushProgress(): void {
  if (!crowd) return;
  const elu = performance.eventLoopUtilization(lastElu);
  lastElu = performance.eventLoopUtilization();
  let bytes = 0;
  let connected = 0;
  for (const bot of crowd.bots) {
    if (!bot.gone) connected++;
    if (crowd.measuring) bytes += bot.client.network.bytesReceived - bot.bytesAtMeasure;
  }
  send({ event: 'progress', at: Date.now(), errors, latencyMs, turns, counters: { ...counters }, bytesSinceMeasure: bytes, connected, talking: crowd.talksInFlight(), elu: elu.utilization });
  errors = {};
  latencyMs = [];
  turns = [];
}

function later(ms: number, fn: () => void): void {
  const t = setTimeout(() => {
    timers.delete(t);
    fn();
  }, ms);
  timers.add(t);
}

function exitNow(code: number): never {
  for (const t of timers) clearTimeout(t);
  crowd?.stop();
  process.exit(code);
}

async function start(cfg: BotProcessConfig): Promise<void> {
  const rand = mulberry32(cfg.seed);
  crowd = new Crowd({ inputHz: cfg.inputHz, talkEveryS: cfg.talkEveryS, maxTalkers: cfg.maxTalkers }, rand, sink);
  later(Math.max(0, cfg.hardDeadline - Date.now()), () => {
    process.stderr.write(`loadtest bot process ${process.pid}: hard deadline reached, exiting\n`);
    exitNow(3);
  });
  const progress = setInterval(flushProgress, 1_000);
  timers.add(progress as unknown as ReturnType<typeof setTimeout>);
  crowd.start();

  // Join with bounded concurrency; tracked bots (the first ones) join first so the others learn the spawn area.
  let next = 0;
  let joined = 0;
  let failed = 0;
  const joinMs: number[] = [];
  const failures: string[] = [];
  const worker = async () => {
    while (next < cfg.count && !crowd!.stopping) {
      const i = next++;
      const tracked = i < cfg.tracked;
      const started = performance.now();
      try {
        const client = await WorldClient.connect({
          endpoint: cfg.endpoint,
          name: `bot${cfg.firstIndex + i}`,
          replicateState: tracked,
          reconnect: { enabled: false },
          joinTimeoutMs: cfg.joinTimeoutMs,
          talkTimeouts: { startTimeoutMs: 10_000, turnTimeoutMs: 60_000 },
        });
        joinMs.push(performance.now() - started);
        joined++;
        if (crowd!.stopping) {
          void client.leave();
          continue;
        }
        crowd!.add(new Bot(client, tracked, crowd!, performance.now()));
      } catch (err) {
        failed++;
        const message = (err as Error).message;
        if (failures.length < 5 && !failures.includes(message)) failures.push(message);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(cfg.joinConcurrency, cfg.count) }, worker));
  send({ event: 'joined', joined, failed, joinMs, failures });
}

function measure(): void {
  if (!crowd) return;
  measureStartedAt = performance.now();
  cpuAtMeasure = process.cpuUsage();
  for (const bot of crowd.bots) bot.bytesAtMeasure = bot.client.network.bytesReceived;
  crowd.measuring = true;
}

async function stop(drainMs: number): Promise<void> {
  if (!crowd) exitNow(0);
  const measuredS = measureStartedAt > 0 ? (performance.now() - measureStartedAt) / 1000 : 0;
  const bytesPerClientS = crowd.bots.map((b) => (measuredS > 0 && crowd!.measuring ? (b.client.network.bytesReceived - b.bytesAtMeasure) / measuredS : 0));
  const cpu = cpuAtMeasure ? process.cpuUsage(cpuAtMeasure) : undefined;
  const cpuS = cpu ? (cpu.user + cpu.system) / 1e6 : 0;
  crowd.stop();
  // Let conversations already waiting on the NPC finish (bounded), then leave.
  const drainUntil = performance.now() + drainMs;
  while (crowd.talksInFlight() > 0 && performance.now() < drainUntil) await new Promise((r) => setTimeout(r, 50));
  const talksInFlightAtEnd = crowd.talksInFlight();
  const connectedAtEnd = crowd.bots.filter((b) => !b.gone).length;
  crowd.measuring = false;
  await Promise.race([Promise.allSettled(crowd.bots.map((b) => b.client.leave())), new Promise((r) => setTimeout(r, 5_000))]);
  flushProgress();
  send({ event: 'final', measuredS, bytesPerClientS, connectedAtEnd, talksInFlightAtEnd, cpuS });
  // Give the IPC channel a moment to deliver, then go.
  setTimeout(() => exitNow(0), 100);
}

process.on('message', (message: ToBot) => {
  if (message.cmd === 'start') {
    start(message.config).catch((err: unknown) => {
      process.stderr.write(`loadtest bot process ${process.pid}: ${(err as Error).stack ?? String(err)}\n`);
      exitNow(1);
    });
  } else if (message.cmd === 'measure') {
    measure();
  } else if (message.cmd === 'stop') {
    void stop(message.drainMs);
  }
});
// Never outlive the orchestrator.
process.on('disconnect', () => exitNow(0));
send({ event: 'ready' });
