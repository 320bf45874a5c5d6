/**
 * The world's services, composed once per server in `server.ts` and shared by every world room and by
 * the NPC system: the map, the NPCs' bodies (placed from their scripts), the database (accounts, player
 * and NPC inventories, memories, the turn log, trust), the game clock and the map's path grid. None of
 * them depends on NPC brains, so with `NPC_ENABLED=false` NPCs still stand at their homes and
 * inventories still load, persist and replicate.
 */
import type { ServerConfig } from '../config.ts';
import { loadNpcScripts, type ScriptLog } from '../npc/script-loader.ts';
import type { WorldStore } from '../persistence/store.ts';
import type { GameClock } from './npc-agents.ts';
import { PathGrid } from './pathfinding.ts';
import type { WorldMap } from './world-map.ts';

export type { GameClock } from './npc-agents.ts';

/** Where an NPC's body starts in every room: its script's identity and `home`. */
export interface NpcPlacement {
  id: string;
  name: string;
  role: string;
  x: number;
  z: number;
  /** Facing, radians. */
  heading: number;
}

export interface WorldServices {
  map: WorldMap;
  /**
   * The NPCs every room places, one per valid script in `NPC_DIR` at start-up (a script's `home`, not the
   * map, says where it stands; a broken script is reported and its NPC left out). Hot reload changes
   * brains, not this list: a new NPC file takes a restart to get a body.
   */
  npcs: readonly NpcPlacement[];
  /** SQLite (`DB_PATH`); owned by the server, closed after the rooms and the NPC system. */
  store: WorldStore;
  /** Game time of day in minutes since midnight (`GAME_START_TIME`, `GAME_MINUTES_PER_SECOND`). */
  clock: GameClock;
  /** The map's walkable grid, for paths around obstacles. */
  grid: PathGrid;
}

/** The game clock: `GAME_START_TIME` at `startedAt`, advancing `GAME_MINUTES_PER_SECOND` game minutes per second. */
export function gameClock(config: Pick<ServerConfig, 'GAME_START_TIME' | 'GAME_MINUTES_PER_SECOND'>, startedAt = Date.now(), now: () => number = Date.now): GameClock {
  const [hours, minutes] = config.GAME_START_TIME.split(':').map(Number);
  const startMinutes = hours! * 60 + minutes!;
  return () => (startMinutes + ((now() - startedAt) / 1000) * config.GAME_MINUTES_PER_SECOND) % 1440;
}

/** Body radius NPC paths keep clear of obstacles (the room's body radius). */
const BODY_RADIUS = 0.5;

/** The NPCs of the valid scripts in `dir`, checked against `map` (home walkable, landmarks exist), in file order. */
export function placeNpcs(dir: string, map: WorldMap, log?: ScriptLog): NpcPlacement[] {
  const loaded = loadNpcScripts(dir, { map, ...(log ? { log } : {}) });
  return loaded.scripts.map((s) => ({ id: s.id, name: s.name, role: s.role, x: s.home.x, z: s.home.z, heading: s.home.heading ?? 0 }));
}

export function createWorldServices(config: ServerConfig, map: WorldMap, store: WorldStore, log?: ScriptLog): WorldServices {
  return { map, npcs: placeNpcs(config.NPC_DIR, map, log), store, clock: gameClock(config), grid: new PathGrid(map, BODY_RADIUS) };
}
