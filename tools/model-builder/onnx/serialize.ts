/**
 * Writes a Graph as an ONNX model file with protobufjs and our .proto subset of the official schema.
 * Why a .proto file and not the `onnx-proto` npm package: that package ships code generated for protobufjs
 * 6 and is unmaintained; a schema file read by the installed protobufjs 8 is smaller and easy to audit.
 * Large initializers go to an external data file (Optimum/transformers.js naming: `model.onnx_data`), which
 * keeps the protobuf under its 2 GB limit and lets onnxruntime memory-map the weights.
 */
import { closeSync, openSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import { basename } from 'node:path';
import { onnxModelProto } from '../../../server/src/inference/model/onnx-proto.ts';
import type { AttributeValue, Dimension, Graph, Initializer, ValueInfo } from './graph-builder.ts';

/** Opset 17: every op used here exists there, and onnxruntime-web/transformers.js support it fully. */
export const OPSET_VERSION = 17;
/** IR version 8 is the one paired with opset 17. */
const IR_VERSION = 8;
/** Versions of the non-standard operator domains a graph may use (onnxruntime's contrib ops: version 1). */
const DOMAIN_VERSIONS: Record<string, number> = { 'com.microsoft': 1 };
/** Offsets aligned to pages so onnxruntime can memory-map each tensor. */
const EXTERNAL_ALIGNMENT = 4096;
/** Tensors smaller than this stay inline even in external-data mode (constants, norms). */
const EXTERNAL_MIN_BYTES = 1024;

const ModelProto = onnxModelProto();

enum AttributeType {
  FLOAT = 1,
  INT = 2,
  STRING = 3,
  FLOATS = 6,
  INTS = 7,
}

export interface SerializeOptions {
  /** Path of the .onnx file to write. */
  path: string;
  /** When set, large initializers are written to this file (beside `path`) instead of inline. */
  externalDataPath?: string;
  producerName: string;
  metadata?: Record<string, string>;
}

export function writeOnnxModel(graph: Graph, options: SerializeOptions): void {
  const external = options.externalDataPath ? new ExternalDataWriter(options.externalDataPath) : undefined;
  try {
    writeFileSync(options.path, encode(graph, options, external));
  } finally {
    external?.close();
  }
}

/** The model as bytes with every initializer inline (for graphs handed straight to a session, e.g. training steps). */
export function encodeOnnxModel(graph: Graph, options: Omit<SerializeOptions, 'path' | 'externalDataPath'>): Uint8Array {
  return encode(graph, options, undefined);
}

function encode(graph: Graph, options: Omit<SerializeOptions, 'path' | 'externalDataPath'>, external: ExternalDataWriter | undefined): Uint8Array {
  const domains = [...new Set(graph.nodes.flatMap((node) => (node.domain ? [node.domain] : [])))];
  const model = {
    ir_version: IR_VERSION,
    opset_import: [
      { domain: '', version: OPSET_VERSION },
      ...domains.map((domain) => {
        const version = DOMAIN_VERSIONS[domain];
        if (version === undefined) throw new Error(`No operator set version known for domain ${domain}.`);
        return { domain, version };
      }),
    ],
    producer_name: options.producerName,
    graph: {
      name: graph.name,
      input: graph.inputs.map(valueInfo),
      output: graph.outputs.map(valueInfo),
      initializer: graph.initializers.map((init) => tensorProto(init, external)),
      node: graph.nodes.map((node) => ({
        name: node.name,
        op_type: node.opType,
        ...(node.domain ? { domain: node.domain } : {}),
        input: node.inputs,
        output: node.outputs,
        attribute: Object.entries(node.attributes).map(([name, value]) => attributeProto(name, value)),
      })),
    },
    metadata_props: Object.entries(options.metadata ?? {}).map(([key, value]) => ({ key, value })),
  };
  return ModelProto.encode(ModelProto.fromObject(model)).finish();
}

function valueInfo(info: ValueInfo) {
  return {
    name: info.name,
    type: { tensor_type: { elem_type: info.elementType, shape: { dim: info.shape.map(dimension) } } },
  };
}

function dimension(dim: Dimension) {
  return typeof dim === 'number' ? { dim_value: dim } : { dim_param: dim };
}

function bytesOf(data: ArrayBufferView): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

function tensorProto(init: Initializer, external: ExternalDataWriter | undefined) {
  const base = { name: init.name, data_type: init.elementType, dims: init.dims };
  if (!external || init.data.byteLength < EXTERNAL_MIN_BYTES) return { ...base, raw_data: bytesOf(init.data) };
  const { offset, length } = external.append(bytesOf(init.data));
  return {
    ...base,
    data_location: 1,
    external_data: [
      { key: 'location', value: external.location },
      { key: 'offset', value: String(offset) },
      { key: 'length', value: String(length) },
    ],
  };
}

function attributeProto(name: string, value: AttributeValue) {
  if ('int' in value) return { name, type: AttributeType.INT, i: value.int };
  if ('float' in value) return { name, type: AttributeType.FLOAT, f: value.float };
  if ('ints' in value) return { name, type: AttributeType.INTS, ints: value.ints };
  if ('floats' in value) return { name, type: AttributeType.FLOATS, floats: value.floats };
  return { name, type: AttributeType.STRING, s: new TextEncoder().encode(value.string) };
}

/** Appends tensors to the external data file at aligned offsets. */
class ExternalDataWriter {
  readonly location: string;
  private readonly fd: number;
  private position = 0;

  constructor(path: string) {
    this.location = basename(path);
    this.fd = openSync(path, 'w');
  }

  append(bytes: Uint8Array): { offset: number; length: number } {
    const padding = (EXTERNAL_ALIGNMENT - (this.position % EXTERNAL_ALIGNMENT)) % EXTERNAL_ALIGNMENT;
    if (padding > 0) this.writeAll(new Uint8Array(padding));
    const offset = this.position + padding;
    this.writeAll(bytes);
    this.position = offset + bytes.byteLength;
    return { offset, length: bytes.byteLength };
  }

  private writeAll(bytes: Uint8Array): void {
    for (let written = 0; written < bytes.byteLength; ) {
      written += writeSync(this.fd, bytes, written, bytes.byteLength - written);
    }
  }

  close(): void {
    closeSync(this.fd);
  }
}
