/**
 * The world's services, composed once per server in `server.ts` and shared by every world room and by
 * the NPC system: the map, the database (accounts, player and NPC inventories, memories, the turn log),
 * the game clock and the map's path grid. None of them depends on NPC brains, so with
 * `NPC_ENABLED=false` inventories still load, persist and replicate.
 */
import type { ServerConfig } from '../config.ts';
import type { WorldStore } from '../persistence/store.ts';
import type { GameClock } from './npc-agents.ts';
import { PathGrid } from './pathfinding.ts';
import type { WorldMap } from './world-map.ts';

export type { GameClock } from './npc-agents.ts';

export interface WorldServices {
  map: WorldMap;
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

export function createWorldServices(config: ServerConfig, map: WorldMap, store: WorldStore): WorldServices {
  return { map, store, clock: gameClock(config), grid: new PathGrid(map, BODY_RADIUS) };
}
