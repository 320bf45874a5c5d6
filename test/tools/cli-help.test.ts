/**
 * Every CLI in package.json answers `--help` with its usage on stdout and exit code 0 (not a stack
 * trace), and an unknown option with the problem and the usage on stderr, exit code 2.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const scripts = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { scripts: Record<string, string> }).scripts;

/** Scripts that are not CLIs of ours (the test runner, the type check). */
const NOT_CLIS = new Set(['test', 'typecheck']);
/** Scripts exempt from this check (none). */
const NOT_OURS = new Set<string>();

const clis = Object.entries(scripts)
  .filter(([name]) => !NOT_CLIS.has(name) && !NOT_OURS.has(name))
  .map(([name, command]) => {
    // Environment assignments may precede the command (`npm start` sets glibc's MALLOC_MMAP_THRESHOLD_).
    const file = /^(?:[A-Z_]+=\S+ )*node --import tsx (\S+\.ts)/.exec(command)?.[1];
    if (!file) throw new Error(`script ${name} is not "[VAR=value …] node --import tsx <file>": ${command}`);
    return { name, file };
  });

function run(file: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', file, ...args], { cwd: repoRoot, timeout: 30_000, env: { ...process.env, NODE_ENV: 'test' } }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : null) : 0, stdout, stderr });
    });
  });
}

describe('CLIs', () => {
  it('has the CLIs this test knows about', () => {
    expect(clis.map((c) => c.name)).toEqual(expect.arrayContaining(['start', 'loadtest', 'build-model', 'generate', 'npc:validate', 'npc:replay', 'bench:world', 'bench:inference', 'bench:train', 'train', 'eval']));
  });

  it('answer --help with their usage and exit 0', async () => {
    // Two at a time: each loads its module graph (onnxruntime for most).
    const queue = [...clis];
    const failures: string[] = [];
    const worker = async () => {
      for (let cli = queue.shift(); cli; cli = queue.shift()) {
        const result = await run(cli.file, ['--help']);
        if (result.code !== 0 || !/usage/i.test(result.stdout) || /\n\s+at /.test(result.stdout + result.stderr)) {
          failures.push(`${cli.name}: exit ${result.code}\n${(result.stdout + result.stderr).slice(0, 400)}`);
        }
      }
    };
    await Promise.all([worker(), worker()]);
    expect(failures).toEqual([]);
  }, 120_000);

  it('answer an unknown option with the usage and exit 2, without a stack trace', async () => {
    const queue = [...clis];
    const failures: string[] = [];
    const worker = async () => {
      for (let cli = queue.shift(); cli; cli = queue.shift()) {
        const result = await run(cli.file, ['--no-such-option']);
        if (result.code !== 2 || !/Unknown option '--no-such-option'/.test(result.stderr) || !/usage/i.test(result.stderr) || /\n\s+at /.test(result.stderr)) {
          failures.push(`${cli.name}: exit ${result.code}\n${(result.stdout + result.stderr).slice(0, 400)}`);
        }
      }
    };
    await Promise.all([worker(), worker()]);
    expect(failures).toEqual([]);
  }, 120_000);
});
