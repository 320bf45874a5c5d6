/**
 * `npm run loadtest -- --players N --duration S [--talk-every S] [--endpoint URL] [--no-aoi]
 *                     [--processes K] [--server child|in-process] [--json] [--out DIR] [--allow-remote]`
 * `npm run loadtest -- --target URL,URL… [--inference-metrics URL,…] --players N --duration S [...]`
 * `npm run loadtest -- --soak MINUTES [--players N] [--settle S] [--sample-every S] [...]`
 * `npm run loadtest -- --find-knee [--knee-min N] [--knee-max N] [--knee-target-ms MS] [--knee-budget S] [...]`
 *
 * Simulated players (built on the client SDK) walk Emberfall, idle, chat and talk to NPCs while the
 * load tester measures the server: tick time, bytes per client, state latency, NPC turns. Prints a
 * table (progress goes to stderr), and with `--json` one last JSON line on stdout; writes the JSON
 * report and an SVG chart into `--out` (default loadtest/reports/, git-ignored).
 *
 * Where things run: with `--endpoint` the bots load that server (loopback only unless
 * `--allow-remote`) and tick times come from its /metrics. Without it the load tester starts a
 * server itself — by default in its own child process, so on a 2-core machine the server has one
 * core and the bot processes the other (`--server in-process` hosts it in this process instead).
 * Bots always run in forked processes (`--processes`, default one per 1000 players).
 *
 * `--soak` (soak.ts): a bounded NPC talk load for MINUTES while the server's RSS is read from its
 * /metrics — a baseline before the bots join, every sample under load, and `--settle` seconds after
 * everyone left; prints the RSS table and one JSON line.
 *
 * `--find-knee` (knee.ts): one fresh run per probed player count, ramping then bisecting to the largest
 * count with tick p99 under the target, within a time budget; prints the probes and one JSON line.
 *
 * Exit codes: 0 done, 2 bad options / refused endpoint, 1 the run failed, 3 hard deadline.
 */
import { availableParallelism, loadavg } from 'node:os';
import { renderClusterTables } from './cluster.ts';
import { findKnee } from './knee.ts';
import { OptionsError, parseOptions, USAGE } from './options.ts';
import { renderTable } from './report.ts';
import { LoadTestError, runLoadTest } from './run.ts';
import { renderSoakTable } from './soak.ts';

let options;
try {
  options = parseOptions(process.argv.slice(2));
} catch (err) {
  if (err instanceof OptionsError) {
    if (err.message) process.stderr.write(`loadtest: ${err.message.split('\n').join('\nloadtest: ')}\n\n`);
    // --help (no problem to report) is an answer: stdout, exit 0.
    (err.message ? process.stderr : process.stdout).write(USAGE);
    process.exit(err.message ? 2 : 0);
  }
  throw err;
}

const stopOnSignal = (signal: NodeJS.Signals) => {
  process.stderr.write(`loadtest: ${signal}, stopping\n`);
  process.exit(130);
};
process.once('SIGINT', stopOnSignal);
process.once('SIGTERM', stopOnSignal);

if (options.findKnee) {
  const search = options.findKnee;
  const argv = process.argv.slice(2);
  const loads: number[] = [];
  try {
    const result = await findKnee(
      async (players) => {
        process.stderr.write(`loadtest: knee: probing ${players} players…\n`);
        // Each probe is an ordinary run with its own defaults for that count (bot processes, tracked bots, ramp).
        const outcome = await runLoadTest(parseOptions([...argv, '--players', String(players)]));
        loads.push(loadavg()[0]!);
        const s = outcome.report.summary;
        const d = outcome.report.details as { frames_per_room_s?: number | null; expected_frames_per_room_s?: number | null };
        const frames = d.frames_per_room_s ?? null;
        const expected = d.expected_frames_per_room_s ?? null;
        process.stderr.write(`loadtest: knee: ${players} players: tick p99 ${s.tick_ms.p99 ?? '?'} ms, ${frames ?? '?'} frames/room/s${expected ? ` (of ${expected})` : ''}, ${s.joined} joined\n`);
        return { tickP99Ms: s.tick_ms.p99, joined: s.joined, framesPerRoomS: frames, expectedFramesPerRoomS: expected };
      },
      { min: search.min, max: search.max, targetMs: search.targetMs, budgetMs: search.budgetS * 1000 },
    );
    for (const p of result.probes) process.stdout.write(`${String(p.players).padStart(6)} players  tick p99 ${String(p.tickP99Ms ?? '?').padStart(8)} ms  frames/room/s ${String(p.framesPerRoomS ?? '?').padStart(5)}  joined ${p.joined}  ${p.holds ? 'holds' : 'fails'}\n`);
    process.stdout.write(`knee: ${result.knee} players with tick p99 < ${search.targetMs} ms and the patch rate kept (${result.stoppedBy === 'found' ? `${result.firstFailing} fail` : result.stoppedBy === 'max' ? 'every probed count held, up to --knee-max' : 'time budget ran out'})\n`);
    process.stdout.write(JSON.stringify({ knee_players: result.knee, first_failing: result.firstFailing ?? null, target_ms: search.targetMs, stopped_by: result.stoppedBy, probes: result.probes, machine: { cpus: availableParallelism(), loadavg_1m_after_probes: loads } }) + '\n');
    process.exit(0);
  } catch (err) {
    process.stderr.write(`loadtest: ${err instanceof LoadTestError ? err.message : ((err as Error).stack ?? String(err))}\n`);
    process.exit(1);
  }
}

try {
  const outcome = await runLoadTest(options);
  process.stdout.write(renderTable(outcome.report) + '\n');
  if (outcome.cluster) process.stdout.write(`\n${renderClusterTables(outcome.cluster)}\n`);
  const notes = outcome.report.details.notes as string[];
  for (const note of notes) process.stdout.write(`note: ${note}\n`);
  process.stdout.write(`report: ${outcome.jsonPath}\nchart:  ${outcome.svgPath}\n`);
  if (outcome.soak) {
    // A soak always ends with its one JSON line (the load summary inside it).
    process.stdout.write(`\n${renderSoakTable(outcome.soak.summary, outcome.soak.rows, outcome.soak.input)}\nsoak report: ${outcome.soak.jsonPath}\n`);
    process.stdout.write(JSON.stringify({ ...outcome.soak.summary, load: outcome.report.summary }) + '\n');
  } else if (options.json) process.stdout.write(JSON.stringify(outcome.cluster ? { ...outcome.report.summary, cluster: outcome.cluster } : outcome.report.summary) + '\n');
  process.exit(0);
} catch (err) {
  process.stderr.write(`loadtest: ${err instanceof LoadTestError ? err.message : ((err as Error).stack ?? String(err))}\n`);
  process.exit(err instanceof LoadTestError && err.message.startsWith('hard deadline') ? 3 : 1);
}
