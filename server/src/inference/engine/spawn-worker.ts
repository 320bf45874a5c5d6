/**
 * Starts a worker thread on a TypeScript entry. Node 20 ignores `--import tsx` in a worker's execArgv for the
 * entry module itself, so the worker boots from a tiny evaluated script that registers tsx's ESM loader and
 * then imports the real entry. Works the same under vitest and under `node --import tsx`.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker, type WorkerOptions } from 'node:worker_threads';

let tsxEsmApi: string | undefined;

function tsxLoaderUrl(): string {
  if (!tsxEsmApi) {
    const require = createRequire(import.meta.url);
    tsxEsmApi = pathToFileURL(join(dirname(require.resolve('tsx/package.json')), 'dist/esm/api/index.mjs')).href;
  }
  return tsxEsmApi;
}

export function spawnTsWorker(entry: URL, options: Omit<WorkerOptions, 'eval'>): Worker {
  if (!entry.pathname.endsWith('.ts')) return new Worker(entry, options);
  const boot = `import(${JSON.stringify(tsxLoaderUrl())}).then((tsx) => { tsx.register(); return import(${JSON.stringify(entry.href)}); });`;
  return new Worker(boot, { ...options, eval: true });
}
