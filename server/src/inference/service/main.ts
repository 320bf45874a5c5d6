/**
 * `npm run inference`: the inference engine as its own process, for game processes (INFERENCE_URL) and
 * OpenAI-compatible clients. Ordered shutdown on SIGTERM/SIGINT; exits non-zero with one clear message
 * when configuration or start-up fails.
 */
import { parseCliArgs } from '../../cli-args.ts';
import { ConfigError } from '../../config.ts';
import { routeConsoleToLog } from '../../observability/client-errors.ts';
import { createLogger } from '../../observability/logger.ts';
import { ServiceStartError, startInferenceService } from './service.ts';
import { loadServiceConfig, ServiceConfigSchema } from './service-config.ts';

const SHUTDOWN_TIMEOUT_MS = 10_000;
/**
 * An engine that has not answered for this long (hung in a native call, or its worker given up after
 * repeated crashes) will not come back by itself: exit non-zero so the supervisor starts a fresh process.
 */
const UNHEALTHY_EXIT_MS = 30_000;

function usage(): string {
  const defaults = ServiceConfigSchema.parse({}) as Record<string, unknown>;
  const lines = Object.entries(ServiceConfigSchema.shape).map(([name, schema]) => {
    const value = defaults[name];
    const shown = value === undefined ? '(unset)' : JSON.stringify(value);
    const description = name === 'INFERENCE_THREADS' ? 'onnxruntime intra-op threads (default: every core)' : (schema.description ?? '');
    return `  ${name.padEnd(22)} ${shown.length > 40 ? '' : `default ${shown}: `}${description}`;
  });
  return [
    'usage: npm run inference',
    '',
    'Serves the inference engine on INFERENCE_PORT: the engine protocol for game processes (ws://host:port/engine,',
    'listed in their INFERENCE_URL), the OpenAI-compatible API (GET /v1/models, POST /v1/chat/completions),',
    'GET /health and GET /metrics. Configuration comes from environment variables. Stops on SIGTERM/SIGINT.',
    '',
    ...lines,
    '',
  ].join('\n');
}

async function main(): Promise<void> {
  parseCliArgs('worldmind-inference', usage(), { options: {} });
  const config = loadServiceConfig();
  const log = createLogger(config.LOG_LEVEL).child({ module: 'inference-service' });
  routeConsoleToLog(log.child({ module: 'console' }));
  const service = await startInferenceService(config, log);
  let unhealthySince: number | undefined;
  const watchdog = setInterval(() => {
    if (service.healthy()) unhealthySince = undefined;
    else if (unhealthySince === undefined) unhealthySince = Date.now();
    else if (Date.now() - unhealthySince > UNHEALTHY_EXIT_MS) {
      log.fatal(`the engine has not answered for ${UNHEALTHY_EXIT_MS / 1000} s; exiting so a fresh process can take over`);
      process.exit(1);
    }
  }, 1_000);
  watchdog.unref();
  let signalled = false;
  const stop = (signal: NodeJS.Signals) => {
    if (signalled) return;
    signalled = true;
    log.info({ signal }, 'signal received');
    const timer = setTimeout(() => {
      log.error(`shutdown did not finish within ${SHUTDOWN_TIMEOUT_MS} ms; exiting`);
      process.exit(1);
    }, SHUTDOWN_TIMEOUT_MS);
    timer.unref();
    service.close().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  const die = (what: string) => (err: unknown) => {
    log.fatal({ err }, `${what}; exiting`);
    process.exit(1);
  };
  process.on('uncaughtException', die('uncaught exception'));
  process.on('unhandledRejection', die('unhandled promise rejection'));
}

main().catch((err: unknown) => {
  if (err instanceof ConfigError || err instanceof ServiceStartError) process.stderr.write(`worldmind-inference: ${err.message}\n`);
  else process.stderr.write(`worldmind-inference: failed to start: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
