/**
 * feedbackSamples from a cluster's PostgreSQL (`databaseUrl`, the server's DATABASE_URL): the rated turns
 * players left through any game process become feedback samples, as from a SQLite file.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { formatReply } from '../../server/src/npc/action-syntax.ts';
import { openStore } from '../../server/src/persistence/store.ts';
import { postgresAvailable, startPostgres, type TestPostgres } from '../../test/support/postgres-server.ts';
import { feedbackSamples } from './feedback.ts';

const npcDir = fileURLToPath(new URL('../../assets/npcs/', import.meta.url));
const havePostgres = postgresAvailable();
if (!havePostgres && process.env.CI === 'true') throw new Error('PostgreSQL is not installed (apt-get install -y postgresql); CI must run the PostgreSQL feedback suite');

describe.skipIf(!havePostgres)('feedbackSamples from PostgreSQL', () => {
  let server: TestPostgres;
  beforeAll(async () => {
    server = await startPostgres();
  }, 60_000);
  afterAll(() => server?.stop(), 30_000);

  it('reads the turn log and ratings of DATABASE_URL (no SQLite file needed)', async () => {
    const url = await server.createDatabase('feedback');
    const store = await openStore({ dbPath: ':unused:', databaseUrl: url });
    const action = { type: 'give_item' as const, item: 'horseshoe' };
    const output = formatReply('Take a horseshoe, lass.', action);
    try {
      await store.logTurn({
        turnId: 't-good', npcId: 'bram', playerId: 'acct_ada', modelId: 'm', modelHash: 'h', seed: 1, prompt: 'p', sampling: {},
        output, action, finishReason: 'stop', messages: [{ role: 'system', content: 'You are Bram.' }, { role: 'user', content: 'Anything for luck?' }],
      });
      await store.rateTurn({ turnId: 't-good', playerId: 'acct_ada', rating: 1 });
    } finally {
      await store.close();
    }
    const { samples, report } = await feedbackSamples({ dbPath: '/nonexistent/unused.sqlite', databaseUrl: url, npcDir });
    expect(report).toEqual({ rated: 1, used: 1, skipped: {} });
    expect(samples[0]).toMatchObject({ id: 'feedback:t-good', npcId: 'bram', kind: 'feedback', player: 'Anything for luck?', action, reply: output });
  });
});
