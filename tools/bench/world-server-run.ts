/**
 * Child process of `bench:world`: runs one game server (one core's worth of work) and reports the
 * world room's frame times for the window the parent asks for. Talks to the parent over IPC:
 *   parent → { cmd: 'measure', ms }   child → { event: 'frames', frames: number[], clients }
 *   child → { event: 'ready', port }  parent → { cmd: 'stop' }
 */
import { loadConfig } from '../../server/src/config.ts';
import { startServer } from '../../server/src/server.ts';

const aoi = process.env.BENCH_AOI !== 'false';
const config = loadConfig(process.env, {
  PORT: 0,
  HOST: '127.0.0.1',
  LOG_LEVEL: 'warn',
  AOI_ENABLED: aoi,
  MAX_CLIENTS_PER_ROOM: 5_000,
  MAX_MESSAGES_PER_SECOND: 1_000,
});
const server = await startServer(config);
process.send!({ event: 'ready', port: server.port });

process.on('message', async (msg: { cmd: string; ms?: number }) => {
  if (msg.cmd === 'measure') {
    const room = server.worldRooms()[0];
    if (!room) {
      process.send!({ event: 'frames', frames: [], clients: 0 });
      return;
    }
    room.frameDurations.length = 0;
    await new Promise((r) => setTimeout(r, msg.ms ?? 5_000));
    process.send!({ event: 'frames', frames: [...room.frameDurations], clients: room.clients.length });
  } else if (msg.cmd === 'stop') {
    await server.shutdown();
    process.exit(0);
  }
});
// Never outlive the parent.
process.on('disconnect', () => process.exit(0));
