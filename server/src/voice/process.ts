/**
 * Runs a speech engine's command-line tool as a child process: the work happens in another process (off
 * the game thread), with a time bound, an abort signal and a cap on what it may print.
 */
import { spawn } from 'node:child_process';
import { SpeechError } from './speech.ts';

export interface RunOptions {
  stdin?: Uint8Array | string;
  timeoutMs: number;
  signal?: AbortSignal | undefined;
  /** Largest stdout accepted; more kills the process (a runaway engine cannot fill memory). */
  maxStdoutBytes: number;
}

export interface RunResult {
  stdout: Buffer;
  stderr: string;
}

export function runTool(command: string, args: readonly string[], options: RunOptions): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    if (options.signal?.aborted) return reject(new SpeechError(`${command}: aborted before it started`, 'aborted'));
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let outBytes = 0;
    let err = '';
    let failure: SpeechError | undefined;
    const kill = (why: SpeechError) => {
      failure ??= why;
      child.kill('SIGKILL');
    };
    const timer = setTimeout(() => kill(new SpeechError(`${command} did not finish within ${options.timeoutMs} ms`, 'timeout')), options.timeoutMs);
    const onAbort = () => kill(new SpeechError(`${command}: aborted`, 'aborted'));
    options.signal?.addEventListener('abort', onAbort, { once: true });
    child.stdout.on('data', (chunk: Buffer) => {
      outBytes += chunk.length;
      if (outBytes > options.maxStdoutBytes) return kill(new SpeechError(`${command} printed more than ${options.maxStdoutBytes} bytes`, 'engine_failed'));
      out.push(chunk);
    });
    child.stderr.on('data', (chunk: Buffer) => {
      if (err.length < 4096) err += chunk.toString('utf8');
    });
    child.stdin.on('error', () => undefined); // a tool that exits early closes its stdin: the exit code says what happened
    child.on('error', (e) => kill(new SpeechError(`cannot run ${command}: ${e.message}`, 'engine_failed')));
    child.on('close', (code, sig) => {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      if (failure) return reject(failure);
      if (code !== 0) return reject(new SpeechError(`${command} exited with ${code ?? sig}: ${err.trim().split('\n').slice(-3).join(' | ') || 'no message'}`, 'engine_failed'));
      resolve({ stdout: Buffer.concat(out), stderr: err });
    });
    if (options.stdin !== undefined) child.stdin.end(options.stdin);
    else child.stdin.end();
  });
}
