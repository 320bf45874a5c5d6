/**
 * What the decoder graph itself says about its inputs and outputs: names, KV dtype and geometry, logits
 * width. Read from the session's metadata rather than assumed, because exports differ (fp16 KV, no
 * position_ids, merged decoders with a use_cache_branch flag).
 */
import type { InferenceSession } from 'onnxruntime-node';
import { ModelLoadError } from './errors.ts';
import type { GraphIoNames } from './format.ts';

export type KvDtype = 'float32' | 'float16';

export interface LayerCacheNames {
  pastKey: string;
  pastValue: string;
  presentKey: string;
  presentValue: string;
}

export interface DecoderIo {
  inputIds: string;
  attentionMask: string;
  /** Absent when the graph derives positions itself. */
  positionIds?: string;
  /** Optimum's merged decoders take a bool flag choosing the with-past branch. */
  useCacheBranch?: string;
  logits: string;
  logitsDtype: KvDtype;
  layers: LayerCacheNames[];
  kvDtype: KvDtype;
  kvHeads: number;
  headDim: number;
  /** Logits width when the graph states it statically. */
  logitsWidth?: number;
}

export interface GeometryHints {
  kvHeads?: number;
  headDim?: number;
}

type TensorMeta = InferenceSession.ValueMetadata & { isTensor: true };

export function describeDecoderIo(
  session: InferenceSession,
  names: GraphIoNames,
  hints: GeometryHints,
  modelPath: string,
): DecoderIo {
  const inputs = metadataByName(session.inputMetadata);
  const outputs = metadataByName(session.outputMetadata);
  const unsupported = (what: string) => new ModelLoadError('unsupported-graph', `ONNX model ${modelPath} ${what}.`);

  for (const required of [names.inputIds, names.attentionMask]) {
    if (!inputs.has(required)) throw unsupported(`has no ${required} input`);
  }
  const logits = outputs.get(names.logits);
  if (!logits) throw unsupported(`has no ${names.logits} output`);

  const layers: LayerCacheNames[] = [];
  while (inputs.has(names.pastKey(layers.length))) {
    const layer = layers.length;
    const cache: LayerCacheNames = {
      pastKey: names.pastKey(layer),
      pastValue: names.pastValue(layer),
      presentKey: names.presentKey(layer),
      presentValue: names.presentValue(layer),
    };
    if (!inputs.has(cache.pastValue)) throw unsupported(`has ${cache.pastKey} but no ${cache.pastValue} input`);
    for (const output of [cache.presentKey, cache.presentValue]) {
      if (!outputs.has(output)) throw unsupported(`has no ${output} output for its KV cache`);
    }
    layers.push(cache);
  }
  if (layers.length === 0) {
    throw unsupported(
      `has no ${names.pastKey(0)} input, so it has no KV cache (export the decoder "with past", e.g. Optimum's text-generation-with-past task)`,
    );
  }

  const positionIds = inputs.has(names.positionIds) ? names.positionIds : undefined;
  const useCacheBranch = inputs.has('use_cache_branch') ? 'use_cache_branch' : undefined;
  const known = new Set<string>([names.inputIds, names.attentionMask, ...layers.flatMap((l) => [l.pastKey, l.pastValue])]);
  if (positionIds) known.add(positionIds);
  if (useCacheBranch) known.add(useCacheBranch);
  const unknown = [...inputs.keys()].filter((name) => !known.has(name));
  if (unknown.length > 0) throw unsupported(`expects input ${unknown.join(', ')}, which Worldmind does not know how to feed`);

  const firstPast = inputs.get(layers[0]!.pastKey)!;
  const kvDtype = supportedFloat(firstPast.type, `uses ${firstPast.type} for its KV cache`, unsupported);
  for (const layer of layers) {
    for (const name of [layer.pastKey, layer.pastValue, layer.presentKey, layer.presentValue]) {
      const meta = inputs.get(name) ?? outputs.get(name)!;
      if (meta.type !== firstPast.type) throw unsupported(`mixes KV cache dtypes (${name} is ${meta.type}, not ${firstPast.type})`);
    }
  }
  const kvHeads = staticDim(firstPast.shape[1]) ?? hints.kvHeads;
  const headDim = staticDim(firstPast.shape[3]) ?? hints.headDim;
  if (kvHeads === undefined || headDim === undefined) {
    throw unsupported(`leaves the KV cache's head count or head size symbolic and the config does not state them`);
  }

  return {
    inputIds: names.inputIds,
    attentionMask: names.attentionMask,
    ...(positionIds ? { positionIds } : {}),
    ...(useCacheBranch ? { useCacheBranch } : {}),
    logits: names.logits,
    logitsDtype: supportedFloat(logits.type, `produces ${logits.type} logits`, unsupported),
    layers,
    kvDtype,
    kvHeads,
    headDim,
    ...(staticDim(logits.shape[2]) !== undefined ? { logitsWidth: staticDim(logits.shape[2])! } : {}),
  };
}

function metadataByName(list: readonly InferenceSession.ValueMetadata[]): Map<string, TensorMeta> {
  const map = new Map<string, TensorMeta>();
  for (const meta of list) if (meta.isTensor) map.set(meta.name, meta);
  return map;
}

function staticDim(dim: number | string | undefined): number | undefined {
  return typeof dim === 'number' && dim > 0 ? dim : undefined;
}

function supportedFloat(type: string, what: string, unsupported: (what: string) => ModelLoadError): KvDtype {
  if (type === 'float32' || type === 'float16') return type;
  throw unsupported(`${what}; only float32 and float16 are supported`);
}
