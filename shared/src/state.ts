/**
 * Replicated world state. Both collections are view-tagged: a client receives only the avatars and
 * NPCs the server added to its StateView (its area of interest), never the whole map.
 *
 * Motion travels lean: the server simulates in floats (`x`, `z`, `heading`, `vx`, `vz`, local to the
 * process, never sent) and publishes them once per patch as the wire fields `xCm`/`zCm` (int16
 * centimetres), `headingByte` (uint8, 1/256 of a turn) and `vxCm`/`vzCm` (int16 cm/s) with
 * `publishPose`. A wire field only travels when its quantised value changes, so a body walking
 * straight sends two int16s per patch and its velocity and heading once per turn. Clients read
 * floats back with `poseOf` (the SDK does; decoded objects have no meaningful `x`).
 */
import { schema, t, type SchemaType } from '@colyseus/schema';

/** Wire units per world unit for positions and velocities (centimetres). */
export const CM_PER_UNIT = 100;
/** int16 centimetres: the largest |coordinate| a map may use, in world units. */
export const MAX_WIRE_COORDINATE = 32767 / CM_PER_UNIT;
const TURN = Math.PI * 2;
/** Headings travel as 1/256 of a turn (1.4°): finer than a sprite or a model's facing shows. */
export const HEADING_STEPS = 256;

export const Avatar = schema(
  {
    sessionId: t.string(),
    name: t.string(),
    /** Server-side simulation floats (world units, radians, units/s): never replicated. */
    x: t.number().noSync().default(0),
    z: t.number().noSync().default(0),
    /** Facing, radians, 0 = +z, increasing counter-clockwise seen from above. */
    heading: t.number().noSync().default(0),
    vx: t.number().noSync().default(0),
    vz: t.number().noSync().default(0),
    /** Wire pose (see the file comment): written only by `publishPose`. */
    xCm: t.int16().default(0),
    zCm: t.int16().default(0),
    headingByte: t.uint8().default(0),
    vxCm: t.int16().default(0),
    vzCm: t.int16().default(0),
    y: t.float32().default(0),
    anim: t.string().default('idle'),
    /** False while the player's connection is dropped and the server holds its seat. */
    connected: t.boolean().default(true),
    /** Items the player carries: item id → count. */
    inventory: t.map('number'),
  },
  'Avatar',
);
export type Avatar = SchemaType<typeof Avatar>;

export const Npc = schema(
  {
    id: t.string(),
    name: t.string(),
    role: t.string(),
    x: t.number().noSync().default(0),
    z: t.number().noSync().default(0),
    heading: t.number().noSync().default(0),
    xCm: t.int16().default(0),
    zCm: t.int16().default(0),
    headingByte: t.uint8().default(0),
    y: t.float32().default(0),
    /** idle, walk, or an emote name while one plays. */
    anim: t.string().default('idle'),
    /** The NPC's current line as it grows (a speech bubble for everyone in view); '' when silent. */
    speech: t.string().default(''),
    /** Session id of the player the NPC is talking to or following; '' for none. */
    attention: t.string().default(''),
    /** What the NPC is doing: idle, patrol, talking, walking, following. */
    activity: t.string().default('idle'),
  },
  'Npc',
);
export type Npc = SchemaType<typeof Npc>;

export const WorldState = schema(
  {
    avatars: t.map(Avatar).view(),
    npcs: t.map(Npc).view(),
  },
  'WorldState',
);
export type WorldState = SchemaType<typeof WorldState>;

/** World units → int16 centimetres (clamped: maps are checked against MAX_WIRE_COORDINATE at load). */
export function toCentimetres(units: number): number {
  const cm = Math.round(units * CM_PER_UNIT);
  return cm > 32767 ? 32767 : cm < -32768 ? -32768 : cm;
}

export function headingToByte(radians: number): number {
  const turns = radians / TURN;
  return Math.round((turns - Math.floor(turns)) * HEADING_STEPS) % HEADING_STEPS;
}

/** A heading byte back to radians in [0, 2π). */
export function byteToHeading(byte: number): number {
  return (byte / HEADING_STEPS) * TURN;
}

/** What a body replicates about its motion, server side (floats) — an Avatar or an Npc. */
export interface PoseSource {
  x: number;
  z: number;
  heading: number;
  vx?: number;
  vz?: number;
  xCm: number;
  zCm: number;
  headingByte: number;
  vxCm?: number;
  vzCm?: number;
}

/** Bits of `publishPose`'s result: which wire fields changed. */
export const PoseField = { xCm: 1, zCm: 2, headingByte: 4, vxCm: 8, vzCm: 16 } as const;

/**
 * Copies a body's simulation floats to its wire fields. Returns the `PoseField` bits of the fields that
 * changed (0: nothing travels; the setters drop equal values, so an unchanged field costs nothing).
 */
export function publishPose(body: PoseSource): number {
  const xCm = toCentimetres(body.x);
  const zCm = toCentimetres(body.z);
  const headingByte = headingToByte(body.heading);
  let changed = 0;
  if (body.xCm !== xCm) (body.xCm = xCm), (changed |= PoseField.xCm);
  if (body.zCm !== zCm) (body.zCm = zCm), (changed |= PoseField.zCm);
  if (body.headingByte !== headingByte) (body.headingByte = headingByte), (changed |= PoseField.headingByte);
  if (body.vx !== undefined && body.vxCm !== undefined) {
    const vxCm = toCentimetres(body.vx);
    const vzCm = toCentimetres(body.vz ?? 0);
    if (body.vxCm !== vxCm) (body.vxCm = vxCm), (changed |= PoseField.vxCm);
    if (body.vzCm !== vzCm) (body.vzCm = vzCm), (changed |= PoseField.vzCm);
  }
  return changed;
}

/** A decoded body's pose in world units and radians (what clients draw). */
export function poseOf(wire: { xCm: number; zCm: number; headingByte: number; vxCm?: number; vzCm?: number }): { x: number; z: number; heading: number; vx: number; vz: number } {
  return {
    x: wire.xCm / CM_PER_UNIT,
    z: wire.zCm / CM_PER_UNIT,
    heading: byteToHeading(wire.headingByte),
    vx: (wire.vxCm ?? 0) / CM_PER_UNIT,
    vz: (wire.vzCm ?? 0) / CM_PER_UNIT,
  };
}
