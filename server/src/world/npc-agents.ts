/**
 * NPC bodies in the world: where each NPC goes and what it does between and during conversations.
 * Priorities, highest first: talking (stand still, face the player), following a player, walking to a
 * place an action named, then ambient life (patrol waypoints or the daily schedule, else home).
 * Runs inside the room's fixed step; paths come from the shared PathGrid.
 */
import type { Npc } from '@worldmind/shared';
import { npcLandmarks, type NpcPlace, type NpcScript } from '../npc/script-schema.ts';
import { stepBody, type Body, type MovementParams } from './movement.ts';
import type { PathGrid, Point } from './pathfinding.ts';
import type { WorldMap } from './world-map.ts';

/** How long an emote plays. */
const EMOTE_MS = 3_000;
/** A follower keeps this distance and re-plans its path this often. */
const FOLLOW_DISTANCE = 2.5;
const FOLLOW_REPLAN_MS = 1_000;
/** After a conversation the NPC keeps facing the player this long before resuming its routine. */
const TALK_LINGER_MS = 4_000;

export interface PlayerPosition {
  x: number;
  z: number;
}

/** Game time of day in minutes since midnight, for schedules. */
export type GameClock = () => number;

export class NpcAgent {
  readonly body: Body;
  #path: Point[] = [];
  #goal: Point | undefined;
  #mode: 'ambient' | 'walking' | 'following' = 'ambient';
  #followId = '';
  #nextReplanAt = 0;
  #emote = '';
  #emoteUntil = 0;
  #talkingWith = '';
  #talkUntil = 0;
  #patrolIndex = 0;
  #pauseUntil = 0;
  #ambientGoalKey = '';

  constructor(
    readonly npc: Npc,
    private readonly script: () => NpcScript | undefined,
    private readonly map: WorldMap,
    private readonly grid: PathGrid,
    private readonly movement: MovementParams,
    private readonly clock: GameClock,
  ) {
    this.body = { x: npc.x, z: npc.z, vx: 0, vz: 0, heading: npc.heading, anim: 'idle' };
  }

  get following(): string {
    return this.#mode === 'following' ? this.#followId : '';
  }

  /** Resolves a landmark id (the map's, or one of the script's own `places`) or point; undefined for an unknown one. */
  resolvePlace(place: NpcPlace): Point | undefined {
    if (typeof place !== 'string') return place;
    const script = this.script();
    const landmark = (script ? npcLandmarks(script, this.map.landmarks) : this.map.landmarks).find((l) => l.id === place);
    return landmark ? { x: landmark.x, z: landmark.z } : undefined;
  }

  /** Starts (or continues) a conversation with a player: the NPC stops where it is and faces them. */
  beginTalk(sessionId: string, now: number): void {
    this.#talkingWith = sessionId;
    this.#talkUntil = Number.POSITIVE_INFINITY;
    this.npc.attention = sessionId;
    this.#setActivity('talking');
    void now;
  }

  endTalk(now: number): void {
    this.#talkUntil = now + TALK_LINGER_MS;
  }

  /** Walk to a place along a path around obstacles. False when no path exists. */
  walkTo(target: Point, now: number): boolean {
    const path = this.grid.findPath({ x: this.body.x, z: this.body.z }, target);
    if (!path) return false;
    this.#mode = 'walking';
    this.#path = path;
    this.#goal = target;
    this.#talkUntil = Math.min(this.#talkUntil, now);
    this.#setActivity('walking');
    return true;
  }

  follow(sessionId: string, now: number): void {
    this.#mode = 'following';
    this.#followId = sessionId;
    this.#nextReplanAt = now;
    this.npc.attention = sessionId;
    this.#talkUntil = Math.min(this.#talkUntil, now);
    this.#setActivity('following');
  }

  /** Stops walking or following; the NPC resumes its routine. */
  stop(): void {
    this.#mode = 'ambient';
    this.#path = [];
    this.#followId = '';
    this.#ambientGoalKey = '';
    this.#pauseUntil = 0;
  }

  emote(name: string, now: number): void {
    this.#emote = name;
    this.#emoteUntil = now + EMOTE_MS;
  }

  /** Turns toward a point and plays the `point` gesture, staying where it is. */
  pointAt(target: Point, now: number): void {
    this.#talkUntil = Math.min(this.#talkUntil, now); // stop facing the speaker
    this.body.heading = Math.atan2(target.x - this.body.x, target.z - this.body.z);
    this.#pauseUntil = Math.max(this.#pauseUntil, now + EMOTE_MS); // hold the pose before the routine resumes
    this.emote('point', now);
  }

