/**
 * Replicated world state. Both collections are view-tagged: a client receives only the avatars and
 * NPCs the server added to its StateView (its area of interest), never the whole map.
 */
import { schema, t, type SchemaType } from '@colyseus/schema';

export const Avatar = schema(
  {
    sessionId: t.string(),
    name: t.string(),
    x: t.float32(),
    y: t.float32(),
    z: t.float32(),
    /** Facing, radians, 0 = +z, increasing counter-clockwise seen from above. */
    heading: t.float32(),
    anim: t.string().default('idle'),
    vx: t.float32(),
    vz: t.float32(),
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
    x: t.float32(),
    y: t.float32(),
    z: t.float32(),
    heading: t.float32(),
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
