/**
 * Turns what the orchestrator collected into the load report: the summary (the exact JSON line the
 * issue specifies), details for the report file, and the human table.
 */
import { mean, percentile, round, table } from '../../tools/bench/stats.ts';
import { histogramMaxBound, histogramQuantile, type Histogram } from './metrics-scrape.ts';
import type { LoadTestOptions } from './options.ts';
import type { BotCounters, TurnRecord } from './protocol.ts';
import type { FrameReport } from './server-sampler.ts';

/** Action names a Worldmind NPC script can allow (the server's action vocabulary). */
export const KNOWN_ACTIONS = new Set(['walk_to', 'give_item', 'emote', 'follow', 'stop']);
/** Outcomes of a turn the NPC answered (as opposed to a refused or failed talk). */
const ANSWERED = new Set(['stop', 'length', 'fallback', 'cancelled', 'error']);

export type ServerWhere = 'child' | 'in-process' | 'remote';

/** Tick-time samples per second of the run, for the chart. */
export interface TickPoint {
  at: number;
  p50: number;
  p99: number;
  max: number;
}

export interface RunData {
  options: LoadTestOptions;
  serverWhere: ServerWhere;
  endpoint: string;
  startedAt: number;
  measureStart: number;
  measureEnd: number;
  joined: number;
  joinFailures: number;
  joinMs: number[];
  joinFailureMessages: string[];
  errors: Record<string, number>;
  latencyMs: number[];
  turns: TurnRecord[];
  counters: BotCounters;
  botElu: { at: number; process: number; elu: number }[];
  bytesPerClientS: number[];
  connectedAtEnd: number;
  talksInFlightAtEnd: number;
  /** Each bot process's CPU seconds (user + system) over its measured phase, and that phase's length. */
  botCpu: { process: number; cpuS: number; measuredS: number }[];
  /** Every-frame samples from a server the load tester owns. */
  frames: FrameReport[];
  /**
   * From /metrics when the server is remote: tick histogram over the measured window, per-interval points,
   * and its world rooms (worldmind_rooms; undefined when the endpoint does not expose them).
   */
  remote?: { tick: Histogram | undefined; patch: Histogram | undefined; series: TickPoint[]; rooms?: number | undefined };
  /** worldmind_npc_illegal_actions_total over the run, when the server exposes it. */
  illegalActionsMetric: number | undefined;
  /** worldmind_engine_generated_tokens_total over the measured phase and drain, when the server exposes it. */
  generatedTokensMetric?: number | undefined;
  machine: { cpus: number; loadavg_1m_at_start: number; loadavg_1m_at_end: number };
  notes: string[];
}

export interface Summary {
  players: number;
  joined: number;
  join_failures: number;
  duration_s: number;
  tick_ms: { p50: number | null; p99: number | null; max: number | null };
  bytes_per_client_s: number | null;
  state_latency_ms: { p50: number | null; p99: number | null };
  npc: { turns: number; ttft_ms: { p50: number | null; p99: number | null }; tok_s: number | null; fallbacks: number; illegal_actions: number };
  errors: number;
  /** The bot processes' own CPU over the measured phase: cores kept busy (CPU s per wall s, all together) and that as a share of the machine's cores. */
  bot_cpu: { cores: number | null; share_of_machine: number | null };
}

export interface Report {
  summary: Summary;
  details: Record<string, unknown>;
  tickSeries: TickPoint[];
  ttftPoints: { at: number; ms: number; outcome: string }[];
}

const num = (v: number, digits = 2): number | null => (Number.isFinite(v) ? round(v, digits) : null);

