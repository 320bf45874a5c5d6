/** Public API of sampling: per-request token choice and reply-ending rules, shared with the scheduler. */
export { Sampler, NoAllowedTokenError, maskFromIds, type SampleContext, type TokenMask } from './sampler.ts';
export {
  SamplingParamsSchema,
  StopParamsSchema,
  type SamplingParams,
  type SamplingParamsInput,
  type StopParams,
  type StopParamsInput,
} from './sampling-params.ts';
export { SeededRandom, randomSeed } from './seeded-random.ts';
export { StopStringMatcher } from './stop-strings.ts';
export { SequenceOutput, type SequenceOutputOptions, type AcceptResult, type FinishReason } from './sequence-output.ts';
