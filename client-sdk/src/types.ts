import type { ChatBroadcast, ErrorReply, NpcActionCall, TalkFinishReason, WelcomeInfo } from '@worldmind/shared';

/**
 * A plain snapshot of an avatar, as last replicated. The same object is refreshed in place on every
 * change (and passed to `avatarChange`): copy it (`{ ...avatar }`) to keep a value from a moment.
 */
export interface AvatarInfo {
  sessionId: string;
  name: string;
  x: number;
  y: number;
  z: number;
  heading: number;
  anim: string;
  vx: number;
  vz: number;
  connected: boolean;
  inventory: Record<string, number>;
}

/** A plain snapshot of an NPC, as last replicated; refreshed in place like AvatarInfo. */
export interface NpcInfo {
  id: string;
  name: string;
  role: string;
  x: number;
  y: number;
  z: number;
  heading: number;
  anim: string;
  speech: string;
  attention: string;
  activity: string;
}

export interface WorldClientEvents {
  /** An avatar entered this client's area of interest (or joined nearby). Includes the local avatar. */
  avatarAdd: [avatar: AvatarInfo];
  avatarChange: [avatar: AvatarInfo];
  /** An avatar left this client's area of interest or the world. */
  avatarRemove: [avatar: AvatarInfo];
  npcAdd: [npc: NpcInfo];
  npcChange: [npc: NpcInfo];
  npcRemove: [npc: NpcInfo];
  chat: [message: ChatBroadcast];
  /** The server rejected one of this client's messages. */
  serverError: [error: ErrorReply];
  welcome: [info: WelcomeInfo];
  /** The connection dropped; the SDK is trying to reconnect. */
  drop: [code: number, reason?: string];
  reconnect: [];
  /**
   * The client left the world for good (by request, kick, or failed reconnection). Codes of note:
   * 4409 another login of the same account took this session over, 4401 the session token was revoked,
   * 4400 too many rejected messages, 4001 server shutdown (see `WorldCloseCode`).
   */
  leave: [code: number, reason?: string];
  /**
   * A piece of an NPC's spoken reply (servers with voice on): to the player who talked and to players in
   * hearing of the NPC. Frames of one turn arrive in order (`seq`); `last` marks the end of its audio.
   */
  npcAudio: [audio: NpcAudio];
}

/** One frame of an NPC's voice: 16-bit mono samples at `sampleRate` (16 kHz). */
export interface NpcAudio {
  npcId: string;
  turnId: string;
  seq: number;
  last: boolean;
  sampleRate: number;
  samples: Int16Array;
}

/** Push-to-talk audio for `talkVoice`: mono samples at any rate (16-bit, or float in −1…1 as Web Audio gives). */
export interface VoiceAudio {
  sampleRate: number;
  samples: Int16Array | Float32Array;
}

/** One streamed piece of an NPC's reply. */
export interface TalkChunk {
  text: string;
}

/** How an NPC turn ended. */
export interface TalkResult {
  /** The server's id for the turn (its turn log entry); pass it to `rateTurn`. */
  turnId: string;
  text: string;
  action: NpcActionCall | null;
  finishReason: TalkFinishReason;
  /** ms from sending the line to the first chunk of the reply. */
  firstChunkMs: number;
  /** Tokens the model generated (0 for a scripted fallback line), when the server reports it. */
  tokens?: number;
  /** Server-side ms from the start of the turn to its first text, when reported. */
  ttftMs?: number;
  /** Server-side ms the whole turn took, when reported. */
  durationMs?: number;
  /** For a spoken line (`talkVoice`): what the server heard, the line the NPC answered. */
  transcript?: string;
}

/** A conversation turn in progress: iterate for text chunks, await `result` for the end. */
export interface TalkTurn extends AsyncIterable<TalkChunk> {
  result: Promise<TalkResult>;
}
