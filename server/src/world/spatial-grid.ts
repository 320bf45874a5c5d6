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

/**
 * Values by integer cell (cx, cz): a flat array over the cells of the given bounds (a lookup is an
 * index, no hashing: interest management looks up hundreds of neighbour cells per moving body per
 * patch), a map for any cell outside them.
 */
export class CellTable<T> {
  readonly #minCx: number;
  readonly #minCz: number;
  readonly #width: number;
  readonly #height: number;
  readonly #dense: (T | undefined)[];
  readonly #outside = new Map<number, T>();
  #size = 0;

  /** Cells from (minCx, minCz) to (maxCx, maxCz) inclusive are stored densely (none when max < min). */
  constructor(minCx: number, minCz: number, maxCx: number, maxCz: number) {
    this.#minCx = minCx;
    this.#minCz = minCz;
    this.#width = Math.max(0, maxCx - minCx + 1);
    this.#height = Math.max(0, maxCz - minCz + 1);
    this.#dense = new Array(this.#width * this.#height).fill(undefined);
  }

  get size(): number {
    return this.#size;
  }

  get(cx: number, cz: number): T | undefined {
    const i = this.#index(cx, cz);
    return i >= 0 ? this.#dense[i] : this.#outside.get(packCell(cx, cz));
  }

  set(cx: number, cz: number, value: T): void {
    const i = this.#index(cx, cz);
    if (i >= 0) {
      if (this.#dense[i] === undefined) this.#size++;
      this.#dense[i] = value;
    } else {
      const key = packCell(cx, cz);
      if (!this.#outside.has(key)) this.#size++;
      this.#outside.set(key, value);
    }
  }

  delete(cx: number, cz: number): void {
    const i = this.#index(cx, cz);
    if (i >= 0) {
      if (this.#dense[i] !== undefined) this.#size--;
      this.#dense[i] = undefined;
    } else if (this.#outside.delete(packCell(cx, cz))) {
      this.#size--;
    }
  }

  *values(): IterableIterator<T> {
    for (const v of this.#dense) if (v !== undefined) yield v;
    yield* this.#outside.values();
  }

  #index(cx: number, cz: number): number {
    const x = cx - this.#minCx;
    const z = cz - this.#minCz;
    return x >= 0 && x < this.#width && z >= 0 && z < this.#height ? x * this.#height + z : -1;
  }
}

/** One number per cell, so map keys need no string allocation. */
export function packCell(cx: number, cz: number): number {
  return (cx + 0x8000) * 0x10000 + (cz + 0x8000);
}
