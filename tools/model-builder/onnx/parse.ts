/**
 * Reads an ONNX model file back into the builder's Graph (the inverse of serialize.ts), with every
 * initializer's bytes in memory: external data (`location`/`offset`/`length`) is read from beside the model.
 * Covers what the builder writes — tensors as raw_data, the attribute kinds graph-builder.ts knows — and
 * refuses anything else by name rather than dropping it. For tools that rewrite a built model (tools/quantize).
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { onnxModelProto } from '../../../server/src/inference/model/onnx-proto.ts';
import type { AttributeValue, Dimension, ElementType, Graph, GraphNode, Initializer, ValueInfo } from './graph-builder.ts';

export interface ParsedModel {
  graph: Graph;
  producerName: string;
  metadata: Record<string, string>;
}

interface TensorObject {
  name: string;
  data_type: number;
  dims?: number[];
  raw_data?: Uint8Array;
  data_location?: number;
  external_data?: Array<{ key: string; value: string }>;
}

interface AttributeObject {
  name: string;
  type: number;
  f?: number;
  i?: number;
  s?: Uint8Array;
  floats?: number[];
  ints?: number[];
}

interface ValueInfoObject {
  name: string;
  type?: { tensor_type?: { elem_type: number; shape?: { dim?: Array<{ dim_value?: number; dim_param?: string }> } } };
}

interface ModelObject {
  producer_name?: string;
  metadata_props?: Array<{ key: string; value: string }>;
  graph: {
    name?: string;
    node?: Array<{ name?: string; op_type: string; domain?: string; input?: string[]; output?: string[]; attribute?: AttributeObject[] }>;
    initializer?: TensorObject[];
    input?: ValueInfoObject[];
    output?: ValueInfoObject[];
  };
}

export function readOnnxModel(path: string): ParsedModel {
  const ModelProto = onnxModelProto();
  const model = ModelProto.toObject(ModelProto.decode(readFileSync(path)), { longs: Number, bytes: Uint8Array, defaults: false }) as ModelObject;
  const externalFiles = new Map<string, Buffer>();
  const externalBytes = (location: string): Buffer => {
    let file = externalFiles.get(location);
    if (!file) {
      file = readFileSync(join(dirname(path), location));
      externalFiles.set(location, file);
    }
    return file;
  };
  const graph: Graph = {
    name: model.graph.name ?? 'graph',
    inputs: (model.graph.input ?? []).map(valueInfo),
    outputs: (model.graph.output ?? []).map(valueInfo),
    initializers: (model.graph.initializer ?? []).map((tensor) => initializer(tensor, externalBytes, path)),
    nodes: (model.graph.node ?? []).map((node, index) => {
      const parsed: GraphNode = {
        opType: node.op_type,
        name: node.name ?? `${node.op_type}_${index}`,
        inputs: node.input ?? [],
        outputs: node.output ?? [],
        attributes: Object.fromEntries((node.attribute ?? []).map((a) => [a.name, attribute(a, node.op_type)])),
      };
      if (node.domain) parsed.domain = node.domain;
      return parsed;
    }),
  };
  return {
    graph,
    producerName: model.producer_name ?? '',
    metadata: Object.fromEntries((model.metadata_props ?? []).map(({ key, value }) => [key, value])),
  };
}

function valueInfo(info: ValueInfoObject): ValueInfo {
  const tensor = info.type?.tensor_type;
  if (!tensor) throw new Error(`ONNX value ${info.name} is not a tensor.`);
  const shape: Dimension[] = (tensor.shape?.dim ?? []).map((d) => d.dim_param ?? Number(d.dim_value ?? 0));
  return { name: info.name, elementType: tensor.elem_type as ElementType, shape };
}

function initializer(tensor: TensorObject, externalBytes: (location: string) => Buffer, path: string): Initializer {
  const dims = (tensor.dims ?? []).map(Number);
  let bytes: Uint8Array;
  if (tensor.data_location === 1) {
    const entry = (key: string) => tensor.external_data?.find((e) => e.key === key)?.value;
    const location = entry('location');
    if (!location) throw new Error(`${path}: initializer ${tensor.name} is external but names no location.`);
    const file = externalBytes(location);
    const offset = Number(entry('offset') ?? 0);
    const length = Number(entry('length') ?? file.byteLength - offset);
    // A copy: the caller may keep it after the file buffer is gone, and typed views need aligned offsets.
    bytes = new Uint8Array(file.subarray(offset, offset + length));
  } else if (tensor.raw_data) {
    bytes = new Uint8Array(tensor.raw_data);
  } else {
    throw new Error(`${path}: initializer ${tensor.name} stores its values in a typed field, not raw_data (not written by the model builder).`);
  }
  return { name: tensor.name, elementType: tensor.data_type as ElementType, dims, data: bytes };
}

function attribute(a: AttributeObject, opType: string): AttributeValue {
  switch (a.type) {
    case 1:
      return { float: a.f ?? 0 };
    case 2:
      return { int: Number(a.i ?? 0) };
    case 3:
      return { string: new TextDecoder().decode(a.s ?? new Uint8Array()) };
    case 6:
      return { floats: a.floats ?? [] };
    case 7:
      return { ints: (a.ints ?? []).map(Number) };
    default:
      throw new Error(`${opType} attribute ${a.name} has a kind (${a.type}) the model builder does not handle.`);
  }
}

/** The initializer's values as a Float32Array (it must be FLOAT). */
export function floatValues(init: Initializer): Float32Array {
  if (init.elementType !== 1) throw new Error(`initializer ${init.name} is not float32`);
  const bytes = new Uint8Array(init.data.buffer, init.data.byteOffset, init.data.byteLength);
  return new Float32Array(bytes.slice().buffer);
}
