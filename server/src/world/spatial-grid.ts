/**
 * Uniform spatial hash over the x/z plane. Interest management and proximity chat ask "who is within
 * r of this point" every patch; the grid answers from the few cells around the point instead of
 * scanning every entity (no O(N²) per tick).
 */
export class SpatialGrid<T> {
  readonly #cellSize: number;
  readonly #cells = new Map<number, Set<T>>();
  readonly #where = new Map<T, { cell: number; x: number; z: number }>();

  constructor(cellSize: number) {
    if (!(cellSize > 0)) throw new RangeError(`grid cell size must be > 0, got ${cellSize}`);
    this.#cellSize = cellSize;
  }

  get size(): number {
    return this.#where.size;
  }

  /** Insert or move an item. */
  set(item: T, x: number, z: number): void {
    const cell = this.#key(x, z);
    const at = this.#where.get(item);
    if (at) {
      at.x = x;
      at.z = z;
      if (at.cell === cell) return;
      this.#cells.get(at.cell)?.delete(item);
      at.cell = cell;
    } else {
      this.#where.set(item, { cell, x, z });
    }
    let bucket = this.#cells.get(cell);
    if (!bucket) this.#cells.set(cell, (bucket = new Set()));
    bucket.add(item);
  }

  delete(item: T): void {
    const at = this.#where.get(item);
    if (!at) return;
    const bucket = this.#cells.get(at.cell);
    bucket?.delete(item);
    if (bucket && bucket.size === 0) this.#cells.delete(at.cell);
    this.#where.delete(item);
  }

  /** Calls `visit` for every item within `radius` of (x, z). */
  forEachWithin(x: number, z: number, radius: number, visit: (item: T, distanceSq: number) => void): void {
    const s = this.#cellSize;
    const r2 = radius * radius;
    const minCx = Math.floor((x - radius) / s);
    const maxCx = Math.floor((x + radius) / s);
    const minCz = Math.floor((z - radius) / s);
    const maxCz = Math.floor((z + radius) / s);
    for (let cx = minCx; cx <= maxCx; cx++) {
      for (let cz = minCz; cz <= maxCz; cz++) {
        const bucket = this.#cells.get(SpatialGrid.#pack(cx, cz));
        if (!bucket) continue;
        for (const item of bucket) {
          const at = this.#where.get(item)!;
          const dx = at.x - x;
          const dz = at.z - z;
          const d2 = dx * dx + dz * dz;
          if (d2 <= r2) visit(item, d2);
        }
      }
    }
  }

  #key(x: number, z: number): number {
    return SpatialGrid.#pack(Math.floor(x / this.#cellSize), Math.floor(z / this.#cellSize));
  }

  // Cells are packed into one number so the map key needs no string allocation per lookup.
  static #pack(cx: number, cz: number): number {
    return (cx + 0x8000) * 0x10000 + (cz + 0x8000);
  }
}
