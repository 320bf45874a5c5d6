/**
 * Configuration of `npm run inference` from environment variables. The engine variables are the game
 * server's own (config.ts: MODEL_DIR, INFERENCE_THREADS, INFERENCE_MAX_BATCH, …) so one environment file
 * describes both; the service adds its port. Every bad value is named with what is expected.
 */
import { z } from 'zod';
import { ConfigError, ConfigSchema } from '../../config.ts';

export const ServiceConfigSchema = ConfigSchema.pick({
  HOST: true,
  LOG_LEVEL: true,
  MODEL_DIR: true,
  INFERENCE_THREADS: true,
  INFERENCE_PROVIDERS: true,
  INFERENCE_MAX_BATCH: true,
  INFERENCE_MAX_QUEUE: true,
  INFERENCE_KV_BUDGET_MB: true,
  INFERENCE_CPU_ARENA: true,
  INFERENCE_MEM_PATTERN: true,
  INFERENCE_PREFILL_ORDER: true,
  INFERENCE_KV_KEEP_WARM_MS: true,
  INFERENCE_KV_RESERVE_TOKENS: true,
  INFERENCE_DECODE_SHARE: true,
  INFERENCE_API_KEY: true,
  ADMIN_TOKEN: true,
  ALLOW_UWS_FALLBACK: true,
}).extend({
  INFERENCE_PORT: z.coerce.number().int().min(0).max(65535).default(2568).describe('TCP port of the inference service (WebSocket engine protocol, OpenAI-compatible HTTP API, /health, /metrics; 0 = any free port)'),
});

export type ServiceConfig = z.infer<typeof ServiceConfigSchema>;

/** Reads the service's variables from `env`; throws ConfigError listing every problem. */
export function loadServiceConfig(env: NodeJS.ProcessEnv = process.env, overrides: Partial<ServiceConfig> = {}): ServiceConfig {
  const picked: Record<string, string> = {};
  for (const key of Object.keys(ServiceConfigSchema.shape)) {
    const value = env[key];
    if (value !== undefined && value !== '') picked[key] = value;
  }
  const parsed = ServiceConfigSchema.safeParse(picked);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => {
      const key = String(issue.path[0]);
      return `  ${key}=${JSON.stringify(picked[key])}: ${issue.message}`;
    });
    throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
  }
  return { ...parsed.data, ...overrides };
}
