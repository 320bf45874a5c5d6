export { WorldClient, WorldClientError, RateTurnError, type WorldClientOptions, type ReconnectOptions, type NetworkStats } from './world-client.ts';
export { TalkError } from './talk-turn.ts';
export type { AvatarInfo, NpcInfo, TalkChunk, TalkResult, TalkTurn, WorldClientEvents } from './types.ts';
export type { MoveIntent, ChatBroadcast, ErrorReply, WelcomeInfo, Landmark, NpcActionCall, TalkFinishReason } from '@worldmind/shared';
