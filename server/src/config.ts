/**
 * Server configuration from environment variables, validated once at start-up. Every bad value is
 * reported with its variable name, the value given and what is expected — the server then refuses to
 * start rather than run on a half-understood configuration.
 */
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { DEFAULT_SITUATION_TOKENS } from './npc/situation.ts';
import { DEFAULT_LORE_GROUNDING } from './npc/lore-grounding.ts';
import { DEFAULT_ACTION_MEMORY } from './npc/action-memory.ts';
import { DEFAULT_CALL_GROUNDING } from './npc/call-grounding.ts';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

const bool = z.enum(['true', 'false', '1', '0', 'yes', 'no']).transform((v) => v === 'true' || v === '1' || v === 'yes');
const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const num = (min: number, max: number) => z.coerce.number().finite().min(min).max(max);

/** Each entry: env var → schema with default. Kept as data so the README table can be checked against it. */
export const ConfigSchema = z.object({
  PORT: int(0, 65535).default(2567).describe('TCP port to listen on (0 = any free port)'),
  HOST: z.string().min(1).default('0.0.0.0').describe('address to bind'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info').describe('pino log level'),
  WORLD_MAP: z.string().min(1).default(`${repoRoot}assets/world/town.json`).describe('world map JSON file'),
  TICK_RATE: int(1, 120).default(20).describe('simulation steps per second'),
  PATCH_RATE_MS: int(10, 1000).default(50).describe('state patch interval in ms'),
  MAX_CLIENTS_PER_ROOM: int(1, 10_000).default(500).describe('players per world shard; a full shard makes a new one open'),
  AOI_ENABLED: bool.default(true).describe('replicate only entities near each player; false sends everyone the whole room (for comparison)'),
  AOI_RADIUS: num(1, 10_000).default(30).describe('area-of-interest radius in world units'),
  CHAT_RADIUS: num(1, 10_000).default(25).describe('proximity chat radius in world units'),
  CHAT_BURST: int(1, 100).default(5).describe('chat messages a player may send in a burst'),
  CHAT_PER_SECOND: num(0.01, 100).default(0.5).describe('chat messages per second refilled after the burst'),
  WALK_SPEED: num(0.1, 100).default(4).describe('walking speed, units per second'),
  RUN_SPEED: num(0.1, 100).default(8).describe('running speed, units per second'),
  RECONNECT_WINDOW_S: num(0, 3600).default(20).describe('seconds a dropped player keeps its avatar'),
  MAX_MESSAGES_PER_SECOND: int(1, 10_000).default(60).describe('messages per second before a client is disconnected'),
  MAX_INVALID_MESSAGES: int(1, 1000).default(10).describe('rejected messages within 10 s before a client is disconnected'),
  MAX_PAYLOAD_BYTES: int(256, 16 * 1024 * 1024).default(16 * 1024).describe('largest WebSocket frame accepted; bigger frames close the connection'),
  NPC_ENABLED: bool.default(true).describe('run NPC brains (the inference engine); false serves the world without NPC dialogue'),
  MODEL_DIR: z.string().min(1).default(`${repoRoot}assets/models/default`).describe('model directory (HF/Optimum or onnxruntime-genai layout); for int8 weights, the directory `npm run quantize` wrote from it'),
  NPC_DIR: z.string().min(1).default(`${repoRoot}assets/npcs`).describe('folder of NPC scripts (*.yaml)'),
  NPC_HOT_RELOAD: bool.default(false).describe('development: reload NPC scripts when they change (a broken edit keeps the last good version)'),
  DB_PATH: z.string().min(1).default(`${repoRoot}data/worldmind.sqlite`).describe('SQLite file for memories, inventories and the turn log (:memory: for none); unused with DATABASE_URL'),
  DATABASE_URL: z.url({ protocol: /^postgres(ql)?$/, error: 'expected a postgres:// or postgresql:// URL, e.g. postgres://worldmind:secret@10.0.0.7:5432/worldmind' }).optional().describe('PostgreSQL instead of the SQLite file: accounts, inventories, memories, the turn log, ratings and trust shared by every game process that names the same database; unset = DB_PATH'),
  DATABASE_POOL_SIZE: int(1, 1000).default(10).describe('with DATABASE_URL: PostgreSQL connections each game process keeps at most'),
  DATABASE_CONNECT_TIMEOUT_MS: int(100, 600_000).default(5000).describe('with DATABASE_URL: how long connecting to PostgreSQL may take (at start, and a query waiting for a free connection) before it fails'),
  MODERATION_WORDLIST: z.string().min(1).default(`${repoRoot}assets/moderation/blocklist.txt`).describe('word list for the moderation filter (player input is refused, NPC output masked)'),
  INFERENCE_URL: z
    .string()
    .regex(/^\s*(wss?|https?):\/\/[^\s,]+(\s*,\s*(wss?|https?):\/\/[^\s,]+)*\s*$/, 'expected comma-separated ws:// (or http://) URLs of inference services, e.g. ws://10.0.0.5:2568,ws://10.0.0.6:2568')
    .optional()
    .describe('inference services (npm run inference) that run NPC turns, comma-separated, balanced by queue depth; unset = the engine runs in this process'),
  INFERENCE_API_KEY: z.string().min(16, 'must be at least 16 characters').optional().describe('shared secret of the inference service: it requires it on every request (Bearer token) and game processes send it; unset = the service is open'),
  INFERENCE_THREADS: int(1, 256).optional().describe('onnxruntime intra-op threads (default: cores - 1, at least 1: one core stays with the game loop)'),
  INFERENCE_PROVIDERS: z.string().min(1).default('cpu').describe('onnxruntime execution providers in order, comma-separated (e.g. cuda,cpu)'),
  INFERENCE_MAX_BATCH: int(1, 512).default(32).describe('most sequences in one engine step'),
  INFERENCE_MAX_QUEUE: int(1, 100_000).default(256).describe('generation requests waiting before new ones are refused'),
  INFERENCE_KV_BUDGET_MB: int(1, 1_048_576).default(1024).describe('MiB of KV cache the engine may book (running requests at their worst case, plus the prefix cache); requests beyond it wait, and are refused when the queue is full'),
  INFERENCE_CPU_ARENA: bool.default(true).describe('onnxruntime CPU memory arena: intermediate tensors reuse memory kept at the high-water mark of the largest engine step (bounded by INFERENCE_MAX_BATCH and the context); false mallocs and frees them every run (slower, and glibc keeps the freed memory anyway)'),
  INFERENCE_MEM_PATTERN: bool.default(false).describe('onnxruntime memory patterns: one pre-planned block cached per distinct input shape; decode shapes change every step, so it only grows'),
  INFERENCE_PREFILL_ORDER: z.enum(['shortest', 'admission']).default('shortest').describe('order of admitted prompts within a priority when prefilling: shortest first (lower mean first-token time; a prompt passed over 8 times goes first) or admission order'),
  INFERENCE_KV_KEEP_WARM_MS: int(0, 3_600_000).default(30_000).describe('how long the decode batch\'s KV buffers stay allocated after the last NPC reply ends (0 = freed at once): reusing warm buffers spares each burst the page faults of fresh memory'),
  INFERENCE_KV_RESERVE_TOKENS: int(0, 1_048_576).default(0).describe('tokens per conversation of decode-batch KV allocated and touched at start and kept for good (INFERENCE_MAX_BATCH rows; 0 = grown on demand): a burst that fits pays no page faults for it, even on a fresh or long-idle server; costs INFERENCE_MAX_BATCH × (tokens + 64) × 1.25 × the model\'s KV bytes per token of memory'),
  INFERENCE_DECODE_SHARE: z.coerce.number().min(0).max(1).default(0.1).describe('while prompts wait for their first token, the share of that prefill time decode runs of started replies may take (0 = prefill first, 1 = a decode run every step): lower brings a burst\'s last first token closer to its compute bound, higher keeps started streams smoother'),
  TALK_RANGE: num(0.5, 100).default(4).describe('how close (world units) a player must be to talk to an NPC'),
  TALK_BURST: int(1, 100).default(3).describe('lines a player may say to NPCs in a burst'),
  TALK_PER_SECOND: num(0.01, 100).default(0.25).describe('NPC lines per second refilled after the burst'),
  RATING_BURST: int(1, 1000).default(10).describe('NPC turn ratings a player may send in a burst'),
  RATING_PER_SECOND: num(0.01, 100).default(1).describe('NPC turn ratings per second refilled after the burst'),
  NPC_FIRST_TOKEN_DEADLINE_MS: int(50, 120_000).default(3000).describe('an NPC that cannot start answering within this says a scripted fallback line'),
  NPC_MEMORY_TOKENS: int(0, 100_000).default(384).describe('tokens of conversation history recalled into each NPC prompt'),
  NPC_LORE_FACTS: int(0, 50).default(3).describe('lore facts retrieved into each NPC prompt'),
  NPC_LORE_GROUNDING: num(0, 20).default(DEFAULT_LORE_GROUNDING).describe('nats an NPC\'s speech is nudged towards the lore fact that best matches the player\'s line, or its schedule entry for a question about its day, in the NPC\'s own words (0 = off; see README "Lore grounding")'),
  NPC_CALL_GROUNDING: bool.default(DEFAULT_CALL_GROUNDING).describe('the places and items a player\'s line names (the map\'s landmark names and aliases, its item catalogue) ground the action memory\'s call prior: calls that go to a place or hand over an item (walk_to, point_at, give_item, trade) lean to the named ones, and those going to a place step back when every named place is out of their reach (false = off; see README "Call grounding")'),
  NPC_ACTION_MEMORY: num(0, 20).default(DEFAULT_ACTION_MEMORY).describe('nats an NPC\'s action call is tipped towards the calls of the player lines most like this one in the model\'s action memory (its action-memory.json; 0 = off; see README "Action memory")'),
  NPC_ACTION_DECODING: z.enum(['greedy', 'sample']).default('greedy').describe('how an NPC picks its action call: greedy = the model\'s most likely legal call (the script\'s temperature shapes only the speech); sample = at the script\'s temperature, for varied actions (the default model without its action memory: 59.6 % action accuracy sampled against 66.3 % greedy)'),
  NPC_SITUATION_TOKENS: int(0, 2000).default(DEFAULT_SITUATION_TOKENS).describe('most tokens of the situation block in each NPC prompt (time, activity, who is near, what the speaker carries, recent events; 0 = none)'),
  NPC_GIVE_COOLDOWN_S: num(0, 86_400).default(10).describe('seconds before an NPC gives the same player another item'),
  NPC_GROUP_CONVERSATIONS: bool.default(true).describe('players around an NPC share one conversation: lines said while it answers are gathered into one model turn; false answers every line with its own turn at once (for comparison and engine load tests)'),
  NPC_GROUP_MAX_PLAYERS: int(1, 32).default(8).describe('players in one NPC\'s conversation at once (a group conversation); a newcomer beyond it is refused (busy) until one leaves'),
  NPC_GROUP_MAX_LINES: int(1, 32).default(8).describe('lines one NPC reply answers at most (lines said while the NPC answers are gathered into its next reply); more are refused (busy)'),
  NPC_GROUP_IDLE_S: num(1, 86_400).default(60).describe('seconds of silence after which a player leaves an NPC\'s conversation (walking out of TALK_RANGE leaves at once)'),
  NPC_AMBIENT_TALK: bool.default(true).describe('NPCs that meet (within TALK_RANGE, both free) hold short exchanges at the engine\'s ambient priority, seen as speech bubbles'),
  NPC_AMBIENT_TALK_PER_HOUR: int(0, 60).default(1).describe('ambient exchanges each NPC takes part in per game hour, at most (0 = none)'),
  GAME_MINUTES_PER_SECOND: num(0, 1440).default(1).describe('game clock speed for NPC schedules (1 = a game day every 24 minutes)'),
  GAME_START_TIME: z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'expected HH:MM').default('08:00').describe('game time of day when the server starts'),
  ADMIN_TOKEN: z.string().min(16, 'must be at least 16 characters').optional().describe('when set, /metrics and /monitor require it (Authorization: Bearer <token>, or HTTP basic auth with it as the password)'),
  STUDIO_ENABLED: bool.default(false).describe('serve the designer view at /studio (every turn\'s prompt, lore, memory and action, and replays; with ADMIN_TOKEN set it requires it): keep it off in public deployments'),
  MONITOR_ENABLED: bool.default(false).describe('serve the @colyseus/monitor room inspector at /monitor (it can kick players: keep it off in public deployments)'),
  AUTH_SECRET: z.string().min(32, 'must be at least 32 characters (e.g. `openssl rand -base64 48`)').optional().describe('secret that signs session tokens (HS256); a development secret is used when unset, which NODE_ENV=production refuses'),
  AUTH_TOKEN_TTL_S: int(30, 7 * 86_400).default(900).describe('lifetime of a session token in seconds (a guest SDK signs in again with its device secret)'),
  MAX_SESSIONS_PER_ACCOUNT: int(1, 100).default(1).describe('concurrent sessions per account; a new login beyond it takes over the oldest (close code 4409)'),
  JOIN_BURST: int(1, 1000).default(10).describe('room joins an account may make in a burst'),
  JOIN_PER_MINUTE: num(0.1, 10_000).default(20).describe('room joins per minute refilled after the burst'),
  GUEST_SIGNUP_BURST: int(0, 1_000_000).default(20).describe('new accounts one client address may create in a burst (0 = unlimited, e.g. load tests from one address)'),
  GUEST_SIGNUPS_PER_MINUTE: num(0.01, 1_000_000).default(6).describe('new accounts per address per minute refilled after the burst'),
  LOGIN_ATTEMPTS_PER_MINUTE: int(1, 10_000).default(10).describe('password sign-in attempts per user name, and per client address, per minute (also the burst)'),
  TRUST_PROXY: bool.default(false).describe('take the client address from the last X-Forwarded-For entry (only behind a reverse proxy that sets it)'),
  CORS_ORIGINS: z.string().min(1).default('*').describe('origins browsers may call the HTTP API from, comma-separated (e.g. https://game.example), or * for any'),
  ALLOW_UWS_FALLBACK: bool.default(false).describe('start even if the native uWebSockets binding failed to load (slow ws shim)'),
  REDIS_URL: z.url({ protocol: /^rediss?$/, error: 'expected a redis:// or rediss:// URL, e.g. redis://127.0.0.1:6379' }).optional().describe('several game processes: Colyseus presence and matchmaking in this Redis (rooms, seats, reconnection, sessions across processes); unset = one process on its own'),
  PUBLIC_ADDRESS: z.string().regex(/^(?![a-z][a-z0-9+.-]*:\/\/)[^\s/?#]+(\/[^\s?#]*)?$/i, 'expected host:port (optionally /path), without ws:// (e.g. game-1.example:2567)').optional().describe('with REDIS_URL (required then): host:port clients use to reach this process; matchmaking on any process sends a player to the process that hosts the room'),
  VOICE_ENABLED: bool.default(false).describe('speak NPC replies aloud and accept push-to-talk (needs the Debian engines: apt-get install -y espeak-ng pocketsphinx pocketsphinx-en-us; a missing one is named at start and its direction stays off)'),
  VOICE_TTS_ENGINE: z.enum(['espeak-ng', 'none']).default('espeak-ng').describe('speech synthesiser for NPC replies (none = text only)'),
  VOICE_STT_ENGINE: z.enum(['pocketsphinx', 'none']).default('pocketsphinx').describe('speech recogniser for push-to-talk (none = refuse talk_voice)'),
  VOICE_WORLD_BIAS: bool.default(true).describe('bias the recogniser to the world: a language model and dictionary built from the NPC scripts and the map (names, places, items, lore, example lines)'),
  VOICE_TTS_WORKERS: int(1, 64).default(1).describe('speech synthesis processes at once'),
  VOICE_TTS_QUEUE: int(0, 10_000).default(8).describe('reply sentences waiting for synthesis; beyond it an NPC reply stays text-only'),
  VOICE_TTS_MAX_DELAY_MS: int(0, 60_000).default(1500).describe('a sentence that cannot start synthesis within this is not spoken (nor the rest of its reply): text-only rather than late'),
  VOICE_MAX_TALK_SECONDS: int(1, 60).default(10).describe('longest push-to-talk line in seconds; longer audio is refused'),
});

export type ServerConfig = z.infer<typeof ConfigSchema>;

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Variables whose whole value is secret; URLs (REDIS_URL, DATABASE_URL, …) have only their password hidden. */
const SECRET_VARIABLES = new Set(['AUTH_SECRET']);

/** A value as an error message may show it: logs and consoles are not the place for a password. */
/** The engine scheduler's settings that come from the environment (the game server and `npm run inference` alike). */
export function schedulerSettingsFrom(config: Pick<ServerConfig, 'INFERENCE_MAX_BATCH' | 'INFERENCE_MAX_QUEUE' | 'INFERENCE_KV_BUDGET_MB' | 'INFERENCE_PREFILL_ORDER' | 'INFERENCE_DECODE_SHARE' | 'INFERENCE_KV_KEEP_WARM_MS' | 'INFERENCE_KV_RESERVE_TOKENS'>) {
  return {
    maxBatchSize: config.INFERENCE_MAX_BATCH,
    maxQueue: config.INFERENCE_MAX_QUEUE,
    kvBudgetBytes: config.INFERENCE_KV_BUDGET_MB * 1024 * 1024,
    prefillOrder: config.INFERENCE_PREFILL_ORDER,
    decodeShareWhilePrefilling: config.INFERENCE_DECODE_SHARE,
    kvKeepWarmMs: config.INFERENCE_KV_KEEP_WARM_MS,
    kvReserveTokens: config.INFERENCE_KV_RESERVE_TOKENS,
  };
}

export function redact(key: string, value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (SECRET_VARIABLES.has(key)) return `(${value.length} characters, hidden)`;
  // user:password@ in anything URL-shaped, parsable or not.
  if (key.endsWith('_URL')) return value.replace(/(\/\/[^/@:]*:)[^/@]*@/g, '$1***@');
  return value;
}

/** Reads known variables from `env`; unknown variables are ignored. Throws ConfigError listing every problem. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, overrides: Partial<ServerConfig> = {}): ServerConfig {
  const picked: Record<string, string> = {};
  for (const key of Object.keys(ConfigSchema.shape)) {
    const value = env[key];
    if (value !== undefined && value !== '') picked[key] = value;
  }
  const parsed = ConfigSchema.safeParse(picked);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => {
      const key = String(issue.path[0]);
      return `  ${key}=${JSON.stringify(redact(key, picked[key]))}: ${issue.message}`;
    });
    throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
  }
  const config = { ...parsed.data, ...overrides };
  if (env.NODE_ENV === 'production' && config.AUTH_SECRET === undefined) {
    throw new ConfigError('AUTH_SECRET is not set and NODE_ENV=production: refusing to sign session tokens with the development secret; set AUTH_SECRET to 32+ random characters');
  }
  if (config.REDIS_URL !== undefined && config.PUBLIC_ADDRESS === undefined) {
    throw new ConfigError(`invalid configuration:\n  PUBLIC_ADDRESS: required with REDIS_URL (the host:port clients use to reach this process, e.g. 127.0.0.1:${config.PORT || 2567})`);
  }
  if (config.RUN_SPEED < config.WALK_SPEED) {
    throw new ConfigError(`invalid configuration:\n  RUN_SPEED=${config.RUN_SPEED}: must be at least WALK_SPEED (${config.WALK_SPEED})`);
  }
  return config;
}
