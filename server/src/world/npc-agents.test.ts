import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { Npc } from '@worldmind/shared';
import { loadNpcScripts } from '../npc/script-loader.ts';
import type { NpcScript } from '../npc/script-schema.ts';
import { NpcAgent } from './npc-agents.ts';
import { PathGrid } from './pathfinding.ts';
import { collidesAny, loadWorldMap } from './world-map.ts';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const map = loadWorldMap(`${root}assets/world/town.json`, 0.5);
const scripts = loadNpcScripts(`${root}assets/npcs`, { map }).byId;
const grid = new PathGrid(map, 0.5);
const movement = { walkSpeed: 4, runSpeed: 8, bodyRadius: 0.5 };
const dt = 1 / 20;

function agentFor(id: string, script: NpcScript | undefined = scripts.get(id), clock = () => 8 * 60) {
  // The NPC starts at its script's home, as the room places it (world-services.ts placeNpcs).
  const home = scripts.get(id)!.home;
  const npc = new Npc();
  Object.assign(npc, { id, name: scripts.get(id)!.name, role: scripts.get(id)!.role, x: home.x, y: 0, z: home.z, heading: home.heading ?? 0 });
  return new NpcAgent(npc, () => script, map, grid, movement, clock);
}

/** Steps the agent until `done` or the step budget runs out; checks it never stands in an obstacle. */
function run(agent: NpcAgent, steps: number, players = new Map<string, { x: number; z: number }>(), done = () => false): number {
  let t = 0;
  for (let i = 0; i < steps; i++) {
    t += dt * 1000;
    agent.step(dt, 1_000_000 + t, players);
    expect(collidesAny(map.obstacles, agent.npc.x, agent.npc.z, 0.45)).toBe(false);
    if (done()) return i;
  }
  return steps;
}

describe('pathfinding', () => {
  it('finds obstacle-free paths between every pair of landmarks', () => {
    for (const a of map.landmarks) {
      for (const b of map.landmarks) {
        if (a === b) continue;
        const path = grid.findPath(a, b);
        expect(path, `${a.id} → ${b.id}`).not.toBeNull();
        let from = { x: a.x, z: a.z };
        if (!grid.isFree(from.x, from.z)) continue; // a landmark drawn inside a building's footprint
        for (const p of path!) {
          expect(grid.lineIsFree(from, p), `${a.id} → ${b.id} segment`).toBe(true);
          from = p;
        }
      }
    }
  });
});

describe('NPC agents', () => {
  it('walks to a landmark around obstacles and stops there (walk_to)', () => {
    const bram = agentFor('bram', { ...scripts.get('bram')!, schedule: undefined });
    const inn = map.landmarks.find((l) => l.id === 'inn')!;
    expect(bram.walkTo(inn, 1_000_000)).toBe(true);
    expect(bram.npc.activity).toBe('walking');
    const steps = run(bram, 2_000, undefined, () => Math.hypot(bram.npc.x - inn.x, bram.npc.z - inn.z) < 0.2 && bram.npc.anim === 'idle');
    expect(steps).toBeLessThan(2_000);
  });

  it('follows a player at a short distance and stops when told', () => {
    const finn = agentFor('finn', { ...scripts.get('finn')!, patrol: undefined });
    const player = { x: finn.npc.x + 12, z: finn.npc.z };
    const players = new Map([['p1', player]]);
    finn.follow('p1', 1_000_000);
    run(finn, 200, players);
    expect(Math.hypot(finn.npc.x - player.x, finn.npc.z - player.z)).toBeLessThanOrEqual(2.6);
    expect(finn.npc.attention).toBe('p1');
    finn.stop();
    player.x += 10;
    const x = finn.npc.x;
    run(finn, 5, players);
    expect(finn.following).toBe('');
    expect(Math.abs(finn.npc.x - x)).toBeLessThan(1); // no longer chasing
  });

  it('patrols its waypoints between conversations, and stops to face a player while talking', () => {
    const roderick = agentFor('roderick');
    const start = { x: roderick.npc.x, z: roderick.npc.z };
    run(roderick, 200);
    expect(Math.hypot(roderick.npc.x - start.x, roderick.npc.z - start.z)).toBeGreaterThan(1);
    const player = { x: roderick.npc.x + 2, z: roderick.npc.z };
    roderick.beginTalk('p1', 1_000_000);
    const at = { x: roderick.npc.x, z: roderick.npc.z };
    run(roderick, 40, new Map([['p1', player]]));
    expect(roderick.npc.x).toBeCloseTo(at.x, 3);
    expect(roderick.npc.heading).toBeCloseTo(Math.PI / 2, 2); // facing +x, where the player stands
    expect(roderick.npc.activity).toBe('talking');
  });

  it('goes where its daily schedule says at the current game time', () => {
    const bram = agentFor('bram', undefined, () => 12 * 60 + 30); // 12:30 → lunch at the inn
    const inn = map.landmarks.find((l) => l.id === 'inn')!;
    const steps = run(bram, 2_000, undefined, () => Math.hypot(bram.npc.x - inn.x, bram.npc.z - inn.z) < 0.5);
    expect(steps).toBeLessThan(2_000);
  });

  it('uses a place of its own (script `places`, not on the map) in its schedule and for walk_to', () => {
    const yard = { name: 'the Anvil Yard', x: 146, z: 84 };
    expect(map.landmarks.some((l) => l.id === 'anvil-yard')).toBe(false);
    const own = { ...scripts.get('bram')!, places: { 'anvil-yard': yard }, schedule: [{ at: '06:00', place: 'anvil-yard', activity: 'cooling blades' }] };
    const bram = agentFor('bram', own, () => 9 * 60);
    const steps = run(bram, 2_000, undefined, () => Math.hypot(bram.npc.x - yard.x, bram.npc.z - yard.z) < 0.5);
    expect(steps).toBeLessThan(2_000);
    expect(bram.resolvePlace('anvil-yard')).toEqual({ x: yard.x, z: yard.z });
    expect(bram.resolvePlace('forge')).toEqual({ x: 154, z: 72 }); // the map's landmarks still resolve
    expect(agentFor('bram').resolvePlace('anvil-yard')).toBeUndefined(); // another script: not its place
  });

  it('plays an emote for a few seconds', () => {
    const marta = agentFor('marta', { ...scripts.get('marta')!, schedule: undefined });
    marta.emote('wave', 1_000_000);
    marta.step(dt, 1_000_100, new Map());
    expect(marta.npc.anim).toBe('wave');
    marta.step(dt, 1_000_000 + 3_500, new Map());
    expect(marta.npc.anim).not.toBe('wave');
  });
});