  /** One fixed step. `players` gives current avatar positions by session id. */
  step(dt: number, now: number, players: ReadonlyMap<string, PlayerPosition>): void {
    const talkingTo = now < this.#talkUntil ? players.get(this.#talkingWith) : undefined;
    if (!talkingTo && this.#talkingWith) {
      this.#talkingWith = '';
      if (this.#mode !== 'following') this.npc.attention = '';
    }

    if (talkingTo) {
      this.body.vx = 0;
      this.body.vz = 0;
      this.body.anim = 'idle';
      this.body.heading = Math.atan2(talkingTo.x - this.body.x, talkingTo.z - this.body.z);
    } else if (this.#mode === 'following') {
      this.#stepFollow(dt, now, players);
    } else if (this.#mode === 'walking') {
      if (!this.#walkPath(dt)) {
        this.#mode = 'ambient';
        this.#pauseUntil = now + 10_000; // linger where it was sent before the routine resumes
        this.#ambientGoalKey = '';
      }
    } else {
      this.#stepAmbient(dt, now);
    }
    this.#sync(now);
  }

  #stepFollow(dt: number, now: number, players: ReadonlyMap<string, PlayerPosition>): void {
    const leader = players.get(this.#followId);
    if (!leader) {
      this.stop();
      this.npc.attention = '';
      return;
    }
    const distance = Math.hypot(leader.x - this.body.x, leader.z - this.body.z);
    if (distance <= FOLLOW_DISTANCE) {
      this.#path = [];
      this.body.anim = 'idle';
      this.body.vx = 0;
      this.body.vz = 0;
      this.body.heading = Math.atan2(leader.x - this.body.x, leader.z - this.body.z);
      return;
    }
    if (now >= this.#nextReplanAt || this.#path.length === 0) {
      this.#path = this.grid.findPath({ x: this.body.x, z: this.body.z }, leader) ?? [];
      this.#nextReplanAt = now + FOLLOW_REPLAN_MS;
    }
    this.#walkPath(dt);
  }

  #stepAmbient(dt: number, now: number): void {
    if (this.#path.length > 0) {
      if (!this.#walkPath(dt)) this.#path = [];
      if (this.#path.length === 0) {
        const pause = this.script()?.patrol?.pause_s ?? 0;
        this.#pauseUntil = now + pause * 1000;
      }
      return;
    }
    this.body.anim = 'idle';
    this.body.vx = 0;
    this.body.vz = 0;
    if (now < this.#pauseUntil) return;
    const goal = this.#ambientGoal();
    if (!goal) return;
    const key = `${goal.key}`;
    if (Math.hypot(goal.point.x - this.body.x, goal.point.z - this.body.z) < 0.5) {
      if (goal.advance) this.#patrolIndex++;
      this.#ambientGoalKey = key;
      return;
    }
    if (key === this.#ambientGoalKey && !goal.advance) return; // tried and unreachable, or already there
    this.#ambientGoalKey = key;
    const path = this.grid.findPath({ x: this.body.x, z: this.body.z }, goal.point);
    if (path) {
      this.#path = path;
      this.#setActivity(goal.activity);
      if (goal.advance) this.#patrolIndex++;
    }
  }

  /** Where the routine wants the NPC now: the next patrol waypoint, the schedule's place, or home. */
  #ambientGoal(): { point: Point; key: string; advance: boolean; activity: string } | undefined {
    const script = this.script();
    if (script?.patrol) {
      const waypoints = script.patrol.waypoints;
      const index = this.#patrolIndex % waypoints.length;
      const point = this.resolvePlace(waypoints[index]!);
      return point ? { point, key: `patrol:${index}:${this.#patrolIndex}`, advance: true, activity: 'patrol' } : undefined;
    }
    if (script?.schedule) {
      const minutes = this.clock();
      let current = script.schedule[script.schedule.length - 1]!;
      for (const entry of script.schedule) {
        const [h, m] = entry.at.split(':').map(Number);
        if (h! * 60 + m! <= minutes) current = entry;
      }
      const point = this.resolvePlace(current.place);
      return point ? { point, key: `schedule:${current.at}`, advance: false, activity: current.activity ?? 'idle' } : undefined;
    }
    const home = script?.home ?? { x: this.npc.x, z: this.npc.z };
    return { point: { x: home.x, z: home.z }, key: 'home', advance: false, activity: 'idle' };
  }

  /** Advances along the current path; false when the path is finished or blocked. */
  #walkPath(dt: number): boolean {
    const next = this.#path[0];
    if (!next) return false;
    const after = stepBody(this.body, { kind: 'target', x: next.x, z: next.z, run: false }, dt, this.map, this.movement);
    if (after.kind === 'idle') {
      const arrived = Math.hypot(next.x - this.body.x, next.z - this.body.z) < 0.1;
      if (!arrived) {
        this.#path = [];
        return false;
      }
      this.#path.shift();
    }
    return this.#path.length > 0;
  }

  #setActivity(activity: string): void {
    if (this.npc.activity !== activity) this.npc.activity = activity;
  }

  /** Copies the body into the replicated NPC, writing only fields that changed (no patch churn). */
  #sync(now: number): void {
    const npc = this.npc;
    const anim = now < this.#emoteUntil && this.body.anim === 'idle' ? this.#emote : this.body.anim;
    if (Math.abs(npc.x - this.body.x) > 1e-4) npc.x = this.body.x;
    if (Math.abs(npc.z - this.body.z) > 1e-4) npc.z = this.body.z;
    if (Math.abs(npc.heading - this.body.heading) > 1e-3) npc.heading = this.body.heading;
    if (npc.anim !== anim) npc.anim = anim;
    if (this.#mode === 'ambient' && !this.#talkingWith && this.#path.length === 0 && now >= this.#pauseUntil && npc.activity === 'walking') this.#setActivity('idle');
  }
}
