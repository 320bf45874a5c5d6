/**
 * Paths around obstacles for NPCs: A* over a walkability grid of the map (1-unit cells, obstacles
 * grown by the body radius), then string-pulled so the NPC walks straight lines between corners.
 * Hand-written: the grid is tiny (a town is ~30k cells) and the npm A* packages are unmaintained or
 * DOM-oriented; this is ~100 lines with a binary heap.
 */
import { collidesAny, insideBounds, type WorldMap } from './world-map.ts';

export interface Point {
  x: number;
  z: number;
}

export class PathGrid {
  readonly width: number;
  readonly height: number;
  readonly #walkable: Uint8Array;
  readonly #minX: number;
  readonly #minZ: number;

  constructor(private readonly map: WorldMap, private readonly radius: number, private readonly cell = 1) {
    this.#minX = map.bounds.minX;
    this.#minZ = map.bounds.minZ;
    this.width = Math.ceil((map.bounds.maxX - map.bounds.minX) / cell);
    this.height = Math.ceil((map.bounds.maxZ - map.bounds.minZ) / cell);
    this.#walkable = new Uint8Array(this.width * this.height);
    for (let j = 0; j < this.height; j++) {
      for (let i = 0; i < this.width; i++) {
        const { x, z } = this.#center(i, j);
        this.#walkable[j * this.width + i] = this.isFree(x, z) ? 1 : 0;
      }
    }
  }

  /** True when a body can stand at (x, z). */
  isFree(x: number, z: number): boolean {
    return insideBounds(this.map, x, z, this.radius) && !collidesAny(this.map.obstacles, x, z, this.radius);
  }

  /** True when a body can walk the straight segment a→b (sampled every quarter unit). */
  lineIsFree(a: Point, b: Point): boolean {
    const length = Math.hypot(b.x - a.x, b.z - a.z);
    const steps = Math.max(1, Math.ceil(length / 0.25));
    for (let s = 0; s <= steps; s++) {
      const t = s / steps;
      if (!this.isFree(a.x + (b.x - a.x) * t, a.z + (b.z - a.z) * t)) return false;
    }
    return true;
  }

