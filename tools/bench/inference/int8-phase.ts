/**
 * bench:inference's int8 contender, prepared once before the rounds: the int8 variant of the bench model
 * (tools/quantize), and what quantisation costs in quality — measured on the trained default model (whose
 * perplexity means something) and on the bench model (random weights: only the agreement and the logit
 * error mean something there), each against its own fp32 weights.
 *
 * The texts are the eval set: the first conversations of the world corpus's test split (`npm run corpus`;
 * what `npm run eval` scores; 48 on the default model, 8 on the 135M-shape one, whose forward passes cost
 * ~35× more), rendered with the model's chat template, reply included; the greedy prompts are the first 8
 * (4) of them up to the reply. Without the corpus, the bench's own personas stand in (said so in the report).
 */
import { existsSync } from 'node:fs';
import { isAbsolute, join, relative } from 'node:path';
import { loadModel, type DecoderModel } from '../../../server/src/inference/model/index.ts';
import { compareQuality } from '../../quantize/quality.ts';
import type { QuantizationMethod } from '../../quantize/quantize-model.ts';
import { readSplit } from '../../eval/samples.ts';
import { quantizedBenchModel } from './model-cache.ts';
import type { Int8Context } from './report.ts';

const EVAL_CORPUS = 'data/corpus/world';

/** A model to measure the quality cost on, and how many eval conversations / greedy prompts to use. */
export interface QualityTarget {
  dir: string;
  texts: number;
  prompts: number;
}

export interface Int8Setup {
  dir: string;
  context: Int8Context;
}

export async function prepareInt8(
  benchModelDir: string,
  targets: readonly QualityTarget[],
  method: QuantizationMethod,
  threads: number,
  fallbackTexts: readonly string[],
  log: (line: string) => void,
): Promise<Int8Setup> {
  const bench = quantizedBenchModel(benchModelDir, method);
  log(`int8: ${bench.record.quantized_matmuls} linear layers of the bench model quantised (${bench.record.op}) into ${bench.dir}`);
  const quality: Int8Context['quality'] = [];
  for (const { dir, texts, prompts } of targets) {
    if (!existsSync(join(dir, 'config.json'))) {
      log(`int8 quality: ${dir} is not a model directory, skipped`);
      continue;
    }
    const quantized = dir === benchModelDir ? bench : quantizedBenchModel(dir, method);
    const reference = await loadModel(dir, { intraOpNumThreads: threads });
    const candidate = await loadModel(quantized.dir, { intraOpNumThreads: threads });
    try {
      const set = qualitySet(reference, fallbackTexts, texts, prompts);
      log(`int8 quality on ${dir} (${set.label})...`);
      const q = await compareQuality(reference, candidate, { texts: set.texts, prompts: set.prompts, greedySteps: 32 });
      log(`  perplexity ${q.perplexity.reference.toFixed(3)} → ${q.perplexity.candidate.toFixed(3)} (${(q.perplexity.change * 100).toFixed(2)}%), greedy agreement ${(q.greedy.agreement * 100).toFixed(1)}%`);
      quality.push({ model: shownPath(dir), texts: set.label, ...q });
    } finally {
      await reference.dispose();
      await candidate.dispose();
    }
  }
  return {
    dir: bench.dir,
    context: {
      method,
      op: bench.record.op,
      lmHead: bench.record.lm_head,
      weightsMb: { fp32: bench.sourceBytes / 1e6, int8: bench.bytes / 1e6 },
      quality,
    },
  };
}

function qualitySet(model: DecoderModel, fallbackTexts: readonly string[], texts: number, prompts: number): { label: string; texts: string[]; prompts: string[] } {
  if (existsSync(join(EVAL_CORPUS, 'test.jsonl'))) {
    const samples = readSplit(EVAL_CORPUS, 'test').slice(0, texts);
    return {
      label: `eval set: ${samples.length} conversations of ${EVAL_CORPUS} test`,
      texts: samples.map((s) => model.renderChat([...s.messages, { role: 'assistant', content: s.reply }])),
      prompts: samples.slice(0, prompts).map((s) => model.renderChat(s.messages, { addGenerationPrompt: true })),
    };
  }
  return { label: `no eval set (${EVAL_CORPUS}); the bench personas`, texts: fallbackTexts.slice(0, texts), prompts: fallbackTexts.slice(0, prompts) };
}

/** A path inside the working directory (the repository) as a relative one, so the report names no machine's layout. */
function shownPath(dir: string): string {
  const inside = relative(process.cwd(), dir);
  return inside && !inside.startsWith('..') && !isAbsolute(inside) ? inside : dir;
}
