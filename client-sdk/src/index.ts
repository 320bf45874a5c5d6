export { WorldClient, WorldClientError, RateTurnError, type WorldClientOptions, type ReconnectOptions, type NetworkStats } from './world-client.ts';
export { TalkError } from './talk-turn.ts';
export { WorldAuth, AuthError, MemoryStorage, FileStorage, defaultSecretStorage, type SecretStorage, type WorldAuthOptions } from './auth.ts';
export type { AvatarInfo, NpcInfo, TalkChunk, TalkResult, TalkTurn, WorldClientEvents } from './types.ts';
export type { MoveIntent, ChatBroadcast, ErrorReply, WelcomeInfo, Landmark, NpcActionCall, TalkFinishReason, AuthSession, AccountInfo } from '@worldmind/shared';
export { WorldCloseCode, normalizeDisplayName } from '@worldmind/shared';
