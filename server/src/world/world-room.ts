/**
 * The authoritative world room ("world"). One fixed-timestep loop per room: apply each player's latest
 * movement intent, then, before each patch, refresh every client's area of interest. Clients only
 * send intents; the room owns positions.
 */
import { ClientState, CloseCode, getMessageBytes, Protocol, Room, SchemaSerializer, ServerError, type AuthContext, type Client } from '@colyseus/core';
import { Encoder } from '@colyseus/schema';
import {
  Avatar,
  ChatMessageSchema,
  describeIssue,
  disambiguatedName,
  displayNameKey,
  ClientMessage,
  ErrorCode,
  JoinOptionsSchema,
  MoveIntentSchema,
  Npc,
  RateTurnMessageSchema,
  ServerMessage,
  TalkMessageSchema,
  WorldState,
  type ChatBroadcast,
  type ErrorCodeValue,
  type RateTurnMessage,
  type TurnRatedAck,
  type WelcomeInfo,
} from '@worldmind/shared';
import { AuthError, type AccountService, type SessionClaims } from '../auth/accounts.ts';
import type { SessionRegistry } from '../auth/sessions.ts';
import type { ServerConfig } from '../config.ts';
import { dispatchClientFrame, type ClientErrors } from '../observability/client-errors.ts';
import type { Logger } from '../observability/logger.ts';
import type { ServerMetrics } from '../observability/metrics.ts';
import type { NpcSystem } from '../npc/npc-system.ts';
import { GroupFanOutSerializer, type FanOutStats, type Publish } from './group-fanout.ts';
import { InterestManager } from './interest.ts';
import { NpcController } from './npc-controller.ts';
import { MessageGuard } from './message-guard.ts';
import { stepBody, toActiveIntent, type ActiveIntent, type MovementParams } from './movement.ts';
import type { PlayerLimits } from './player-limits.ts';
import { SpatialGrid } from './spatial-grid.ts';
import type { WorldServices } from './world-services.ts';
import { VoiceInbox } from '../voice/voice-inbox.ts';
import { landmarksForClients } from './world-map.ts';
import { voiceInfo, type VoiceService } from '../voice/voice-service.ts';

/**
 * What every world room shares: configuration, the logger, the world services (map, store, game clock,
 * path grid; composed in server.ts) and, when enabled, NPC brains.
 */
export interface WorldContext extends WorldServices {
  config: ServerConfig;
  log: Logger;
  /** Registry of live rooms in this process, for metrics, tests and benchmarks. */
  rooms: Set<WorldRoom>;
  metrics: ServerMetrics;
  /** Client-caused errors: counted by reason, logged as rate-limited warnings. */
  clientErrors: ClientErrors;
  /** NPC brains, when enabled: dialogue, scripts, metrics. */
  npc?: NpcSystem;
  /** Who players are (session tokens), their live sessions, and the limits kept per account. */
  auth: { accounts: AccountService; sessions: SessionRegistry; limits: PlayerLimits };
  /** Voice, when VOICE_ENABLED and an engine is installed (server/src/voice/). */
  voice?: VoiceService;
  /**
   * The transport's native fan-out (uWebSockets.js topics): each interest group's patch is published
   * once instead of sent per client (group-fanout.ts). Without it every client gets its own send.
   */
  publish?: Publish;
}

/** Per-player server-side data that is not replicated. */
interface PlayerSession {
  avatar: Avatar;
  /** Who the player is: memories, inventory, turn log, ratings and every limit are keyed by it. */
  accountId: string;
  /** The session token the player joined with (revoking it ends this session). */
  jti: string;
  /** `displayNameKey` of the shown name, reserved in this room while the player holds a seat. */
  nameKey: string;
  intent: ActiveIntent;
  /** While the connection is dropped: the pending reconnection (rejecting it ends the seat at once). */
  reconnection?: { reject: (reason?: unknown) => void };
}

const BODY_RADIUS = 0.5;

