/**
 * Buffered snapshot interpolation, as real-time game clients do it: every replicated position is kept
 * with the local time its patch arrived, and entities are drawn a little in the past (the render
 * delay), between the two snapshots around that moment. Motion is smooth however the patches are
 * spaced, at the cost of showing the world `delayMs` late. Past the newest snapshot the entity is
 * extrapolated along its last velocity for a short while, then held.
 */

export interface Snapshot {
  /** Local arrival time, ms (performance.now()). */
  t: number;
  x: number;
  z: number;
  /** Facing, radians (0 = +z). */
  heading: number;
}

export interface Pose {
  x: number;
  z: number;
  heading: number;
}

export interface BufferOptions {
  /** Snapshots kept at most (oldest dropped). */
  capacity?: number;
  /** Longest extrapolation past the newest snapshot, ms. */
  maxExtrapolateMs?: number;
  /** A jump longer than this (world units) between snapshots is a teleport: no interpolation across it. */
  teleportDistance?: number;
}

/** Shortest signed angle from a to b, in (-π, π]. */
export function angleDelta(a: number, b: number): number {
  let d = (b - a) % (2 * Math.PI);
  if (d > Math.PI) d -= 2 * Math.PI;
  if (d <= -Math.PI) d += 2 * Math.PI;
  return d;
}

export function lerpAngle(a: number, b: number, f: number): number {
  return a + angleDelta(a, b) * f;
}

export class SnapshotBuffer {
  readonly #snaps: Snapshot[] = [];
  readonly #capacity: number;
  readonly #maxExtrapolateMs: number;
  readonly #teleport: number;

  constructor(options: BufferOptions = {}) {
    this.#capacity = options.capacity ?? 32;
    this.#maxExtrapolateMs = options.maxExtrapolateMs ?? 120;
    this.#teleport = options.teleportDistance ?? 8;
  }

  get size(): number {
    return this.#snaps.length;
  }

  get newest(): Snapshot | undefined {
    return this.#snaps[this.#snaps.length - 1];
  }

  /**
   * Adds a snapshot. Several changes of one patch arrive at the same moment: a snapshot no later than
   * the newest replaces it, so time never runs backwards in the buffer.
   */
  push(snap: Snapshot): void {
    const last = this.newest;
    if (last && snap.t <= last.t + 0.5) {
      this.#snaps[this.#snaps.length - 1] = { ...snap, t: last.t };
      return;
    }
    if (last && Math.hypot(snap.x - last.x, snap.z - last.z) > this.#teleport) this.#snaps.length = 0;
    this.#snaps.push({ ...snap });
    if (this.#snaps.length > this.#capacity) this.#snaps.splice(0, this.#snaps.length - this.#capacity);
  }

  /** The pose at local time `renderTime` (already shifted back by the render delay). */
  sample(renderTime: number): Pose | undefined {
    const snaps = this.#snaps;
    const n = snaps.length;
    if (n === 0) return undefined;
    const first = snaps[0]!;
    if (n === 1 || renderTime <= first.t) return pose(first);
    const last = snaps[n - 1]!;
    if (renderTime >= last.t) {
      const prev = snaps[n - 2]!;
      const span = last.t - prev.t;
      const ahead = Math.min(renderTime - last.t, this.#maxExtrapolateMs);
      if (span <= 0 || ahead <= 0) return pose(last);
      const f = ahead / span;
      return { x: last.x + (last.x - prev.x) * f, z: last.z + (last.z - prev.z) * f, heading: last.heading };
    }
    // Binary search for the pair around renderTime.
    let lo = 0;
    let hi = n - 1;
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if (snaps[mid]!.t <= renderTime) lo = mid;
      else hi = mid;
    }
    const a = snaps[lo]!;
    const b = snaps[hi]!;
    const f = (renderTime - a.t) / (b.t - a.t);
    return { x: a.x + (b.x - a.x) * f, z: a.z + (b.z - a.z) * f, heading: lerpAngle(a.heading, b.heading, f) };
  }

  /** Drops snapshots no longer needed to sample at `renderTime` or later (keeps one before it). */
  prune(renderTime: number): void {
    const snaps = this.#snaps;
    let keepFrom = 0;
    for (let i = 0; i < snaps.length - 1; i++) if (snaps[i + 1]!.t <= renderTime) keepFrom = i;
    if (keepFrom > 0) snaps.splice(0, keepFrom);
  }
}

function pose(s: Snapshot): Pose {
  return { x: s.x, z: s.z, heading: s.heading };
}

/**
 * The render delay: how far in the past entities are drawn. Tracks the spacing of incoming patches
 * (an exponential average of the interval and of its jitter) and keeps enough room for about two
 * intervals plus jitter, so there is nearly always a snapshot on each side of the render time.
 */
export class RenderDelay {
  #interval: number;
  #jitter = 0;
  #lastArrival = Number.NaN;

  constructor(
    nominalIntervalMs = 50,
    readonly minMs = 60,
    readonly maxMs = 400,
  ) {
    this.#interval = nominalIntervalMs;
  }

  /** Call once per received patch with its local arrival time. */
  onPatch(t: number): void {
    if (!Number.isNaN(this.#lastArrival)) {
      const dt = t - this.#lastArrival;
      if (dt > 0 && dt < 1000) {
        this.#jitter += 0.1 * (Math.abs(dt - this.#interval) - this.#jitter);
        this.#interval += 0.1 * (dt - this.#interval);
      }
    }
    this.#lastArrival = t;
  }

  get intervalMs(): number {
    return this.#interval;
  }

  get ms(): number {
    return Math.min(this.maxMs, Math.max(this.minMs, 2 * this.#interval + 2 * this.#jitter));
  }
}
