/**
 * The static world: walkable bounds, obstacles, landmarks, the item catalogue and spawn points, loaded
 * from `assets/world/*.json` and validated so a broken map fails at start-up with the field that is wrong.
 * Landmark `aliases` and item `names` are what players call them: the NPCs' call grounding
 * (npc/call-grounding.ts) and the world corpus generator read the same lists.
 * NPCs are not on the map: each NPC's script declares its home (assets/npcs/<id>.yaml), and
 * `world-services.ts` places the NPCs of the loaded scripts.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';

const finite = z.number().finite();

const BoxObstacle = z.object({ id: z.string().min(1), kind: z.literal('box'), minX: finite, minZ: finite, maxX: finite, maxZ: finite, note: z.string().optional() })
  .refine((b) => b.minX < b.maxX && b.minZ < b.maxZ, { message: 'box obstacle needs minX < maxX and minZ < maxZ' });
const CircleObstacle = z.object({ id: z.string().min(1), kind: z.literal('circle'), x: finite, z: finite, r: finite.positive(), note: z.string().optional() });
const Obstacle = z.union([BoxObstacle, CircleObstacle]);

const Point = z.object({ x: finite, z: finite });

const Landmark = z.object({
  id: z.string().min(1),
  name: z.string().min(1),
  x: finite,
  z: finite,
  /** What players call it besides its name, article included where they say one ("the tavern"). */
  aliases: z.array(z.string().trim().min(1)).default([]),
});

const Item = z.object({
  id: z.string().min(1),
  /** What players call it; the first is its display name ("pouch of salt"). */
  names: z.array(z.string().trim().min(1)).min(1, 'an item needs at least one name'),
  /** A mass noun: "some bread", never "a bread" (the corpus generator's English). */
  mass: z.boolean().default(false),
});

export const WorldMapSchema = z.object({
  id: z.string().min(1),
  name: z.string().min(1),
  description: z.string().default(''),
  bounds: z.object({ minX: finite, minZ: finite, maxX: finite, maxZ: finite })
    .refine((b) => b.minX < b.maxX && b.minZ < b.maxZ, { message: 'bounds need minX < maxX and minZ < maxZ' }),
  obstacles: z.array(Obstacle).default([]),
  landmarks: z.array(Landmark).default([]),
  /** Items NPCs carry and give (their scripts name them by id); an item not listed is called by its id. */
  items: z.array(Item).default([]),
  spawnPoints: z.array(Point).min(1, 'the map needs at least one spawn point'),
});

export type WorldMap = z.infer<typeof WorldMapSchema>;
export type ObstacleShape = z.infer<typeof Obstacle>;
export type WorldItem = z.infer<typeof Item>;

export class WorldMapError extends Error {
  override name = 'WorldMapError';
}

/** Parse and check a map object; `source` names the file in error messages. */
export function parseWorldMap(raw: unknown, source: string, bodyRadius: number): WorldMap {
  // Maps once placed NPCs; a leftover list would be silently ignored, so it is refused with the fix.
  if (raw !== null && typeof raw === 'object' && 'npcs' in raw) {
    throw new WorldMapError(`${source}: npcs: NPCs are no longer placed by the map; give each NPC's position as \`home: {x, z, heading}\` in its script (assets/npcs/<id>.yaml) and remove this list`);
  }
  const parsed = WorldMapSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new WorldMapError(`${source}: ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  const map = parsed.data;
  // (An NPC id that is also a landmark id is refused by the script checks, checkScriptAgainstMap.)
  const ids = new Set<string>();
  for (const { id } of map.landmarks) {
    if (ids.has(id)) throw new WorldMapError(`${source}: duplicate landmark id "${id}"`);
    ids.add(id);
  }
  const itemIds = new Set<string>();
  for (const { id } of map.items) {
    if (itemIds.has(id)) throw new WorldMapError(`${source}: duplicate item id "${id}"`);
    itemIds.add(id);
  }
  // A spawn point inside an obstacle would trap new players; refuse the map instead.
  map.spawnPoints.forEach((p, i) => {
    if (!insideBounds(map, p.x, p.z, bodyRadius) || collidesAny(map.obstacles, p.x, p.z, bodyRadius)) {
      throw new WorldMapError(`${source}: spawnPoints.${i} (${p.x}, ${p.z}) is outside the walkable area or inside an obstacle`);
    }
  });
  return map;
}

export function loadWorldMap(path: string, bodyRadius: number): WorldMap {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new WorldMapError(`cannot read world map ${path}: ${(err as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new WorldMapError(`${path}: not valid JSON: ${(err as Error).message}`);
  }
  return parseWorldMap(raw, path, bodyRadius);
}

/** An item's catalogue entry in `items`, or, for an item the catalogue lacks, its id as its one name ("town_map" → "town map"). */
export function catalogueItem(items: readonly { id: string; names: readonly string[]; mass?: boolean }[], id: string): { names: readonly string[]; mass: boolean } {
  const known = items.find((i) => i.id === id);
  return known ? { names: known.names, mass: known.mass ?? false } : { names: [id.replace(/_/g, ' ')], mass: false };
}

/** The landmarks as clients get them (the wire's Landmark: id, name, position; aliases stay on the server). */
export function landmarksForClients(map: Pick<WorldMap, 'landmarks'>): Array<{ id: string; name: string; x: number; z: number }> {
  return map.landmarks.map(({ id, name, x, z }) => ({ id, name, x, z }));
}

export function insideBounds(map: Pick<WorldMap, 'bounds'>, x: number, z: number, radius: number): boolean {
  const b = map.bounds;
  return x - radius >= b.minX && x + radius <= b.maxX && z - radius >= b.minZ && z + radius <= b.maxZ;
}

/** True when a body (circle of `radius` at x,z) overlaps the obstacle. */
export function collides(o: ObstacleShape, x: number, z: number, radius: number): boolean {
  if (o.kind === 'circle') {
    const dx = x - o.x;
    const dz = z - o.z;
    const r = o.r + radius;
    return dx * dx + dz * dz < r * r;
  }
  const cx = Math.max(o.minX, Math.min(x, o.maxX));
  const cz = Math.max(o.minZ, Math.min(z, o.maxZ));
  const dx = x - cx;
  const dz = z - cz;
  return dx * dx + dz * dz < radius * radius;
}

export function collidesAny(obstacles: readonly ObstacleShape[], x: number, z: number, radius: number): boolean {
  for (const o of obstacles) if (collides(o, x, z, radius)) return true;
  return false;
}
