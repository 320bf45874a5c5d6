/**
 * Checkpoints: everything a run needs to continue bit-identically — weights, optimizer moments and step,
 * the run's configuration and its loss history — in one directory, written to a temporary name and
 * renamed into place so a crash mid-write never leaves a torn checkpoint.
 *
 * Layout: state.json (config, step, tensor index) + tensors.bin (float32 arrays back to back).
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { OptimizerState } from './optimizer.ts';

export interface CheckpointData<Config> {
  config: Config;
  step: number;
  params: Map<string, Float32Array>;
  optimizer: OptimizerState;
  history: Array<Record<string, number>>;
}

interface TensorEntry {
  group: 'param' | 'm' | 'v';
  name: string;
  offset: number;
  length: number;
}

export function saveCheckpoint<Config>(dir: string, data: CheckpointData<Config>): void {
  const entries: TensorEntry[] = [];
  const arrays: Float32Array[] = [];
  let offset = 0;
  const add = (group: TensorEntry['group'], map: Map<string, Float32Array>) => {
    for (const [name, array] of map) {
      entries.push({ group, name, offset, length: array.length });
      arrays.push(array);
      offset += array.length;
    }
  };
  add('param', data.params);
  add('m', data.optimizer.m);
  add('v', data.optimizer.v);
  const blob = new Float32Array(offset);
  entries.forEach((e, i) => blob.set(arrays[i]!, e.offset));

  const temporary = `${dir}.writing`;
  rmSync(temporary, { recursive: true, force: true });
  mkdirSync(temporary, { recursive: true });
  writeFileSync(join(temporary, 'tensors.bin'), new Uint8Array(blob.buffer));
  writeFileSync(
    join(temporary, 'state.json'),
    `${JSON.stringify({ format: 'worldmind-checkpoint/1', step: data.step, optimizerStep: data.optimizer.step, config: data.config, tensors: entries, history: data.history }, null, 1)}\n`,
  );
  rmSync(dir, { recursive: true, force: true });
  renameSync(temporary, dir);
}

export function loadCheckpoint<Config>(dir: string): CheckpointData<Config> {
  const statePath = join(dir, 'state.json');
  if (!existsSync(statePath)) throw new Error(`${dir} is not a checkpoint (no state.json)`);
  const state = JSON.parse(readFileSync(statePath, 'utf8')) as { format: string; step: number; optimizerStep: number; config: Config; tensors: TensorEntry[]; history: Array<Record<string, number>> };
  if (state.format !== 'worldmind-checkpoint/1') throw new Error(`${statePath}: unknown checkpoint format ${state.format}`);
  const bytes = readFileSync(join(dir, 'tensors.bin'));
  const blob = new Float32Array(bytes.byteLength / 4);
  new Uint8Array(blob.buffer).set(bytes);
  const groups = { param: new Map<string, Float32Array>(), m: new Map<string, Float32Array>(), v: new Map<string, Float32Array>() };
  for (const e of state.tensors) groups[e.group].set(e.name, blob.slice(e.offset, e.offset + e.length));
  return { config: state.config, step: state.step, params: groups.param, optimizer: { step: state.optimizerStep, m: groups.m, v: groups.v }, history: state.history };
}