export function buildReport(d: RunData): Report {
  const inWindow = (at: number) => at > d.measureStart && at <= d.measureEnd + 1_000;
  const measuredS = (d.measureEnd - d.measureStart) / 1000;

  // Tick time: every frame of an owned server; bucket estimates from /metrics for a remote one.
  let tick = { p50: Number.NaN, p99: Number.NaN, max: Number.NaN };
  let tickSource: string;
  let tickSeries: TickPoint[];
  let frameCount = 0;
  if (d.remote) {
    tickSource = 'remote /metrics worldmind_tick_duration_seconds (simulation step only; bucket-interpolated; max = bucket bound)';
    if (d.remote.tick) tick = { p50: histogramQuantile(d.remote.tick, 0.5) * 1000, p99: histogramQuantile(d.remote.tick, 0.99) * 1000, max: histogramMaxBound(d.remote.tick) * 1000 };
    frameCount = d.remote.tick?.count ?? 0;
    tickSeries = d.remote.series;
  } else {
    tickSource = `world-room frame times (simulation step + state patch), every frame, server ${d.serverWhere}`;
    const frames = d.frames.filter((f) => inWindow(f.at)).flatMap((f) => f.frames);
    frameCount = frames.length;
    tick = { p50: percentile(frames, 50), p99: percentile(frames, 99), max: frames.length ? Math.max(...frames) : Number.NaN };
    tickSeries = d.frames.filter((f) => f.frames.length > 0).map((f) => ({ at: f.at, p50: percentile(f.frames, 50), p99: percentile(f.frames, 99), max: Math.max(...f.frames) }));
  }
  const windowReports = d.frames.filter((f) => inWindow(f.at));
  // Rooms: counted by the sampler of a server we own, read from the /metrics of one we do not.
  const rooms = d.remote ? d.remote.rooms : windowReports.length ? Math.max(...windowReports.map((f) => f.rooms)) : undefined;
  const roomsSource = d.remote ? (rooms !== undefined ? 'remote /metrics worldmind_rooms{type="world"} (most seen in the window)' : 'not available from this endpoint (no worldmind_rooms in its /metrics)') : 'world rooms of the server the load tester started';
  const serverElu = windowReports.length ? mean(windowReports.map((f) => f.elu)) : Number.NaN;
  const serverCores = windowReports.length ? mean(windowReports.map((f) => f.cpuCores)) : Number.NaN;
  const framesPerRoomS = rooms && measuredS > 0 ? frameCount / rooms / measuredS : Number.NaN;

  // NPC turns of the measured phase.
  const turns = d.turns.filter((t) => t.sentAt >= d.measureStart);
  const answered = turns.filter((t) => ANSWERED.has(t.outcome));
  const ttft = answered.map((t) => t.firstChunkMs).filter((v): v is number => v !== null);
  const fallbacks = answered.filter((t) => t.outcome === 'fallback').length;
  const illegalByName = answered.filter((t) => t.action !== null && !KNOWN_ACTIONS.has(t.action)).length;
  const illegal = d.illegalActionsMetric ?? illegalByName;
  const streamed = answered.filter((t) => t.firstChunkAt !== null && t.chunks > 0);
  const chunks = streamed.reduce((a, t) => a + t.chunks, 0);
  const busyS = unionSeconds(streamed.map((t) => [t.firstChunkAt!, t.endedAt] as const));
  // Throughput as players see it: streamed chunks (≈ tokens) per second of wall time during which any
  // reply was streaming. (The engine's own token counter also counts tokens players never see — the
  // action call, memory summaries — so it is reported beside this, not instead.)
  const tokS = chunks > 0 && busyS > 0 ? chunks / busyS : Number.NaN;
  const perTurnTokS = streamed.filter((t) => t.chunks > 1 && t.endedAt > t.firstChunkAt!).map((t) => (t.chunks - 1) / ((t.endedAt - t.firstChunkAt!) / 1000));
  const outcomes: Record<string, number> = {};
  for (const t of turns) outcomes[t.outcome] = (outcomes[t.outcome] ?? 0) + 1;

  const inFlight = turnsInFlight(d.turns, d.measureStart, d.measureEnd);
  // Cores the bots kept busy: each process's CPU seconds over its own measured wall time, summed.
  const botCores = d.botCpu.filter((b) => b.measuredS > 0).map((b) => b.cpuS / b.measuredS);
  const botCoresTotal = botCores.length ? botCores.reduce((a, b) => a + b, 0) : Number.NaN;
  const errors = Object.values(d.errors).reduce((a, b) => a + b, 0);
  const measuredElu = d.botElu.filter((e) => inWindow(e.at)).map((e) => e.elu);
  const c = d.counters;

  const summary: Summary = {
    players: d.options.players,
    joined: d.joined,
    join_failures: d.joinFailures,
    duration_s: round(measuredS, 1),
    tick_ms: { p50: num(tick.p50, 3), p99: num(tick.p99, 3), max: num(tick.max, 3) },
    bytes_per_client_s: num(mean(d.bytesPerClientS), 0),
    state_latency_ms: { p50: num(percentile(d.latencyMs, 50), 1), p99: num(percentile(d.latencyMs, 99), 1) },
    npc: {
      turns: answered.length,
      ttft_ms: { p50: num(percentile(ttft, 50), 1), p99: num(percentile(ttft, 99), 1) },
      tok_s: num(tokS, 1),
      fallbacks,
      illegal_actions: illegal,
    },
    errors,
    bot_cpu: { cores: num(botCoresTotal, 2), share_of_machine: num(botCoresTotal / d.machine.cpus, 3) },
  };

  const details: Record<string, unknown> = {
    command: `npm run loadtest -- ${d.options.targets ? `--target ${d.options.targets.join(',')}${d.options.inferenceMetrics.length ? ` --inference-metrics ${d.options.inferenceMetrics.join(',')}` : ''}` : d.options.endpoint ? `--endpoint ${d.options.endpoint}` : `--server ${d.options.server}`} --players ${d.options.players} --duration ${d.options.durationS} --talk-every ${d.options.talkEveryS} --processes ${d.options.processes}${d.options.aoi ? '' : ' --no-aoi'}`,
    server: d.serverWhere,
    endpoint: d.endpoint,
    aoi: d.options.endpoint ? 'as configured on the remote server' : d.options.aoi,
    bot_processes: d.options.processes,
    tracked_bots: d.options.tracked,
    tick_source: tickSource,
    frames: frameCount,
    rooms: rooms ?? null,
    rooms_source: roomsSource,
    frames_per_room_s: num(framesPerRoomS, 1),
    expected_frames_per_room_s: d.remote ? null : round(1000 / Number(process.env.PATCH_RATE_MS || 50), 1),
    machine: d.machine,
    server_event_loop_utilisation: num(serverElu, 3),
    server_cpu_cores: num(serverCores, 2),
    server_cpu_method: 'process.cpuUsage() (user + system, every thread) of the server process the load tester started, per wall second, mean of the 1-s reports in the measured phase (in-process: includes the orchestrator); null for a remote server',
    bot_event_loop_utilisation: { mean: num(mean(measuredElu), 3), max: measuredElu.length ? num(Math.max(...measuredElu), 3) : null },
    bot_cpu_cores_by_process: botCores.map((c) => round(c, 3)),
    bot_cpu_method: 'process.cpuUsage() (user + system) of each bot process over its measured phase ÷ that wall time; share = sum ÷ cores',
    input_hz_per_walking_bot: num(c.walkingSeconds > 0 ? c.intents / c.walkingSeconds : Number.NaN, 2),
    input_hz_target: d.options.inputHz,
    intents_sent: c.intents,
    chats_sent: c.chats,
    join_ms: { p50: num(percentile(d.joinMs, 50), 1), p99: num(percentile(d.joinMs, 99), 1) },
    join_failure_messages: d.joinFailureMessages,
    state_latency_samples: d.latencyMs.length,
    state_latency_unmatched: c.latencyUnmatched,
    connected_at_end: d.connectedAtEnd,
    errors_by_kind: d.errors,
    npc: {
      talk_every_s: d.options.talkEveryS,
      max_talkers: d.options.maxTalkers,
      turn_outcomes: outcomes,
      talks_skipped_cap_or_no_free_talker: c.talksSkipped,
      talks_abandoned_unreachable: c.talksAbandoned,
      talks_in_flight_at_end: d.talksInFlightAtEnd,
      turns_in_flight: inFlight,
      turns_in_flight_method: 'from the bots\' own turn records: each turn from its line sent to its end, overlapped with the measured phase (time-weighted mean, exact max)',
      chunks_streamed: chunks,
      tok_s_per_stream_p50: num(percentile(perTurnTokS, 50), 1),
      tok_s_method: 'streamed chunks (≈ tokens) per second of wall time while any reply was streaming',
      streaming_s: num(busyS, 1),
      engine_generated_tokens: d.generatedTokensMetric ?? null,
      engine_tokens_per_streaming_s: d.generatedTokensMetric !== undefined && busyS > 0 ? num(d.generatedTokensMetric / busyS, 1) : null,
      illegal_actions_source: d.illegalActionsMetric !== undefined ? 'worldmind_npc_illegal_actions_total' : `action names outside ${[...KNOWN_ACTIONS].join('/')}`,
    },
    notes: d.notes,
  };
  if (d.remote?.patch) {
    details.remote_patch_ms = { p50: num(histogramQuantile(d.remote.patch, 0.5) * 1000, 3), p99: num(histogramQuantile(d.remote.patch, 0.99) * 1000, 3) };
  }

  const ttftPoints = d.turns.filter((t) => ANSWERED.has(t.outcome) && t.firstChunkMs !== null).map((t) => ({ at: t.sentAt + t.firstChunkMs!, ms: t.firstChunkMs!, outcome: t.outcome }));
  return { summary, details, tickSeries, ttftPoints };
}

