/** Reading the JSON files of a model directory, each failure turned into one clear ModelLoadError. */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { z } from 'zod';
import { ModelLoadError, firstLine } from './errors.ts';

export function assertModelDirectory(dir: string): void {
  if (!existsSync(dir)) {
    throw new ModelLoadError('missing-directory', `Model directory ${dir} does not exist.`);
  }
  if (!statSync(dir).isDirectory()) {
    throw new ModelLoadError('missing-directory', `Model path ${dir} is a file, not a model directory.`);
  }
}

export function hasFile(dir: string, relativePath: string): boolean {
  return existsSync(join(dir, relativePath));
}

export function readText(dir: string, relativePath: string, why: string): string {
  const path = join(dir, relativePath);
  if (!existsSync(path)) {
    throw new ModelLoadError('missing-file', `Model directory ${dir} is missing ${relativePath} (${why}).`);
  }
  return readFileSync(path, 'utf8');
}

export function readJson(dir: string, relativePath: string, why: string): unknown {
  const text = readText(dir, relativePath, why);
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new ModelLoadError(
      'invalid-json',
      `Model file ${join(dir, relativePath)} is not valid JSON: ${firstLine(error)}`,
      { cause: error },
    );
  }
}

/** Reads a JSON file and checks it against the schema; the message names the first offending field. */
export function readConfig<Schema extends z.ZodType>(
  dir: string,
  relativePath: string,
  schema: Schema,
  why: string,
): z.infer<Schema> {
  const parsed = schema.safeParse(readJson(dir, relativePath, why));
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = issue && issue.path.length > 0 ? issue.path.join('.') : '(top level)';
    throw new ModelLoadError(
      'invalid-config',
      `Model file ${join(dir, relativePath)} has an invalid field ${field}: ${issue?.message ?? 'unknown problem'}.`,
    );
  }
  return parsed.data;
}
