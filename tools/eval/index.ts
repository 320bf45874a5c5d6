/** Public API of the evaluator (the CLI, the trainer and tests call this). */
export { evaluateModel, loreFactKey, type EvalOptions, type EvalReport, type ModelReport, type GroupMetrics, type LossSummary } from './evaluate.ts';
export { formatReport, reportJson } from './report.ts';
export { EvalError, readSplit, pickSubset, trainedFacts } from './samples.ts';
export { buildUntrainedTwin, architectureOf, parameterCount } from './baseline.ts';
export { replyLosses, textLoss, sampleTokens, forward } from './loss.ts';
export { generateReplies, dialogueCompiler, type Decoding } from './generation.ts';
export {
  scoreReply,
  scoreLore,
  aggregateScores,
  doubledWord,
  keywordHits,
  requiredKeywordCount,
  stem,
  sameAction,
  sampleSource,
  isLoreSample,
  isActionSample,
  isRefusalSample,
  needsGeneration,
  type ReplyScore,
  type ReplyMetrics,
  type Rate,
} from './scoring.ts';
