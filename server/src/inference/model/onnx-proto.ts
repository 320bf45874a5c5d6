/**
 * The ONNX protobuf schema (the subset of onnx.proto the project reads and writes), parsed once.
 * Part of the model-format contract: the builder writes models with it, the engine rewrites graphs
 * with it, the roofline benchmark builds MatMul-only graphs with it.
 */
import { readFileSync } from 'node:fs';
import protobuf from 'protobufjs';

let root: protobuf.Root | undefined;

export function onnxProtoRoot(): protobuf.Root {
  root ??= protobuf.parse(readFileSync(new URL('./onnx-subset.proto', import.meta.url), 'utf8'), { keepCase: true }).root;
  return root;
}

/** The `onnx.ModelProto` message type. */
export function onnxModelProto(): protobuf.Type {
  return onnxProtoRoot().lookupType('onnx.ModelProto');
}