// One patch encodes every shared view (one per occupied interest cell) into one buffer: sized for 2,000
// moving players so encoding never grows it (which logs a warning and copies) mid-patch.
Encoder.BUFFER_SIZE = 512 * 1024;

/** Close codes that mean "the network dropped", as opposed to a kick or a deliberate leave. */
const RECONNECTABLE_CLOSE_CODES = new Set<number>([CloseCode.GOING_AWAY, CloseCode.NO_STATUS_RECEIVED, CloseCode.ABNORMAL_CLOSURE, CloseCode.MAY_TRY_RECONNECT]);

export class WorldRoom extends Room<{ state: WorldState }> {
  /** Injected by `defineWorldRoom`; a room cannot run without it. */
  protected context!: WorldContext;

  #players = new Map<string, PlayerSession>();
  /** Display names shown in this room: `displayNameKey` → session id. */
  #names = new Map<string, string>();
  /** Avatar positions by session id, for NPCs (facing, following). */
  #avatars = new Map<string, Avatar>();
  #npcs: NpcController | undefined;
  #voiceInbox: VoiceInbox | undefined;
  #interest!: InterestManager;
  #fanOut: GroupFanOutSerializer<WorldState> | undefined;
  #chatGrid!: SpatialGrid<PlayerSession>;
  /** Chat lines heard since the last patch, by listener (sent right after the next patch). */
  readonly #chatOut = new Map<Client, Uint8Array[]>();
  #guard!: MessageGuard;
  #movement!: MovementParams;
  #log!: Logger;
  #spawnIndex = 0;
  /** Recent frame costs in ms (simulation step + the following patch: AOI refresh, encode, send). */
  readonly frameDurations: number[] = [];
  #lastStepMs = 0;

