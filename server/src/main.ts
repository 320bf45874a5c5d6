/**
 * `npm start`: configuration from the environment, a world server on PORT, ordered shutdown on
 * SIGTERM/SIGINT. Exits non-zero with one clear message when configuration or start-up fails.
 */
import { ConfigError, loadConfig } from './config.ts';
import { startServer, StartupError } from './server.ts';
import { WorldMapError } from './world/world-map.ts';

/** A shutdown that takes longer than this is cut short: nothing waits forever. */
const SHUTDOWN_TIMEOUT_MS = 10_000;

async function main(): Promise<void> {
  const config = loadConfig();
  const server = await startServer(config);
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
}

main().catch((err: unknown) => {
  if (err instanceof ConfigError || err instanceof StartupError || err instanceof WorldMapError) {
    process.stderr.write(`worldmind: ${err.message}\n`);
  } else {
    process.stderr.write(`worldmind: failed to start: ${err instanceof Error ? err.stack : String(err)}\n`);
  }
  process.exit(1);
});
