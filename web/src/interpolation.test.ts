import { describe, expect, it } from 'vitest';
import { angleDelta, lerpAngle, RenderDelay, SnapshotBuffer } from './interpolation.ts';

describe('SnapshotBuffer', () => {
  it('is empty until the first snapshot, then holds it', () => {
    const b = new SnapshotBuffer();
    expect(b.sample(0)).toBeUndefined();
    b.push({ t: 100, x: 1, z: 2, heading: 0.5 });
    expect(b.sample(50)).toEqual({ x: 1, z: 2, heading: 0.5 });
    expect(b.sample(500)).toEqual({ x: 1, z: 2, heading: 0.5 });
  });

  it('interpolates linearly between the two snapshots around the render time', () => {
    const b = new SnapshotBuffer();
    b.push({ t: 0, x: 0, z: 0, heading: 0 });
    b.push({ t: 50, x: 2, z: 0, heading: 0 });
    b.push({ t: 100, x: 2, z: 4, heading: 0 });
    expect(b.sample(25)).toEqual({ x: 1, z: 0, heading: 0 });
    expect(b.sample(50)).toEqual({ x: 2, z: 0, heading: 0 });
    const p = b.sample(75)!;
    expect(p.x).toBeCloseTo(2);
    expect(p.z).toBeCloseTo(2);
    // Before the oldest snapshot: the oldest, never a guess backwards.
    expect(b.sample(-10)).toEqual({ x: 0, z: 0, heading: 0 });
  });

  it('handles uneven patch spacing (jitter) without overshoot between snapshots', () => {
    const b = new SnapshotBuffer();
    const times = [0, 70, 80, 160, 210];
    times.forEach((t) => b.push({ t, x: t / 10, z: 0, heading: 0 }));
    for (let t = 0; t <= 210; t += 5) expect(b.sample(t)!.x).toBeCloseTo(t / 10, 6);
  });

  it('extrapolates a little past the newest snapshot along the last velocity, then holds', () => {
    const b = new SnapshotBuffer({ maxExtrapolateMs: 100 });
    b.push({ t: 0, x: 0, z: 0, heading: 0 });
    b.push({ t: 50, x: 1, z: 0, heading: 0 });
    expect(b.sample(100)!.x).toBeCloseTo(2);
    expect(b.sample(150)!.x).toBeCloseTo(3);
    // Capped: 100 ms past the newest at most.
    expect(b.sample(1000)!.x).toBeCloseTo(3);
  });

  it('merges changes that arrive in the same patch into one snapshot', () => {
    const b = new SnapshotBuffer();
    b.push({ t: 10, x: 1, z: 0, heading: 0 });
    b.push({ t: 10, x: 1, z: 5, heading: 0 });
    expect(b.size).toBe(1);
    expect(b.sample(10)).toEqual({ x: 1, z: 5, heading: 0 });
  });

  it('an entity that rested starts moving when its first new snapshot says so, not since the old one', () => {
    const b = new SnapshotBuffer({ patchIntervalMs: 50 });
    b.push({ t: 0, x: 0, z: 0, heading: 0 });
    b.push({ t: 5000, x: 0.2, z: 0, heading: 0 });
    expect(b.sample(4900)!.x).toBe(0);
    expect(b.sample(4950)!.x).toBe(0);
    expect(b.sample(4975)!.x).toBeCloseTo(0.1);
  });

  it('keeps a distant walker walking between level-of-detail refreshes (no rest, no jump), and across a change to the near rate', () => {
    // 4 units/s along x. Far: a snapshot every 800 ms (the slowest tier); then the walker comes near
    // (its group view changes tier): every 50 ms. Snapshots arrive when taken (loopback).
    const b = new SnapshotBuffer({ patchIntervalMs: 50 });
    const times = [...Array.from({ length: 6 }, (_, i) => i * 800), ...Array.from({ length: 40 }, (_, i) => 4800 + (i + 1) * 50)];
    let t = 0;
    let previous: number | undefined;
    for (let frame = 0; frame <= 6800; frame += 16) {
      while (times[t] !== undefined && times[t]! <= frame) {
        const at = times[t++]!;
        b.push({ t: at, x: (at / 1000) * 4, z: 0, heading: Math.PI / 2, vx: 4, vz: 0 });
      }
      const x = b.sample(frame - 100)!.x; // drawn 100 ms late
      b.prune(frame - 100);
      if (frame >= 100) {
        // Where it was then (dead reckoning is exact for a straight walk): it never rests or jumps.
        expect(x).toBeCloseTo(((frame - 100) / 1000) * 4, 6);
        if (previous !== undefined) expect(x - previous).toBeCloseTo(4 * 0.016, 6);
      }
      previous = frame >= 100 ? x : undefined;
    }
  });

  it('an NPC flagged as moving (no replicated velocity) keeps its pace past the newest snapshot', () => {
    const b = new SnapshotBuffer({ maxExtrapolateMs: 100, maxDeadReckonMs: 1000 });
    b.push({ t: 0, x: 0, z: 0, heading: 0, moving: true });
    b.push({ t: 500, x: 1, z: 0, heading: 0, moving: true });
    expect(b.sample(900)!.x).toBeCloseTo(1.8);
    b.push({ t: 1000, x: 2, z: 0, heading: 0, moving: false });
    expect(b.sample(1500)!.x).toBeCloseTo(2);
  });

  it('does not slide across a teleport', () => {
    const b = new SnapshotBuffer({ teleportDistance: 5 });
    b.push({ t: 0, x: 0, z: 0, heading: 0 });
    b.push({ t: 50, x: 100, z: 0, heading: 0 });
    expect(b.size).toBe(1);
    expect(b.sample(25)!.x).toBe(100);
  });

  it('interpolates heading the short way round', () => {
    const b = new SnapshotBuffer();
    b.push({ t: 0, x: 0, z: 0, heading: Math.PI - 0.1 });
    b.push({ t: 100, x: 0, z: 0, heading: -Math.PI + 0.1 });
    const h = b.sample(50)!.heading;
    expect(Math.abs(Math.abs(h) - Math.PI)).toBeLessThan(1e-9);
  });

  it('prunes snapshots older than needed but keeps one before the render time', () => {
    const b = new SnapshotBuffer();
    for (let t = 0; t <= 500; t += 50) b.push({ t, x: t / 100, z: 0, heading: 0 });
    b.prune(275);
    expect(b.sample(275)!.x).toBeCloseTo(2.75);
    expect(b.size).toBe(6);
    // Far past the newest: two stay, so extrapolation keeps its velocity.
    b.prune(10_000);
    expect(b.size).toBe(2);
  });

  it('keeps at most `capacity` snapshots', () => {
    const b = new SnapshotBuffer({ capacity: 4 });
    for (let t = 0; t < 10; t++) b.push({ t: t * 50, x: t * 0.1, z: 0, heading: 0 });
    expect(b.size).toBe(4);
  });
});