/**
 * The note when the bots fell behind, and why: a busy event loop with little CPU behind it means the bot
 * processes were waiting for a core (other work on the machine), not that the bots are expensive.
 */
export function botLoadNote(eluMean: number | null, inputHz: number | null, inputHzTarget: number, coresByProcess: readonly number[]): string | undefined {
  if (!((eluMean ?? 0) > 0.85 || (inputHz !== null && inputHz < inputHzTarget * 0.9))) return undefined;
  const base = 'the bot processes could not keep up (event loop > 85% busy on average or input rate below 90% of target): the server saw less load than asked';
  const busiest = coresByProcess.length ? Math.max(...coresByProcess) : Number.NaN;
  if (busiest < 0.6) {
    const total = coresByProcess.reduce((a, b) => a + b, 0);
    return `${base}; yet they used only ${round(total, 2)} core(s) of CPU (busiest process ${round(busiest, 2)}): they were waiting for a core, starved by other work on the machine, not expensive`;
  }
  return `${base}; add --processes or cores`;
}

/**
 * NPC turns in flight during [from, to] from the bots' own records (line sent → turn ended), so it does
 * not depend on what the server exposes or on when progress happened to be sampled: the time-weighted
 * mean and the exact maximum of overlapping turns.
 */
export function turnsInFlight(turns: readonly Pick<TurnRecord, 'sentAt' | 'endedAt'>[], from: number, to: number): { mean: number | null; max: number } {
  if (!(to > from)) return { mean: null, max: 0 };
  const events: [number, number][] = [];
  let covered = 0;
  for (const t of turns) {
    const a = Math.max(t.sentAt, from);
    const b = Math.min(t.endedAt, to);
    if (b <= a) continue;
    covered += b - a;
    events.push([a, 1], [b, -1]);
  }
  // At the same instant a turn that ends goes before one that starts: back to back is not overlap.
  events.sort((x, y) => x[0] - y[0] || x[1] - y[1]);
  let now = 0;
  let max = 0;
  for (const [, delta] of events) {
    now += delta;
    if (now > max) max = now;
  }
  return { mean: round(covered / (to - from), 2), max };
}

