import fc from 'fast-check';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { stepBody, toActiveIntent, type Body } from './movement.ts';
import { collidesAny, insideBounds, loadWorldMap } from './world-map.ts';

const map = loadWorldMap(fileURLToPath(new URL('../../../assets/world/town.json', import.meta.url)), 0.5);
const params = { walkSpeed: 4, runSpeed: 8, bodyRadius: 0.5 };
const dt = 1 / 20;

const intentArb = fc.oneof(
  fc.record({ dir: fc.record({ x: fc.double({ min: -1e6, max: 1e6, noNaN: true }), z: fc.double({ min: -1e6, max: 1e6, noNaN: true }) }), run: fc.boolean() }),
  fc.record({ target: fc.record({ x: fc.double({ min: -50, max: 250, noNaN: true }), z: fc.double({ min: -50, max: 200, noNaN: true }) }), run: fc.boolean() }),
  fc.constant({ stop: true as const }),
);

describe('movement', () => {
  it('never exceeds the speed limit, never leaves the bounds, never enters an obstacle', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: map.spawnPoints.length - 1 }), fc.array(fc.tuple(intentArb, fc.integer({ min: 1, max: 40 })), { minLength: 1, maxLength: 12 }), (spawn, script) => {
        const p = map.spawnPoints[spawn]!;
        const body: Body = { x: p.x, z: p.z, vx: 0, vz: 0, heading: 0, anim: 'idle' };
        for (const [intent, steps] of script) {
          let active = toActiveIntent(intent);
          for (let i = 0; i < steps; i++) {
            const bx = body.x;
            const bz = body.z;
            active = stepBody(body, active, dt, map, params);
            expect(Math.hypot(body.x - bx, body.z - bz)).toBeLessThanOrEqual(params.runSpeed * dt + 1e-9);
            expect(insideBounds(map, body.x, body.z, 0.5)).toBe(true);
            expect(collidesAny(map.obstacles, body.x, body.z, 0.5)).toBe(false);
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  it('walks at walking speed unless running, and reports the animation', () => {
    const body: Body = { x: 100, z: 30, vx: 0, vz: 0, heading: 0, anim: 'idle' };
    stepBody(body, toActiveIntent({ dir: { x: 0, z: 5 } }), dt, map, params);
    expect(body.z).toBeCloseTo(30 + 4 * dt, 6);
    expect(body.anim).toBe('walk');
    expect(body.heading).toBeCloseTo(0, 6);
    stepBody(body, toActiveIntent({ dir: { x: 1, z: 0 }, run: true }), dt, map, params);
    expect(body.anim).toBe('run');
    expect(body.vx).toBeCloseTo(8, 6);
  });

  it('slides along a wall instead of stopping dead', () => {
    // Just north of the south wall (z 8..11), pushing diagonally south-east.
    const body: Body = { x: 50, z: 11.5, vx: 0, vz: 0, heading: 0, anim: 'idle' };
    stepBody(body, toActiveIntent({ dir: { x: 1, z: -1 } }), dt, map, params);
    expect(body.z).toBeCloseTo(11.5, 6);
    expect(body.x).toBeGreaterThan(50);
  });

  it('stops at a target and gives up on an unreachable one', () => {
    const body: Body = { x: 100, z: 30, vx: 0, vz: 0, heading: 0, anim: 'idle' };
    let intent = toActiveIntent({ target: { x: 101, z: 30 } });
    for (let i = 0; i < 20; i++) intent = stepBody(body, intent, dt, map, params);
    expect(intent.kind).toBe('idle');
    expect(body.x).toBeCloseTo(101, 6);
    // Inside the guardhouse: the body walks until blocked on both axes, then idles.
    intent = toActiveIntent({ target: { x: 116, z: 17 } });
    for (let i = 0; i < 400 && intent.kind !== 'idle'; i++) intent = stepBody(body, intent, dt, map, params);
    expect(intent.kind).toBe('idle');
    expect(collidesAny(map.obstacles, body.x, body.z, 0.5)).toBe(false);
  });
});
