/**
 * Test support: what an operator reads. The server promises one JSON object per line on stdout and
 * stderr (pino); these helpers find the lines that break that promise and pick lines by level or field.
 */
export interface LogLine {
  level: number;
  msg?: string;
  [field: string]: unknown;
}

/** Every non-empty line that is not a JSON object (multi-line stacks, console prints). */
export function nonJsonLines(output: string): string[] {
  return output
    .split('\n')
    .filter((line) => line.trim() !== '')
    .filter((line) => {
      try {
        const value: unknown = JSON.parse(line);
        return value === null || typeof value !== 'object' || Array.isArray(value);
      } catch {
        return true;
      }
    });
}

/** The JSON lines of `output` (non-JSON lines are skipped: check them with `nonJsonLines`). */
export function logLines(output: string): LogLine[] {
  const lines: LogLine[] = [];
  for (const line of output.split('\n')) {
    try {
      const value = JSON.parse(line) as LogLine;
      if (value && typeof value === 'object' && typeof value.level === 'number') lines.push(value);
    } catch {
      // not JSON
    }
  }
  return lines;
}

/** The value of one Prometheus series in a scrape (`name{labels}` exactly as printed), NaN when absent. */
export function seriesValue(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(series + ' '));
  return line ? Number(line.slice(series.length + 1)) : NaN;
}

/** A ROOM_DATA frame (Colyseus protocol 13) for `type` whose payload is `payload` verbatim (normally msgpack). */
export function rawRoomData(type: string, payload: Uint8Array): Uint8Array {
  const name = Buffer.from(type, 'utf8');
  if (name.length > 31) throw new Error('type too long for a fixstr');
  return new Uint8Array([13, 0xa0 | name.length, ...name, ...payload]);
}
