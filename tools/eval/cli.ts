/**
 * npm run eval -- --model <dir> [--baseline <dir> | --no-baseline] [--corpus data/corpus/world] [--split test]
 *                  [--limit N] [--seed N] [--decoding greedy|script] [--lore-grounding nats] [--action-memory nats] [--call-grounding on|off] [--general <file> | --no-general]
 *                  [--threads N] [--npcs <dir>] [--map <file>] [--json-out file] [--replies] [--misses] [--compare <eval.json>] [--quiet]
 *
 * Prints a table (metric rows × model columns) and one JSON line `{"eval": {...}}` on stdout; progress goes
 * to stderr. Exit 1 with a one-line reason when the corpus, the model or the split is unusable.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { evaluateModel, type EvalOptions } from './evaluate.ts';
import { callChanges, formatChanges, formatMisses, readScoredReplies } from './misses.ts';
import { formatReport, reportJson } from './report.ts';
import type { ReplyScore } from './scoring.ts';
import { EvalError, isSplit } from './samples.ts';

const USAGE =
  'usage: npm run eval -- --model <dir> [--baseline <dir> | --no-baseline] [--corpus data/corpus/world] [--split test] ' +
  '[--limit N] [--seed N] [--decoding greedy|script] [--lore-grounding nats] [--action-memory nats] [--call-grounding on|off] [--general <file> | --no-general] [--threads N] [--json-out file] [--replies] [--misses] [--compare <eval.json>]';

function usage(problem: string): never {
  console.error(`eval: ${problem}`);
  console.error(USAGE);
  process.exit(2);
}

function integer(name: string, value: string | undefined, min: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < min) usage(`--${name} must be an integer ≥ ${min}, got "${value}"`);
  return n;
}

let values: ReturnType<typeof parse>['values'];
function parse() {
  return parseArgs({
    options: {
      model: { type: 'string' },
      baseline: { type: 'string' },
      'no-baseline': { type: 'boolean' },
      corpus: { type: 'string' },
      split: { type: 'string' },
      limit: { type: 'string' },
      seed: { type: 'string' },
      decoding: { type: 'string' },
      'lore-grounding': { type: 'string' },
      'action-memory': { type: 'string' },
      'call-grounding': { type: 'string' },
      general: { type: 'string' },
      'no-general': { type: 'boolean' },
      threads: { type: 'string' },
      npcs: { type: 'string' },
      map: { type: 'string' },
      'json-out': { type: 'string' },
      replies: { type: 'boolean' },
      misses: { type: 'boolean' },
      compare: { type: 'string' },
      quiet: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}
try {
  ({ values } = parse());
} catch (error) {
  usage((error as Error).message);
}
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}
if (!values.model) usage('--model <dir> is required');
if (values.baseline && values['no-baseline']) usage('give --baseline <dir> or --no-baseline, not both');
if (values.general && values['no-general']) usage('give --general <file> or --no-general, not both');
const split = values.split ?? 'test';
if (!isSplit(split)) usage(`--split must be train, valid or test, got "${split}"`);
const decoding = values.decoding ?? 'greedy';
if (decoding !== 'greedy' && decoding !== 'script') usage(`--decoding must be greedy or script, got "${decoding}"`);
const loreGrounding = values['lore-grounding'] === undefined ? undefined : Number(values['lore-grounding']);
if (loreGrounding !== undefined && !(loreGrounding >= 0 && loreGrounding <= 20)) usage(`--lore-grounding must be a number of nats from 0 to 20, got "${values['lore-grounding']}"`);
const actionMemory = values['action-memory'] === undefined ? undefined : Number(values['action-memory']);
if (actionMemory !== undefined && !(actionMemory >= 0 && actionMemory <= 20)) usage(`--action-memory must be a number of nats from 0 to 20, got "${values['action-memory']}"`);
const callGroundingFlag = values['call-grounding'];
if (callGroundingFlag !== undefined && callGroundingFlag !== 'on' && callGroundingFlag !== 'off') usage(`--call-grounding must be on or off, got "${callGroundingFlag}"`);
const limit = integer('limit', values.limit, 1);
const seed = integer('seed', values.seed, 0);
const threads = integer('threads', values.threads, 1);
// Read before the run, so a wrong file fails now and not after minutes of generation.
let earlier: ReplyScore[] | undefined;
if (values.compare) {
  try {
    earlier = readScoredReplies(values.compare);
  } catch (error) {
    usage(`--compare: ${(error as Error).message}`);
  }
}

const options: EvalOptions = {
  model: values.model,
  baseline: values['no-baseline'] ? null : (values.baseline ?? 'untrained'),
  split,
  decoding,
  ...(loreGrounding !== undefined ? { loreGrounding } : {}),
  ...(actionMemory !== undefined ? { actionMemory } : {}),
  ...(callGroundingFlag !== undefined ? { callGrounding: callGroundingFlag === 'on' } : {}),
  ...(values.corpus ? { corpusDir: values.corpus } : {}),
  ...(limit !== undefined ? { limit } : {}),
  ...(seed !== undefined ? { seed } : {}),
  ...(threads !== undefined ? { threads } : {}),
  ...(values.npcs ? { npcDir: values.npcs } : {}),
  ...(values.map ? { worldMap: values.map } : {}),
  ...(values['no-general'] ? { generalText: null } : values.general ? { generalText: values.general } : {}),
  ...(values.replies || values.misses || earlier ? { keepReplies: true } : {}),
  ...(values.quiet ? {} : { log: (line: string) => console.error(`eval: ${line}`) }),
};

const controller = new AbortController();
process.once('SIGINT', () => controller.abort());
options.signal = controller.signal;

try {
  const report = await evaluateModel(options);
  const json = reportJson(report, { replies: values.replies ?? false });
  console.log(formatReport(report));
  const scored = report.models[0]?.replies ?? [];
  if (values.misses) console.log(`${formatMisses(scored, report.models[0]!.label)}\n`);
  if (earlier) console.log(`${formatChanges(callChanges(earlier, scored), values.compare!)}\n`);
  console.log(json);
  if (values['json-out']) {
    mkdirSync(dirname(values['json-out']), { recursive: true });
    writeFileSync(values['json-out'], `${json}\n`);
  }
  process.exit(0);
} catch (error) {
  if (controller.signal.aborted) {
    console.error('eval: interrupted');
    process.exit(130);
  }
  console.error(`eval: ${error instanceof EvalError ? error.message : error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`);
  process.exit(1);
}