  /** Client join options reach onCreate too: they are ignored, a room is configured by the server alone. */
  override onCreate(): void {
    const { config, map } = this.context;
    this.#log = this.context.log.child({ module: 'world-room', roomId: this.roomId });
    this.state = new WorldState(); // (its serializer: see setSerializer)
    this.maxClients = config.MAX_CLIENTS_PER_ROOM;
    this.maxMessagesPerSecond = config.MAX_MESSAGES_PER_SECOND;
    this.patchRate = config.PATCH_RATE_MS;
    this.#movement = { walkSpeed: config.WALK_SPEED, runSpeed: config.RUN_SPEED, bodyRadius: BODY_RADIUS };
    const radius = config.AOI_ENABLED ? config.AOI_RADIUS : null;
    this.#interest = new InterestManager({ radius, bounds: map.bounds, topicPrefix: `aoi/${this.roomId}/` });
    this.#chatGrid = new SpatialGrid(config.CHAT_RADIUS);
    this.#guard = new MessageGuard(config.MAX_INVALID_MESSAGES, this.context.clientErrors, this.context.metrics);
    this.#watchClientFrames();

    const npcSystem = this.context.npc;
    if (npcSystem) {
      this.#npcs = new NpcController({
        system: npcSystem,
        config,
        map,
        store: this.context.store,
        grid: this.context.grid,
        movement: this.#movement,
        clock: this.context.clock,
        log: this.#log,
        limits: this.context.auth.limits,
        player: (sessionId) => this.#players.get(sessionId),
        client: (sessionId) => this.clients.getById(sessionId),
        reject: (client, code, message, ref) => this.#guard.reject(client, ClientMessage.Talk, code, message, ref),
        later: (fn, ms) => this.clock.setTimeout(fn, ms),
        voice: this.context.voice,
      });
    }
    this.#listenForVoice();
    for (const home of this.context.npcs) {
      const npc = new Npc();
      Object.assign(npc, { id: home.id, name: home.name, role: home.role, x: home.x, y: 0, z: home.z, heading: home.heading });
      this.state.npcs.set(home.id, npc);
      this.#interest.track(npc);
      this.#npcs?.addNpc(npc);
    }

    this.onMessage(ClientMessage.Move, this.#guard.handler(ClientMessage.Move, MoveIntentSchema, (client, intent) => {
      const player = this.#players.get(client.sessionId);
      if (player) player.intent = toActiveIntent(intent);
    }));
    this.onMessage(ClientMessage.Chat, this.#guard.handler(ClientMessage.Chat, ChatMessageSchema, (client, msg) => this.#chat(client, msg.text)));
    this.onMessage(ClientMessage.Talk, this.#guard.handler(ClientMessage.Talk, TalkMessageSchema, (client, msg) => {
      if (!this.#npcs) {
        this.#guard.reject(client, ClientMessage.Talk, ErrorCode.UnknownNpc, 'NPC dialogue is disabled on this server', msg.ref);
        return;
      }
      void this.#npcs.talk(client, msg);
    }));
    this.onMessage(ClientMessage.RateTurn, this.#guard.handler(ClientMessage.RateTurn, RateTurnMessageSchema, (client, msg) => void this.#rateTurn(client, msg).catch((error: unknown) => this.#log.error({ err: error }, 'rating a turn failed'))));
    // Any other type: an error reply, counted as a strike.
    this.onMessage('*', (client: Client, type: string | number) => {
      this.#guard.reject(client, String(type), ErrorCode.UnknownMessage, `unknown message type "${String(type)}"`);
    });

    this.setFixedTimestep((ctx) => this.#step(ctx.dt), config.TICK_RATE);
    this.context.rooms.add(this);
  }

  /** Push-to-talk (talk_voice, binary): assembled and transcribed by the voice inbox, then an ordinary talk. */
  #listenForVoice(): void {
    const npcs = this.#npcs;
    const reject = (sessionId: string, code: ErrorCodeValue, message: string, ref?: string) => {
      const client = this.clients.getById(sessionId);
      if (client) this.#guard.reject(client, ClientMessage.TalkVoice, code, message, ref);
    };
    const inbox = new VoiceInbox({
      voice: npcs ? this.context.voice : undefined,
      maxSeconds: this.context.config.VOICE_MAX_TALK_SECONDS,
      log: this.#log,
      reject,
      admit: (sessionId, npcId) => (npcs ? npcs.admitSpoken(sessionId, npcId) : { code: ErrorCode.UnknownNpc, message: 'NPC dialogue is disabled on this server' }),
      talk: (sessionId, message, transcript) => {
        const client = this.clients.getById(sessionId);
        if (client && npcs) void npcs.talk(client, message, { transcript });
      },
    });
    this.#voiceInbox = inbox;
    this.onMessageBytes(ClientMessage.TalkVoice, (client: Client, bytes: Uint8Array) => {
      this.context.metrics.messagesIn.inc({ type: ClientMessage.TalkVoice });
      inbox.receive(client.sessionId, bytes);
    });
    // Audio sent as a regular (msgpack) message: say how to send it instead of "unknown message".
    this.onMessage(ClientMessage.TalkVoice, (client: Client) => {
      this.#guard.reject(client, ClientMessage.TalkVoice, ErrorCode.InvalidAudio, 'talk_voice must be sent as bytes (sendBytes) in the layout of shared/src/voice.ts');
    });
  }

  override onDispose(): void {
    this.#voiceInbox?.dispose();
    this.#npcs?.dispose();
    this.context.rooms.delete(this);
  }

  override async onJoin(client: Client, options: unknown, auth?: unknown): Promise<void> {
    // The static onAuth (see defineWorldRoom) verified the session token before the seat was reserved.
    const claims = auth as SessionClaims | undefined;
    if (!claims?.accountId) throw new ServerError(401, 'not signed in');
    const { name: requested } = JoinOptionsSchema.parse(options ?? {});
    const inventory = await this.context.store.playerInventory(claims.accountId);
    // First: a session over the account's limit ends the oldest (possibly in another room), which also
    // frees its display name here at once.
    const sessions = this.context.auth.sessions;
    sessions.add({
      accountId: claims.accountId,
      jti: claims.jti,
      roomId: this.roomId,
      sessionId: client.sessionId,
      end: (code, reason) => this.#endSession(client.sessionId, code, reason),
    });
    try {
      this.#admit(client, claims, requested, inventory);
    } catch (err) {
      sessions.remove(this.roomId, client.sessionId, claims.accountId);
      throw err;
    }
  }

  /** Seats a signed-in player: display name, avatar at a spawn point, inventory from the store, view, welcome. */
  #admit(client: Client, claims: SessionClaims, requested: string, inventory: Record<string, number>): void {
    const { map, config } = this.context;
    const { name, key: nameKey } = this.#reserveName(requested, client.sessionId);
    const spawn = map.spawnPoints[this.#spawnIndex++ % map.spawnPoints.length]!;
    const avatar = new Avatar();
    Object.assign(avatar, { sessionId: client.sessionId, name, x: spawn.x, y: 0, z: spawn.z, heading: 0, anim: 'idle', vx: 0, vz: 0 });
    for (const [item, count] of Object.entries(inventory)) avatar.inventory.set(item, count);
    const player: PlayerSession = { avatar, accountId: claims.accountId, jti: claims.jti, nameKey, intent: { kind: 'idle' } };
    this.#players.set(client.sessionId, player);
    this.#avatars.set(client.sessionId, avatar);
    this.state.avatars.set(client.sessionId, avatar);
    this.#interest.track(avatar);
    this.#chatGrid.set(player, avatar.x, avatar.z);
    this.#attachView(client, avatar);
    const welcome: WelcomeInfo = {
      roomId: this.roomId,
      accountId: claims.accountId,
      name,
      worldName: map.name,
      bounds: map.bounds,
      landmarks: landmarksForClients(map),
      aoiRadius: config.AOI_RADIUS,
      chatRadius: config.CHAT_RADIUS,
      walkSpeed: config.WALK_SPEED,
      runSpeed: config.RUN_SPEED,
      tickRate: config.TICK_RATE,
      talkRange: config.TALK_RANGE,
      patchRate: 1000 / config.PATCH_RATE_MS,
      ...(this.context.voice && this.#npcs ? { voice: voiceInfo(this.context.voice, config) } : {}),
    };
    client.send(ServerMessage.Welcome, welcome);
    this.#log.debug({ sessionId: client.sessionId, accountId: claims.accountId, name, clients: this.clients.length }, 'player joined');
  }

  override async onDrop(client: Client, code?: number): Promise<void> {
    const player = this.#players.get(client.sessionId);
    // Kicked clients (abuse, flooding, errors) get no seat to come back to; Colyseus calls onLeave next.
    if (!player || (code !== undefined && !RECONNECTABLE_CLOSE_CODES.has(code))) return;
    // Hold the avatar where it stands; others keep seeing it, marked disconnected, so there is no leave/join flicker.
    player.intent = { kind: 'idle' };
    player.avatar.connected = false;
    this.#interest.detach(client.sessionId);
    this.#log.debug({ sessionId: client.sessionId }, 'player dropped; holding seat');
    const reconnection = this.allowReconnection(client, this.context.config.RECONNECT_WINDOW_S);
    // (A plain rejected promise instead of a Deferred when the room is disposing: nothing to cancel.)
    if (typeof (reconnection as { reject?: unknown }).reject === 'function') player.reconnection = reconnection as unknown as { reject: (reason?: unknown) => void };
    try {
      await reconnection;
    } catch {
      // The window ran out, or the session was taken over or revoked meanwhile: Colyseus calls onLeave next.
      this.#log.info({ sessionId: client.sessionId }, 'reconnection window closed; player leaves');
    } finally {
      delete player.reconnection;
    }
  }

  override onReconnect(client: Client): void {
    const player = this.#players.get(client.sessionId);
    if (!player) return;
    player.avatar.connected = true;
    this.#attachView(client, player.avatar);
    this.#log.debug({ sessionId: client.sessionId }, 'player reconnected');
  }

  override onLeave(client: Client): void {
    const player = this.#players.get(client.sessionId);
    if (!player) return;
    this.#players.delete(client.sessionId);
    if (this.#names.get(player.nameKey) === client.sessionId) this.#names.delete(player.nameKey);
    this.context.auth.sessions.remove(this.roomId, client.sessionId, player.accountId);
    this.#avatars.delete(client.sessionId);
    this.#npcs?.playerLeft(client.sessionId);
    this.#voiceInbox?.forget(client.sessionId);
    this.#interest.detach(client.sessionId);
    this.#interest.untrack(player.avatar);
    this.#chatGrid.delete(player);
    this.#guard.forget(client.sessionId);
    this.state.avatars.delete(client.sessionId);
    this.#log.debug({ sessionId: client.sessionId }, 'player left');
  }

  override onBeforePatch(): void {
    this.#interest.refresh();
  }

  override onUncaughtException(error: Error, methodName: string): void {
    // The room must survive a bug in one handler; log it with enough context to fix it.
    this.#log.error({ err: error, methodName }, 'uncaught exception in world room');
  }

  /**
   * Every frame a client sends passes here before Colyseus dispatches it. An undecodable payload
   * (Colyseus logs it and closes that client) and a flood past maxMessagesPerSecond (Colyseus closes
   * that client) become counted, rate-limited warnings; a frame Colyseus cannot even parse closes only
   * its sender. (`_onMessage` is bound per client at join, so an instance property replaces it.)
   */
  #watchClientFrames(): void {
    const self = this as unknown as { _onMessage: (client: Client, buffer: Buffer) => void };
    const dispatch = self._onMessage;
    const errors = this.context.clientErrors;
    self._onMessage = (client: Client, buffer: Buffer) => {
      const fields = { roomId: this.roomId, sessionId: client.sessionId };
      const leavingBefore = client.state === ClientState.LEAVING;
      let thrown = false;
      const malformed = dispatchClientFrame(errors, fields, () => {
        try {
          dispatch.call(this, client, buffer);
        } catch (err) {
          thrown = true;
          errors.report('malformed_message', { ...fields, error: err instanceof Error ? err.message : String(err) }, 'client sent an undecodable message; disconnecting it');
        }
      });
      if (thrown) {
        client.leave(CloseCode.WITH_ERROR, 'undecodable message');
        return;
      }
      // Colyseus's own flood check (it counts per client per second and closes past maxMessagesPerSecond).
      const flooded = (client as unknown as { _numMessagesLastSecond?: number })._numMessagesLastSecond! > this.maxMessagesPerSecond;
      if (!malformed && !leavingBefore && client.state === ClientState.LEAVING && flooded) {
        errors.report('message_flood', fields, 'client sent messages faster than allowed; disconnected it');
      }
    };
  }

  /** Number of players currently holding an avatar (connected or within their reconnection window). */
  get playerCount(): number {
    return this.#players.size;
  }

  /**
   * Assigning the state makes Colyseus create its SchemaSerializer (and the state's one Encoder) through
   * here: with a native fan-out, the room's is the group fan-out serializer instead (a second serializer
   * reset on the same state would attach it to a second encoder and split its changes between them).
   */
  override setSerializer(serializer: Parameters<Room['setSerializer']>[0]): void {
    const publish = this.context.publish;
    if (publish && serializer instanceof SchemaSerializer && !(serializer instanceof GroupFanOutSerializer)) {
      this.#fanOut = new GroupFanOutSerializer<WorldState>(publish, (view) => this.#interest.topicOf(view));
      super.setSerializer(this.#fanOut as never);
      return;
    }
    super.setSerializer(serializer);
  }

  /** Group fan-out counters (undefined without a native fan-out), for tests and benchmarks. */
  get fanOutStats(): Readonly<FanOutStats> | undefined {
    return this.#fanOut?.stats;
  }

  /** The interest manager, exposed for tests and benchmarks. */
  get interest(): InterestManager {
    return this.#interest;
  }

  /**
   * The name a joining player is shown as: the requested one, or — when another player holding a seat
   * in this room shows a name that looks the same (case, NFKC, diacritics, Latin look-alikes) — the
   * first free "Name (2)", "Name (3)", …
   */
  #reserveName(requested: string, sessionId: string): { name: string; key: string } {
    for (let n = 1; ; n++) {
      const name = disambiguatedName(requested, n);
      const key = displayNameKey(name);
      if (!this.#names.has(key)) {
        this.#names.set(key, sessionId);
        return { name, key };
      }
    }
  }

  /** Ends a session from outside (takeover, revocation): disconnects it, or cancels its reconnection window. */
  #endSession(sessionId: string, code: number, reason: string): void {
    const player = this.#players.get(sessionId);
    if (!player) return;
    this.#log.info({ sessionId, accountId: player.accountId, code, reason }, 'ending session');
    if (this.#names.get(player.nameKey) === sessionId) this.#names.delete(player.nameKey);
    if (player.reconnection) {
      player.reconnection.reject(new ServerError(code, reason));
      return;
    }
    this.clients.getById(sessionId)?.leave(code, reason);
  }

  #attachView(client: Client, avatar: Avatar): void {
    this.#interest.attach(client.sessionId, client, avatar);
  }

  #step(dt: number): void {
    const started = performance.now();
    const { map } = this.context;
    for (const player of this.#players.values()) {
      if (player.intent.kind === 'idle' && player.avatar.anim === 'idle') continue;
      player.intent = stepBody(player.avatar, player.intent, dt, map, this.#movement);
      this.#chatGrid.set(player, player.avatar.x, player.avatar.z);
    }
    this.#npcs?.step(dt, Date.now(), this.#avatars);
    const elapsed = performance.now() - started;
    this.#lastStepMs += elapsed;
    this.context.metrics.tickDuration.observe({ room: 'world' }, elapsed / 1000);
  }

  /** Times the patch (AOI refresh in onBeforePatch, per-view encoding, sending) as part of the frame. */
  override broadcastPatch(): boolean {
    const started = performance.now();
    const sent = super.broadcastPatch();
    this.#interest.afterPatch();
    const patchMs = performance.now() - started;
    this.context.metrics.patchDuration.observe({ room: 'world' }, patchMs / 1000);
    const frames = this.frameDurations;
    frames.push(this.#lastStepMs + patchMs);
    this.#lastStepMs = 0;
    if (frames.length > 4096) frames.splice(0, frames.length - 4096);
    this.#flushChat();
    return sent;
  }

  /**
   * Chat lines of the last patch interval go out right after the patch, each listener's lines corked
   * with its patch frame (uWS drains the socket's pending publication into the cork first): one socket
   * write per listener per patch instead of one more per line heard. (After the frame's timing, like
   * the publications' socket writes.)
   */
  #flushChat(): void {
    if (this.#chatOut.size === 0) return;
    for (const [client, lines] of this.#chatOut) {
      const ws = (client as unknown as { readyState?: number; ref?: { ws?: { cork?: (cb: () => void) => void } } }).ref?.ws;
      const send = () => {
        for (const line of lines) client.enqueueRaw(line);
      };
      try {
        if (ws?.cork && (client as unknown as { readyState?: number }).readyState === 1) ws.cork(send);
        else send();
      } catch {
        // The socket closed under us: its leave follows.
      }
    }
    this.#chatOut.clear();
  }

  #chat(client: Client, text: string): void {
    const sender = this.#players.get(client.sessionId);
    if (!sender) return;
    if (!this.context.auth.limits.chat.tryTake(sender.accountId)) {
      this.#guard.reject(client, ClientMessage.Chat, ErrorCode.RateLimited, 'you are sending chat messages too fast');
      return;
    }
    const message: ChatBroadcast = { from: client.sessionId, name: sender.avatar.name, text, at: Date.now() };
    const { avatar } = sender;
    this.#npcs?.overheard(avatar, text);
    // Encoded once for every listener (client.send would pack the same message once per listener), and
    // sent with the next patch (#flushChat).
    const frame = getMessageBytes.raw(Protocol.ROOM_DATA, ServerMessage.Chat, message);
    this.#chatGrid.forEachWithin(avatar.x, avatar.z, this.context.config.CHAT_RADIUS, (listener) => {
      const target = this.clients.getById(listener.avatar.sessionId);
      if (!target) return;
      const lines = this.#chatOut.get(target);
      if (lines) lines.push(frame);
      else this.#chatOut.set(target, [frame]);
    });
  }

  /**
   * A player rates one of their own NPC turns (fine-tuning feedback). The turn log says whose turn it
   * was; rating again replaces the previous rating. Acknowledged with `turn_rated`, refused with an
   * error carrying the client's `ref`.
   */
  async #rateTurn(client: Client, msg: RateTurnMessage): Promise<void> {
    const player = this.#players.get(client.sessionId);
    if (!player) return;
    const refuse = (code: ErrorCodeValue, message: string) => this.#guard.reject(client, ClientMessage.RateTurn, code, message, msg.ref);
    if (!this.context.auth.limits.ratings.tryTake(player.accountId)) return refuse(ErrorCode.RateLimited, 'you are rating turns too fast');
    const store = this.context.store;
    const owner = await store.turnOwner(msg.turnId);
    if (owner === undefined) return refuse(ErrorCode.UnknownTurn, `there is no NPC turn "${msg.turnId}"`);
    if (owner !== player.accountId) return refuse(ErrorCode.NotYourTurn, 'you can only rate your own turns with an NPC');
    await store.rateTurn({ turnId: msg.turnId, playerId: player.accountId, rating: msg.rating, comment: msg.comment ?? null });
    client.send(ServerMessage.TurnRated, { ref: msg.ref, turnId: msg.turnId, rating: msg.rating } satisfies TurnRatedAck);
  }
}

