/**
 * `npm start`: configuration from the environment, a world server on PORT, ordered shutdown on
 * SIGTERM/SIGINT. Exits non-zero with one clear message when configuration or start-up fails.
 */
import { parseCliArgs } from './cli-args.ts';
import { ConfigError, ConfigSchema, loadConfig } from './config.ts';
import { routeConsoleToLog } from './observability/client-errors.ts';
import { createLogger } from './observability/logger.ts';
import { startServer, StartupError } from './server.ts';
import { WorldMapError } from './world/world-map.ts';

/** A shutdown that takes longer than this is cut short: nothing waits forever. */
const SHUTDOWN_TIMEOUT_MS = 10_000;

/** `npm start -- --help`: the configuration variables, their defaults and what they do. */
function usage(): string {
  const defaults = ConfigSchema.parse({}) as Record<string, unknown>;
  const lines = Object.entries(ConfigSchema.shape).map(([name, schema]) => {
    const value = defaults[name];
    const shown = value === undefined ? '(unset)' : JSON.stringify(value);
    return `  ${name.padEnd(28)} ${shown.length > 40 ? '' : `default ${shown}: `}${schema.description ?? ''}`;
  });
  return [
    'usage: npm start',
    '',
    'Runs a Worldmind world server; configuration comes from environment variables (bad values are named and the server refuses to start).',
    'Logs: one JSON line per event on stdout. Stops on SIGTERM/SIGINT after disconnecting players.',
    '',
    ...lines,
    '',
  ].join('\n');
}

async function main(): Promise<void> {
  parseCliArgs('worldmind', usage(), { options: {} });
  const config = loadConfig();
  const log = createLogger(config.LOG_LEVEL);
  // A dependency that prints with console.* (while starting or later) still gives one JSON line per event.
  routeConsoleToLog(log.child({ module: 'console' }));
  const server = await startServer(config, log);
  let signalled = false;
  const stop = (signal: NodeJS.Signals) => {
    if (signalled) return;
    signalled = true;
    server.log.info({ signal }, 'signal received');
    const timer = setTimeout(() => {
      server.log.error(`shutdown did not finish within ${SHUTDOWN_TIMEOUT_MS} ms; exiting`);
      process.exit(1);
    }, SHUTDOWN_TIMEOUT_MS);
    timer.unref();
    server.shutdown().then(
      () => process.exit(0),
      (err: unknown) => {
        server.log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  // Node's default for these prints a multi-line stack that is not JSON; the exit stays the same.
  const die = (what: string) => (err: unknown) => {
    server.log.fatal({ err }, `${what}; exiting`);
    process.exit(1);
  };
  process.on('uncaughtException', die('uncaught exception'));
  process.on('unhandledRejection', die('unhandled promise rejection'));
}

main().catch((err: unknown) => {
  if (err instanceof ConfigError || err instanceof StartupError || err instanceof WorldMapError) {
    process.stderr.write(`worldmind: ${err.message}\n`);
  } else {
    process.stderr.write(`worldmind: failed to start: ${err instanceof Error ? err.stack : String(err)}\n`);
  }
  process.exit(1);
});
