export { WorldClient, WorldClientError, type WorldClientOptions, type ReconnectOptions, type NetworkStats } from './world-client.ts';
export type { AvatarInfo, NpcInfo, TalkChunk, TalkResult, TalkTurn, WorldClientEvents } from './types.ts';
export type { MoveIntent, ChatBroadcast, ErrorReply, WelcomeInfo, Landmark } from '@worldmind/shared';
