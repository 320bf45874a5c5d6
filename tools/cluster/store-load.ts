/**
 * What the store carries: NPC-turn-shaped writes against either backend, for the capacity plan
 * (docs/SCALING.md). Each simulated turn does what a game process does for one NPC turn — read the pair's
 * memory once (first turn of a pair), write the player's line and the reply (`appendTurn` × 2) and log the
 * turn with a prompt of realistic size (`logTurn`) — and every tenth turn also a give from an NPC's stock
 * (one transaction with its per-NPC lease). `--concurrency` turns are in flight at once, like many players'
 * turns finishing together.
 *
 *   node --import tsx tools/cluster/store-load.ts --postgres            # a throwaway local PostgreSQL
 *   node --import tsx tools/cluster/store-load.ts --database-url postgres://…
 *   node --import tsx tools/cluster/store-load.ts --db /tmp/load.sqlite
 *
 * Prints one JSON line: turns/s, gives/s, turn latency p50/p99/max (ms).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseCliArgs } from '../../server/src/cli-args.ts';
import { openStore, type StoreConfig } from '../../server/src/persistence/store.ts';
import { startLocalPostgres, type LocalPostgres } from './local-postgres.ts';

const USAGE = `usage: node --import tsx tools/cluster/store-load.ts [--postgres | --database-url URL | --db FILE]
                           [--seconds S] [--concurrency C] [--npcs N] [--players P] [--pool N]

  --postgres          start a throwaway PostgreSQL on a free loopback port (fsync off: an upper bound)
  --database-url URL  an existing PostgreSQL (the tables are created if missing; rows are added)
  --db FILE           a SQLite file (default: a new file in a temporary directory)
  --seconds S         how long to measure (default 10)
  --concurrency C     turns in flight at once (default 16)
  --npcs N            NPCs (default 8); --players P players (default 200); --pool N connections (default 10)
`;

const PROMPT = 'You are Bram Ironhand, the blacksmith of Emberfall. '.repeat(60); // ~3 KB, like a rendered NPC prompt

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

function quantile(sorted: number[], q: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]! : Number.NaN;
}

async function main(): Promise<void> {
  const { values } = parseCliArgs('store-load', USAGE, {
    options: {
      postgres: { type: 'boolean' },
      'database-url': { type: 'string' },
      db: { type: 'string' },
      seconds: { type: 'string' },
      concurrency: { type: 'string' },
      npcs: { type: 'string' },
      players: { type: 'string' },
      pool: { type: 'string' },
    },
  });
  const seconds = Number(values.seconds ?? 10);
  const concurrency = Number(values.concurrency ?? 16);
  const npcs = Number(values.npcs ?? 8);
  const players = Number(values.players ?? 200);
  const pool = Number(values.pool ?? 10);
  for (const [name, v] of Object.entries({ seconds, concurrency, npcs, players, pool })) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`--${name} must be a positive integer\n${USAGE}`);
  }

  let local: LocalPostgres | undefined;
  const tmp = mkdtempSync(join(tmpdir(), 'wm-store-load-'));
  try {
    let config: StoreConfig;
    if (values.postgres) {
      local = await startLocalPostgres({ port: await freePort() });
      config = { dbPath: ':unused:', databaseUrl: local.url, poolSize: pool };
    } else if (values['database-url']) {
      config = { dbPath: ':unused:', databaseUrl: values['database-url'], poolSize: pool };
    } else {
      config = { dbPath: values.db ?? join(tmp, 'load.sqlite') };
    }
    const store = await openStore(config);
    const run = `${Date.now().toString(36)}`; // rows of this run only (an existing database may hold others)
    for (let n = 0; n < npcs; n++) await store.stockNpc(`load-${run}-npc${n}`, { apple: 1_000_000 }, 'replace');

    const latencies: number[] = [];
    const loaded = new Set<string>();
    let turns = 0;
    let gives = 0;
    const deadline = performance.now() + seconds * 1000;
    const worker = async (w: number) => {
      for (let i = 0; performance.now() < deadline; i++) {
        const player = `load-${run}-p${(w * 7919 + i) % players}`;
        const npc = `load-${run}-npc${(w + i) % npcs}`;
        const started = performance.now();
        if (!loaded.has(`${player}/${npc}`)) {
          loaded.add(`${player}/${npc}`);
          await store.recentTurns(player, npc, 200);
        }
        await store.appendTurn(player, npc, { role: 'player', text: 'Could I have an apple for the road?', ts: Date.now() });
        await store.appendTurn(player, npc, { role: 'npc', text: 'Take one, and mind the bridge.', ts: Date.now() });
        await store.logTurn({ npcId: npc, playerId: player, modelId: 'load', modelHash: 'load', seed: i, prompt: PROMPT, sampling: { temperature: 0.7, maxTokens: 96 }, output: '[[give_item apple]] Take one.', action: { type: 'give_item', item: 'apple' }, finishReason: 'stop' });
        if (i % 10 === 0) {
          await store.giveFromNpc(npc, player, 'apple');
          gives++;
        }
        latencies.push(performance.now() - started);
        turns++;
      }
    };
    const t0 = performance.now();
    await Promise.all(Array.from({ length: concurrency }, (_, w) => worker(w)));
    const elapsed = (performance.now() - t0) / 1000;
    await store.close();
    latencies.sort((a, b) => a - b);
    console.log(JSON.stringify({
      backend: store.backend,
      where: store.where,
      seconds: Number(elapsed.toFixed(1)),
      concurrency,
      turns,
      turnsPerSecond: Math.round(turns / elapsed),
      givesPerSecond: Math.round(gives / elapsed),
      turnMs: { p50: Number(quantile(latencies, 0.5).toFixed(1)), p99: Number(quantile(latencies, 0.99).toFixed(1)), max: Number((latencies.at(-1) ?? Number.NaN).toFixed(1)) },
    }));
  } finally {
    await local?.stop();
    rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`store-load: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
