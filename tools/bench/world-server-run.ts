/**
 * Child process of `bench:world`: runs one game server (one core's worth of work) and reports the
 * world room's frame times for the window the parent asks for. Talks to the parent over IPC:
 *   parent → { cmd: 'measure', ms, saturate? }   child → { event: 'frames', frames: number[], clients, generated, views }
 * (`views`: distinct state views the room encodes per patch at the end of the window — its interest groups.)
 * With `saturate: N` the child keeps N generation requests in flight on the server's own inference
 * engine (its worker thread) for the whole window: the game loop must not feel it.
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
  DB_PATH: ':memory:',
  NPC_ENABLED: process.env.BENCH_NPC === 'true',
  // Hundreds of bots sign up as guests from one loopback address within seconds.
  GUEST_SIGNUP_BURST: 0,
});
const server = await startServer(config);
process.send!({ event: 'ready', port: server.port });

/** Keeps `concurrency` NPC-sized generations running on the engine until `until` resolves. */
async function saturate(concurrency: number, until: Promise<unknown>): Promise<number> {
  const engine = server.npc?.engine;
  if (!engine) throw new Error('saturating needs the inference engine (BENCH_NPC=true)');
  let done = false;
  let generated = 0;
  void until.then(() => (done = true));
  const prompt = '<|im_start|>system\nYou are Bram, the blacksmith of Emberfall.<|im_end|>\n<|im_start|>user\nTell me about the war at the bridge.<|im_end|>\n<|im_start|>assistant\n';
  const worker = async (lane: number) => {
    for (let i = 0; !done; i++) {
      const result = await engine.generate({ prompt, maxTokens: 64, temperature: 0.9, seed: lane * 100_000 + i, priority: 'ambient' }).result.catch(() => undefined);
      generated += result?.tokens.length ?? 0;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, (_, lane) => worker(lane)));
  return generated;
}

process.on('message', async (msg: { cmd: string; ms?: number; saturate?: number }) => {
  if (msg.cmd === 'measure') {
    const room = server.worldRooms()[0];
    if (!room) {
      process.send!({ event: 'frames', frames: [], clients: 0, generated: 0, views: 0 });
      return;
    }
    room.frameDurations.length = 0;
    const window = new Promise((r) => setTimeout(r, msg.ms ?? 5_000));
    const load = msg.saturate ? saturate(msg.saturate, window) : Promise.resolve(0);
    await window;
    const frames = [...room.frameDurations];
    const generated = await load;
    process.send!({ event: 'frames', frames, clients: room.clients.length, generated, views: room.interest.groupCount });
  } else if (msg.cmd === 'stop') {
    await server.shutdown();
    process.exit(0);
  }
});
// Never outlive the parent.
process.on('disconnect', () => process.exit(0));
