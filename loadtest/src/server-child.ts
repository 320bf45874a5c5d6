/**
 * The game server in its own process (the default when the load tester starts one), so the server
 * and the bots sit on different cores. Forked with `--import tsx`; reports over IPC:
 *   child → { event: 'ready', port }, then { event: 'frames', … } every second
 *   parent → { cmd: 'stop' }: shut down cleanly (CPU profiles are written on this exit) and exit 0.
 * Exits by itself when the parent goes away or at LOADTEST_HARD_DEADLINE (epoch ms).
 */
import { startServer } from '../../server/src/server.ts';
import type { FromServer, ToServer } from './protocol.ts';
import { ownedServerConfig, startFrameSampler } from './server-sampler.ts';

const send = (message: FromServer) => {
  if (process.connected) process.send!(message);
};

const deadline = Number(process.env.LOADTEST_HARD_DEADLINE ?? Date.now() + 3_600_000);
const hardStop = setTimeout(() => {
  process.stderr.write(`loadtest server child ${process.pid}: hard deadline reached, exiting\n`);
  process.exit(3);
}, Math.max(0, deadline - Date.now()));

const server = await startServer(await ownedServerConfig(process.env.LOADTEST_AOI !== 'false'));
const stopSampling = startFrameSampler(server, send);
send({ event: 'ready', port: server.port });

let stopping = false;
async function stop(code: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  stopSampling();
  const force = setTimeout(() => process.exit(code), 10_000);
  await server.shutdown().catch(() => undefined);
  clearTimeout(force);
  clearTimeout(hardStop);
  process.exit(code);
}

process.on('message', (message: ToServer) => {
  if (message.cmd === 'stop') void stop(0);
});
process.on('disconnect', () => void stop(0));
