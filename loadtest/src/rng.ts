/** Deterministic PRNG (mulberry32) so the same seed sends the same crowd on the same walks. */
export function mulberry32(seed: number): () => number {
  let s = seed | 0;
  return () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** An exponentially distributed wait with the given mean (a Poisson process's gaps). */
export function exponential(rand: () => number, mean: number): number {
  return -Math.log(1 - rand()) * mean;
}

export function pick<T>(rand: () => number, items: readonly T[]): T {
  return items[Math.floor(rand() * items.length)]!;
}

export function between(rand: () => number, min: number, max: number): number {
  return min + rand() * (max - min);
}