describe('angles', () => {
  it('angleDelta is the shortest signed turn', () => {
    expect(angleDelta(0, Math.PI / 2)).toBeCloseTo(Math.PI / 2);
    expect(angleDelta(0.1, -0.1)).toBeCloseTo(-0.2);
    expect(angleDelta(3, -3)).toBeCloseTo(2 * Math.PI - 6);
    expect(lerpAngle(0, 1, 0.5)).toBeCloseTo(0.5);
  });
});

describe('RenderDelay', () => {
  it('is two patch intervals for steady patches, within its bounds', () => {
    const d = new RenderDelay(50, 60, 400);
    for (let i = 0; i < 100; i++) d.onPatch(i * 50);
    expect(d.jitterMs).toBeCloseTo(0);
    expect(d.ms).toBe(100);
  });

  it('grows with jitter, up to the maximum', () => {
    const jittery = new RenderDelay(50);
    let t = 0;
    for (let i = 0; i < 200; i++) {
      t += i % 2 ? 20 : 80;
      jittery.onPatch(t);
    }
    expect(jittery.jitterMs).toBeGreaterThan(20);
    expect(jittery.ms).toBeGreaterThan(140);
    const awful = new RenderDelay(50, 60, 120);
    t = 0;
    for (let i = 0; i < 200; i++) awful.onPatch((t += i % 2 ? 5 : 140));
    expect(awful.ms).toBe(120);
  });

  it('does not count a still world (no patches for a while) as jitter', () => {
    const d = new RenderDelay(50);
    for (let i = 0; i < 10; i++) d.onPatch(i * 50);
    d.onPatch(10_000);
    d.onPatch(10_050);
    expect(d.ms).toBe(100);
  });
});
