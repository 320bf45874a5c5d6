/**
 * Message payloads and their validators (zod, a Standard Schema library). The server validates every
 * client message against these; clients get the same types for free.
 */
import { z } from 'zod';
import { normalizeDisplayName } from './display-name.ts';
import { Limits, type ErrorCodeValue } from './protocol.ts';

const finite = z.number().finite();
const coordinate = finite.min(-Limits.coordinateMax).max(Limits.coordinateMax);

/**
 * A movement intent. Clients never send positions: either a direction to walk in (normalised by the
 * server; a zero vector means stop), or a point to walk to, or an explicit stop.
 */
export const MoveIntentSchema = z.union([
  z.strictObject({ dir: z.strictObject({ x: finite, z: finite }), run: z.boolean().optional() }),
  z.strictObject({ target: z.strictObject({ x: coordinate, z: coordinate }), run: z.boolean().optional() }),
  z.strictObject({ stop: z.literal(true) }),
]);
export type MoveIntent = z.infer<typeof MoveIntentSchema>;

export const ChatMessageSchema = z.strictObject({
  text: z.string().trim().min(1, 'chat text is empty').max(Limits.chatMaxLength, `chat text is longer than ${Limits.chatMaxLength} characters`),
});
export type ChatMessage = z.infer<typeof ChatMessageSchema>;

/** Say something to an NPC. `ref` is the client's own id for the turn, echoed in every reply about it. */
export const TalkMessageSchema = z.strictObject({
  npcId: z.string().min(1).max(64),
  text: z.string().trim().min(1, 'talk text is empty').max(Limits.talkMaxLength, `talk text is longer than ${Limits.talkMaxLength} characters`),
  ref: z.string().min(1).max(Limits.talkRefMaxLength),
});
export type TalkMessage = z.infer<typeof TalkMessageSchema>;

/**
 * Rate an NPC turn you had: 1 (good) or -1 (bad), with an optional comment. Rating the same turn again
 * replaces the previous rating. `ref` is echoed in the acknowledgement or the error.
 */
export const RateTurnMessageSchema = z.strictObject({
  turnId: z.string().min(1, 'turnId is empty').max(Limits.turnIdMaxLength, `turnId is longer than ${Limits.turnIdMaxLength} characters`),
  rating: z.literal([1, -1], { error: 'rating must be 1 (good) or -1 (bad)' }),
  comment: z.string().trim().max(Limits.ratingCommentMaxLength, `comment is longer than ${Limits.ratingCommentMaxLength} characters`).optional(),
  ref: z.string().min(1).max(Limits.talkRefMaxLength),
});
export type RateTurnMessage = z.infer<typeof RateTurnMessageSchema>;

/** A display name as typed: normalised (NFKC, whitespace collapsed) or refused with the reason. */
export const DisplayNameSchema = z.string({ error: 'display name must be a string' }).transform((raw, ctx) => {
  const result = normalizeDisplayName(raw);
  if (result.ok) return result.name;
  ctx.issues.push({ code: 'custom', message: result.reason, input: raw });
  return z.NEVER;
});

/**
 * Options a client passes when joining the world room. Who the player is comes from the session token
 * (see the README's "Accounts"), never from these options.
 */
export const JoinOptionsSchema = z.object({
  name: DisplayNameSchema,
});
export type JoinOptions = z.infer<typeof JoinOptionsSchema>;

/**
 * One readable sentence for a failed parse. For unions, reports the branch that got furthest (the
 * deepest path) instead of zod's generic "Invalid input", so `{dir:{x:"north"}}` says `dir.x: ...`.
 */
export function describeIssue(error: z.ZodError): string {
  let issue: z.core.$ZodIssue | undefined = error.issues[0];
  while (issue && issue.code === 'invalid_union' && issue.errors.length > 0) {
    const branches = issue.errors.map((branch) => branch[0]).filter((i): i is z.core.$ZodIssue => i !== undefined);
    const best = branches.reduce((a, b) => (b.path.length > a.path.length ? b : a), branches[0]!);
    issue = { ...best, path: [...issue.path, ...best.path] } as z.core.$ZodIssue;
    if (best.path.length === 0) {
      return 'expected one of: {dir:{x,z},run?}, {target:{x,z},run?} or {stop:true}';
    }
  }
  if (!issue) return 'invalid payload';
  const where = issue.path.length > 0 ? `${issue.path.join('.')}: ` : '';
  return `${where}${issue.message}`;
}

/** Server → client payloads. */
export interface ErrorReply {
  /** The message type that was rejected. */
  type: string;
  /** For `talk` and `rate_turn`: the client's `ref` of the refused request. */
  ref?: string;
  code: ErrorCodeValue;
  message: string;
}

export interface ChatBroadcast {
  from: string;
  name: string;
  text: string;
  /** Server time in ms since the epoch. */
  at: number;
}

/** An action an NPC took, as the room executed it. */
export interface NpcActionCall {
  name: string;
  args: Record<string, string>;
}

export type TalkFinishReason = 'stop' | 'length' | 'fallback' | 'cancelled' | 'error';

export interface NpcTurnStart {
  ref: string;
  turnId: string;
  npcId: string;
  /** For a spoken line (talk_voice): what the server heard, the text the NPC answers. */
  transcript?: string;
}

export interface NpcChunk {
  ref: string;
  turnId: string;
  npcId: string;
  text: string;
}

export interface NpcTurnEnd {
  ref: string;
  turnId: string;
  npcId: string;
  /** The NPC's spoken reply (without the action call). */
  text: string;
  /** The action the room executed, or null (none chosen, or refused by the room). */
  action: NpcActionCall | null;
  finishReason: TalkFinishReason;
  /** Tokens the model generated for the turn (0 for a scripted fallback line). */
  tokens?: number;
  /** Server-side ms from the start of the turn to the first released text. */
  ttftMs?: number;
  /** Server-side ms from the start of the turn to its end. */
  durationMs?: number;
}

/** Acknowledges a stored `rate_turn`. */
export interface TurnRatedAck {
  ref: string;
  turnId: string;
  rating: 1 | -1;
}

export interface Landmark {
  id: string;
  name: string;
  x: number;
  z: number;
}

export interface WelcomeInfo {
  roomId: string;
  /** Your account id: who the server knows you as (memories, inventory, limits). */
  accountId: string;
  /**
   * Your display name as others see it: normalised, and with a " (2)"-style suffix when another
   * player online in this room already shows a name that looks the same.
   */
  name: string;
  worldName: string;
  bounds: { minX: number; minZ: number; maxX: number; maxZ: number };
  landmarks: Landmark[];
  aoiRadius: number;
  chatRadius: number;
  walkSpeed: number;
  runSpeed: number;
  tickRate: number;
  /** How close (world units) a player must be to talk to an NPC. */
  talkRange?: number;
  /** State patches per second the room sends. */
  patchRate?: number;
  /** Present when the server has voice on (VOICE_ENABLED): what it does and the push-to-talk limits. */
  voice?: VoiceInfo;
}

export interface VoiceInfo {
  /** NPC replies come as npc_audio frames too. */
  speaks: boolean;
  /** talk_voice (push-to-talk) is accepted. */
  hears: boolean;
  /** Sample rate of all voice audio (Hz). */
  sampleRate: number;
  /** Longest push-to-talk line (s). */
  maxTalkSeconds: number;
  /** Most PCM bytes per talk_voice chunk (keeps each frame under the server's payload limit). */
  chunkBytes: number;
}
