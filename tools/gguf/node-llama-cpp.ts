/**
 * node-llama-cpp (llama.cpp's CPU kernels for Node), the strongest CPU peer for serving a small model, loaded
 * from a cache folder instead of package.json: it installs ~700 MB of prebuilt binaries for every platform
 * and GPU flavour, which the default install must not carry. `loadNodeLlamaCpp({ install: true })` installs
 * the pinned version into `data/cache/node-llama-cpp` on first use (newer releases break `npm ci` here);
 * tests pass `install: false` and skip with the returned reason when it is absent.
 *
 * Only the few calls the benchmark and the parity checks make are typed here (the package is not a
 * dependency, so its own types are not visible to tsc).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

export const NODE_LLAMA_CPP_VERSION = '3.21.1';
/** npm fetches ~700 MB; a slow mirror gets this long before the bench gives up with a clear line. */
const INSTALL_TIMEOUT_MS = 20 * 60_000;

export function nodeLlamaCppCacheDir(): string {
  return join(new URL('../../', import.meta.url).pathname, 'data', 'cache', 'node-llama-cpp');
}

export interface LlamaCppSequence {
  evaluate(tokens: number[], options?: { temperature?: number; tokenBias?: unknown; yieldEogToken?: boolean }): AsyncGenerator<number, void, unknown>;
  clearHistory(): Promise<void>;
  dispose(): void;
}
export interface LlamaCppContext {
  getSequence(): LlamaCppSequence;
  dispose(): Promise<void>;
  readonly contextSize: number;
  readonly batchSize: number;
  readonly idealThreads: number;
}
export interface LlamaCppModel {
  tokenize(text: string, specialTokens?: boolean): number[];
  detokenize(tokens: readonly number[], specialTokens?: boolean): string;
  isEogToken(token: number): boolean;
  readonly tokenizer: unknown;
  createContext(options: {
    contextSize?: number;
    sequences?: number;
    batchSize?: number;
    threads?: number;
    flashAttention?: boolean;
    /** GgmlType names; llama.cpp defaults to F16 KV, our engine keeps f32 (parity checks ask for F32). */
    experimentalKvCacheKeyType?: string;
    experimentalKvCacheValueType?: string;
  }): Promise<LlamaCppContext>;
  dispose(): Promise<void>;
}
export interface Llama {
  loadModel(options: { modelPath: string; gpuLayers?: number; useMmap?: boolean }): Promise<LlamaCppModel>;
  dispose(): Promise<void>;
  readonly cpuMathCores?: number;
}
export interface NodeLlamaCppModule {
  getLlama(options?: { gpu?: false; build?: 'never'; logLevel?: string; maxThreads?: number; progressLogs?: boolean; skipDownload?: boolean }): Promise<Llama>;
  TokenBias: new (tokenizer: unknown) => { set(token: number, bias: 'never' | number): unknown };
  LlamaLogLevel: Record<string, string>;
}

/** Context options for parity checks: f32 KV like our engine's, so only the kernels differ. */
export const F32_KV = { experimentalKvCacheKeyType: 'F32', experimentalKvCacheValueType: 'F32' } as const;

export type NodeLlamaCppLoad = { ok: true; module: NodeLlamaCppModule; dir: string } | { ok: false; reason: string };

function entryPoint(dir: string): string | undefined {
  const pkgPath = join(dir, 'node_modules', 'node-llama-cpp', 'package.json');
  if (!existsSync(pkgPath)) return undefined;
  const pkg = JSON.parse(readFileSync(pkgPath, 'utf8')) as { version?: string; exports?: Record<string, unknown>; main?: string };
  if (pkg.version !== NODE_LLAMA_CPP_VERSION) return undefined;
  // ESM-only package: resolve its "." export's import entry by hand (require.resolve would use "require").
  const root = pkg.exports?.['.'];
  const target = typeof root === 'string' ? root : (root as { import?: unknown; default?: unknown } | undefined)?.import ?? (root as { default?: unknown } | undefined)?.default;
  const file = typeof target === 'string' ? target : typeof (target as { default?: unknown })?.default === 'string' ? (target as { default: string }).default : pkg.main;
  return file ? join(dir, 'node_modules', 'node-llama-cpp', file) : undefined;
}

