/**
 * `node --import tsx tools/cluster/inference-load.ts --url http://127.0.0.1:2569 [--concurrency 16]
 *   [--duration 30] [--max-tokens 64]`: what one inference service can generate. Keeps `--concurrency`
 * NPC-shaped chat completions in flight (a persona system message shared by every request, as NPC prompts
 * share theirs, and one player line each) through its OpenAI-compatible API for `--duration` seconds, then
 * reports tokens per second as the client saw them and, from the service's own /metrics over the same window,
 * generated tokens, tok/s, decode batch sizes and the engine's TTFT — the per-worker capacity docs/SCALING.md
 * plans with.
 *
 * Loopback only (it is a load generator), bounded concurrency (1..128) and duration (1..180 s); every
 * request has a 60 s bound; exit 1 when no request succeeded.
 */
import { parseCliArgs } from '../../server/src/cli-args.ts';
import { ClusterWatcher, renderClusterTables } from '../../loadtest/src/cluster.ts';
import { isLoopbackHost } from '../../loadtest/src/options.ts';

const USAGE = `usage: node --import tsx tools/cluster/inference-load.ts --url URL [--concurrency N] [--duration S] [--max-tokens M] [--json]

  --url URL          the inference service (http://127.0.0.1:2569; loopback only)
  --concurrency N    chat completions in flight at once (1..128, default 16)
  --duration S       seconds to keep them in flight (1..180, default 30)
  --max-tokens M     tokens per reply (1..512, default 64)
  --json             also print one JSON line

INFERENCE_API_KEY and ADMIN_TOKEN from the environment are sent when set.
`;

const LINES = [
  'Good morning! What news from the road?',
  'Can you mend my sword before nightfall?',
  'Where can I find the well?',
  'Tell me about the war at the bridge.',
  'What do you sell here?',
  'Who guards the gate at night?',
  'Is the inn still serving stew?',
  'Have you seen a stranger in a grey cloak?',
];
const PERSONA =
  'You are Bram, the blacksmith of Emberfall. You speak plainly, in short sentences, and you are proud of your forge. ' +
  'You know the town: the well in the market, the inn by the river, the chapel on the hill and the south gate. ' +
  'End every reply with exactly one action call in double brackets, such as [[none]] or [[emote wave]].';

function fail(message: string): never {
  process.stderr.write(`inference-load: ${message}\n${USAGE}`);
  process.exit(2);
}

const { values } = parseCliArgs('inference-load', USAGE, {
  options: { url: { type: 'string' }, concurrency: { type: 'string' }, duration: { type: 'string' }, 'max-tokens': { type: 'string' }, json: { type: 'boolean' } },
});
const intIn = (name: string, raw: string | undefined, dflt: number, min: number, max: number) => {
  const n = raw === undefined ? dflt : Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) fail(`--${name} ${JSON.stringify(raw)}: expected an integer from ${min} to ${max}`);
  return n;
};
if (!values.url) fail('--url is required');
let base: URL;
try {
  base = new URL(values.url);
} catch {
  fail(`--url ${JSON.stringify(values.url)}: not a URL`);
}
if (!isLoopbackHost(base.hostname)) fail(`--url ${values.url}: loopback only (127.0.0.0/8, ::1, localhost)`);
base.protocol = base.protocol === 'wss:' || base.protocol === 'https:' ? 'https:' : 'http:';
const url = base.origin;
const concurrency = intIn('concurrency', values.concurrency, 16, 1, 128);
const durationS = intIn('duration', values.duration, 30, 1, 180);
const maxTokens = intIn('max-tokens', values['max-tokens'], 64, 1, 512);
const apiKey = process.env.INFERENCE_API_KEY;

const models = await fetch(`${url}/v1/models`, { signal: AbortSignal.timeout(5_000), headers: apiKey ? { authorization: `Bearer ${apiKey}` } : {} }).catch((err: Error) => fail(`cannot reach ${url}/v1/models: ${err.message}`));
if (!models.ok) fail(`${url}/v1/models answered ${models.status}: ${await models.text()}`);
const model = ((await models.json()) as { data: { id: string }[] }).data[0]?.id ?? fail(`${url}/v1/models lists no model`);

const watcher = new ClusterWatcher([], [url]);
const unreadable = await watcher.begin();
if (unreadable.length > 0) process.stderr.write(`inference-load: could not read ${url}/metrics (ADMIN_TOKEN?); only client-side numbers follow\n`);

let completionTokens = 0;
let ok = 0;
const failures = new Map<string, number>();
const started = Date.now();
const end = started + durationS * 1000;
let seq = 0;

async function worker(): Promise<void> {
  while (Date.now() < end) {
    const line = LINES[seq++ % LINES.length]!;
    try {
      const res = await fetch(`${url}/v1/chat/completions`, {
        method: 'POST',
        signal: AbortSignal.timeout(60_000),
        headers: { 'content-type': 'application/json', ...(apiKey ? { authorization: `Bearer ${apiKey}` } : {}) },
        body: JSON.stringify({ model, max_tokens: maxTokens, temperature: 0.8, priority: 'interactive', messages: [{ role: 'system', content: PERSONA }, { role: 'user', content: line }] }),
      });
      const body = (await res.json()) as { usage?: { completion_tokens: number }; error?: { code?: string; message?: string } };
      if (!res.ok || !body.usage) {
        const key = `${res.status} ${body.error?.code ?? body.error?.message ?? 'no usage'}`;
        failures.set(key, (failures.get(key) ?? 0) + 1);
        // A full queue says when to come back; do not spin on it.
        if (res.status === 429) await new Promise((r) => setTimeout(r, 100));
        continue;
      }
      completionTokens += body.usage.completion_tokens;
      ok++;
    } catch (err) {
      const key = (err as Error).name === 'TimeoutError' ? 'timeout (60 s)' : (err as Error).message;
      failures.set(key, (failures.get(key) ?? 0) + 1);
    }
  }
}

await Promise.all(Array.from({ length: concurrency }, worker));
const wallS = (Date.now() - started) / 1000;
await watcher.finish();
const report = watcher.report();
const service = report.inference[0]!;
process.stdout.write(
  `${ok} completions, ${completionTokens} tokens in ${wallS.toFixed(1)} s at concurrency ${concurrency} (max_tokens ${maxTokens}): ` +
    `${(completionTokens / wallS).toFixed(1)} tok/s as the client saw them${failures.size ? `; failures ${JSON.stringify(Object.fromEntries(failures))}` : ''}\n`,
);
process.stdout.write(renderClusterTables(report) + '\n');
if (values.json) {
  process.stdout.write(JSON.stringify({ concurrency, duration_s: durationS, max_tokens: maxTokens, completions: ok, completion_tokens: completionTokens, client_tok_s: Math.round((completionTokens / wallS) * 10) / 10, failures: Object.fromEntries(failures), service }) + '\n');
}
process.exit(ok > 0 ? 0 : 1);
