/**
 * WorldClient: the typed Worldmind client for Node and browsers. Connects, joins the world room,
 * sends movement intents and chat, and turns replicated state into plain snapshots and typed events.
 */
import { Callbacks, Client, Protocol, type Room } from '@colyseus/sdk';

/** Low bits of a frame's first byte carry the protocol code; high bits are modifiers. */
const PROTOCOL_CODE_MASK = 0x1f; // as in @colyseus/shared-types
import {
  ChatMessageSchema,
  describeIssue,
  ClientMessage,
  JoinOptionsSchema,
  MoveIntentSchema,
  RateTurnMessageSchema,
  ServerMessage,
  TalkMessageSchema,
  WORLD_ROOM,
  WorldState,
  poseOf,
  type Avatar,
  type ChatBroadcast,
  type ErrorReply,
  type MoveIntent,
  type Npc,
  type NpcChunk,
  type NpcTurnEnd,
  type NpcTurnStart,
  type TurnRatedAck,
  type WelcomeInfo,
  decodeNpcAudioFrame,
  encodeTalkVoiceChunk,
  ErrorCode,
  pcmToSamples,
  samplesToPcm,
  toWireSamples,
  VOICE_SAMPLE_RATE,
} from '@worldmind/shared';
import { AuthError, WorldAuth, type SecretStorage } from './auth.ts';
import { TypedEmitter } from './emitter.ts';
import { PendingTalk, TalkError } from './talk-turn.ts';
import type { AvatarInfo, NpcInfo, TalkTurn, VoiceAudio, WorldClientEvents } from './types.ts';

export interface ReconnectOptions {
  /** Retry a dropped connection automatically. Default true. */
  enabled?: boolean;
  maxRetries?: number;
  /** The connection must have been up this long before a drop is retried (ms). Default 1000. */
  minUptimeMs?: number;
  minDelayMs?: number;
  maxDelayMs?: number;
}

export interface WorldClientOptions {
  /** Server address, e.g. `ws://localhost:2567`. */
  endpoint: string;
  /**
   * Display name shown to other players: normalised (NFKC), 1–24 characters, no control, bidi or
   * zero-width characters. If another player in the room already shows a name that looks the same,
   * the server shows yours as "Name (2)" (see `welcome.name`). It is not your identity: your account is.
   */
  name: string;
  /**
   * How to sign in. Default: as a guest through a new `WorldAuth` with `storage` — the device secret
   * in storage if there is one, else a new guest whose secret is stored. Pass one `WorldAuth` to
   * several connects to reuse its session.
   */
  auth?: WorldAuth;
  /** Where a new `WorldAuth` keeps the device secret. Default: `localStorage` in browsers, memory in Node. */
  storage?: SecretStorage;
  /** Sign in as the guest this device secret belongs to (from `world.deviceSecret` earlier). */
  deviceSecret?: string;
  /** Sign in to a password account instead of as a guest. */
  account?: { username: string; password: string };
  /** A session token obtained elsewhere (e.g. your game backend called `/auth/*`); no sign-in is made. */
  token?: string;
  reconnect?: ReconnectOptions;
  /** Give up joining after this long (ms). Default 10 s. */
  joinTimeoutMs?: number;
  /**
   * Decode replicated state (default true). Headless load-test bots that only need to generate
   * traffic set false: frames are still received and counted, but avatars/NPCs are not tracked.
   */
  replicateState?: boolean;
  /** Bounds on NPC replies: time to the turn's start, and to its end (ms). Defaults 15 s and 120 s. */
  talkTimeouts?: { startTimeoutMs?: number; turnTimeoutMs?: number };
  /** Bound on the server's acknowledgement of `rateTurn` (ms). Default 10 s. */
  rateTimeoutMs?: number;
}

/** Traffic this client has received since it connected. */
export interface NetworkStats {
  bytesReceived: number;
  framesReceived: number;
  /** State patches among the frames (the room's patch rate, seen from here). */
  patchesReceived: number;
}

export class WorldClientError extends Error {
  override name = 'WorldClientError';
  constructor(
    message: string,
    /** The server's error code when it refused the join: 401 (not signed in, bad/expired/revoked token), 429 (joining too often), 400 (bad options), … */
    readonly code?: number | string,
  ) {
    super(message);
  }
}

/** A turn rating the server refused or never acknowledged. */
export class RateTurnError extends Error {
  override name = 'RateTurnError';
  constructor(
    message: string,
    /** Server error code (unknown_turn, not_your_turn, invalid_message, rate_limited) or 'timeout' / 'disconnected'. */
    readonly code: string,
  ) {
    super(message);
  }
}

