/**
 * Samples a server the load tester owns (in this process or in its child): every second, drains the
 * frame costs every world room recorded (simulation step + state patch, in ms) and reads the
 * process's event-loop utilisation, so the report sees every frame, not a histogram of them.
 */
import { performance } from 'node:perf_hooks';
import type { RunningServer } from '../../server/src/server.ts';
import type { FromServer } from './protocol.ts';

export type FrameReport = Extract<FromServer, { event: 'frames' }>;

export function startFrameSampler(server: RunningServer, emit: (report: FrameReport) => void, intervalMs = 1_000): () => void {
  let last = performance.eventLoopUtilization();
  let lastCpu = process.cpuUsage();
  let lastAt = performance.now();
  for (const room of server.worldRooms()) room.frameDurations.length = 0;
  const sample = () => {
    const frames: number[] = [];
    let clients = 0;
    const rooms = server.worldRooms();
    for (const room of rooms) {
      for (const f of room.frameDurations.splice(0)) frames.push(f);
      clients += room.clients.length;
    }
    const elu = performance.eventLoopUtilization(last);
    last = performance.eventLoopUtilization();
    // CPU of the whole process (every thread: uWS's socket work, onnxruntime, GC helpers) per wall second:
    // what the server takes from the machine, beside what the bots take.
    const cpu = process.cpuUsage(lastCpu);
    const now = performance.now();
    const cpuCores = (cpu.user + cpu.system) / 1000 / Math.max(1, now - lastAt);
    lastCpu = process.cpuUsage();
    lastAt = now;
    emit({ event: 'frames', at: Date.now(), frames, rooms: rooms.length, clients, elu: elu.utilization, cpuCores, rssMb: process.memoryUsage.rss() / 1048576 });
  };
  const timer = setInterval(sample, intervalMs);
  return () => {
    clearInterval(timer);
    sample();
  };
}

/** Configuration for a server the load tester starts: loopback, any free port, the environment for the rest. */
export async function ownedServerConfig(aoi: boolean, dbPath = process.env.LOADTEST_DB_PATH ?? ':memory:') {
  const { loadConfig } = await import('../../server/src/config.ts');
  // A load test's players are throwaway: keep their memories and inventories out of the real database
  // unless DB_PATH says otherwise (a soak passes a temporary file: an in-memory database's turn log would
  // grow the RSS it measures). Every bot is a new guest from one address: don't limit sign-ups.
  return loadConfig({ DB_PATH: dbPath, GUEST_SIGNUP_BURST: '0', ...process.env }, {
    PORT: 0,
    HOST: '127.0.0.1',
    AOI_ENABLED: aoi,
    ...(process.env.LOG_LEVEL ? {} : { LOG_LEVEL: 'warn' as const }),
  });
}