/** Binds a world context to the room class, so rooms never read configuration from client-supplied options. */
export function defineWorldRoom(context: WorldContext): typeof WorldRoom {
  return class ConfiguredWorldRoom extends WorldRoom {
    protected override context = context;

    /**
     * Runs in the matchmaker, before a room is chosen or a seat reserved: the session token (the SDK
     * sends it as a bearer token) must verify, the account must not be joining too often, and the join
     * options must be valid. The result becomes `client.auth`. Errors reach the client as HTTP errors
     * with the message (401 not signed in / bad token, 429 too many joins, 400 bad options).
     */
    static override async onAuth(token: string, options: unknown, _context: AuthContext): Promise<SessionClaims> {
      let claims: SessionClaims;
      try {
        claims = await context.auth.accounts.verify(token || undefined);
      } catch (err) {
        if (err instanceof AuthError) {
          context.clientErrors.report('join_refused', { status: err.status }, 'join refused: not signed in');
          throw new ServerError(err.status, err.message);
        }
        throw err;
      }
      const parsed = JoinOptionsSchema.safeParse(options ?? {});
      if (!parsed.success) {
        context.clientErrors.report('join_refused', { status: 400, accountId: claims.accountId }, 'join refused: invalid join options');
        throw new ServerError(400, `cannot join: ${describeIssue(parsed.error)}`);
      }
      const joins = context.auth.limits.joins;
      if (!joins.tryTake(claims.accountId)) {
        context.clientErrors.report('join_refused', { status: 429, accountId: claims.accountId }, 'join refused: joining too often');
        throw new ServerError(429, `joining too often: try again in ${Math.ceil(joins.retryAfterS(claims.accountId))} s`);
      }
      return claims;
    }
  };
}
