/**
 * The orchestrator: starts (or finds) the server, forks the bot processes, runs the phases
 * (join → measure for `duration` → drain and leave), collects everything, and builds the report.
 *
 * Process layout when the load tester starts the server (default `--server child`):
 *   orchestrator (this process: IPC, bookkeeping — nearly idle)
 *   ├─ server child   (one game server process; its world rooms' frame times are read every second)
 *   └─ K bot processes (the simulated players; only the client SDK is loaded there)
 * so on a 2-core machine the server gets one core and the bots the other. `--server in-process` runs
 * the server inside the orchestrator instead (one fewer process; the bots are still forked).
 *
 * Bounded: every wait has a timeout, and the whole run has a hard deadline (server start + join bound
 * + duration + drain + grace); past it every child is killed and the run fails. Children also exit on
 * their own at that deadline, and when the orchestrator goes away.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderChart } from './chart.ts';
import { ClusterWatcher, type ClusterReport } from './cluster.ts';
import { fetchMetrics, histogramDelta, histogramMaxBound, histogramQuantile, metricTotal, readHistogram, worldRooms, type Histogram } from './metrics-scrape.ts';
import { httpBase, type LoadTestOptions } from './options.ts';
import type { BotCounters, BotProcessConfig, FromBot, FromServer, ToBot, TurnRecord } from './protocol.ts';
import { botLoadNote, buildReport, type Report, type RunData, type ServerWhere, type TickPoint } from './report.ts';
import type { FrameReport } from './server-sampler.ts';
import { buildSoak, MemoryWatcher, SoakError, type SoakSummary, type MemorySample, type SoakInput } from './soak.ts';

const SERVER_START_BOUND_MS = 60_000;
const DRAIN_MS = 10_000;
const GRACE_MS = 30_000;
const ILLEGAL_ACTIONS_METRIC = 'worldmind_npc_illegal_actions_total';
const GENERATED_TOKENS_METRIC = 'worldmind_engine_generated_tokens_total';
/** Soak: how often the server's memory is read (the table shows every --sample-every s of these). */
const SOAK_POLL_MS = 2_000;

export interface RunOutcome {
  report: Report;
  jsonPath: string;
  svgPath: string;
  /** With --target: every game process's and inference service's own numbers. */
  cluster?: ClusterReport;
  /** With --soak: the memory over time. */
  soak?: { summary: SoakSummary; rows: MemorySample[]; input: SoakInput; jsonPath: string };
}

export class LoadTestError extends Error {
  override name = 'LoadTestError';
}

interface OwnedServer {
  endpoint: string;
  where: ServerWhere;
  stop(): Promise<void>;
}

/** Tracks children and timers so that every exit path — success, error, deadline — cleans up. */
class Resources {
  readonly children = new Set<ChildProcess>();
  readonly timers = new Set<ReturnType<typeof setTimeout>>();
  readonly #exitHook = () => {
    for (const child of this.children) child.kill('SIGKILL');
  };
  constructor() {
    process.on('exit', this.#exitHook);
  }
  timeout(ms: number, fn: () => void): ReturnType<typeof setTimeout> {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
    return t;
  }
  interval(ms: number, fn: () => void): ReturnType<typeof setInterval> {
    const t = setInterval(fn, ms);
    this.timers.add(t);
    return t;
  }
  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.timeout(ms, resolve));
  }
  async release(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    await Promise.all(
      [...this.children].map(async (child) => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const exited = new Promise((r) => child.once('exit', r));
        // Children that were told to stop exit by themselves (and write their CPU profiles); then insist.
        await Promise.race([exited, new Promise((r) => setTimeout(r, 2_000))]);
        if (child.exitCode !== null || child.signalCode !== null) return;
        child.kill('SIGTERM');
        await Promise.race([exited, new Promise((r) => setTimeout(r, 3_000))]);
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      }),
    );
    this.children.clear();
    process.off('exit', this.#exitHook);
  }
}

