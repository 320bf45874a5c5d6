/**
 * Input mapping: keys held → a movement intent, and screen points ↔ world points. The world's +x is
 * east (screen right) and +z is north (screen up). The page sends an intent only when it changes, so
 * holding a key costs one message, not one per frame.
 */
import type { MoveIntent } from '@worldmind/shared';

/** `KeyboardEvent.code` values that steer, and the direction each adds. */
export const MOVE_KEYS: Readonly<Record<string, { x: number; z: number }>> = {
  KeyW: { x: 0, z: 1 },
  ArrowUp: { x: 0, z: 1 },
  KeyS: { x: 0, z: -1 },
  ArrowDown: { x: 0, z: -1 },
  KeyA: { x: -1, z: 0 },
  ArrowLeft: { x: -1, z: 0 },
  KeyD: { x: 1, z: 0 },
  ArrowRight: { x: 1, z: 0 },
};

export const RUN_KEYS: ReadonlySet<string> = new Set(['ShiftLeft', 'ShiftRight']);

/** The unit direction the held keys point to, or null when none (or opposite keys cancel out). */
export function keysToDirection(held: ReadonlySet<string>): { x: number; z: number } | null {
  let x = 0;
  let z = 0;
  const seen = new Set<string>();
  for (const code of held) {
    const d = MOVE_KEYS[code];
    if (!d) continue;
    // W and ArrowUp together are one "up", not a double vote.
    const key = `${d.x},${d.z}`;
    if (seen.has(key)) continue;
    seen.add(key);
    x += d.x;
    z += d.z;
  }
  if (x === 0 && z === 0) return null;
  const len = Math.hypot(x, z);
  return { x: x / len, z: z / len };
}

/**
 * Turns keyboard state into intents, sending only changes. Keys released → `{ stop: true }`, but
 * only if the keys were what moved the avatar: releasing nothing after a click-to-move leaves that walk alone.
 */
export class KeyboardIntents {
  #last = '';
  #steering = false;

  /** The intent to send for the keys now held, or undefined when nothing changed. */
  update(held: ReadonlySet<string>): MoveIntent | undefined {
    const dir = keysToDirection(held);
    const run = [...held].some((c) => RUN_KEYS.has(c));
    if (!dir) {
      if (!this.#steering) return undefined;
      this.#steering = false;
      this.#last = '';
      return { stop: true };
    }
    const intent: MoveIntent = run ? { dir, run: true } : { dir };
    const key = JSON.stringify(intent);
    if (key === this.#last) return undefined;
    this.#last = key;
    this.#steering = true;
    return intent;
  }

  /** Another input (a click) took over movement: the next key press is a change again. */
  reset(): void {
    this.#last = '';
    this.#steering = false;
  }
}

export interface Camera {
  /** World point at the centre of the canvas. */
  x: number;
  z: number;
  /** CSS pixels per world unit. */
  scale: number;
  /** Canvas size in CSS pixels. */
  width: number;
  height: number;
}

export function worldToScreen(cam: Camera, x: number, z: number): { x: number; y: number } {
  return { x: cam.width / 2 + (x - cam.x) * cam.scale, y: cam.height / 2 - (z - cam.z) * cam.scale };
}

export function screenToWorld(cam: Camera, px: number, py: number): { x: number; z: number } {
  return { x: cam.x + (px - cam.width / 2) / cam.scale, z: cam.z - (py - cam.height / 2) / cam.scale };
}

/**
 * Pixels per world unit for a viewport: about `span` world units across the shorter side, within
 * [min, max] so a phone still shows the neighbourhood and a wide monitor does not turn into a map.
 */
export function scaleFor(width: number, height: number, span = 40, min = 7, max = 14): number {
  return Math.min(max, Math.max(min, Math.min(width, height) / span));
}

/** Moves the camera toward a target with exponential smoothing (frame-rate independent). */
export function followCamera(cam: Camera, target: { x: number; z: number }, dtMs: number, halfLifeMs = 120): void {
  const f = 1 - Math.pow(0.5, dtMs / halfLifeMs);
  if (Math.hypot(target.x - cam.x, target.z - cam.z) > 30) {
    cam.x = target.x;
    cam.z = target.z;
    return;
  }
  cam.x += (target.x - cam.x) * f;
  cam.z += (target.z - cam.z) * f;
}

/** The entity under a tap: nearest within `radius` world units of the point, or undefined. */
export function pick<T extends { x: number; z: number }>(items: Iterable<T>, point: { x: number; z: number }, radius: number): T | undefined {
  let best: T | undefined;
  let bestD = radius;
  for (const item of items) {
    const d = Math.hypot(item.x - point.x, item.z - point.z);
    if (d <= bestD) {
      best = item;
      bestD = d;
    }
  }
  return best;
}

/** Where to walk to talk to an NPC: a point `gap` units short of it, on the player's side. */
export function approachPoint(from: { x: number; z: number }, to: { x: number; z: number }, gap: number): { x: number; z: number } {
  const dx = from.x - to.x;
  const dz = from.z - to.z;
  const d = Math.hypot(dx, dz);
  if (d <= gap) return { x: from.x, z: from.z };
  return { x: to.x + (dx / d) * gap, z: to.z + (dz / d) * gap };
}
