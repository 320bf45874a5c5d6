/**
 * The load report's figures that used to be wrong against a server the load tester did not start:
 * turns in flight (now from the bots' own turn records, exact) and world rooms (from the target's
 * /metrics, or said to be unavailable); and the bots' own CPU share.
 */
import { describe, expect, it } from 'vitest';
import { worldRooms } from '../../loadtest/src/metrics-scrape.ts';
import { parseOptions } from '../../loadtest/src/options.ts';
import type { TurnRecord } from '../../loadtest/src/protocol.ts';
import { botLoadNote, buildReport, renderTable, turnsInFlight, type RunData } from '../../loadtest/src/report.ts';

const T0 = 1_700_000_000_000;

function turn(sentS: number, endS: number, outcome = 'stop'): TurnRecord {
  return { sentAt: T0 + sentS * 1000, firstChunkAt: T0 + sentS * 1000 + 50, endedAt: T0 + endS * 1000, npcId: 'npc', outcome, chunks: 5, firstChunkMs: 50, action: null };
}

function runData(over: Partial<RunData> = {}): RunData {
  return {
    options: parseOptions(['--players', '10', '--duration', '10', '--endpoint', 'ws://127.0.0.1:2567']),
    serverWhere: 'remote',
    endpoint: 'ws://127.0.0.1:2567',
    startedAt: T0 - 5_000,
    measureStart: T0,
    measureEnd: T0 + 10_000,
    joined: 10,
    joinFailures: 0,
    joinMs: [10],
    joinFailureMessages: [],
    errors: {},
    latencyMs: [40],
    turns: [turn(1, 4), turn(2, 3), turn(2.5, 6)],
    counters: { intents: 100, walkingSeconds: 10, chats: 0, talksSkipped: 0, talksAbandoned: 0, latencyUnmatched: 0 },
    botElu: [],
    bytesPerClientS: [1000],
    connectedAtEnd: 10,
    talksInFlightAtEnd: 0,
    botCpu: [
      { process: 0, cpuS: 3, measuredS: 10 },
      { process: 1, cpuS: 2, measuredS: 10 },
    ],
    frames: [],
    remote: { tick: undefined, patch: undefined, series: [], rooms: 2 },
    illegalActionsMetric: undefined,
    machine: { cpus: 2, loadavg_1m_at_start: 1, loadavg_1m_at_end: 1 },
    notes: [],
    ...over,
  };
}

describe('load report', () => {
  it('counts turns in flight exactly from the turn records, clipped to the measured phase', () => {
    // 1–4, 2–3 and 2.5–6 overlap three deep between 2.5 and 3 s.
    expect(turnsInFlight([turn(1, 4), turn(2, 3), turn(2.5, 6)], T0, T0 + 10_000)).toEqual({ mean: 0.75, max: 3 });
    // Back to back is not overlap; a turn outside the window does not count; one spanning it is clipped.
    expect(turnsInFlight([turn(1, 2), turn(2, 3)], T0, T0 + 10_000)).toEqual({ mean: 0.2, max: 1 });
    expect(turnsInFlight([turn(-5, -1), turn(11, 12)], T0, T0 + 10_000)).toEqual({ mean: 0, max: 0 });
    expect(turnsInFlight([turn(-5, 20)], T0, T0 + 10_000)).toEqual({ mean: 1, max: 1 });
    expect(turnsInFlight([], T0, T0)).toEqual({ mean: null, max: 0 });
  });

  it('reads world rooms of a server it did not start from its /metrics, and says so when they are missing', () => {
    const text = ['# TYPE worldmind_rooms gauge', 'worldmind_rooms{type="world"} 3', 'worldmind_rooms{type="lobby"} 1'].join('\n');
    expect(worldRooms(text)).toBe(3);
    expect(worldRooms('worldmind_ccu 4')).toBeUndefined();

    const known = buildReport(runData());
    expect(known.details.rooms).toBe(2);
    expect(renderTable(known)).toMatch(/remote; 2 world room\(s\)/);

    const unknown = buildReport(runData({ remote: { tick: undefined, patch: undefined, series: [], rooms: undefined } }));
    expect(unknown.details.rooms).toBeNull();
    expect(unknown.details.rooms_source).toMatch(/not available from this endpoint/);
    const table = renderTable(unknown);
    expect(table).toMatch(/world rooms not available from this endpoint/);
    expect(table).not.toMatch(/\? world room/);
    expect(table).toMatch(/event loop load not available from this endpoint/);
  });

  it('reports turns in flight and the bots\' CPU share in the table and the summary', () => {
    const report = buildReport(runData());
    expect((report.details.npc as { turns_in_flight: unknown }).turns_in_flight).toEqual({ mean: 0.75, max: 3 });
    // 0.3 + 0.2 cores of a 2-core machine.
    expect(report.summary.bot_cpu).toEqual({ cores: 0.5, share_of_machine: 0.25 });
    expect(Object.keys(report.summary).at(-1)).toBe('bot_cpu');
    const table = renderTable(report);
    expect(table).toMatch(/in flight: mean 0\.75, max 3/);
    expect(table).toMatch(/bot CPU\s*│?\s*0\.5 core\(s\) busy = 25 % of 2 cores/);

    const none = buildReport(runData({ botCpu: [] }));
    expect(none.summary.bot_cpu).toEqual({ cores: null, share_of_machine: null });
    // A remote server's CPU is not ours to read: said so, not zero.
    expect(report.details.server_cpu_cores).toBeNull();
    expect(table).toMatch(/server CPU\s*│?\s*– \(not measured/);
  });

  it('reports the CPU of a server it started, from the reports of its measured phase only', () => {
    const frame = (atS: number, cpuCores: number) => ({ event: 'frames' as const, at: T0 + atS * 1000, frames: [5], rooms: 1, clients: 10, elu: 0.5, cpuCores, rssMb: 100 });
    // The join (before T0) ran at 1.9 cores; the measured phase at 0.6 and 1.0.
    const report = buildReport(runData({ serverWhere: 'child', remote: undefined, frames: [frame(-1, 1.9), frame(4, 0.6), frame(8, 1.0)] }));
    expect(report.details.server_cpu_cores).toBe(0.8);
    expect(renderTable(report)).toMatch(/server CPU\s*│?\s*0\.8 core\(s\) busy = 40 % of 2 cores/);
  });

  it('tells bots that were starved of a core from bots that are too expensive', () => {
    expect(botLoadNote(0.4, 10, 10, [0.3])).toBeUndefined();
    // 1,000 players beside two other busy jobs: loop 96 % busy, 0.3 cores of CPU.
    expect(botLoadNote(0.96, 9.4, 10, [0.3])).toMatch(/only 0\.3 core\(s\) of CPU .*starved by other work/);
    expect(botLoadNote(0.96, 9.4, 10, [0.95])).toMatch(/add --processes or cores$/);
    expect(botLoadNote(0.5, 7, 10, [0.9, 0.2])).toMatch(/add --processes or cores$/);
  });
});
