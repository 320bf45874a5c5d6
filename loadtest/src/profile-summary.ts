/**
 * `node --import tsx loadtest/src/profile-summary.ts FILE.cpuprofile [--top N]`
 *
 * Summarises a V8 CPU profile (as written by `npm run loadtest -- --cpu-prof DIR`): self time by
 * function and by package/file, and total (inclusive) time of the functions that matter, so "where
 * does the server's time go" has a short answer.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { round, table } from '../../tools/bench/stats.ts';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: 'string', default: '25' } } });
const top = Number(values.top);

function where(url: string): string {
  if (!url) return '(native/vm)';
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + 'node_modules/'.length).split('/');
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  if (url.startsWith('node:')) return url;
  const m = /\/(server|shared|client-sdk|loadtest|tools)\/src\/(.*)$/.exec(url) ?? /\/(server|shared|client-sdk|loadtest|tools)\/(.*)$/.exec(url);
  return m ? `${m[1]}/${m[2]}` : url.replace(/^file:\/\//, '');
}

for (const file of positionals) {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map<number, number>();
  profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  const totalUs = profile.endTime - profile.startTime;
  let idleUs = 0;
  const selfByFn = new Map<string, number>();
  const selfByFile = new Map<string, number>();
  const inclusive = new Map<string, number>();
  for (const [id, us] of self) {
    const node = byId.get(id)!;
    const f = node.callFrame;
    if (f.functionName === '(idle)' || f.functionName === '(program)') {
      if (f.functionName === '(idle)') idleUs += us;
    }
    const key = `${f.functionName || '(anonymous)'} ${where(f.url)}:${f.lineNumber + 1}`;
    selfByFn.set(key, (selfByFn.get(key) ?? 0) + us);
    const file = where(f.url);
    selfByFile.set(file, (selfByFile.get(file) ?? 0) + us);
    // Inclusive: credit each distinct function on the stack once.
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const cf = byId.get(cur)!.callFrame;
      const k = `${cf.functionName || '(anonymous)'} ${where(cf.url)}:${cf.lineNumber + 1}`;
      if (seen.has(k)) continue;
      seen.add(k);
      inclusive.set(k, (inclusive.get(k) ?? 0) + us);
    }
  }
  const busyUs = totalUs - idleUs;
  const pct = (us: number) => `${round((100 * us) / totalUs, 1)}%`;
  const rows = (m: Map<string, number>) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([k, us]) => [k, round(us / 1000, 0), pct(us)]);
  console.log(`\n${file}: ${round(totalUs / 1e6, 1)} s profiled, ${pct(busyUs)} busy (not idle)`);
  // Node marks the thread idle from the loop's prepare phase to its check phase (around the poll); native
  // work there (uWS writing published frames, reading sockets) is sampled as idle though the loop is busy.
  console.log('(idle can include native socket I/O outside JavaScript — uWS writes of published frames, socket reads — which the load report\'s server event loop % counts as busy)');
  console.log('\nself time by package / file');
  console.log(table(['where', 'ms', 'of wall'], rows(selfByFile)));
  console.log('\nself time by function');
  console.log(table(['function', 'ms', 'of wall'], rows(selfByFn)));
  console.log('\ninclusive time by function');
  console.log(table(['function', 'ms', 'of wall'], rows(inclusive)));
}
