import { describe, expect, it } from 'vitest';
import { hearingGain, hearingPan } from './voice.ts';

describe('NPC speech placement', () => {
  it('is loudest near the NPC and fades to a floor at the hearing radius', () => {
    expect(hearingGain(1, 25)).toBe(1);
    expect(hearingGain(3, 25)).toBe(1);
    expect(hearingGain(14, 25)).toBeLessThan(hearingGain(8, 25));
    expect(hearingGain(25, 25)).toBeCloseTo(0.15);
    expect(hearingGain(100, 25)).toBeCloseTo(0.15);
    expect(hearingGain(Number.NaN, 25)).toBe(0);
  });

  it('pans toward the side the NPC is on', () => {
    expect(hearingPan(0, 25)).toBe(0);
    expect(hearingPan(-5, 25)).toBeLessThan(0);
    expect(hearingPan(5, 25)).toBeGreaterThan(0);
    expect(hearingPan(40, 25)).toBe(1);
  });
});