/** Installs the pinned node-llama-cpp into `dir`; resolves with the failure text, or undefined on success. */
async function install(dir: string, log: (line: string) => void): Promise<string | undefined> {
  mkdirSync(dir, { recursive: true });
  // A package.json of its own keeps npm from treating the folder as part of the repo's workspaces.
  const pkgPath = join(dir, 'package.json');
  if (!existsSync(pkgPath)) writeFileSync(pkgPath, `${JSON.stringify({ name: 'worldmind-node-llama-cpp-cache', private: true }, null, 2)}\n`);
  log(`installing node-llama-cpp@${NODE_LLAMA_CPP_VERSION} into ${dir} (~700 MB, once)...`);
  return new Promise((resolvePromise) => {
    const child = spawn('npm', ['install', '--prefix', dir, `node-llama-cpp@${NODE_LLAMA_CPP_VERSION}`, '--no-save', '--no-audit', '--no-fund', '--loglevel=error'], {
      cwd: dir,
      // Never fall back to compiling llama.cpp from source (tens of minutes on 2 cores): use the prebuilt binary or fail.
      env: { ...process.env, NODE_LLAMA_CPP_SKIP_DOWNLOAD: 'true' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGTERM');
      resolvePromise(`npm install did not finish within ${INSTALL_TIMEOUT_MS / 60_000} minutes`);
    }, INSTALL_TIMEOUT_MS);
    child.on('error', (error) => {
      clearTimeout(timer);
      resolvePromise(`could not run npm: ${error.message}`);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolvePromise(code === 0 ? undefined : `npm install exited with ${code}: ${output.trim().split('\n').slice(-5).join(' | ')}`);
    });
  });
}

/** The pinned node-llama-cpp from the cache folder (installed there first if `install`), or why not. */
export async function loadNodeLlamaCpp(options: { install: boolean; log?: (line: string) => void; dir?: string }): Promise<NodeLlamaCppLoad> {
  const dir = options.dir ?? nodeLlamaCppCacheDir();
  const log = options.log ?? (() => {});
  let entry = entryPoint(dir);
  if (!entry) {
    if (!options.install) return { ok: false, reason: `node-llama-cpp@${NODE_LLAMA_CPP_VERSION} is not installed in ${dir} (the inference bench installs it on demand)` };
    const failure = await install(dir, log);
    if (failure) return { ok: false, reason: `could not install node-llama-cpp@${NODE_LLAMA_CPP_VERSION}: ${failure}` };
    entry = entryPoint(dir);
    if (!entry) return { ok: false, reason: `npm reported success but ${dir}/node_modules/node-llama-cpp@${NODE_LLAMA_CPP_VERSION} is missing` };
  }
  try {
    return { ok: true, module: (await import(pathToFileURL(entry).href)) as NodeLlamaCppModule, dir };
  } catch (error) {
    return { ok: false, reason: `node-llama-cpp failed to load: ${(error as Error).message}` };
  }
}

/** A CPU-only llama.cpp instance with the given thread count; its prebuilt binary only, never a source build. */
export async function cpuLlama(module: NodeLlamaCppModule, threads: number): Promise<Llama> {
  return module.getLlama({ gpu: false, build: 'never', maxThreads: threads, logLevel: module.LlamaLogLevel.error ?? 'error', progressLogs: false });
}

/**
 * Greedy tokens for `prompt` (token ids, no BOS added) on a fresh sequence: at most `maxTokens`, stopping
 * at the first end-of-generation token (not included), as our engine does. `tokenBias` (a TokenBias) can
 * ban ids our sampler never considers (the [PADn] rows beyond the tokenizer's vocabulary).
 */
export async function llamaCppGreedy(
  sequence: LlamaCppSequence,
  model: LlamaCppModel,
  prompt: readonly number[],
  maxTokens: number,
  tokenBias?: unknown,
): Promise<number[]> {
  await sequence.clearHistory();
  const out: number[] = [];
  for await (const token of sequence.evaluate([...prompt], { temperature: 0, yieldEogToken: true, ...(tokenBias ? { tokenBias } : {}) })) {
    if (model.isEogToken(token)) break;
    out.push(token);
    if (out.length >= maxTokens) break;
  }
  return out;
}
