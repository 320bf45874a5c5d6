/**
 * Buffered snapshot interpolation, as real-time game clients do it: every replicated position is kept
 * with the local time its patch arrived, and entities are drawn a little in the past (the render
 * delay), between the two snapshots around that moment. Motion is smooth however the patches are
 * spaced, at the cost of showing the world `delayMs` late. Past the newest snapshot the entity is
 * extrapolated along its last velocity for a short while, then held — or, while it is moving, dead
 * reckoned along its replicated velocity: the server refreshes distant entities only a few times a
 * second (level of detail), and they must keep walking in between.
 */

export interface Snapshot {
  /** Local arrival time, ms (performance.now()). */
  t: number;
  x: number;
  z: number;
  /** Facing, radians (0 = +z). */
  heading: number;
  /** Replicated velocity, units per second (avatars carry it). */
  vx?: number;
  vz?: number;
  /** Moving, for entities without a replicated velocity (an NPC's walk animation). */
  moving?: boolean;
}

/** Whether a snapshot says the entity was moving then (its velocity, or its own flag). */
function isMoving(s: Snapshot): boolean {
  return s.moving ?? (s.vx !== undefined && (s.vx !== 0 || s.vz !== 0));
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
  /** Longest dead reckoning of a moving entity past its newest snapshot, ms (distant entities are refreshed ~1/s). */
  maxDeadReckonMs?: number;
  /** A jump longer than this (world units) between snapshots is a teleport: no interpolation across it. */
  teleportDistance?: number;
  /**
   * Snapshots come only when something changed. After a pause longer than this (ms), the entity was
   * at rest until one patch interval before the new snapshot, not drifting since the old one.
   */
  restGapMs?: number;
  /** The nominal patch interval (ms), used with `restGapMs`. */
  patchIntervalMs?: number;
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
  readonly #maxDeadReckonMs: number;
  readonly #teleport: number;
  readonly #restGapMs: number;
  readonly #patchIntervalMs: number;

  constructor(options: BufferOptions = {}) {
    this.#capacity = options.capacity ?? 32;
    this.#maxExtrapolateMs = options.maxExtrapolateMs ?? 120;
    this.#maxDeadReckonMs = options.maxDeadReckonMs ?? 1200;
    this.#teleport = options.teleportDistance ?? 8;
    this.#patchIntervalMs = options.patchIntervalMs ?? 50;
    this.#restGapMs = options.restGapMs ?? 3 * this.#patchIntervalMs;
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
    // A long gap after a moving snapshot is level of detail (the entity kept walking), not a rest.
    else if (last && snap.t - last.t > this.#restGapMs && !isMoving(last)) this.#snaps.push({ ...last, t: snap.t - this.#patchIntervalMs });
    this.#snaps.push({ ...snap });
    if (this.#snaps.length > this.#capacity) this.#snaps.splice(0, this.#snaps.length - this.#capacity);
  }

  /** The pose at local time `renderTime` (already shifted back by the render delay). */
  sample(renderTime: number): Pose | undefined {
    const snaps = this.#snaps;
    const n = snaps.length;
    if (n === 0) return undefined;
    const first = snaps[0]!;
    if (renderTime <= first.t) return pose(first);
    const last = snaps[n - 1]!;
    if (renderTime >= last.t) {
      // Said to have stopped: it stays where it stopped.
      if ((last.moving !== undefined || last.vx !== undefined) && !isMoving(last)) return pose(last);
      if (last.vx !== undefined) {
        const ahead = Math.min(renderTime - last.t, this.#maxDeadReckonMs) / 1000;
        return { x: last.x + last.vx * ahead, z: last.z + (last.vz ?? 0) * ahead, heading: last.heading };
      }
      if (n === 1) return pose(last);
      const prev = snaps[n - 2]!;
      const span = last.t - prev.t;
      const ahead = Math.min(renderTime - last.t, isMoving(last) ? this.#maxDeadReckonMs : this.#maxExtrapolateMs);
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
    // Keep the newest snapshot at or before renderTime (and everything after it), and at least two
    // snapshots so extrapolation still knows the last velocity.
    let keepFrom = 0;
    for (let i = 0; i < snaps.length; i++) if (snaps[i]!.t <= renderTime) keepFrom = i;
    keepFrom = Math.min(keepFrom, snaps.length - 2);
    if (keepFrom > 0) snaps.splice(0, keepFrom);
  }
}

function pose(s: Snapshot): Pose {
  return { x: s.x, z: s.z, heading: s.heading };
}

/**
 * The render delay: how far in the past entities are drawn. The room sends a patch every
 * `nominalIntervalMs` when something changed (nothing when nothing did), so the delay is two nominal
 * intervals plus twice the measured jitter of patches that came back to back — pauses in the world
 * (no patches at all) do not count as jitter.
 */
export class RenderDelay {
  #jitter = 0;
  #lastArrival = Number.NaN;

  constructor(
    public nominalIntervalMs = 50,
    readonly minMs = 60,
    readonly maxMs = 400,
  ) {}

  /** Call once per received patch with its local arrival time. */
  onPatch(t: number): void {
    if (!Number.isNaN(this.#lastArrival)) {
      const dt = t - this.#lastArrival;
      // Back-to-back patches only; a longer gap means the world was still, not that the network lagged.
      if (dt > 0 && dt < 3 * this.nominalIntervalMs) this.#jitter += 0.1 * (Math.abs(dt - this.nominalIntervalMs) - this.#jitter);
    }
    this.#lastArrival = t;
  }

  get jitterMs(): number {
    return this.#jitter;
  }

  get ms(): number {
    return Math.min(this.maxMs, Math.max(this.minMs, 2 * this.nominalIntervalMs + 2 * this.#jitter));
  }
}
