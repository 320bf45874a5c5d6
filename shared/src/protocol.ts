/**
 * Protocol constants shared by server and clients. Changing one is a wire-protocol change.
 */

/** Name external clients join the world room by. */
export const WORLD_ROOM = 'world';

/** Client → server message types. */
export const ClientMessage = {
  Move: 'move',
  Chat: 'chat',
  Talk: 'talk',
  /** Rate one of your own NPC turns (thumbs up or down, optional comment). */
  RateTurn: 'rate_turn',
  /** Push-to-talk audio for an NPC (binary, `sendBytes`; layout in voice.ts): transcribed, then a `talk`. */
  TalkVoice: 'talk_voice',
} as const;
export type ClientMessageType = (typeof ClientMessage)[keyof typeof ClientMessage];

/** Server → client message types. */
export const ServerMessage = {
  /** A message was rejected; the sender gets the reason. */
  Error: 'error',
  /** Proximity chat from a nearby player. */
  Chat: 'chat',
  /** Sent once after join: the world's static description (bounds, landmarks) and the room's limits. */
  Welcome: 'welcome',
  /** An NPC turn began for the speaker (echoes the client's `ref`). */
  NpcTurnStart: 'npc_turn_start',
  /** A piece of the NPC's reply, streamed to the speaker as it is generated. */
  NpcChunk: 'npc_chunk',
  /** The NPC's turn is over: full text, the action taken (if any) and why it ended. */
  NpcTurnEnd: 'npc_turn_end',
  /** A `rate_turn` was stored (echoes the client's `ref`). */
  TurnRated: 'turn_rated',
  /** A piece of an NPC's spoken reply (binary; layout in voice.ts), to the speaker and players in hearing. */
  NpcAudio: 'npc_audio',
} as const;
export type ServerMessageType = (typeof ServerMessage)[keyof typeof ServerMessage];

/** Limits the server enforces; clients use them to avoid being rejected. */
export const Limits = {
  displayNameMaxLength: 24,
  chatMaxLength: 280,
  /** Longest line a player may say to an NPC. */
  talkMaxLength: 300,
  /** Longest client-chosen correlation id for a talk request. */
  talkRefMaxLength: 64,
  /** Longest turn id a client may name (server ids are far shorter). */
  turnIdMaxLength: 64,
  /** Longest comment attached to a turn rating. */
  ratingCommentMaxLength: 500,
  /** Largest accepted target-point coordinate magnitude (world units); keeps NaN/huge values out. */
  coordinateMax: 100_000,
} as const;

/** Error codes carried by ServerMessage.Error. */
export const ErrorCode = {
  InvalidMessage: 'invalid_message',
  UnknownMessage: 'unknown_message',
  RateLimited: 'rate_limited',
  TooLong: 'too_long',
  /** talk: no such NPC in this room. */
  UnknownNpc: 'unknown_npc',
  /** talk: the player is not within talking range of the NPC. */
  TooFar: 'too_far',
  /** talk: this player already has a turn in progress with this NPC. */
  Busy: 'busy',
  /** talk: the line was refused by the moderation filter. */
  Moderated: 'moderated',
  /** rate_turn: no such turn in the turn log (or NPC dialogue is disabled). */
  UnknownTurn: 'unknown_turn',
  /** rate_turn: the turn belongs to another player. */
  NotYourTurn: 'not_your_turn',
  /** talk_voice: the server has voice off (VOICE_ENABLED=false or no speech recogniser installed). */
  VoiceDisabled: 'voice_disabled',
  /** talk_voice: the audio is malformed (bad frame, chunks out of order, odd byte count…). */
  InvalidAudio: 'invalid_audio',
  /** talk_voice: silence, or nothing the recogniser could make words of. */
  NotUnderstood: 'not_understood',
} as const;
export type ErrorCodeValue = (typeof ErrorCode)[keyof typeof ErrorCode];

/**
 * WebSocket close codes the world room uses (application range 4000–4999), beside Colyseus's own
 * (4000 consented, 4001 server shutdown, 4002 error, 4010 may try to reconnect).
 */
export const WorldCloseCode = {
  /** Disconnected for repeated rejected messages. */
  Abuse: 4400,
  /** The session's token was revoked (logout, "sign out everywhere"). Do not reconnect with it. */
  SessionRevoked: 4401,
  /** The same account signed in elsewhere and took this session over. Do not reconnect automatically. */
  SessionTakenOver: 4409,
} as const;

/** Animation states an avatar can be in; derived by the server from movement. */
export const AnimationState = {
  Idle: 'idle',
  Walk: 'walk',
  Run: 'run',
} as const;
export type AnimationStateValue = (typeof AnimationState)[keyof typeof AnimationState];
