/**
 * Why a model directory could not be used. The message is one sentence naming the directory and the missing
 * or unsupported piece, so an operator can fix it without reading code; `reason` lets callers branch.
 */
export type ModelLoadFailure =
  | 'missing-directory'
  | 'unknown-layout'
  | 'missing-file'
  | 'invalid-json'
  | 'invalid-config'
  | 'invalid-onnx'
  | 'unsupported-graph'
  | 'invalid-tokenizer'
  | 'missing-special-token';

export class ModelLoadError extends Error {
  override readonly name = 'ModelLoadError';
  constructor(
    readonly reason: ModelLoadFailure,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * First line of a lower-level error, trimmed and ending in a full stop, so our one-sentence messages stay
 * one sentence.
 */
export function firstLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  const line = (text.split('\n').find((candidate) => candidate.trim().length > 0) ?? text).trim().slice(0, 300);
  return /[.!?"]$/.test(line) ? line : `${line}.`;
}
