/**
 * One simulated player, and the crowd of them one bot process runs.
 *
 * A bot behaves like a person in town: it walks toward a landmark (steering with direction intents at
 * `inputHz` while it walks), idles there a while, says something to whoever is nearby now and then,
 * and — when the crowd hands it a conversation — walks up to an NPC and talks.
 *
 * Two kinds of bots share the behaviour:
 * - **tracked** bots decode the replicated state (as a real game client does). They steer by their
 *   real position, measure state latency (move intent sent → own avatar's replicated motion changes)
 *   and do the NPC talking, because walking up to an NPC needs to know where you and the NPC are.
 * - **headless** bots skip state decoding (SDK `replicateState: false`) so one process can run
 *   thousands of them; they still receive every byte the server sends them, and steer by dead
 *   reckoning from the spawn area (learnt from the tracked bots) at the speeds the welcome announces.
 *
 * Talk demand: every bot wants a conversation on average every `talkEveryS` seconds (a Poisson process
 * over the crowd). A due conversation is handed to a free tracked bot, unless `maxTalkers` are already
 * under way — then it is skipped and counted. A conversation is 1–4 lines: walk up to the nearest NPC,
 * say a line, read the streamed reply for a few seconds, say the next.
 */
import { TalkError, type AvatarInfo, type Landmark, type WelcomeInfo, type WorldClient } from '../../client-sdk/src/index.ts';
import type { BotCounters, TurnRecord } from './protocol.ts';
import { between, exponential, pick } from './rng.ts';

interface Vec {
  x: number;
  z: number;
}

/** The server accepts a talk within a few units of the NPC; bots stop well inside that. */
export const APPROACH_DISTANCE = 2.5;
/** A walk leg ends within this distance of its goal. */
const ARRIVE_DISTANCE = 1.5;
/** A bot says its next line to an NPC no sooner than this after its last turn ended (people read the reply). */
const MIN_TALK_GAP_MS = 5_000;
/** Give up reaching an NPC after this long. */
const APPROACH_TIMEOUT_MS = 60_000;
/** A state-latency probe that sees no matching change within this long is dropped as unmatched. */
const PROBE_TIMEOUT_MS = 5_000;
const COS_25 = Math.cos((25 * Math.PI) / 180);
/** Mean seconds of walking between short pauses (people stop to look around). */
const PAUSE_EVERY_S = 8;
/** Mean seconds between one bot's chat lines. */
const CHAT_EVERY_S = 45;
const BODY_RADIUS = 0.5;

const ANSWERED_OUTCOMES = new Set(['stop', 'length', 'fallback']);

const CHAT_LINES = [
  'Good morning!',
  'Anyone seen the smith today?',
  'Lovely weather for the market.',
  'Heading to the well, who is coming?',
  'The bread at the inn is excellent.',
  'Watch out near the river.',
  'Has the caravan arrived yet?',
  'Evening, friends.',
];

const TALK_LINES = [
  'Good day! What news in Emberfall?',
  'Do you have any work for a traveller?',
  'What can you tell me about this town?',
  'Have you seen anything strange lately?',
  'What do you sell here?',
];

export interface CrowdSettings {
  inputHz: number;
  talkEveryS: number;
  maxTalkers: number;
}

/** Where a bot process's bots report what they see. */
export interface CrowdSink {
  error(kind: string): void;
  latency(ms: number): void;
  turn(record: TurnRecord): void;
  readonly counters: BotCounters;
}

export class Crowd {
  readonly bots: Bot[] = [];
  /** Counting bytes, latency and talks (after everyone joined, before stop). */
  measuring = false;
  stopping = false;
  /** Conversations in flight (approaching or talking). */
  talking = 0;
  welcome: WelcomeInfo | undefined;
  /** Where players appear, learnt from the tracked bots' first replicated positions. */
  spawnHint: Vec | undefined;
  #nextTalkAt = Number.NaN;
  #timer: ReturnType<typeof setInterval> | undefined;
  #slot = 0;
  #startedAt = 0;

