/**
 * A small in-memory ONNX graph under construction: inputs, outputs, initializers and nodes with generated
 * intermediate names. It knows nothing about protobuf; serialize.ts turns it into a ModelProto.
 */

/** TensorProto.DataType values the builder uses. */
export const ElementType = { FLOAT: 1, UINT8: 2, INT8: 3, INT64: 7, BOOL: 9, FLOAT16: 10, DOUBLE: 11 } as const;
export type ElementType = (typeof ElementType)[keyof typeof ElementType];

export type Dimension = number | string;

export type AttributeValue =
  | { int: number }
  | { float: number }
  | { ints: number[] }
  | { floats: number[] }
  | { string: string };

export interface ValueInfo {
  name: string;
  elementType: ElementType;
  shape: Dimension[];
}

export interface Initializer {
  name: string;
  elementType: ElementType;
  dims: number[];
  /** Little-endian raw bytes (typed arrays on little-endian hosts, which is every host onnxruntime runs on). */
  data: ArrayBufferView;
}

export interface GraphNode {
  opType: string;
  /** Operator set domain; absent for standard ONNX ops, e.g. `com.microsoft` for onnxruntime's contrib ops. */
  domain?: string;
  name: string;
  inputs: string[];
  outputs: string[];
  attributes: Record<string, AttributeValue>;
}

export interface Graph {
  name: string;
  inputs: ValueInfo[];
  outputs: ValueInfo[];
  initializers: Initializer[];
  nodes: GraphNode[];
}

export class GraphBuilder {
  private readonly graph: Graph;
  private readonly constants = new Map<string, string>();
  private nextId = 0;

  constructor(name: string) {
    this.graph = { name, inputs: [], outputs: [], initializers: [], nodes: [] };
  }

  input(name: string, elementType: ElementType, shape: Dimension[]): string {
    this.graph.inputs.push({ name, elementType, shape });
    return name;
  }

  output(name: string, elementType: ElementType, shape: Dimension[]): string {
    this.graph.outputs.push({ name, elementType, shape });
    return name;
  }

  initializer(name: string, elementType: ElementType, dims: number[], data: ArrayBufferView): string {
    this.graph.initializers.push({ name, elementType, dims, data });
    return name;
  }

  /** A shared int64 constant (shapes, axes, indices); `dims` [] makes a scalar. */
  int64(values: number[], dims: number[] = [values.length]): string {
    return this.constant('i64', ElementType.INT64, dims, BigInt64Array.from(values, (v) => BigInt(v)), values);
  }

  /** A shared float32 constant; `dims` [] makes a scalar. */
  float(values: number[], dims: number[] = [values.length]): string {
    return this.constant('f32', ElementType.FLOAT, dims, Float32Array.from(values), values);
  }

  /** Adds a node with one output; returns the output's name (given, or generated from the op type). */
  op(opType: string, inputs: string[], attributes: Record<string, AttributeValue> = {}, outputName?: string): string {
    return this.opWithOutputs(opType, inputs, 1, attributes, outputName ? [outputName] : undefined)[0]!;
  }

  opWithOutputs(
    opType: string,
    inputs: string[],
    outputCount: number,
    attributes: Record<string, AttributeValue> = {},
    outputNames?: string[],
  ): string[] {
    const id = this.nextId++;
    const outputs = outputNames ?? Array.from({ length: outputCount }, (_, i) => `/${opType.toLowerCase()}_${id}/out${i}`);
    this.graph.nodes.push({ opType, name: `${opType}_${id}`, inputs, outputs, attributes });
    return outputs;
  }

  build(): Graph {
    return this.graph;
  }

  private constant(kind: string, type: ElementType, dims: number[], data: ArrayBufferView, values: number[]): string {
    const key = `${kind}:${dims.join('x')}:${values.join(',')}`;
    const existing = this.constants.get(key);
    if (existing) return existing;
    const name = `const_${this.constants.size}`;
    this.constants.set(key, name);
    this.initializer(name, type, dims, data);
    return name;
  }
}
