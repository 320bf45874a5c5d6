import { pino, type Logger } from 'pino';

export type { Logger };

/** One structured logger for the process; modules take a child with their own `module` field. */
export function createLogger(level: string): Logger {
  return pino({ level, base: { service: 'worldmind' } });
}
