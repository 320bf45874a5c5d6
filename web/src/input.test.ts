import { describe, expect, it } from 'vitest';
import { approachPoint, followCamera, KeyboardIntents, keysToDirection, pick, scaleFor, screenToWorld, worldToScreen, type Camera } from './input.ts';

const keys = (...codes: string[]) => new Set(codes);

describe('keysToDirection', () => {
  it('maps WASD and arrows to world directions (+z north, +x east)', () => {
    expect(keysToDirection(keys('KeyW'))).toEqual({ x: 0, z: 1 });
    expect(keysToDirection(keys('ArrowDown'))).toEqual({ x: 0, z: -1 });
    expect(keysToDirection(keys('KeyA'))).toEqual({ x: -1, z: 0 });
    expect(keysToDirection(keys('ArrowRight'))).toEqual({ x: 1, z: 0 });
  });

  it('normalises diagonals and cancels opposites', () => {
    const d = keysToDirection(keys('KeyW', 'KeyD'))!;
    expect(d.x).toBeCloseTo(Math.SQRT1_2);
    expect(d.z).toBeCloseTo(Math.SQRT1_2);
    expect(keysToDirection(keys('KeyW', 'KeyS'))).toBeNull();
    expect(keysToDirection(keys('KeyA', 'ArrowRight'))).toBeNull();
  });

  it('counts W and ArrowUp together once, and ignores other keys', () => {
    expect(keysToDirection(keys('KeyW', 'ArrowUp'))).toEqual({ x: 0, z: 1 });
    expect(keysToDirection(keys('KeyQ', 'Space'))).toBeNull();
  });
});

describe('KeyboardIntents', () => {
  it('sends an intent only when the held keys change what it would be', () => {
    const k = new KeyboardIntents();
    expect(k.update(keys())).toBeUndefined();
    expect(k.update(keys('KeyW'))).toEqual({ dir: { x: 0, z: 1 } });
    expect(k.update(keys('KeyW'))).toBeUndefined();
    expect(k.update(keys('KeyW', 'ArrowUp'))).toBeUndefined();
    expect(k.update(keys('KeyW', 'ShiftLeft'))).toEqual({ dir: { x: 0, z: 1 }, run: true });
    expect(k.update(keys('ShiftLeft'))).toEqual({ stop: true });
    expect(k.update(keys())).toBeUndefined();
  });

  it('does not stop a click-to-move walk when no key was steering', () => {
    const k = new KeyboardIntents();
    expect(k.update(keys('ShiftLeft'))).toBeUndefined();
    expect(k.update(keys())).toBeUndefined();
  });

  it('after reset, the same keys are sent again', () => {
    const k = new KeyboardIntents();
    k.update(keys('KeyD'));
    k.reset();
    expect(k.update(keys('KeyD'))).toEqual({ dir: { x: 1, z: 0 } });
  });
});

describe('screen and world coordinates', () => {
  const cam: Camera = { x: 100, z: 50, scale: 10, width: 800, height: 600 };

  it('puts the camera point at the canvas centre, north up, east right', () => {
    expect(worldToScreen(cam, 100, 50)).toEqual({ x: 400, y: 300 });
    expect(worldToScreen(cam, 101, 50)).toEqual({ x: 410, y: 300 });
    expect(worldToScreen(cam, 100, 51)).toEqual({ x: 400, y: 290 });
  });

  it('screenToWorld inverts worldToScreen', () => {
    for (const [x, z] of [[0, 0], [123.4, -5], [100, 50], [77, 88.8]] as const) {
      const s = worldToScreen(cam, x, z);
      const w = screenToWorld(cam, s.x, s.y);
      expect(w.x).toBeCloseTo(x);
      expect(w.z).toBeCloseTo(z);
    }
  });

  it('a tap maps to the world point under it', () => {
    expect(screenToWorld(cam, 0, 0)).toEqual({ x: 60, z: 80 });
  });

  it('scales to the viewport within bounds (a phone still sees the street)', () => {
    expect(scaleFor(375, 667)).toBeGreaterThanOrEqual(7);
    expect(375 / scaleFor(375, 667)).toBeGreaterThan(30);
    expect(scaleFor(3840, 2160)).toBe(14);
    expect(scaleFor(100, 100)).toBe(7);
  });

  it('the camera eases toward its target and snaps across long jumps', () => {
    const c: Camera = { ...cam };
    followCamera(c, { x: 104, z: 50 }, 120, 120);
    expect(c.x).toBeCloseTo(102);
    followCamera(c, { x: 500, z: 500 }, 16);
    expect(c).toMatchObject({ x: 500, z: 500 });
  });
});

describe('picking and approaching', () => {
  it('picks the nearest entity within the radius', () => {
    const items = [{ id: 'a', x: 0, z: 0 }, { id: 'b', x: 1, z: 0 }, { id: 'c', x: 10, z: 10 }];
    expect(pick(items, { x: 0.8, z: 0 }, 1)?.id).toBe('b');
    expect(pick(items, { x: 5, z: 5 }, 1)).toBeUndefined();
  });

  it('walks to a point short of the NPC, on the player side', () => {
    const p = approachPoint({ x: 0, z: 0 }, { x: 10, z: 0 }, 2);
    expect(p).toEqual({ x: 8, z: 0 });
    expect(approachPoint({ x: 9, z: 0 }, { x: 10, z: 0 }, 2)).toEqual({ x: 9, z: 0 });
  });
});
