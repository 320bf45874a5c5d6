/**
 * The KV cache as the graph exchanges it: one key and one value tensor per layer, each
 * [batch, kvHeads, length, headDim] in the graph's KV dtype. A step's `present` outputs are the next step's
 * `past` inputs as-is — no copy, no conversion.
 */
import { Tensor } from 'onnxruntime-node';
import type { KvDtype } from './session-io.ts';

export interface KvCache {
  batchSize: number;
  /** Sequence slots held (P); the attention mask of the next step covers P + new tokens. */
  length: number;
  keys: Tensor[];
  values: Tensor[];
}

export interface KvGeometry {
  layers: number;
  kvHeads: number;
  headDim: number;
  dtype: KvDtype;
}

export function emptyKvCache(geometry: KvGeometry, batchSize: number): KvCache {
  const empty = () =>
    geometry.dtype === 'float16'
      ? new Tensor('float16', new Uint16Array(0), [batchSize, geometry.kvHeads, 0, geometry.headDim])
      : new Tensor('float32', new Float32Array(0), [batchSize, geometry.kvHeads, 0, geometry.headDim]);
  return {
    batchSize,
    length: 0,
    keys: Array.from({ length: geometry.layers }, empty),
    values: Array.from({ length: geometry.layers }, empty),
  };
}