function forkTs(res: Resources, module: string, env: Record<string, string>, cpuProfDir: string | undefined): ChildProcess {
  const child = fork(fileURLToPath(new URL(module, import.meta.url)), [], {
    execArgv: ['--import', 'tsx', ...(cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${cpuProfDir}`] : [])],
    env: { ...process.env, ...env },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  res.children.add(child);
  return child;
}

function waitFor<T>(res: Resources, child: ChildProcess, what: string, pick: (m: unknown) => T | undefined, timeoutMs: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: unknown) => {
      const v = pick(m);
      if (v === undefined) return;
      cleanup();
      resolve(v);
    };
    const onExit = (code: number | null) => {
      cleanup();
      reject(new LoadTestError(`${what}: the process exited (code ${code})`));
    };
    const timer = res.timeout(timeoutMs, () => {
      cleanup();
      reject(new LoadTestError(`${what}: no answer within ${Math.round(timeoutMs / 1000)} s`));
    });
    const cleanup = () => {
      clearTimeout(timer);
      res.timers.delete(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
    };
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}

async function startOwnedServer(opts: LoadTestOptions, res: Resources, hardDeadline: number, onFrames: (r: FrameReport) => void, dbPath: string | undefined): Promise<OwnedServer> {
  if (opts.server === 'in-process') {
    const [{ startServer }, { ownedServerConfig, startFrameSampler }] = await Promise.all([import('../../server/src/server.ts'), import('./server-sampler.ts')]);
    const server = await startServer(await ownedServerConfig(opts.aoi, dbPath));
    const stopSampling = startFrameSampler(server, onFrames);
    return {
      endpoint: `ws://127.0.0.1:${server.port}`,
      where: 'in-process',
      async stop() {
        stopSampling();
        await Promise.race([server.shutdown(), new Promise((r) => setTimeout(r, 10_000))]);
      },
    };
  }
  const child = forkTs(
    res,
    './server-child.ts',
    { LOADTEST_AOI: String(opts.aoi), LOADTEST_HARD_DEADLINE: String(hardDeadline), ...(dbPath ? { LOADTEST_DB_PATH: dbPath } : {}) },
    opts.cpuProfDir,
  );
  child.on('message', (m: FromServer) => {
    if (m.event === 'frames') onFrames(m);
  });
  const port = await waitFor(res, child, 'starting the server child', (m) => ((m as FromServer).event === 'ready' ? (m as { port: number }).port : undefined), SERVER_START_BOUND_MS);
  return {
    endpoint: `ws://127.0.0.1:${port}`,
    where: 'child',
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      if (child.connected) child.send({ cmd: 'stop' });
      await Promise.race([exited, new Promise((r) => setTimeout(r, 15_000))]);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}

/** Splits `total` into `k` near-equal integer shares that sum to it. */
function shares(total: number, k: number): number[] {
  return Array.from({ length: k }, (_, i) => Math.floor(total / k) + (i < total % k ? 1 : 0));
}

export async function runLoadTest(opts: LoadTestOptions, log: (line: string) => void = (l) => process.stderr.write(l + '\n')): Promise<RunOutcome> {
  const res = new Resources();
  const startedAt = Date.now();
  const rampMs = opts.rampTimeoutS * 1000;
  // A soak also reads the baseline (a few seconds) and watches the settle.
  const soakMs = opts.soakMin !== undefined ? opts.settleS * 1000 + 10_000 : 0;
  const hardDeadline = startedAt + SERVER_START_BOUND_MS + rampMs + opts.durationS * 1000 + DRAIN_MS + GRACE_MS + soakMs;
  let failDeadline: (e: Error) => void = () => undefined;
  const deadline = new Promise<never>((_, reject) => (failDeadline = reject));
  deadline.catch(() => undefined);
  res.timeout(hardDeadline - startedAt, () => failDeadline(new LoadTestError(`hard deadline reached (${Math.round((hardDeadline - startedAt) / 1000)} s); children killed`)));
  let owned: OwnedServer | undefined;
  let soakDbDir: string | undefined;
  try {
    return await Promise.race([run(), deadline]);
  } catch (err) {
    throw err instanceof SoakError ? new LoadTestError(err.message) : err;
  } finally {
    await owned?.stop().catch(() => undefined);
    await res.release();
    if (soakDbDir) await rm(soakDbDir, { recursive: true, force: true });
  }

  async function run(): Promise<RunOutcome> {
    const frames: FrameReport[] = [];
    const notes: string[] = [];
    let endpoint: string;
    let where: ServerWhere;
    // --target: a cluster; each of its processes is read on its own (cluster.ts).
    const cluster = opts.targets ? new ClusterWatcher(opts.targets, opts.inferenceMetrics) : undefined;
    if (opts.endpoint) {
      endpoint = opts.endpoint;
      where = 'remote';
      log(opts.targets ? `loadtest: loading the cluster at ${opts.targets.join(', ')}${opts.inferenceMetrics.length ? `; inference services ${opts.inferenceMetrics.join(', ')}` : ''}` : `loadtest: loading the running server at ${endpoint}`);
    } else {
      log(`loadtest: starting a server (${opts.server === 'child' ? 'in its own child process' : 'inside the orchestrator process'}, AOI ${opts.aoi ? 'on' : 'off'})`);
      // A soak's server keeps its database in a temporary file (see ownedServerConfig), unless DB_PATH is set.
      if (opts.soakMin !== undefined && !process.env.DB_PATH) soakDbDir = await mkdtemp(join(tmpdir(), 'worldmind-soak-'));
      owned = await startOwnedServer(opts, res, hardDeadline, (r) => frames.push(r), soakDbDir ? join(soakDbDir, 'soak.sqlite') : undefined);
      endpoint = owned.endpoint;
      where = owned.where;
      log(`loadtest: server listening at ${endpoint}`);
    }
    const metricsBase = httpBase(endpoint);

    // Soak: the server's memory before any bot joins, then a read every SOAK_POLL_MS until the end.
    let watcher: MemoryWatcher | undefined;
    let baselineBytes = 0;
    const soakStartedAt = Date.now();
    if (opts.soakMin !== undefined) {
      watcher = new MemoryWatcher(metricsBase, (ms, fn) => res.interval(ms, fn));
      baselineBytes = await watcher.baseline(3, 2_000, (ms) => res.sleep(ms));
      log(`loadtest: soak baseline RSS ${(baselineBytes / 1048576).toFixed(1)} MiB`);
      watcher.phase = 'join';
      watcher.start(SOAK_POLL_MS);
    }

    // Bot processes.
    const k = opts.processes;
    const playerShares = shares(opts.players, k);
    const trackedShares = shares(opts.tracked, k);
    const talkerShares = shares(opts.maxTalkers, k);
    const counters = new Map<number, BotCounters>();
    const data = {
      joined: 0,
      joinFailures: 0,
      joinMs: [] as number[],
      joinFailureMessages: [] as string[],
      errors: {} as Record<string, number>,
      latencyMs: [] as number[],
      turns: [] as TurnRecord[],
      botElu: [] as { at: number; process: number; elu: number }[],
      bytesPerClientS: [] as number[],
      connectedAtEnd: 0,
      talksInFlightAtEnd: 0,
      /** Each bot process's CPU seconds over its measured phase, and that phase's length. */
      botCpu: [] as { process: number; cpuS: number; measuredS: number }[],
    };
    let measuring = false;
    const addError = (kind: string, n = 1) => (data.errors[kind] = (data.errors[kind] ?? 0) + n);
    const bots: ChildProcess[] = [];
    const finals: Promise<unknown>[] = [];
    const joinedAll: Promise<unknown>[] = [];
    let firstIndex = 0;
    log(`loadtest: ${opts.players} players in ${k} bot process(es), ${opts.tracked} tracked; input ${opts.inputHz} Hz; talk ${opts.talkEveryS > 0 ? `every ~${opts.talkEveryS} s per player, ≤ ${opts.maxTalkers} at once` : 'off'}`);
    for (let i = 0; i < k; i++) {
      const child = forkTs(res, './bot-process.ts', {}, opts.cpuProfDir);
      bots.push(child);
      let stopping = false;
      child.on('message', (m: FromBot) => {
        if (m.event === 'progress') {
          for (const [kind, n] of Object.entries(m.errors)) addError(kind, n);
          if (measuring) data.latencyMs.push(...m.latencyMs);
          data.turns.push(...m.turns);
          counters.set(i, m.counters);
          data.botElu.push({ at: m.at, process: i, elu: m.elu });
        } else if (m.event === 'final') {
          stopping = true;
          data.bytesPerClientS.push(...m.bytesPerClientS);
          data.connectedAtEnd += m.connectedAtEnd;
          data.talksInFlightAtEnd += m.talksInFlightAtEnd;
          data.botCpu.push({ process: i, cpuS: m.cpuS, measuredS: m.measuredS });
        }
      });
      child.once('exit', (code, signal) => {
        if (!stopping) addError('bot_process_exited');
        if (code !== 0 && !stopping) log(`loadtest: bot process ${i} exited early (code ${code}, signal ${signal})`);
      });
      await waitFor(res, child, `starting bot process ${i}`, (m) => ((m as FromBot).event === 'ready' ? true : undefined), 30_000);
      const config: BotProcessConfig = {
        // A cluster: bot process i joins through game process i mod n, as a load balancer would spread them.
        endpoint: opts.targets ? opts.targets[i % opts.targets.length]! : endpoint,
        firstIndex,
        count: playerShares[i]!,
        tracked: trackedShares[i]!,
        inputHz: opts.inputHz,
        talkEveryS: opts.talkEveryS,
        maxTalkers: talkerShares[i]!,
        seed: opts.seed * 1_000 + i,
        joinConcurrency: 25,
        joinTimeoutMs: 30_000,
        hardDeadline,
      };
      firstIndex += config.count;
      joinedAll.push(
        waitFor(res, child, `joining bot process ${i}'s players`, (m) => ((m as FromBot).event === 'joined' ? (m as Extract<FromBot, { event: 'joined' }>) : undefined), rampMs).then(
          (j) => {
            data.joined += j.joined;
            data.joinFailures += j.failed;
            data.joinMs.push(...j.joinMs);
            for (const f of j.failures) if (data.joinFailureMessages.length < 10) data.joinFailureMessages.push(f);
          },
          (err: Error) => {
            notes.push(`${err.message}; measuring with whoever had joined`);
          },
        ),
      );
      finals.push(waitFor(res, child, `bot process ${i} finishing`, (m) => ((m as FromBot).event === 'final' ? true : undefined), hardDeadline - Date.now()).catch(() => undefined));
      child.send({ cmd: 'start', config } satisfies ToBot);
    }

    const loadAtStart = loadavg()[0]!;
    const rampStarted = Date.now();
    await Promise.all(joinedAll);
    log(`loadtest: ${data.joined} joined, ${data.joinFailures} failed in ${((Date.now() - rampStarted) / 1000).toFixed(1)} s; measuring for ${opts.durationS} s`);

    // Measured phase.
    const remote = where === 'remote';
    const baseline = await fetchMetrics(metricsBase);
    if (remote && !baseline) notes.push(`could not read ${metricsBase}/metrics: no tick times for a remote server`);
    if (cluster) {
      const unreadable = await cluster.begin();
      for (const u of unreadable) notes.push(`could not read ${u}/metrics at the start of the window: that process has no numbers in the per-process table`);
      res.interval(2_000, () => void cluster.poll().catch(() => undefined));
    }
    const measureStart = Date.now();
    measuring = true;
    if (watcher) watcher.phase = 'load';
    for (const child of bots) if (child.connected) child.send({ cmd: 'measure' } satisfies ToBot);
    const remoteSeries: TickPoint[] = [];
    let prevTick: Histogram | undefined = baseline ? readHistogram(baseline, 'worldmind_tick_duration_seconds', { room: 'world' }) : undefined;
    // A server we did not start: its world rooms come from its own /metrics (the most seen in the window).
    let remoteRooms: number | undefined;
    const noteRooms = (text: string | undefined) => {
      const n = text !== undefined ? worldRooms(text) : undefined;
      if (n !== undefined) remoteRooms = Math.max(remoteRooms ?? 0, n);
    };
    if (remote && baseline && !cluster) {
      res.interval(2_000, () => {
        void fetchMetrics(metricsBase).then((text) => {
          noteRooms(text);
          const h = text ? readHistogram(text, 'worldmind_tick_duration_seconds', { room: 'world' }) : undefined;
          if (!h) return;
          const d = histogramDelta(h, prevTick);
          prevTick = h;
          if (d.count > 0) remoteSeries.push({ at: Date.now(), p50: histogramQuantile(d, 0.5) * 1000, p99: histogramQuantile(d, 0.99) * 1000, max: histogramMaxBound(d) * 1000 });
        });
      });
    }
    const progressTimer = res.interval(10_000, () => {
      const s = Math.round((Date.now() - measureStart) / 1000);
      const last = frames.at(-1);
      const rss = watcher?.samples.at(-1);
      log(
        `loadtest: ${s}/${opts.durationS} s${last ? `; server event loop ${Math.round(last.elu * 100)}% busy, ${last.clients} clients` : ''}` +
          `${rss ? `; server RSS ${(rss.rssBytes / 1048576).toFixed(1)} MiB` : ''}`,
      );
    });
    await res.sleep(opts.durationS * 1000);
    const measureEnd = Date.now();
    const loadAtEnd = loadavg()[0]!;
    clearInterval(progressTimer);
    const endText = await fetchMetrics(metricsBase);
    if (remote && !cluster) noteRooms(endText);
    await cluster?.finish();
    measuring = false;

    // Drain and leave.
    if (watcher) watcher.phase = 'drain';
    for (const child of bots) if (child.connected) child.send({ cmd: 'stop', drainMs: DRAIN_MS } satisfies ToBot);
    await Promise.all(finals);
    const finalText = (await fetchMetrics(metricsBase)) ?? endText;
    const leftAt = Date.now();
    if (watcher) {
      // Everyone left: does the memory the load took come back?
      watcher.phase = 'settle';
      log(`loadtest: everyone left; watching the server's memory for ${opts.settleS} s`);
      const settleEnd = leftAt + opts.settleS * 1000;
      while (Date.now() < settleEnd) await res.sleep(Math.min(10_000, settleEnd - Date.now()));
      watcher.stop();
      if (!(await watcher.sample())) throw new LoadTestError(`could not read ${metricsBase}/metrics after the soak's settle`);
    }

    let remoteData: RunData['remote'];
    if (remote) {
      const tickEnd = endText ? readHistogram(endText, 'worldmind_tick_duration_seconds', { room: 'world' }) : undefined;
      const patchEnd = endText ? readHistogram(endText, 'worldmind_patch_duration_seconds', { room: 'world' }) : undefined;
      const tickStart = baseline ? readHistogram(baseline, 'worldmind_tick_duration_seconds', { room: 'world' }) : undefined;
      const patchStart = baseline ? readHistogram(baseline, 'worldmind_patch_duration_seconds', { room: 'world' }) : undefined;
      remoteData = { tick: tickEnd ? histogramDelta(tickEnd, tickStart) : undefined, patch: patchEnd ? histogramDelta(patchEnd, patchStart) : undefined, series: remoteSeries };
      // A cluster's main-table tick is every game process's frames together, not the first one's.
      if (cluster) {
        remoteData = cluster.combined();
        // Its world rooms: every game process's own count, known only if every one could be read.
        const games = cluster.report().games;
        remoteRooms = games.every((g) => g.rooms !== null) ? games.reduce((t, g) => t + g.rooms!, 0) : undefined;
      }
      remoteData = { ...remoteData!, rooms: remoteRooms };
    }
    const illegalEnd = finalText ? metricTotal(finalText, ILLEGAL_ACTIONS_METRIC) : undefined;
    const illegalStart = baseline ? (metricTotal(baseline, ILLEGAL_ACTIONS_METRIC) ?? 0) : 0;
    const tokensEnd = finalText ? metricTotal(finalText, GENERATED_TOKENS_METRIC) : undefined;
    const tokensStart = baseline ? metricTotal(baseline, GENERATED_TOKENS_METRIC) : undefined;

    const summed: BotCounters = { intents: 0, walkingSeconds: 0, chats: 0, talksSkipped: 0, talksAbandoned: 0, latencyUnmatched: 0 };
    for (const c of counters.values()) for (const key of Object.keys(summed) as (keyof BotCounters)[]) summed[key] += c[key];
    if (opts.talkEveryS > 0 && data.errors.talk_unsupported) notes.push('the server answered talk messages with unknown_message: NPC dialogue is not wired on this server yet');

    const cpus = availableParallelism();
    const ourProcesses = k + (where === 'child' ? 1 : 0) + (where === 'in-process' ? 1 : 0);
    if (loadAtStart > cpus + 0.5 || loadAtEnd > Math.max(cpus, ourProcesses) + 1) {
      notes.push(`the machine was busy with other work (1-min load average ${loadAtStart.toFixed(1)} at start, ${loadAtEnd.toFixed(1)} at end, ${cpus} cores): numbers are pessimistic`);
    }
    const report = buildReport({
      options: opts,
      serverWhere: where,
      endpoint,
      startedAt,
      measureStart,
      measureEnd,
      ...data,
      counters: summed,
      frames,
      remote: remoteData,
      illegalActionsMetric: illegalEnd !== undefined ? illegalEnd - illegalStart : undefined,
      generatedTokensMetric: tokensEnd !== undefined && tokensStart !== undefined && tokensEnd >= tokensStart ? tokensEnd - tokensStart : undefined,
      machine: { cpus, loadavg_1m_at_start: Math.round(loadAtStart * 100) / 100, loadavg_1m_at_end: Math.round(loadAtEnd * 100) / 100 },
      notes,
    });
    const botElu = report.details.bot_event_loop_utilisation as { mean: number | null };
    const botNote = botLoadNote(botElu.mean, report.details.input_hz_per_walking_bot as number | null, opts.inputHz, report.details.bot_cpu_cores_by_process as number[]);
    if (botNote) notes.push(botNote);

    // Files.
    await mkdir(opts.outDir, { recursive: true });
    const stamp = new Date(startedAt).toISOString().replace(/[:.]/g, '-');
    const base = join(opts.outDir, `loadtest-${opts.players}p-${stamp}`);
    const jsonPath = `${base}.json`;
    const svgPath = `${base}.svg`;
    const clusterReport = cluster?.report();
    await writeFile(jsonPath, JSON.stringify({ ...report.summary, ...(clusterReport ? { cluster: clusterReport } : {}), details: report.details, tick_series: report.tickSeries, ttft_points: report.ttftPoints }, null, 2) + '\n');
    let soak: RunOutcome['soak'];
    if (watcher && opts.soakMin !== undefined) {
      const answered = report.summary.npc.turns;
      const input: SoakInput = {
        soakMin: opts.soakMin,
        players: opts.players,
        maxTalkers: opts.maxTalkers,
        talkEveryS: opts.talkEveryS,
        settleS: opts.settleS,
        sampleEveryS: opts.sampleEveryS,
        startedAt: soakStartedAt,
        loadEndedAt: measureEnd,
        leftAt,
        baselineBytes,
        samples: watcher.samples,
        failedReads: watcher.failedReads,
        turnsAnswered: answered,
        fallbacks: report.summary.npc.fallbacks,
        errors: report.summary.errors,
      };
      const built = buildSoak(input);
      const soakPath = join(opts.outDir, `soak-${opts.soakMin}min-${stamp}.json`);
      await writeFile(soakPath, JSON.stringify({ ...built.summary, load: report.summary, memory_samples: watcher.samples }, null, 2) + '\n');
      soak = { ...built, input, jsonPath: soakPath };
    }
    await writeFile(
      svgPath,
      renderChart({
        title: `Worldmind load test: ${opts.players} players, ${opts.durationS} s (${where} server)`,
        startedAt,
        measureStart,
        measureEnd,
        tick: report.tickSeries,
        ttft: report.ttftPoints,
        tickTargetMs: 20,
        // A server we did not start is read from /metrics every 2 s, its max only a bucket's upper bound.
        ...(remote ? { tickPointLabel: 'per 2 s (/metrics buckets)' } : {}),
      }),
    );
    return { report, jsonPath, svgPath, ...(clusterReport ? { cluster: clusterReport } : {}), ...(soak ? { soak } : {}) };
  }
}
