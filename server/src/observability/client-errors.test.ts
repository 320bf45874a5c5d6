import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { ClientErrors, colyseusLogger, dispatchClientFrame } from './client-errors.ts';
import { createMetrics } from './metrics.ts';

function capture() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      lines.push(...String(chunk).split('\n').filter(Boolean));
      done();
    },
  });
  return { log: pino({ level: 'trace' }, stream), lines, parsed: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

describe('Colyseus logger', () => {
  it('turns a printed stack into one JSON line with the stack as a field, and counts repeats', () => {
    const { log, lines, parsed } = capture();
    const logger = colyseusLogger(log, 60_000);
    const stack = 'Error: Data read, but end of buffer not reached\n    at checkedRead (unpack.js:249:10)\n    at unpack (unpack.js:116:10)';
    logger.error(stack);
    logger.error(stack);
    logger.error(stack);
    logger.info('❌ reconnection token invalid or expired.\n👉 https://docs.colyseus.io/room#allow-reconnection');
    logger.warn('');
    expect(lines).toHaveLength(2);
    const [error, info] = parsed();
    expect(error).toMatchObject({ level: 50, msg: 'Error: Data read, but end of buffer not reached', stack });
    expect(info).toMatchObject({ level: 30, msg: '❌ reconnection token invalid or expired.' });
    expect(info!.detail).toMatch(/allow-reconnection/);
  });

  it('reports an error logged while a client frame is dispatched as that client\'s malformed message', async () => {
    const { log, parsed } = capture();
    const metrics = createMetrics();
    const errors = new ClientErrors(metrics, log, 60_000);
    const logger = colyseusLogger(log);
    for (let i = 0; i < 3; i++) {
      const reported = dispatchClientFrame(errors, { sessionId: `s${i}` }, () => logger.error('Error: bad msgpack\n    at unpack (x.js:1:1)'));
      expect(reported).toBe(true);
    }
    // console prints from the schema decoder inside a frame are the client's too; outside, untouched.
    dispatchClientFrame(errors, { sessionId: 's3' }, () => console.error('decode.utf8Read(): Invalid byte 255'));
    expect(dispatchClientFrame(errors, { sessionId: 's4' }, () => undefined)).toBe(false);
    const lines = parsed();
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 40, reason: 'malformed_message', sessionId: 's0', suppressed: 0 });
    expect(await metrics.registry.metrics()).toContain('worldmind_client_errors_total{reason="malformed_message"} 4');
  });
});