interface PendingRating {
  resolve(): void;
  reject(error: RateTurnError): void;
}

export class WorldClient extends TypedEmitter<WorldClientEvents> {
  readonly avatars = new Map<string, AvatarInfo>();
  readonly npcs = new Map<string, NpcInfo>();
  welcome: WelcomeInfo | undefined;
  readonly network: NetworkStats = { bytesReceived: 0, framesReceived: 0, patchesReceived: 0 };
  readonly #talks = new Map<string, PendingTalk>();
  #talkCounter = 0;
  #talkTimeouts = { startTimeoutMs: 15_000, turnTimeoutMs: 120_000 };
  readonly #ratings = new Map<string, PendingRating>();
  #rateCounter = 0;
  #rateTimeoutMs = 10_000;
  #room: Room<unknown, WorldState>;
  #left = false;
  /** How this client signed in (undefined when connected with a ready-made `token`). */
  readonly auth: WorldAuth | undefined;

  private constructor(room: Room<unknown, WorldState>, auth: WorldAuth | undefined) {
    super();
    this.#room = room;
    this.auth = auth;
  }

  /**
   * Sign in (a guest by default, see `WorldClientOptions.auth`) and join the world. Rejects with a
   * WorldClientError if the server refuses the join or does not answer in time, or an AuthError if
   * signing in fails.
   */
  static async connect(options: WorldClientOptions): Promise<WorldClient> {
    const join = JoinOptionsSchema.safeParse({ name: options.name });
    if (!join.success) throw new WorldClientError(`invalid join options: ${describeIssue(join.error)}`, 'invalid_options');
    const sdk = new Client(options.endpoint);
    const timeoutMs = options.joinTimeoutMs ?? 10_000;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new WorldClientError(`joining ${options.endpoint} timed out after ${timeoutMs} ms`, 'timeout')), timeoutMs);
    });
    const auth = options.token !== undefined ? options.auth : (options.auth ?? new WorldAuth({ endpoint: options.endpoint, ...(options.storage ? { storage: options.storage } : {}) }));
    const signIn = async (): Promise<string> => {
      if (options.token !== undefined) return options.token;
      if (options.account) return (await auth!.login(options.account.username, options.account.password)).token;
      if (options.deviceSecret !== undefined) return (await auth!.signInAsGuest({ deviceSecret: options.deviceSecret })).token;
      return auth!.validToken();
    };
    let room: Room<unknown, WorldState>;
    try {
      room = (await Promise.race([
        (async () => {
          sdk.auth.token = await signIn();
          return sdk.joinOrCreate(WORLD_ROOM, join.data, WorldState);
        })(),
        timeout,
      ])) as Room<unknown, WorldState>;
    } catch (err) {
      if (err instanceof WorldClientError || err instanceof AuthError) throw err;
      throw new WorldClientError(`could not join the world at ${options.endpoint}: ${(err as Error).message}`, (err as { code?: number }).code);
    } finally {
      clearTimeout(timer);
    }
    const client = new WorldClient(room, auth);
    client.#configureReconnection(options.reconnect ?? {});
    client.#talkTimeouts = { startTimeoutMs: options.talkTimeouts?.startTimeoutMs ?? 15_000, turnTimeoutMs: options.talkTimeouts?.turnTimeoutMs ?? 120_000 };
    client.#rateTimeoutMs = options.rateTimeoutMs ?? 10_000;
    client.#countTraffic(options.replicateState ?? true);
    client.#bind();
    return client;
  }

  get sessionId(): string {
    return this.#room.sessionId;
  }

  get roomId(): string {
    return this.#room.roomId;
  }

  /** Your account id (who the server knows you as), once signed in. */
  get accountId(): string | undefined {
    return this.auth?.accountId ?? this.welcome?.accountId;
  }

  /** As a guest: the device secret that signs this player in again (keep it to come back as the same player). */
  get deviceSecret(): string | undefined {
    return this.auth?.deviceSecret;
  }

  /** This player's own avatar, once the server has replicated it. */
  get me(): AvatarInfo | undefined {
    return this.avatars.get(this.#room.sessionId);
  }

  /** The underlying Colyseus room, for advanced use. */
  get room(): Room<unknown, WorldState> {
    return this.#room;
  }

  /** Send a movement intent: a direction to walk/run in, a point to walk to, or `{ stop: true }`. */
  move(intent: MoveIntent): void {
    const parsed = MoveIntentSchema.safeParse(intent);
    if (!parsed.success) throw new WorldClientError(`invalid move intent: ${describeIssue(parsed.error)}`);
    this.#room.send(ClientMessage.Move, parsed.data);
  }

  /** Say something to nearby players. */
  say(text: string): void {
    const parsed = ChatMessageSchema.safeParse({ text });
    if (!parsed.success) throw new WorldClientError(`invalid chat message: ${describeIssue(parsed.error)}`);
    this.#room.send(ClientMessage.Chat, parsed.data);
  }

  /**
   * Talk to an NPC within talking range: returns the reply as an async iterable of text chunks plus
   * `result` ({ text, action, finishReason }). A refused line (too far, busy, rate limited, moderated)
   * rejects with a TalkError carrying the server's code.
   */
  talk(npcId: string, text: string): TalkTurn {
    const ref = `${this.#room.sessionId}:${++this.#talkCounter}`;
    const pending = new PendingTalk(npcId, ref, this.#talkTimeouts, () => this.#talks.delete(ref));
    const parsed = TalkMessageSchema.safeParse({ npcId, text, ref });
    if (!parsed.success) {
      pending.fail(new TalkError(`invalid talk message: ${describeIssue(parsed.error)}`, 'invalid_message'));
      return pending;
    }
    this.#talks.set(ref, pending);
    this.#room.send(ClientMessage.Talk, parsed.data);
    return pending;
  }

  /**
   * Push-to-talk: say `audio` (a recorded line, any sample rate, mono) to an NPC within talking range. The
   * server transcribes it and answers it like a typed line: the same reply stream and result, whose
   * `transcript` is what the server heard. Needs a server with voice on (`welcome.voice.hears`); audio
   * longer than `welcome.voice.maxTalkSeconds` is refused here, silence and unintelligible audio by the
   * server (TalkError codes voice_disabled, too_long, invalid_audio, not_understood, plus talk's own).
   */
  talkVoice(npcId: string, audio: VoiceAudio): TalkTurn {
    const ref = `${this.#room.sessionId}:${++this.#talkCounter}`;
    const pending = new PendingTalk(npcId, ref, this.#talkTimeouts, () => this.#talks.delete(ref));
    const voice = this.welcome?.voice;
    if (!voice?.hears) {
      pending.fail(new TalkError('this server does not take spoken lines (voice is off); use talk() instead', ErrorCode.VoiceDisabled));
      return pending;
    }
    let samples: Int16Array;
    try {
      samples = toWireSamples(audio);
    } catch (err) {
      pending.fail(new TalkError(`invalid audio: ${(err as Error).message}`, ErrorCode.InvalidAudio));
      return pending;
    }
    const seconds = samples.length / VOICE_SAMPLE_RATE;
    if (seconds > voice.maxTalkSeconds) {
      pending.fail(new TalkError(`spoken line is ${seconds.toFixed(1)} s; the server takes at most ${voice.maxTalkSeconds} s`, ErrorCode.TooLong));
      return pending;
    }
    if (samples.length === 0) {
      pending.fail(new TalkError('no audio to send', ErrorCode.InvalidAudio));
      return pending;
    }
    this.#talks.set(ref, pending);
    const pcm = samplesToPcm(samples);
    const step = voice.chunkBytes & ~1;
    try {
      for (let offset = 0, seq = 0; offset < pcm.length; offset += step, seq++) {
        const last = offset + step >= pcm.length;
        this.#room.sendBytes(ClientMessage.TalkVoice, encodeTalkVoiceChunk({ ref, npcId, seq, last, pcm: pcm.subarray(offset, offset + step) }));
      }
    } catch (err) {
      pending.fail(new TalkError(`could not send the spoken line: ${(err as Error).message}`, 'invalid_message'));
    }
    return pending;
  }

  /**
   * Rate one of your own NPC turns (`turnId` from the talk result): 1 = good, -1 = bad, with an optional
   * comment. Rating a turn again replaces the previous rating. Resolves when the server has stored it;
   * rejects with a RateTurnError (`unknown_turn`, `not_your_turn`, `invalid_message`, `rate_limited`,
   * `timeout`, `disconnected`).
   */
  rateTurn(turnId: string, rating: 1 | -1, comment?: string): Promise<void> {
    const ref = `${this.#room.sessionId}:rate:${++this.#rateCounter}`;
    const parsed = RateTurnMessageSchema.safeParse({ turnId, rating, ref, ...(comment !== undefined ? { comment } : {}) });
    if (!parsed.success) return Promise.reject(new RateTurnError(`invalid rating: ${describeIssue(parsed.error)}`, 'invalid_message'));
    if (this.#left) return Promise.reject(new RateTurnError('cannot rate a turn after leaving the world', 'disconnected'));
    const timeoutMs = this.#rateTimeoutMs;
    return new Promise<void>((resolve, reject) => {
      const settle = () => {
        clearTimeout(timer);
        this.#ratings.delete(ref);
      };
      const timer = setTimeout(() => {
        this.#ratings.delete(ref);
        reject(new RateTurnError(`the server did not acknowledge the rating of turn "${turnId}" within ${timeoutMs} ms`, 'timeout'));
      }, timeoutMs);
      this.#ratings.set(ref, {
        resolve: () => (settle(), resolve()),
        reject: (error) => (settle(), reject(error)),
      });
      this.#room.send(ClientMessage.RateTurn, parsed.data);
    });
  }

  /**
   * Subscribe to an event. `avatarAdd` and `npcAdd` listeners are also called at once for every
   * entity already in view, so nothing replicated before the subscription is missed.
   */
  override on<K extends keyof WorldClientEvents>(event: K, listener: (...args: WorldClientEvents[K]) => void): () => void {
    const off = super.on(event, listener);
    if (event === 'avatarAdd') for (const a of [...this.avatars.values()]) (listener as (a: AvatarInfo) => void)(a);
    if (event === 'npcAdd') for (const n of [...this.npcs.values()]) (listener as (n: NpcInfo) => void)(n);
    return off;
  }

  /** Wait for the next event of a kind, with a bound. */
  next<K extends keyof WorldClientEvents>(event: K, timeoutMs = 5_000, predicate?: (...args: WorldClientEvents[K]) => boolean): Promise<WorldClientEvents[K]> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        off();
        reject(new WorldClientError(`no "${String(event)}" event within ${timeoutMs} ms`));
      }, timeoutMs);
      const off = this.on(event, (...args) => {
        if (predicate && !predicate(...args)) return;
        clearTimeout(timer);
        off();
        resolve(args);
      });
    });
  }

  /** Round-trip time to the room in ms (a protocol ping); rejects after `timeoutMs`. */
  ping(timeoutMs = 5_000): Promise<number> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new WorldClientError(`no pong within ${timeoutMs} ms`, 'timeout')), timeoutMs);
      try {
        this.#room.ping((ms) => {
          clearTimeout(timer);
          resolve(ms);
        });
      } catch (err) {
        clearTimeout(timer);
        reject(new WorldClientError(`cannot ping: ${(err as Error).message}`, 'disconnected'));
      }
    });
  }

  /** Leave the world for good. */
  async leave(): Promise<void> {
    if (this.#left) return;
    this.#left = true;
    await this.#room.leave(true).catch(() => undefined);
  }

  #configureReconnection(opts: ReconnectOptions): void {
    const r = this.#room.reconnection;
    r.enabled = opts.enabled ?? true;
    r.maxRetries = opts.maxRetries ?? 15;
    r.minUptime = opts.minUptimeMs ?? 1_000;
    r.minDelay = opts.minDelayMs ?? 100;
    r.maxDelay = opts.maxDelayMs ?? 5_000;
  }

  /** Wraps the connection's message handler to count frames and, for headless bots, skip state decoding. */
  #countTraffic(replicate: boolean): void {
    const events = this.#room.connection.events as { onmessage?: (event: { data: ArrayBuffer }) => void };
    const dispatch = events.onmessage;
    if (!dispatch) return;
    events.onmessage = (event) => {
      const data = event.data;
      this.network.bytesReceived += data.byteLength;
      this.network.framesReceived++;
      if (data.byteLength > 0) {
        const code = new Uint8Array(data, 0, 1)[0]! & PROTOCOL_CODE_MASK;
        if (code === Protocol.ROOM_STATE_PATCH) this.network.patchesReceived++;
        if (!replicate && (code === Protocol.ROOM_STATE || code === Protocol.ROOM_STATE_PATCH)) return;
      }
      dispatch(event);
    };
  }

  #bind(): void {
    const room = this.#room;
    const $ = Callbacks.get(room);
    $.onAdd('avatars', (avatar: Avatar, key: string) => {
      const info = avatarInfo(avatar);
      this.avatars.set(key, info);
      this.emit('avatarAdd', info);
      // Snapshots are refreshed in place: a crowd moving at 20 Hz would otherwise allocate one object
      // per avatar per patch. Inventory is a nested collection, so it has its own callbacks.
      $.onChange(avatar, () => {
        if (this.avatars.get(key) !== info) return;
        copyAvatarFields(info, avatar);
        this.emit('avatarChange', info);
      });
      const inventoryChanged = () => {
        if (this.avatars.get(key) !== info) return;
        info.inventory = inventoryOf(avatar);
        this.emit('avatarChange', info);
      };
      $.onChange(avatar, 'inventory', inventoryChanged);
      $.onRemove(avatar, 'inventory', inventoryChanged);
    });
    $.onRemove('avatars', (avatar: Avatar, key: string) => {
      const info = this.avatars.get(key) ?? avatarInfo(avatar);
      this.avatars.delete(key);
      this.emit('avatarRemove', info);
    });
    $.onAdd('npcs', (npc: Npc, key: string) => {
      const info = npcInfo(npc);
      this.npcs.set(key, info);
      this.emit('npcAdd', info);
      $.onChange(npc, () => {
        if (this.npcs.get(key) !== info) return;
        Object.assign(info, npcInfo(npc));
        this.emit('npcChange', info);
      });
    });
    $.onRemove('npcs', (npc: Npc, key: string) => {
      const info = this.npcs.get(key) ?? npcInfo(npc);
      this.npcs.delete(key);
      this.emit('npcRemove', info);
    });
    room.onMessage(ServerMessage.Chat, (message: ChatBroadcast) => this.emit('chat', message));
    room.onMessage(ServerMessage.Error, (error: ErrorReply) => {
      if (error.ref && error.type === ClientMessage.RateTurn) this.#ratings.get(error.ref)?.reject(new RateTurnError(error.message, error.code));
      else if (error.ref) this.#talks.get(error.ref)?.rejected(error);
      this.emit('serverError', error);
    });
    room.onMessage(ServerMessage.NpcTurnStart, (m: NpcTurnStart) => this.#talks.get(m.ref)?.started(m.turnId, m.transcript));
    room.onMessage(ServerMessage.NpcAudio, (bytes: Uint8Array) => {
      let frame;
      try {
        frame = decodeNpcAudioFrame(bytes);
      } catch (err) {
        // Not silent: a frame this SDK cannot read is reported like any other problem from the server.
        this.emit('serverError', { type: ServerMessage.NpcAudio, code: ErrorCode.InvalidAudio, message: `unreadable npc_audio frame: ${(err as Error).message}` });
        return;
      }
      this.emit('npcAudio', { npcId: frame.npcId, turnId: frame.turnId, seq: frame.seq, last: frame.last, sampleRate: frame.sampleRate, samples: pcmToSamples(frame.pcm) });
    });
    room.onMessage(ServerMessage.NpcChunk, (m: NpcChunk) => this.#talks.get(m.ref)?.chunk(m));
    room.onMessage(ServerMessage.NpcTurnEnd, (m: NpcTurnEnd) => this.#talks.get(m.ref)?.end(m));
    room.onMessage(ServerMessage.TurnRated, (m: TurnRatedAck) => this.#ratings.get(m.ref)?.resolve());
    room.onMessage(ServerMessage.Welcome, (info: WelcomeInfo) => {
      this.welcome = info;
      this.emit('welcome', info);
    });
    room.onDrop((code, reason) => this.emit('drop', code, reason));
    room.onReconnect(() => this.emit('reconnect'));
    room.onLeave((code, reason) => {
      this.#left = true;
      for (const talk of [...this.#talks.values()]) talk.fail(new TalkError('left the world before the NPC finished', 'disconnected'));
      for (const rating of [...this.#ratings.values()]) rating.reject(new RateTurnError('left the world before the server acknowledged the rating', 'disconnected'));
      this.emit('leave', code, reason);
    });
  }
}

function avatarInfo(a: Avatar): AvatarInfo {
  const info = { inventory: inventoryOf(a) } as AvatarInfo;
  copyAvatarFields(info, a);
  return info;
}

function copyAvatarFields(info: AvatarInfo, a: Avatar): void {
  info.sessionId = a.sessionId;
  info.name = a.name;
  // Positions and velocities travel as centimetres, headings as 1/256 turn (shared/src/state.ts).
  const pose = poseOf(a);
  info.x = pose.x;
  info.y = a.y;
  info.z = pose.z;
  info.heading = pose.heading;
  info.anim = a.anim;
  info.vx = pose.vx;
  info.vz = pose.vz;
  info.connected = a.connected;
}

function inventoryOf(a: Avatar): Record<string, number> {
  const inventory: Record<string, number> = {};
  a.inventory?.forEach((count: number, item: string) => (inventory[item] = count));
  return inventory;
}

function npcInfo(n: Npc): NpcInfo {
  const { x, z, heading } = poseOf(n);
  return { id: n.id, name: n.name, role: n.role, x, y: n.y, z, heading, anim: n.anim, speech: n.speech, attention: n.attention, activity: n.activity };
}