  constructor(
    readonly settings: CrowdSettings,
    readonly rand: () => number,
    readonly sink: CrowdSink,
  ) {}

  add(bot: Bot): void {
    this.bots.push(bot);
  }

  /**
   * Ticks every bot at `inputHz`, spread evenly: bots are split into buckets, one bucket per 10 ms
   * slot. A late timer catches up on missed slots (up to one full round) so input rate holds as long
   * as the CPU does.
   */
  start(): void {
    const slotMs = 10;
    const buckets = Math.max(1, Math.round(1000 / this.settings.inputHz / slotMs));
    this.#startedAt = performance.now();
    this.#timer = setInterval(() => {
      const now = performance.now();
      const due = Math.floor((now - this.#startedAt) / slotMs);
      let steps = 0;
      while (this.#slot <= due && steps < buckets) {
        const bucket = this.#slot % buckets;
        for (let i = bucket; i < this.bots.length; i += buckets) this.bots[i]!.tick(now);
        this.#slot++;
        steps++;
      }
      if (this.#slot <= due) this.#slot = due + 1; // more than a round behind: skip, the bots use real dt
      this.#assignTalks(now);
    }, slotMs);
  }

  stop(): void {
    this.stopping = true;
    clearInterval(this.#timer);
  }

  /** Turns waiting on (or streaming) the NPC's reply. */
  talksInFlight(): number {
    let n = 0;
    for (const bot of this.bots) if (bot.state === 'talk') n++;
    return n;
  }

  /** NPCs any tracked bot of this process can see, by id. */
  knownNpcs(): Map<string, Vec> {
    const known = new Map<string, Vec>();
    for (const bot of this.bots) {
      if (!bot.tracked) continue;
      for (const npc of bot.client.npcs.values()) known.set(npc.id, { x: npc.x, z: npc.z });
    }
    return known;
  }

  #assignTalks(now: number): void {
    const { talkEveryS, maxTalkers } = this.settings;
    if (talkEveryS <= 0 || this.stopping || this.bots.length === 0) return;
    const meanGapMs = (talkEveryS * 1000) / this.bots.length;
    if (Number.isNaN(this.#nextTalkAt)) this.#nextTalkAt = now + exponential(this.rand, meanGapMs);
    for (let n = 0; now >= this.#nextTalkAt; n++) {
      if (n >= 50) {
        this.#nextTalkAt = now;
        break;
      }
      this.#nextTalkAt += exponential(this.rand, meanGapMs);
      if (this.talking >= maxTalkers || !this.#handOutTalk(now)) this.sink.counters.talksSkipped++;
    }
  }

  #handOutTalk(now: number): boolean {
    const n = this.bots.length;
    const start = Math.floor(this.rand() * n);
    for (let k = 0; k < n; k++) {
      const bot = this.bots[(start + k) % n]!;
      if (bot.beginTalk(now)) return true;
    }
    return false;
  }
}

/** talk: waiting on / reading the NPC's streamed reply; read: between two turns of one conversation. */
type BotState = 'idle' | 'walk' | 'approach' | 'talk' | 'read';

interface Probe {
  t0: number;
  x: number;
  z: number;
  dx: number;
  dz: number;
}

export class Bot {
  state: BotState = 'idle';
  /** Bytes received when the measured phase began. */
  bytesAtMeasure = 0;
  gone = false;
  #until: number;
  #target: Vec = { x: 0, z: 0 };
  #run = false;
  #dir: Vec = { x: 0, z: 0 };
  #est: Vec | undefined;
  #lastTick: number;
  #legDeadline = 0;
  #progress = { at: 0, x: 0, z: 0 };
  #nextChatAt: number;
  #npcId: string | undefined;
  #explore: Vec | undefined;
  #approachDeadline = 0;
  #probe: Probe | undefined;
  /** Whether this bot has been sending direction intents since it last stood still. */
  #moving = false;
  #pausedUntil = 0;
  #nextPauseAt = 0;
  #lastTalkEndedAt = -Infinity;
  /** Turns still to say in the current conversation. */
  #turnsLeft = 0;
  #talkUnsupported: (() => void) | undefined;

  constructor(
    readonly client: WorldClient,
    readonly tracked: boolean,
    readonly crowd: Crowd,
    now: number,
  ) {
    const { rand, sink } = crowd;
    this.#lastTick = now;
    // Desynchronise the crowd: first steps within a few seconds, chat at random later.
    this.#until = now + between(rand, 200, 3_000);
    this.#nextChatAt = now + exponential(rand, CHAT_EVERY_S * 1000);
    client.on('welcome', (w) => (crowd.welcome ??= w));
    if (client.welcome) crowd.welcome ??= client.welcome;
    client.on('serverError', (e) => {
      if (e.type === 'talk') {
        // A talk refusal with our ref settles the turn (counted there); without one the server does
        // not know the message at all (NPC dialogue not wired yet).
        if (!e.ref) this.#talkUnsupported?.();
        return;
      }
      sink.error(`server_error_${e.code}`);
    });
    client.on('drop', () => sink.error('connection_dropped'));
    client.on('leave', (code) => {
      if (!this.gone && !crowd.stopping) sink.error(`left_${code}`);
      this.gone = true;
    });
    if (tracked) {
      client.on('avatarChange', (a) => {
        if (a.sessionId === client.sessionId) this.#onOwnChange(a);
      });
      client.on('avatarAdd', (a) => {
        if (a.sessionId === client.sessionId) crowd.spawnHint ??= { x: a.x, z: a.z };
      });
    }
  }

  /** Called `inputHz` times a second by the crowd. */
  tick(now: number): void {
    const dt = Math.min(1, (now - this.#lastTick) / 1000);
    this.#lastTick = now;
    if (this.gone || this.crowd.stopping) return;
    try {
      if (this.#probe && now - this.#probe.t0 > PROBE_TIMEOUT_MS) {
        this.#probe = undefined;
        this.crowd.sink.counters.latencyUnmatched++;
      }
      if (now >= this.#nextChatAt) this.#chat(now);
      if (this.state === 'idle') {
        if (now >= this.#until) this.#startLeg(now);
      } else if (this.state === 'walk') {
        this.#walk(now, dt);
      } else if (this.state === 'approach') {
        this.#approach(now, dt);
      } else if (this.state === 'read' && now >= this.#until) {
        // Next line of the conversation: say it if still close, otherwise walk back up first.
        const npc = this.#npcId ? this.client.npcs.get(this.#npcId) : undefined;
        const me = this.client.me;
        if (npc && me && Math.hypot(npc.x - me.x, npc.z - me.z) <= APPROACH_DISTANCE + 1) {
          this.state = 'talk';
          void this.#talk(this.#npcId!);
        } else {
          this.#approachDeadline = now + APPROACH_TIMEOUT_MS / 2;
          this.state = 'approach';
        }
      }
    } catch (err) {
      this.crowd.sink.error(`bot_exception_${(err as Error).name}`);
    }
  }

  /** Takes on a conversation if this bot can: tracked, not already busy, position known. */
  beginTalk(now: number): boolean {
    if (!this.tracked || this.gone || (this.state !== 'idle' && this.state !== 'walk')) return false;
    if (now - this.#lastTalkEndedAt < MIN_TALK_GAP_MS) return false;
    const me = this.client.me;
    const landmarks = this.crowd.welcome?.landmarks;
    if (!me || !landmarks || landmarks.length === 0) return false;
    const npc = nearest(me, this.client.npcs.size > 0 ? new Map([...this.client.npcs].map(([id, n]) => [id, { x: n.x, z: n.z }])) : this.crowd.knownNpcs());
    this.#npcId = npc?.id;
    // Nobody has seen an NPC yet: look for one around the landmarks (NPCs keep near them).
    this.#explore = npc ? undefined : this.#landmarkGoal(pick(this.crowd.rand, landmarks));
    this.#approachDeadline = now + APPROACH_TIMEOUT_MS;
    this.#progress = { at: now, x: me.x, z: me.z };
    this.#run = false;
    this.state = 'approach';
    this.#turnsLeft = 1 + Math.floor(this.crowd.rand() * 4);
    this.crowd.talking++;
    return true;
  }

  #position(): Vec | undefined {
    if (this.tracked) {
      const me = this.client.me;
      return me ? { x: me.x, z: me.z } : undefined;
    }
    return this.#est;
  }

  #startLeg(now: number): void {
    const welcome = (this.crowd.welcome ??= this.client.welcome);
    if (!welcome || welcome.landmarks.length === 0) {
      this.#until = now + 500;
      return;
    }
    if (!this.tracked && !this.#est) this.#est = this.crowd.spawnHint ?? center(welcome);
    const pos = this.#position();
    if (!pos) {
      this.#until = now + 500;
      return;
    }
    this.#target = this.#landmarkGoal(pick(this.crowd.rand, welcome.landmarks));
    this.#run = this.crowd.rand() < 0.2;
    const dist = Math.hypot(this.#target.x - pos.x, this.#target.z - pos.z);
    this.#legDeadline = now + (dist / this.#speed()) * 1600 + 3_000;
    this.#progress = { at: now, x: pos.x, z: pos.z };
    this.#pausedUntil = 0;
    this.#nextPauseAt = now + exponential(this.crowd.rand, PAUSE_EVERY_S * 1000);
    this.state = 'walk';
    this.#steer(pos, this.#target);
  }

  #walk(now: number, dt: number): void {
    if (this.#pausedUntil > now) return;
    if (this.#pausedUntil > 0) {
      this.#pausedUntil = 0;
      this.#progress = { at: now, x: this.#progress.x, z: this.#progress.z };
    }
    this.crowd.sink.counters.walkingSeconds += dt;
    if (!this.tracked) this.#deadReckon(dt);
    const pos = this.#position();
    if (!pos) return;
    const remaining = Math.hypot(this.#target.x - pos.x, this.#target.z - pos.z);
    if (remaining < ARRIVE_DISTANCE || now > this.#legDeadline) {
      this.#rest(now, between(this.crowd.rand, 2_000, 10_000));
      return;
    }
    if (now >= this.#nextPauseAt && remaining > 6) {
      // Stop for a moment, then carry on with the same walk.
      const ms = between(this.crowd.rand, 500, 2_000);
      this.#send({ stop: true });
      this.#dir = { x: 0, z: 0 };
      this.#probe = undefined;
      this.#moving = false;
      this.#pausedUntil = now + ms;
      this.#legDeadline += ms;
      this.#nextPauseAt = now + ms + exponential(this.crowd.rand, PAUSE_EVERY_S * 1000);
      return;
    }
    if (this.tracked && this.#stuck(now, pos)) {
      // Blocked by a wall: try another landmark.
      const welcome = this.crowd.welcome!;
      this.#target = this.#landmarkGoal(pick(this.crowd.rand, welcome.landmarks));
      this.#legDeadline = now + (Math.hypot(this.#target.x - pos.x, this.#target.z - pos.z) / this.#speed()) * 1600 + 3_000;
    }
    this.#steer(pos, this.#target);
  }

  #approach(now: number, dt: number): void {
    this.crowd.sink.counters.walkingSeconds += dt;
    const pos = this.#position();
    if (!pos || now > this.#approachDeadline) {
      this.crowd.sink.counters.talksAbandoned++;
      this.crowd.talking--;
      this.#rest(now, between(this.crowd.rand, 1_000, 5_000));
      return;
    }
    if (!this.#npcId && this.client.npcs.size > 0) {
      const seen = nearest(pos, new Map([...this.client.npcs].map(([id, n]) => [id, { x: n.x, z: n.z }])));
      this.#npcId = seen?.id;
    }
    const npc = this.#npcId ? (this.client.npcs.get(this.#npcId) ?? this.crowd.knownNpcs().get(this.#npcId)) : undefined;
    let goal: Vec;
    if (npc) {
      if (Math.hypot(npc.x - pos.x, npc.z - pos.z) <= APPROACH_DISTANCE) {
        this.#send({ stop: true });
        this.#dir = { x: 0, z: 0 };
        this.#probe = undefined;
        this.#moving = false;
        this.state = 'talk';
        void this.#talk(this.#npcId!);
        return;
      }
      goal = npc;
    } else {
      const welcome = this.crowd.welcome!;
      if (!this.#explore || Math.hypot(this.#explore.x - pos.x, this.#explore.z - pos.z) < ARRIVE_DISTANCE) {
        this.#explore = this.#landmarkGoal(pick(this.crowd.rand, welcome.landmarks));
      }
      goal = this.#explore;
    }
    if (this.#stuck(now, pos)) {
      // Sidestep: walk at right angles for a moment by aiming past the obstacle.
      const dx = goal.x - pos.x;
      const dz = goal.z - pos.z;
      goal = { x: pos.x - dz, z: pos.z + dx };
    }
    this.#steer(pos, goal);
  }

  async #talk(npcId: string): Promise<void> {
    const { sink, rand } = this.crowd;
    const sentAt = Date.now();
    let chunks = 0;
    let firstChunkAt: number | null = null;
    const record: TurnRecord = { sentAt, firstChunkAt: null, endedAt: sentAt, npcId, outcome: 'refused:unknown', chunks: 0, firstChunkMs: null, action: null };
    try {
      const turn = this.client.talk(npcId, pick(rand, TALK_LINES));
      const streamed = (async () => {
        for await (const _chunk of turn) {
          chunks++;
          firstChunkAt ??= Date.now();
        }
        return turn.result;
      })();
      streamed.catch(() => undefined);
      const unsupported = new Promise<never>((_, reject) => {
        this.#talkUnsupported = () => reject(new TalkError('the server does not handle talk messages', 'unsupported'));
      });
      const result = await Promise.race([streamed, unsupported]);
      record.outcome = result.finishReason;
      record.firstChunkMs = result.firstChunkMs;
      record.action = result.action?.name ?? null;
      if (result.finishReason === 'error') sink.error('talk_finish_error');
    } catch (err) {
      const code = err instanceof TalkError ? err.code : 'exception';
      record.outcome = `refused:${code}`;
      if (!(code === 'disconnected' && this.crowd.stopping)) sink.error(`talk_${code}`);
    } finally {
      this.#talkUnsupported = undefined;
      record.endedAt = Date.now();
      record.chunks = chunks;
      record.firstChunkAt = firstChunkAt;
      sink.turn(record);
      const now = performance.now();
      this.#lastTalkEndedAt = now;
      this.#turnsLeft--;
      if (this.state === 'talk' && this.#turnsLeft > 0 && ANSWERED_OUTCOMES.has(record.outcome) && !this.crowd.stopping && !this.gone) {
        // Read the reply, then say the next line.
        this.state = 'read';
        this.#until = now + between(rand, 3_000, 6_000);
      } else {
        this.crowd.talking--;
        if (this.state === 'talk') this.#rest(now, between(rand, 2_000, 6_000));
      }
    }
  }

  #rest(now: number, ms: number): void {
    if (this.#dir.x !== 0 || this.#dir.z !== 0 || this.state === 'walk' || this.state === 'approach') this.#send({ stop: true });
    this.#dir = { x: 0, z: 0 };
    this.#probe = undefined;
    this.#moving = false;
    this.state = 'idle';
    this.#until = now + ms;
  }

  /** Sends a direction intent toward `goal` (with a little wobble, as a thumb on a stick has). */
  #steer(pos: Vec, goal: Vec): void {
    const dx = goal.x - pos.x;
    const dz = goal.z - pos.z;
    const len = Math.hypot(dx, dz);
    if (len < 1e-6) return;
    const wobble = (this.crowd.rand() - 0.5) * 0.2;
    const c = Math.cos(wobble);
    const s = Math.sin(wobble);
    const dir = { x: (dx * c - dz * s) / len, z: (dx * s + dz * c) / len };
    if (this.tracked && this.crowd.measuring) this.#armProbe(dir);
    this.#dir = dir;
    this.#moving = true;
    this.#send({ dir, run: this.#run });
  }

  #send(intent: { dir: Vec; run: boolean } | { stop: true }): void {
    this.client.move(intent);
    this.crowd.sink.counters.intents++;
  }

  /**
   * Starts a state-latency probe when this intent must visibly change our own avatar: the first step
   * from standing still, so the replicated position moves only once the server has applied it. (Turns
   * while walking are not probed: an avatar sliding along a wall turns late for reasons that are not
   * latency.) A later intent that turns away before the change was seen supersedes the probe (counted
   * as unmatched).
   */
  #armProbe(dir: Vec): void {
    const probe = this.#probe;
    if (probe) {
      if (dir.x * probe.dx + dir.z * probe.dz < COS_25) {
        this.#probe = undefined;
        this.crowd.sink.counters.latencyUnmatched++;
      }
      return;
    }
    const me = this.client.me;
    if (!me) return;
    if (!this.#moving && Math.hypot(me.vx, me.vz) < 0.01) this.#probe = { t0: performance.now(), x: me.x, z: me.z, dx: dir.x, dz: dir.z };
  }

  #onOwnChange(a: AvatarInfo): void {
    const probe = this.#probe;
    if (!probe) return;
    if (Math.hypot(a.x - probe.x, a.z - probe.z) < 1e-3) return;
    this.#probe = undefined;
    if (this.crowd.measuring) this.crowd.sink.latency(performance.now() - probe.t0);
  }

  #stuck(now: number, pos: Vec): boolean {
    if (now - this.#progress.at < 2_500) return false;
    const moved = Math.hypot(pos.x - this.#progress.x, pos.z - this.#progress.z);
    this.#progress = { at: now, x: pos.x, z: pos.z };
    return moved < 1;
  }

  #deadReckon(dt: number): void {
    const est = this.#est;
    const welcome = this.crowd.welcome;
    if (!est || !welcome) return;
    const step = this.#speed() * dt;
    const b = welcome.bounds;
    est.x = clamp(est.x + this.#dir.x * step, b.minX + BODY_RADIUS, b.maxX - BODY_RADIUS);
    est.z = clamp(est.z + this.#dir.z * step, b.minZ + BODY_RADIUS, b.maxZ - BODY_RADIUS);
  }

  #speed(): number {
    const w = this.crowd.welcome;
    return (this.#run ? w?.runSpeed : w?.walkSpeed) ?? 4;
  }

  /** A spot near a landmark (people do not all stand on the same point), inside the map. */
  #landmarkGoal(landmark: Landmark): Vec {
    const r = 6 * Math.sqrt(this.crowd.rand());
    const a = this.crowd.rand() * 2 * Math.PI;
    const b = this.crowd.welcome!.bounds;
    return { x: clamp(landmark.x + r * Math.cos(a), b.minX + 2, b.maxX - 2), z: clamp(landmark.z + r * Math.sin(a), b.minZ + 2, b.maxZ - 2) };
  }

  #chat(now: number): void {
    this.#nextChatAt = now + exponential(this.crowd.rand, CHAT_EVERY_S * 1000);
    this.client.say(pick(this.crowd.rand, CHAT_LINES));
    this.crowd.sink.counters.chats++;
  }
}

function nearest(from: Vec, candidates: Map<string, Vec>): { id: string; x: number; z: number } | undefined {
  let best: { id: string; x: number; z: number } | undefined;
  let bestD = Infinity;
  for (const [id, p] of candidates) {
    const d = Math.hypot(p.x - from.x, p.z - from.z);
    if (d < bestD) {
      bestD = d;
      best = { id, x: p.x, z: p.z };
    }
  }
  return best;
}

function center(w: WelcomeInfo): Vec {
  return { x: (w.bounds.minX + w.bounds.maxX) / 2, z: (w.bounds.minZ + w.bounds.maxZ) / 2 };
}

function clamp(v: number, min: number, max: number): number {
  return v < min ? min : v > max ? max : v;
}
