import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CellTable, SpatialGrid } from './spatial-grid.ts';

describe('SpatialGrid', () => {
  it('returns exactly the items within the radius, matching a brute-force scan, after moves and deletes', () => {
    const point = fc.record({ x: fc.double({ min: -500, max: 500, noNaN: true }), z: fc.double({ min: -500, max: 500, noNaN: true }) });
    fc.assert(
      fc.property(fc.array(point, { maxLength: 60 }), fc.array(point, { maxLength: 60 }), point, fc.double({ min: 0, max: 200, noNaN: true }), fc.double({ min: 1, max: 100, noNaN: true }), (initial, moves, q, radius, cell) => {
        const grid = new SpatialGrid<number>(cell);
        const where = new Map<number, { x: number; z: number }>();
        initial.forEach((p, i) => {
          grid.set(i, p.x, p.z);
          where.set(i, p);
        });
        moves.forEach((p, i) => {
          if (i >= initial.length) return;
          if (i % 3 === 0) {
            grid.delete(i);
            where.delete(i);
          } else {
            grid.set(i, p.x, p.z);
            where.set(i, p);
          }
        });
        const found = new Set<number>();
        grid.forEachWithin(q.x, q.z, radius, (item) => found.add(item));
        const expected = new Set([...where].filter(([, p]) => Math.hypot(p.x - q.x, p.z - q.z) <= radius * (1 + 1e-12)).map(([i]) => i));
        // Boundary rounding aside, the sets agree.
        for (const i of found) expect(where.has(i)).toBe(true);
        for (const i of expected) if (Math.hypot(where.get(i)!.x - q.x, where.get(i)!.z - q.z) < radius * (1 - 1e-9)) expect(found.has(i)).toBe(true);
        expect(grid.size).toBe(where.size);
      }),
      { numRuns: 300 },
    );
  });

  it('rejects a non-positive cell size', () => {
    expect(() => new SpatialGrid(0)).toThrow(RangeError);
  });
});

describe('CellTable', () => {
  it('stores cells inside its bounds and outside them alike, and counts them', () => {
    const table = new CellTable<string>(-2, -2, 3, 3);
    const cells: [number, number][] = [[-2, -2], [3, 3], [0, 1], [-3, 0], [100, -100], [4, 3]];
    cells.forEach(([x, z], i) => table.set(x, z, `v${i}`));
    expect(table.size).toBe(cells.length);
    cells.forEach(([x, z], i) => expect(table.get(x, z)).toBe(`v${i}`));
    expect(table.get(1, 1)).toBeUndefined();
    table.set(0, 1, 'again');
    expect(table.size).toBe(cells.length);
    table.delete(0, 1);
    table.delete(100, -100);
    table.delete(7, 7);
    expect(table.size).toBe(cells.length - 2);
    expect([...table.values()].sort()).toEqual(['v0', 'v1', 'v3', 'v5']);
  });
});
