/**
 * Authoritative movement: turns a player's current intent into at most one step of `speed * dt`,
 * keeps the body inside the walkable bounds and out of obstacles. Pure functions, no room state.
 */
import { AnimationState, type MoveIntent } from '@worldmind/shared';
import { collidesAny, insideBounds, type WorldMap } from './world-map.ts';

/** What the server remembers of the last intent: a direction (unit vector), a target, or nothing. */
export type ActiveIntent =
  | { kind: 'idle' }
  | { kind: 'direction'; dx: number; dz: number; run: boolean }
  | { kind: 'target'; x: number; z: number; run: boolean };

export interface Body {
  x: number;
  z: number;
  vx: number;
  vz: number;
  heading: number;
  anim: string;
}

export interface MovementParams {
  walkSpeed: number;
  runSpeed: number;
  bodyRadius: number;
}

/** Within this distance of a target the body counts as arrived (avoids jitter around the point). */
const ARRIVE_EPSILON = 0.05;
/** A target walk that makes less than this share of its step (blocked by a wall) is abandoned. */
const MIN_PROGRESS = 0.2;

export function toActiveIntent(intent: MoveIntent): ActiveIntent {
  if ('stop' in intent) return { kind: 'idle' };
  if ('target' in intent) return { kind: 'target', x: intent.target.x, z: intent.target.z, run: intent.run ?? false };
  const len = Math.hypot(intent.dir.x, intent.dir.z);
  // Any magnitude is accepted but only the direction counts: clients cannot ask for more speed.
  if (len < 1e-6) return { kind: 'idle' };
  return { kind: 'direction', dx: intent.dir.x / len, dz: intent.dir.z / len, run: intent.run ?? false };
}

/**
 * Advance one fixed step. Returns the intent to keep (a reached target becomes idle). Movement is
 * resolved per axis so a body slides along walls and never moves further than speed * dt.
 */
export function stepBody(body: Body, intent: ActiveIntent, dt: number, map: WorldMap, p: MovementParams): ActiveIntent {
  let dirX = 0;
  let dirZ = 0;
  let maxStep = 0;
  let next = intent;
  if (intent.kind === 'direction') {
    dirX = intent.dx;
    dirZ = intent.dz;
    maxStep = (intent.run ? p.runSpeed : p.walkSpeed) * dt;
  } else if (intent.kind === 'target') {
    const dx = intent.x - body.x;
    const dz = intent.z - body.z;
    const dist = Math.hypot(dx, dz);
    if (dist <= ARRIVE_EPSILON) {
      next = { kind: 'idle' };
    } else {
      dirX = dx / dist;
      dirZ = dz / dist;
      maxStep = Math.min(dist, (intent.run ? p.runSpeed : p.walkSpeed) * dt);
    }
  }

  const startX = body.x;
  const startZ = body.z;
  if (maxStep > 0) {
    const r = p.bodyRadius;
    const nx = body.x + dirX * maxStep;
    if (insideBounds(map, nx, body.z, r) && !collidesAny(map.obstacles, nx, body.z, r)) body.x = nx;
    const nz = body.z + dirZ * maxStep;
    if (insideBounds(map, body.x, nz, r) && !collidesAny(map.obstacles, body.x, nz, r)) body.z = nz;
    body.heading = Math.atan2(dirX, dirZ);
  }
  const moved = Math.hypot(body.x - startX, body.z - startZ);
  // Rounded so a steady walk does not re-send velocity every tick for float noise.
  body.vx = dt > 0 ? Math.round(((body.x - startX) / dt) * 100) / 100 : 0;
  body.vz = dt > 0 ? Math.round(((body.z - startZ) / dt) * 100) / 100 : 0;
  // Heading for a target but (nearly) blocked: give up rather than creep along a wall forever.
  // Straight-line targets only; routing around obstacles belongs to a path planner.
  if (next.kind === 'target' && maxStep > 0 && moved < maxStep * MIN_PROGRESS) next = { kind: 'idle' };
  if (moved < 1e-6) {
    body.anim = AnimationState.Idle;
  } else {
    body.anim = moved / dt > p.walkSpeed + 1e-6 ? AnimationState.Run : AnimationState.Walk;
  }
  return next;
}