/** Total seconds covered by a set of [start, end] epoch-ms intervals. */
function unionSeconds(intervals: readonly (readonly [number, number])[]): number {
  const sorted = [...intervals].filter(([a, b]) => b > a).sort((x, y) => x[0] - y[0]);
  let total = 0;
  let curStart = Number.NaN;
  let curEnd = Number.NaN;
  for (const [a, b] of sorted) {
    if (Number.isNaN(curStart) || a > curEnd) {
      if (!Number.isNaN(curStart)) total += curEnd - curStart;
      curStart = a;
      curEnd = b;
    } else curEnd = Math.max(curEnd, b);
  }
  if (!Number.isNaN(curStart)) total += curEnd - curStart;
  return total / 1000;
}

const show = (v: number | null, unit = ''): string => (v === null ? '–' : `${v}${unit}`);

export function renderTable(report: Report): string {
  const s = report.summary;
  const d = report.details as {
    server: string;
    bot_processes: number;
    tracked_bots: number;
    rooms: number | null;
    rooms_source: string;
    frames_per_room_s: number | null;
    expected_frames_per_room_s: number | null;
    server_event_loop_utilisation: number | null;
    server_cpu_cores: number | null;
    bot_event_loop_utilisation: { mean: number | null; max: number | null };
    machine: { cpus: number; loadavg_1m_at_start: number; loadavg_1m_at_end: number };
    input_hz_per_walking_bot: number | null;
    input_hz_target: number;
    state_latency_samples: number;
    errors_by_kind: Record<string, number>;
    npc: { turn_outcomes: Record<string, number>; talks_skipped_cap_or_no_free_talker: number; turns_in_flight: { mean: number | null; max: number } };
    tick_source: string;
  };
  const errorKinds = Object.entries(d.errors_by_kind)
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  const rows: (string | number)[][] = [
    ['players (joined / failed)', `${s.players} (${s.joined} / ${s.join_failures})`],
    ['measured duration', `${s.duration_s} s`],
    ['server', `${d.server}; ${d.rooms !== null ? `${d.rooms} world room(s)` : 'world rooms not available from this endpoint'}; ${show(d.frames_per_room_s)} frames/room/s${d.expected_frames_per_room_s ? ` (of ${d.expected_frames_per_room_s})` : ''}; ${d.server_event_loop_utilisation === null && d.server === 'remote' ? 'event loop load not available from this endpoint' : `event loop ${show(d.server_event_loop_utilisation === null ? null : round(d.server_event_loop_utilisation * 100, 0), '%')} busy`}`],
    ['bot processes', `${d.bot_processes} (${d.tracked_bots} tracked bots); event loop mean ${show(d.bot_event_loop_utilisation.mean === null ? null : round(d.bot_event_loop_utilisation.mean * 100, 0), '%')}, max ${show(d.bot_event_loop_utilisation.max === null ? null : round(d.bot_event_loop_utilisation.max * 100, 0), '%')}`],
    [
      'bot CPU',
      s.bot_cpu.cores === null
        ? '– (no bot process reported its measured phase)'
        : `${s.bot_cpu.cores} core(s) busy = ${round(s.bot_cpu.share_of_machine! * 100, 1)} % of ${d.machine.cpus} cores (1-min load ${d.machine.loadavg_1m_at_start} at start, ${d.machine.loadavg_1m_at_end} at end)`,
    ],
    ['server CPU', d.server_cpu_cores === null ? '– (not measured for a server the load tester did not start)' : `${d.server_cpu_cores} core(s) busy = ${round((d.server_cpu_cores / d.machine.cpus) * 100, 1)} % of ${d.machine.cpus} cores (every thread of the server process)`],
    ['input per walking bot', `${show(d.input_hz_per_walking_bot)} Hz (target ${d.input_hz_target})`],
    ['tick p50 / p99 / max', `${show(s.tick_ms.p50)} / ${show(s.tick_ms.p99)} / ${show(s.tick_ms.max)} ms`],
    ['bytes per client', `${show(s.bytes_per_client_s)} B/s`],
    ['state latency p50 / p99', `${show(s.state_latency_ms.p50)} / ${show(s.state_latency_ms.p99)} ms (${d.state_latency_samples} samples)`],
    ['NPC turns', `${s.npc.turns} answered; outcomes ${JSON.stringify(d.npc.turn_outcomes)}; skipped (cap or no free talker) ${d.npc.talks_skipped_cap_or_no_free_talker}`],
    ['NPC TTFT p50 / p99', `${show(s.npc.ttft_ms.p50)} / ${show(s.npc.ttft_ms.p99)} ms (NPC turns in flight: mean ${show(d.npc.turns_in_flight.mean)}, max ${d.npc.turns_in_flight.max})`],
    ['NPC tok/s (approx.)', show(s.npc.tok_s)],
    ['NPC fallbacks / illegal actions', `${s.npc.fallbacks} / ${s.npc.illegal_actions}`],
    ['errors', `${s.errors}${errorKinds ? ` (${errorKinds})` : ''}`],
  ];
  return `${table(['metric', 'value'], rows)}\ntick source: ${d.tick_source}`;
}
