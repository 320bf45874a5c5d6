import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { findKnee } from './knee.ts';
import { OptionsError, parseOptions } from './options.ts';

/** A server whose tick p99 grows with players and crosses 20 ms at `limit`. */
const serverWithLimit = (limit: number) => async (players: number) => ({ tickP99Ms: (20 * players) / (limit + 0.5), joined: players });

describe('findKnee', () => {
  it('brackets the largest count under the target within the resolution, for any limit', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 100, max: 2_000 }), async (limit) => {
        const r = await findKnee(serverWithLimit(limit), { min: 100, max: 5_000, targetMs: 20, budgetMs: 1e9 });
        expect(r.stoppedBy).toBe('found');
        expect(r.knee).toBeLessThanOrEqual(limit);
        expect(r.knee).toBeGreaterThanOrEqual(Math.floor(limit * 0.9) - 1);
        expect(r.firstFailing).toBeGreaterThan(limit);
        for (const p of r.probes) expect(p.holds).toBe(p.players <= limit);
      }),
    );
  });

  it('reports "max" when everything holds, and bisects below the first count when even that fails', async () => {
    const all = await findKnee(serverWithLimit(10_000), { min: 100, max: 2_000, targetMs: 20, budgetMs: 1e9 });
    expect([all.knee, all.stoppedBy]).toEqual([2_000, 'max']);
    const below = await findKnee(serverWithLimit(50), { min: 100, max: 2_000, targetMs: 20, budgetMs: 1e9 });
    expect(below.knee).toBeLessThanOrEqual(50);
    expect(below.knee).toBeGreaterThanOrEqual(44);
    const none = await findKnee(async () => ({ tickP99Ms: 99, joined: 0 }), { min: 100, max: 2_000, targetMs: 20, budgetMs: 1e9 });
    expect([none.knee, none.firstFailing]).toEqual([0, 1]);
  });

  it('a count whose players could not all join does not hold, nor one without a tick figure', async () => {
    const r = await findKnee(async (players) => ({ tickP99Ms: players > 300 ? null : 1, joined: Math.min(players, 200) }), { min: 100, max: 1_000, targetMs: 20, budgetMs: 1e9 });
    expect(r.knee).toBeLessThanOrEqual(200);
    expect(r.knee).toBeGreaterThanOrEqual(180);
  });

  it('a count fails only when a second run fails too (one slow moment does not end the ramp)', async () => {
    let calls = 0;
    // The first run at 150 players hits a slow moment; the server really holds up to 1000.
    const r = await findKnee(
      async (players) => ({ tickP99Ms: players === 150 && calls++ === 0 ? 80 : (20 * players) / 1000.5, joined: players }),
      { min: 100, max: 5_000, targetMs: 20, budgetMs: 1e9 },
    );
    expect(r.knee).toBeGreaterThanOrEqual(900);
    expect(r.probes.filter((p) => p.players === 150).map((p) => p.holds)).toEqual([false, true]);
  });

  it('a count whose server missed its patch rate does not hold, however short its frames', async () => {
    // Frames stay at 5 ms (the socket writes left the frame), but past 700 players the loop runs late.
    const r = await findKnee(async (players) => ({ tickP99Ms: 5, joined: players, framesPerRoomS: players > 700 ? 15 : 19.8, expectedFramesPerRoomS: 20 }), { min: 100, max: 5_000, targetMs: 20, budgetMs: 1e9 });
    expect(r.knee).toBeLessThanOrEqual(700);
    expect(r.knee).toBeGreaterThanOrEqual(630);
    expect(r.probes.find((p) => p.players > 700)?.framesPerRoomS).toBe(15);
    // Unknown rates (a remote server) leave the tick and the joins to decide.
    const unknown = await findKnee(async (players) => ({ tickP99Ms: 5, joined: players, framesPerRoomS: null, expectedFramesPerRoomS: null }), { min: 100, max: 1_000, targetMs: 20, budgetMs: 1e9 });
    expect(unknown.stoppedBy).toBe('max');
  });

  it('starts no probe after the time budget', async () => {
    let t = 0;
    const r = await findKnee(
      async (players) => {
        t += 60_000; // every probe takes a minute
        return { tickP99Ms: players / 100, joined: players };
      },
      { min: 100, max: 5_000, targetMs: 20, budgetMs: 150_000, now: () => t },
    );
    expect(r.stoppedBy).toBe('budget');
    expect(r.probes.length).toBe(3);
  });
});

describe('--find-knee options', () => {
  it('needs no --players (the search sets it), defaults the probe duration, and checks its bounds', () => {
    const o = parseOptions(['--find-knee', '--knee-max', '1500']);
    expect(o.findKnee).toEqual({ min: 100, max: 1500, targetMs: 20, budgetS: 1800 });
    expect([o.players, o.durationS]).toEqual([100, 20]);
    expect(parseOptions(['--find-knee', '--players', '700']).players).toBe(700);
    expect(() => parseOptions(['--find-knee', '--knee-min', '900', '--knee-max', '300'])).toThrow(/--knee-min 900 is above --knee-max 300/);
    expect(() => parseOptions(['--find-knee', '--soak', '1'])).toThrow(OptionsError);
    expect(parseOptions(['--players', '5', '--duration', '2']).findKnee).toBeUndefined();
  });
});
