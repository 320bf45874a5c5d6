export { WorldClient, WorldClientError, RateTurnError, type WorldClientOptions, type ReconnectOptions, type NetworkStats } from './world-client.ts';
export { TalkError } from './talk-turn.ts';
export { WorldAuth, AuthError, MemoryStorage, FileStorage, defaultSecretStorage, type SecretStorage, type WorldAuthOptions } from './auth.ts';
export type { AvatarInfo, NpcInfo, NpcAudio, TalkChunk, TalkResult, TalkTurn, VoiceAudio, WorldClientEvents } from './types.ts';
export type { MoveIntent, ChatBroadcast, ErrorReply, WelcomeInfo, VoiceInfo, Landmark, NpcActionCall, TalkFinishReason, AuthSession, AccountInfo } from '@worldmind/shared';
export { WorldCloseCode, normalizeDisplayName } from '@worldmind/shared';
