/**
 * npm run generate -- --model <dir> --prompt "<text>" [--system "<text>"] [--max-tokens N] [--temperature T]
 *   [--top-k K] [--top-p P] [--repetition-penalty R] [--seed S] [--stop "<text>"]... [--threads N] [--raw] [--json]
 *
 * Streams the reply to stdout. With --json the last line is
 * {"text","tokens","finish_reason","prompt_tokens","ttft_ms","tok_s"}. Temperature 0 is greedy. The prompt is
 * rendered with the model's chat template unless --raw is given.
 */
import { parseCliArgs } from '../server/src/cli-args.ts';
import { generate } from '../server/src/inference/generate/index.ts';
import { ModelLoadError, loadModel } from '../server/src/inference/model/index.ts';
import type { SamplingParamsInput } from '../server/src/inference/sampling/index.ts';
import type { ChatMessage } from '../server/src/inference/tokenizer/index.ts';

const USAGE = `usage: npm run generate -- --model <dir> --prompt "<text>" [options]

  --model <dir>             model directory
  --prompt "<text>"         the user message (rendered with the model's chat template unless --raw)
  --system "<text>"         a system message
  --max-tokens N            most tokens to generate
  --temperature T           0 is greedy
  --top-k K --top-p P --repetition-penalty R --seed S
  --stop "<text>"           stop sequence (repeatable)
  --threads N               onnxruntime intra-op threads
  --raw                     use the prompt as is, without the chat template
  --json                    last line: {"text","tokens","finish_reason","prompt_tokens","ttft_ms","tok_s"}
`;

function fail(message: string, code = 2): never {
  console.error(`generate: ${message}`);
  process.exit(code);
}

function number(flag: string, text: string | undefined, integer = false): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!Number.isFinite(value) || (integer && !Number.isInteger(value))) fail(`--${flag} must be ${integer ? 'an integer' : 'a number'}, got "${text}"`);
  return value;
}

const { values } = parseCliArgs('generate', USAGE, {
  options: {
    model: { type: 'string' },
    prompt: { type: 'string' },
    system: { type: 'string' },
    'max-tokens': { type: 'string' },
    temperature: { type: 'string' },
    'top-k': { type: 'string' },
    'top-p': { type: 'string' },
    'repetition-penalty': { type: 'string' },
    seed: { type: 'string' },
    stop: { type: 'string', multiple: true },
    threads: { type: 'string' },
    raw: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
  },
});
if (!values.model) fail('--model <dir> is required');
if (values.prompt === undefined) fail('--prompt "<text>" is required');

const sampling: SamplingParamsInput = {};
const temperature = number('temperature', values.temperature);
const topK = number('top-k', values['top-k'], true);
const topP = number('top-p', values['top-p']);
const repetitionPenalty = number('repetition-penalty', values['repetition-penalty']);
const seed = number('seed', values.seed, true);
if (temperature !== undefined) sampling.temperature = temperature;
if (topK !== undefined) sampling.topK = topK;
if (topP !== undefined) sampling.topP = topP;
if (repetitionPenalty !== undefined) sampling.repetitionPenalty = repetitionPenalty;
if (seed !== undefined) sampling.seed = seed;
const maxTokens = number('max-tokens', values['max-tokens'], true);
const threads = number('threads', values.threads, true);

let model;
try {
  model = await loadModel(values.model, threads !== undefined ? { intraOpNumThreads: threads } : {});
} catch (error) {
  fail(error instanceof ModelLoadError ? error.message : `could not load the model: ${(error as Error).message}`, 1);
}

const messages: ChatMessage[] = [
  ...(values.system !== undefined ? [{ role: 'system' as const, content: values.system }] : []),
  { role: 'user', content: values.prompt },
];
try {
  const result = await generate(
    model,
    {
      prompt: values.raw ? { text: (values.system ?? '') + values.prompt } : { messages },
      sampling,
      ...(maxTokens !== undefined ? { maxTokens } : {}),
      ...(values.stop ? { stop: values.stop } : {}),
    },
    (event) => {
      if (event.text) process.stdout.write(event.text);
    },
  );
  process.stdout.write('\n');
  if (values.json) {
    console.log(
      JSON.stringify({
        text: result.text,
        tokens: result.tokens,
        finish_reason: result.finishReason,
        prompt_tokens: result.promptTokens,
        ttft_ms: round(result.ttftMs),
        tok_s: round(result.tokensPerSecond),
      }),
    );
  }
} catch (error) {
  fail((error as Error).message, 1);
} finally {
  await model.dispose();
}

function round(value: number): number {
  return Math.round(value * 100) / 100;
}
