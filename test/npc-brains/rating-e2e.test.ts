/**
 * Rating NPC turns end to end: a real server on loopback, real SDK clients. The player who had a turn
 * rates it through `rateTurn` and the rating lands beside the turn log; rating again replaces it;
 * another player, an unknown turn, an invalid rating and a flood are each refused with a clear error.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RateTurnError, type WorldClient } from '../../client-sdk/src/index.ts';
import { ClientMessage, type ErrorReply } from '../../shared/src/index.ts';
import { npcDirWith, stationaryBramGivingOneHorseshoe, walkUpTo } from '../support/npc-fixtures.ts';
import { connect, startTestServer } from '../support/world-server.ts';

const FORGE = { x: 150, z: 70 };

describe('rating NPC turns', () => {
  let server: Awaited<ReturnType<typeof startTestServer>>;
  let ada: WorldClient;
  let bea: WorldClient;
  let turnId: string;

  beforeAll(async () => {
    server = await startTestServer({
      NPC_DIR: npcDirWith({ bram: stationaryBramGivingOneHorseshoe }),
      RUN_SPEED: 30,
      TALK_BURST: 100,
      TALK_PER_SECOND: 100,
      // Ada sends exactly three ratings that reach the bucket before the flood check below.
      RATING_BURST: 3,
      RATING_PER_SECOND: 0.01,
    });
    ada = await connect(server.endpoint, 'Ada');
    bea = await connect(server.endpoint, 'Bea');
    await walkUpTo(ada, 'bram', FORGE);
    const turn = ada.talk('bram', 'Do you have anything for luck on the road?');
    for await (const _ of turn) void _;
    turnId = (await turn.result).turnId;
  });
  afterAll(async () => {
    await ada?.leave();
    await bea?.leave();
    await server?.shutdown();
  });

  it('the talk result carries the turn id, and its player\'s rating lands beside the turn log; a re-rating replaces it', async () => {
    const store = server.store;
    expect(turnId).toMatch(/\S/);
    expect((await store.getTurn(turnId))!.playerId).toBe(ada.accountId);

    await ada.rateTurn(turnId, 1, 'Sounds like Bram');
    expect(await store.turnRatings(turnId)).toMatchObject([{ turnId, playerId: ada.accountId, rating: 1, comment: 'Sounds like Bram' }]);
    const [rated] = await store.listRatedTurns({ npcId: 'bram' });
    expect(rated).toMatchObject({ turnId, npcId: 'bram', netRating: 1, comments: ['Sounds like Bram'] });
    expect(rated!.prompt).toBe((await store.getTurn(turnId))!.prompt);
    expect(rated!.output).toBe((await store.getTurn(turnId))!.output);

    await ada.rateTurn(turnId, -1);
    expect(await store.turnRatings(turnId)).toMatchObject([{ playerId: ada.accountId, rating: -1, comment: null }]);
    expect((await store.listRatedTurns())[0]).toMatchObject({ turnId, netRating: -1, ratingCount: 1 });
  });

  it('refuses another player\'s rating and unknown turns', async () => {
    const store = server.store;
    const notYours = await bea.rateTurn(turnId, 1).catch((e: unknown) => e);
    expect(notYours).toBeInstanceOf(RateTurnError);
    expect(notYours).toMatchObject({ code: 'not_your_turn', message: expect.stringMatching(/only rate your own turns/) });
    expect((await store.turnRatings(turnId)).map((r) => r.playerId)).toEqual([ada.accountId]);

    await expect(ada.rateTurn('no-such-turn', 1)).rejects.toMatchObject({ name: 'RateTurnError', code: 'unknown_turn', message: expect.stringMatching(/no-such-turn/) });
  });

  it('refuses an invalid rating with a clear error, in the SDK and on the server', async () => {
    await expect(ada.rateTurn(turnId, 5 as 1)).rejects.toMatchObject({ code: 'invalid_message', message: 'invalid rating: rating: rating must be 1 (good) or -1 (bad)' });
    await expect(ada.rateTurn(turnId, 1, 'x'.repeat(501))).rejects.toMatchObject({ code: 'invalid_message', message: expect.stringMatching(/comment is longer than 500/) });

    // A client that skips the SDK's checks gets the server's refusal, echoing its ref.
    const reply = ada.next('serverError', 5_000, (e) => e.type === ClientMessage.RateTurn);
    ada.room.send(ClientMessage.RateTurn, { turnId, rating: 0, ref: 'raw-1' });
    const [error] = (await reply) as [ErrorReply];
    expect(error).toEqual({ type: 'rate_turn', ref: 'raw-1', code: 'invalid_message', message: 'rating: rating must be 1 (good) or -1 (bad)' });
    expect(await server.store.turnRatings(turnId)).toMatchObject([{ rating: -1 }]); // unchanged
  });

  it('rate limits ratings like other messages', async () => {
    // Ada's burst of three went on the two ratings and the unknown turn above.
    await expect(ada.rateTurn(turnId, 1)).rejects.toMatchObject({ code: 'rate_limited', message: expect.stringMatching(/too fast/) });
    expect(await server.store.turnRatings(turnId)).toMatchObject([{ rating: -1 }]);
  });

  it('every wait is bounded: no acknowledgement times out, and a client that left is refused at once', async () => {
    const cy = await connect(server.endpoint, 'Cy', { rateTimeoutMs: 300 });
    try {
      cy.room.send = () => undefined; // the request never reaches the server
      await expect(cy.rateTurn(turnId, 1)).rejects.toMatchObject({ code: 'timeout', message: expect.stringMatching(/within 300 ms/) });
    } finally {
      await cy.leave();
    }
    await expect(cy.rateTurn(turnId, 1)).rejects.toMatchObject({ code: 'disconnected' });
  });
});