  /**
   * Waypoints from `from` to `to` (excluding `from`), or null when `to` cannot be reached. A goal inside
   * an obstacle is moved to the nearest free cell (e.g. "walk to the well" ends beside the well).
   */
  findPath(from: Point, to: Point, maxExpanded = 60_000): Point[] | null {
    if (this.lineIsFree(from, to)) return [to];
    const start = this.#nearestFree(this.#cellOf(from));
    const goal = this.#nearestFree(this.#cellOf(to));
    if (start < 0 || goal < 0) return null;
    const w = this.width;
    const g = new Float64Array(this.#walkable.length).fill(Infinity);
    const came = new Int32Array(this.#walkable.length).fill(-1);
    const closed = new Uint8Array(this.#walkable.length);
    const heap = new MinHeap();
    const gx = goal % w;
    const gz = Math.floor(goal / w);
    const h = (c: number) => {
      const dx = Math.abs((c % w) - gx);
      const dz = Math.abs(Math.floor(c / w) - gz);
      return Math.max(dx, dz) + (Math.SQRT2 - 1) * Math.min(dx, dz);
    };
    g[start] = 0;
    heap.push(start, h(start));
    let expanded = 0;
    while (heap.size > 0) {
      const c = heap.pop();
      if (c === goal) break;
      if (closed[c]) continue;
      closed[c] = 1;
      if (++expanded > maxExpanded) return null;
      const cx = c % w;
      const cz = Math.floor(c / w);
      for (let dz = -1; dz <= 1; dz++) {
        for (let dx = -1; dx <= 1; dx++) {
          if (dx === 0 && dz === 0) continue;
          const nx = cx + dx;
          const nz = cz + dz;
          if (nx < 0 || nz < 0 || nx >= w || nz >= this.height) continue;
          const n = nz * w + nx;
          if (!this.#walkable[n] || closed[n]) continue;
          // No corner cutting: a diagonal step needs both orthogonal neighbours free.
          if (dx !== 0 && dz !== 0 && (!this.#walkable[cz * w + nx] || !this.#walkable[nz * w + cx])) continue;
          const cost = g[c]! + (dx !== 0 && dz !== 0 ? Math.SQRT2 : 1);
          if (cost < g[n]!) {
            g[n] = cost;
            came[n] = c;
            heap.push(n, cost + h(n));
          }
        }
      }
    }
    if (came[goal] === -1 && goal !== start) return null;
    const cells: Point[] = [];
    for (let c = goal; c !== start && c !== -1; c = came[c]!) cells.push(this.#center(c % w, Math.floor(c / w)));
    cells.reverse();
    const goalPoint = this.isFree(to.x, to.z) ? to : this.#center(gx, gz);
    if (cells.length > 0) cells[cells.length - 1] = goalPoint;
    else cells.push(goalPoint);
    return this.#smooth(from, cells);
  }

  /** Drops waypoints that a straight walk from an earlier point can skip. */
  #smooth(from: Point, points: Point[]): Point[] {
    const out: Point[] = [];
    let anchor = from;
    let i = 0;
    while (i < points.length) {
      let far = i;
      for (let j = points.length - 1; j > i; j--) {
        if (this.lineIsFree(anchor, points[j]!)) {
          far = j;
          break;
        }
      }
      out.push(points[far]!);
      anchor = points[far]!;
      i = far + 1;
    }
    return out;
  }

  #center(i: number, j: number): Point {
    return { x: this.#minX + (i + 0.5) * this.cell, z: this.#minZ + (j + 0.5) * this.cell };
  }

  #cellOf(p: Point): number {
    const i = Math.min(this.width - 1, Math.max(0, Math.floor((p.x - this.#minX) / this.cell)));
    const j = Math.min(this.height - 1, Math.max(0, Math.floor((p.z - this.#minZ) / this.cell)));
    return j * this.width + i;
  }

  /** The walkable cell nearest to `cell` (breadth-first, bounded), or -1. */
  #nearestFree(cell: number): number {
    if (this.#walkable[cell]) return cell;
    const w = this.width;
    const seen = new Set<number>([cell]);
    let frontier = [cell];
    for (let ring = 0; ring < 40 && frontier.length > 0; ring++) {
      const next: number[] = [];
      for (const c of frontier) {
        const cx = c % w;
        const cz = Math.floor(c / w);
        for (const [dx, dz] of [[1, 0], [-1, 0], [0, 1], [0, -1]] as const) {
          const nx = cx + dx;
          const nz = cz + dz;
          if (nx < 0 || nz < 0 || nx >= w || nz >= this.height) continue;
          const n = nz * w + nx;
          if (seen.has(n)) continue;
          if (this.#walkable[n]) return n;
          seen.add(n);
          next.push(n);
        }
      }
      frontier = next;
    }
    return -1;
  }
}

/** Binary min-heap of cell indexes by priority. */
class MinHeap {
  readonly #cells: number[] = [];
  readonly #prio: number[] = [];

  get size(): number {
    return this.#cells.length;
  }

  push(cell: number, priority: number): void {
    const cells = this.#cells;
    const prio = this.#prio;
    let i = cells.length;
    cells.push(cell);
    prio.push(priority);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (prio[parent]! <= priority) break;
      cells[i] = cells[parent]!;
      prio[i] = prio[parent]!;
      i = parent;
    }
    cells[i] = cell;
    prio[i] = priority;
  }

  pop(): number {
    const cells = this.#cells;
    const prio = this.#prio;
    const top = cells[0]!;
    const lastCell = cells.pop()!;
    const lastPrio = prio.pop()!;
    if (cells.length > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        let mp = lastPrio;
        if (l < cells.length && prio[l]! < mp) {
          m = l;
          mp = prio[l]!;
        }
        if (r < cells.length && prio[r]! < mp) m = r;
        if (m === i) break;
        cells[i] = cells[m]!;
        prio[i] = prio[m]!;
        i = m;
      }
      cells[i] = lastCell;
      prio[i] = lastPrio;
    }
    return top;
  }
}
