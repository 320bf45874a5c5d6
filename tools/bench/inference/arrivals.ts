/**
 * Arrival times of the steady-state workload: requests spread over time at a given rate, either at fixed
 * gaps or as a Poisson process (exponential gaps). Seeded, so every round and every run offers the same schedule.
 */

export type ArrivalProcess = 'poisson' | 'fixed';

/** mulberry32: a tiny, well-mixed 32-bit PRNG; deterministic for a seed. Returns floats in [0, 1). */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Offsets in ms from the start (the first request arrives at 0), non-decreasing, `count` of them. */
export function arrivalSchedule(options: { count: number; ratePerSecond: number; process: ArrivalProcess; seed: number }): number[] {
  const { count, ratePerSecond, process, seed } = options;
  if (!Number.isInteger(count) || count < 0) throw new Error(`arrivalSchedule: count must be a non-negative integer, got ${count}`);
  if (!(ratePerSecond > 0) || !Number.isFinite(ratePerSecond)) throw new Error(`arrivalSchedule: rate must be positive, got ${ratePerSecond}`);
  const meanGapMs = 1000 / ratePerSecond;
  const random = seededRandom(seed);
  const times: number[] = [];
  let t = 0;
  for (let i = 0; i < count; i++) {
    if (i > 0) t += process === 'fixed' ? meanGapMs : -Math.log(1 - random()) * meanGapMs;
    times.push(t);
  }
  return times;
}
