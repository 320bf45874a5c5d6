/**
 * Area-of-interest management: keeps each client's StateView holding exactly the entities within its
 * radius of that client's avatar. Looks up neighbours in a spatial grid, so a refresh costs
 * O(clients × nearby entities), and applies only the difference to each view.
 */
import type { StateView } from '@colyseus/schema';
import { SpatialGrid } from './spatial-grid.ts';

/** Anything with a position that can be replicated: an avatar or an NPC schema instance. */
export interface Positioned {
  x: number;
  z: number;
}

interface Observer {
  view: StateView;
  self: Positioned;
  visible: Set<Positioned>;
  /** Scratch set reused by every refresh of this observer (no allocation per patch). */
  seen: Set<Positioned>;
}

export interface InterestOptions {
  /** Radius within which entities enter a view; `null` replicates everything to everyone (full sync). */
  radius: number | null;
  /** Entities leave a view only beyond radius × this, so walking along the edge does not flicker. */
  hysteresis?: number;
  /**
   * Each refresh updates 1/N of the views, round robin (default 4: every view every 4th patch, 200 ms at
   * the default patch rate). Visibility lags by at most N patches, which the hysteresis band absorbs;
   * the AOI cost per patch drops N-fold.
   */
  refreshDivisor?: number;
}

export class InterestManager {
  readonly #radius: number | null;
  readonly #leaveRadius: number;
  readonly #grid: SpatialGrid<Positioned>;
  readonly #observers = new Map<string, Observer>();
  readonly #entities = new Set<Positioned>();
  readonly #divisor: number;
  #round = 0;

  constructor(options: InterestOptions) {
    this.#radius = options.radius;
    const radius = options.radius ?? 1;
    this.#leaveRadius = radius * (options.hysteresis ?? 1.1);
    this.#grid = new SpatialGrid(Math.max(this.#leaveRadius, 1));
    this.#divisor = Math.max(1, Math.floor(options.refreshDivisor ?? 4));
  }

  get fullSync(): boolean {
    return this.#radius === null;
  }

  /** Start replicating an entity to whoever is near it (or to everyone in full-sync mode). */
  track(entity: Positioned): void {
    this.#entities.add(entity);
    this.#grid.set(entity, entity.x, entity.z);
    if (this.fullSync) for (const o of this.#observers.values()) this.#show(o, entity);
  }

  /** Forget an entity. Its removal from the state itself reaches the clients that could see it. */
  untrack(entity: Positioned): void {
    this.#entities.delete(entity);
    this.#grid.delete(entity);
    for (const o of this.#observers.values()) o.visible.delete(entity);
  }

  /** Attach (or re-attach after a reconnection) a client's view, centred on its own avatar. */
  attach(sessionId: string, view: StateView, self: Positioned): void {
    const observer: Observer = { view, self, visible: new Set(), seen: new Set() };
    this.#observers.set(sessionId, observer);
    this.#show(observer, self);
    if (this.fullSync) for (const e of this.#entities) this.#show(observer, e);
    else this.#refreshOne(observer);
  }

  detach(sessionId: string): void {
    this.#observers.delete(sessionId);
  }

  /** Which entities a client currently sees (for tests and metrics). */
  visibleTo(sessionId: string): ReadonlySet<Positioned> | undefined {
    return this.#observers.get(sessionId)?.visible;
  }

  /** Re-index moved entities and update this round's share of the views. Call once before each state patch. */
  refresh(): void {
    if (this.fullSync) return;
    for (const e of this.#entities) this.#grid.set(e, e.x, e.z);
    const round = this.#round++ % this.#divisor;
    let i = 0;
    for (const o of this.#observers.values()) if (i++ % this.#divisor === round) this.#refreshOne(o);
  }

  /** Updates every view now (tests, and callers that need exact visibility at once). */
  refreshAll(): void {
    if (this.fullSync) return;
    for (const e of this.#entities) this.#grid.set(e, e.x, e.z);
    for (const o of this.#observers.values()) this.#refreshOne(o);
  }

  #refreshOne(o: Observer): void {
    const enter2 = this.#radius! * this.#radius!;
    const seen = o.seen;
    seen.clear();
    this.#grid.forEachWithin(o.self.x, o.self.z, this.#leaveRadius, (e, d2) => {
      if (d2 <= enter2 || o.visible.has(e)) seen.add(e);
    });
    seen.add(o.self);
    for (const e of o.visible) {
      if (!seen.has(e)) {
        o.view.remove(e as never);
        o.visible.delete(e);
      }
    }
    for (const e of seen) this.#show(o, e);
  }

  #show(o: Observer, e: Positioned): void {
    if (o.visible.has(e)) return;
    o.view.add(e as never);
    o.visible.add(e);
  }
}
