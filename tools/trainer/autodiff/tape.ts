/**
 * Reverse-mode differentiation of ONNX graphs, emitted as ONNX: a forward computation written against
 * this tape becomes one graph that outputs the loss *and* the gradient of every parameter, run by
 * onnxruntime's native kernels like any inference graph.
 *
 * Hand-written because onnxruntime-node ships no training API (onnxruntime-training is a separate
 * Python/C++ build) and no npm package derives ONNX backward graphs. It stays small by fixing every
 * shape at build time (one graph per batch shape): broadcasting gradients then reduce over axes known
 * in advance, and each op's rule is a few lines checked against finite differences in float64.
 */
import { ElementType, GraphBuilder, type Graph } from '../../model-builder/onnx/graph-builder.ts';

export type FloatType = 'float32' | 'float64';

export interface Tensor {
  readonly name: string;
  readonly shape: readonly number[];
  /** Integer tensors (ids, indices) carry no gradient. */
  readonly integer: boolean;
}

/** How a recorded op turns its output's gradient into its inputs' gradients. */
type Backward = (gradOut: Tensor) => (Tensor | null)[];

interface Recorded {
  inputs: Tensor[];
  output: Tensor;
  backward: Backward;
}

export class Tape {
  readonly g: GraphBuilder;
  readonly #elementType: ElementType;
  readonly #records: Recorded[] = [];
  readonly #params: Tensor[] = [];

  constructor(name: string, readonly floatType: FloatType = 'float32') {
    this.g = new GraphBuilder(name);
    this.#elementType = floatType === 'float64' ? ElementType.DOUBLE : ElementType.FLOAT;
  }

  // ---- graph inputs and constants -------------------------------------------------------------------

  /** A trainable graph input: the backward pass outputs `grad.<name>`. */
  param(name: string, shape: number[]): Tensor {
    this.g.input(name, this.#elementType, shape);
    const t: Tensor = { name, shape, integer: false };
    this.#params.push(t);
    this.#differentiable.add(name);
    return t;
  }

  /** A float graph input without a gradient (frozen weights, loss weights). */
  floatInput(name: string, shape: number[]): Tensor {
    this.g.input(name, this.#elementType, shape);
    return { name, shape, integer: false };
  }

  /** An int64 graph input (token ids, row indices). */
  intInput(name: string, shape: number[]): Tensor {
    this.g.input(name, ElementType.INT64, shape);
    return { name, shape, integer: true };
  }

  /** A float constant in the tape's float type. */
  constant(values: ArrayLike<number>, shape: number[]): Tensor {
    const data = this.floatType === 'float64' ? Float64Array.from(values) : Float32Array.from(values);
    const name = `const_f_${this.#constantCount++}`;
    this.g.initializer(name, this.#elementType, shape, data);
    return { name, shape, integer: false };
  }
  #constantCount = 0;

  scalar(value: number): Tensor {
    return this.constant([value], []);
  }

  // ---- differentiable ops ---------------------------------------------------------------------------

  matmul(a: Tensor, b: Tensor): Tensor {
    const shape = matmulShape(a.shape, b.shape);
    // Each rule emits only the gradients something needs: a constant operand (RoPE's rotation, the mask)
    // must not cost a backward MatMul or reduction.
    return this.#record('MatMul', [a, b], shape, {}, (dy) => [
      this.#needsGrad(a) ? this.#sumTo(this.matmul(dy, this.transposeLast(b)), a.shape) : null,
      this.#needsGrad(b) ? this.#sumTo(this.matmul(this.transposeLast(a), dy), b.shape) : null,
    ]);
  }

  add(a: Tensor, b: Tensor): Tensor {
    return this.#record('Add', [a, b], broadcastShape(a.shape, b.shape), {}, (dy) => [
      this.#needsGrad(a) ? this.#sumTo(dy, a.shape) : null,
      this.#needsGrad(b) ? this.#sumTo(dy, b.shape) : null,
    ]);
  }

  sub(a: Tensor, b: Tensor): Tensor {
    return this.#record('Sub', [a, b], broadcastShape(a.shape, b.shape), {}, (dy) => [
      this.#needsGrad(a) ? this.#sumTo(dy, a.shape) : null,
      this.#needsGrad(b) ? this.#sumTo(this.neg(dy), b.shape) : null,
    ]);
  }

  mul(a: Tensor, b: Tensor): Tensor {
    return this.#record('Mul', [a, b], broadcastShape(a.shape, b.shape), {}, (dy) => [
      this.#needsGrad(a) ? this.#sumTo(this.mul(dy, b), a.shape) : null,
      this.#needsGrad(b) ? this.#sumTo(this.mul(dy, a), b.shape) : null,
    ]);
  }

  neg(x: Tensor): Tensor {
    return this.#record('Neg', [x], x.shape, {}, (dy) => [this.neg(dy)]);
  }

  sigmoid(x: Tensor): Tensor {
    const y = this.#record('Sigmoid', [x], x.shape, {}, (dy) => [this.mul(dy, this.mul(y, this.sub(this.scalar(1), y)))]);
    return y;
  }

  /** x·sigmoid(x) as one recorded op: the backward reuses sigmoid(x) instead of rebuilding it. */
  silu(x: Tensor): Tensor {
    const s = this.#raw('Sigmoid', [x], x.shape);
    return this.#record('Mul', [x, s], x.shape, {}, (dy) => {
      // d/dx x·σ(x) = σ(x)·(1 + x·(1 − σ(x)))
      const oneMinus = this.#raw('Sub', [this.scalar(1), s], x.shape);
      const inner = this.#raw('Add', [this.scalar(1), this.#raw('Mul', [x, oneMinus], x.shape)], x.shape);
      return [this.#raw('Mul', [dy, this.#raw('Mul', [s, inner], x.shape)], x.shape), null];
    });
  }

  /** Softmax over the last axis. */
  softmax(x: Tensor): Tensor {
    const y = this.#record('Softmax', [x], x.shape, { axis: { int: -1 } }, (dy) => {
      const dot = this.#raw('ReduceSum', [this.#raw('Mul', [dy, y], x.shape), this.g.int64([-1])], [...x.shape.slice(0, -1), 1], { keepdims: { int: 1 } });
      return [this.#raw('Mul', [y, this.#raw('Sub', [dy, dot], x.shape)], x.shape)];
    });
    return y;
  }

  sqrt(x: Tensor): Tensor {
    const y = this.#record('Sqrt', [x], x.shape, {}, (dy) => [this.div(this.mul(dy, this.scalar(0.5)), y)]);
    return y;
  }

  div(a: Tensor, b: Tensor): Tensor {
    if (!this.#inBackward && this.#needsGrad(b)) throw new Error('tape: div only differentiates its numerator; use reciprocal');
    return this.#record('Div', [a, b], broadcastShape(a.shape, b.shape), {}, (dy) => [this.#sumTo(this.div(dy, b), a.shape), null]);
  }

  reciprocal(x: Tensor): Tensor {
    const y = this.#record('Reciprocal', [x], x.shape, {}, (dy) => [this.neg(this.mul(dy, this.mul(y, y)))]);
    return y;
  }

  /** Mean over the last axis, keeping it (size 1). */
  meanLast(x: Tensor): Tensor {
    const n = x.shape.at(-1)!;
    const shape = [...x.shape.slice(0, -1), 1];
    return this.#record('ReduceMean', [x], shape, { axes: { ints: [-1] }, keepdims: { int: 1 } }, (dy) => [
      this.#raw('Expand', [this.mul(dy, this.scalar(1 / n)), this.g.int64([...x.shape])], x.shape),
    ]);
  }

  reshape(x: Tensor, shape: number[]): Tensor {
    if (product(shape) !== product(x.shape)) throw new Error(`tape: cannot reshape [${x.shape}] to [${shape}]`);
    return this.#record('Reshape', [x, this.#intConst(shape)], shape, {}, (dy) => [this.reshape(dy, [...x.shape]), null]);
  }

  transpose(x: Tensor, perm: number[]): Tensor {
    const shape = perm.map((p) => x.shape[p]!);
    const inverse = new Array<number>(perm.length);
    perm.forEach((p, i) => (inverse[p] = i));
    return this.#record('Transpose', [x], shape, { perm: { ints: perm } }, (dy) => [this.transpose(dy, inverse)]);
  }

  transposeLast(x: Tensor): Tensor {
    const perm = x.shape.map((_, i) => i);
    const r = perm.length;
    [perm[r - 2], perm[r - 1]] = [perm[r - 1]!, perm[r - 2]!];
    return this.transpose(x, perm);
  }

  /** Rows of a 2-D table: table[ids] → [...ids.shape, cols]. The backward scatter-adds into the table. */
  gatherRows(table: Tensor, ids: Tensor): Tensor {
    if (table.shape.length !== 2 || !ids.integer) throw new Error('tape: gatherRows takes a 2-D float table and integer ids');
    const shape = [...ids.shape, table.shape[1]!];
    return this.#record('Gather', [table, ids], shape, { axis: { int: 0 } }, (dy) => {
      const count = product(ids.shape);
      const zeros = this.#zeros(table.shape);
      const indices = this.#raw('Reshape', [ids, this.g.int64([count, 1])], [count, 1]);
      const updates = this.#raw('Reshape', [dy, this.g.int64([count, table.shape[1]!])], [count, table.shape[1]!]);
      // ScatterND with reduction=add sums the rows of repeated ids (a token seen twice gets both gradients).
      return [this.#raw('ScatterND', [zeros, indices, updates], table.shape, { reduction: { string: 'add' } }), null];
    });
  }

  /**
   * Weighted cross-entropy of logits [N,V] against integer targets [N]: Σᵢ wᵢ·(logsumexp(zᵢ) − zᵢ[tᵢ]).
   * Weights carry the normalisation (e.g. 1/count on reply tokens, 0 on padding), so the result is the mean.
   */
  crossEntropy(logits: Tensor, targets: Tensor, weights: Tensor): Tensor {
    const [n, v] = logits.shape as [number, number];
    const logProbs = this.#raw('LogSoftmax', [logits], [n, v], { axis: { int: -1 } });
    const targetColumn = this.#raw('Unsqueeze', [targets, this.g.int64([1])], [n, 1]);
    const picked = this.#raw('Reshape', [this.#raw('GatherElements', [logProbs, targetColumn], [n, 1], { axis: { int: 1 } }), this.g.int64([n])], [n]);
    const weighted = this.#raw('Mul', [this.#raw('Neg', [picked], [n]), weights], [n]);
    return this.#record('ReduceSum', [logits, weighted], [], { keepdims: { int: 0 } }, (dy) => {
      // d/dz = (softmax(z) − onehot(t)) · w · dy; the one-hot is subtracted in place by a scatter-add
      // instead of being built as an [N,V] tensor (the logits are the largest activations in the graph).
      // Softmax rather than Exp(logProbs): onnxruntime runs Softmax multithreaded, Exp on one thread.
      const probs = this.#raw('Softmax', [logits], [n, v], { axis: { int: -1 } });
      const minusOne = this.#raw('Expand', [this.scalar(-1), this.g.int64([n, 1])], [n, 1]);
      const residual = this.#raw('ScatterElements', [probs, targetColumn, minusOne], [n, v], { axis: { int: 1 }, reduction: { string: 'add' } });
      const scale = this.#raw('Unsqueeze', [this.#raw('Mul', [weights, dy], [n]), this.g.int64([1])], [n, 1]);
      return [this.#raw('Mul', [residual, scale], [n, v]), null];
    }, [weighted]);
  }

  /** An op outside differentiation (masks, index plumbing): its output never carries a gradient. */
  plain(opType: string, inputs: (Tensor | string)[], shape: readonly number[], attributes: Parameters<GraphBuilder['op']>[2] = {}, integer = false): Tensor {
    const t = this.#raw(opType, inputs, shape, attributes);
    return integer ? { ...t, integer: true } : t;
  }

  // ---- outputs and the backward pass ------------------------------------------------------------------

  output(t: Tensor, name: string): void {
    this.g.op('Identity', [t.name], {}, name);
    this.g.output(name, t.integer ? ElementType.INT64 : (this.#elementType), [...t.shape]);
  }

  /** Emits the gradient of scalar `loss` with respect to every param as graph outputs `grad.<name>`. */
  backward(loss: Tensor): Map<string, string> {
    if (loss.shape.length !== 0) throw new Error('tape: backward needs a scalar loss');
    const grads = new Map<string, Tensor>([[loss.name, this.scalar(1)]]);
    // Ops emitted by the rules below are plain graph nodes: nothing differentiates the backward pass.
    this.#inBackward = true;
    for (let i = this.#records.length - 1; i >= 0; i--) {
      const record = this.#records[i]!;
      const gradOut = grads.get(record.output.name);
      if (!gradOut) continue;
      const inputGrads = record.backward(gradOut);
      record.inputs.forEach((input, k) => {
        const grad = inputGrads[k];
        if (!grad || !this.#needsGrad(input)) return;
        const existing = grads.get(input.name);
        grads.set(input.name, existing ? this.#raw('Add', [existing, grad], input.shape) : grad);
      });
    }
    const names = new Map<string, string>();
    for (const param of this.#params) {
      const grad = grads.get(param.name) ?? this.#zeros(param.shape);
      const name = `grad.${param.name}`;
      this.output(grad, name);
      names.set(param.name, name);
    }
    return names;
  }

  get params(): readonly Tensor[] {
    return this.#params;
  }

  build(): Graph {
    return this.g.build();
  }

  // ---- internals ----------------------------------------------------------------------------------

  #record(opType: string, inputs: Tensor[], shape: readonly number[], attributes: Parameters<GraphBuilder['op']>[2], backward: Backward, graphInputs?: Tensor[]): Tensor {
    const name = this.g.op(opType, (graphInputs ?? inputs).map((t) => t.name), attributes);
    const output: Tensor = { name, shape, integer: false };
    if (!this.#inBackward && inputs.some((t) => this.#needsGrad(t))) {
      this.#records.push({ inputs, output, backward });
      this.#differentiable.add(name);
    }
    return output;
  }
  #inBackward = false;
  readonly #differentiable = new Set<string>();

  /** An op with no gradient of its own (used inside backward rules and for integer plumbing). */
  #raw(opType: string, inputs: (Tensor | string)[], shape: readonly number[], attributes: Parameters<GraphBuilder['op']>[2] = {}): Tensor {
    const names = inputs.map((t) => (typeof t === 'string' ? t : t.name));
    return { name: this.g.op(opType, names, attributes), shape, integer: false };
  }

  #needsGrad(t: Tensor): boolean {
    return !t.integer && this.#differentiable.has(t.name);
  }

  #intConst(values: number[]): Tensor {
    return { name: this.g.int64(values), shape: [values.length], integer: true };
  }

  #zeros(shape: readonly number[]): Tensor {
    const value = this.floatType === 'float64' ? new Float64Array(1) : new Float32Array(1);
    const valueName = `zero_${this.floatType}`;
    if (!this.#zeroDeclared) {
      this.g.initializer(valueName, this.#elementType, [1], value);
      this.#zeroDeclared = true;
    }
    const name = this.g.op('Expand', [valueName, this.g.int64([...shape])]);
    return { name, shape, integer: false };
  }
  #zeroDeclared = false;

  /** Sums a broadcast gradient back to the shape of the operand it came from. */
  #sumTo(grad: Tensor, shape: readonly number[]): Tensor {
    if (sameShape(grad.shape, shape)) return grad;
    const lead = grad.shape.length - shape.length;
    const axes: number[] = [];
    grad.shape.forEach((d, i) => {
      if (i < lead || (shape[i - lead] === 1 && d !== 1)) axes.push(i);
    });
    let out = grad;
    if (axes.length) {
      const keptShape = grad.shape.map((d, i) => (axes.includes(i) ? 1 : d));
      out = this.#raw('ReduceSum', [grad, { name: this.g.int64(axes), shape: [axes.length], integer: true }], keptShape, { keepdims: { int: 1 } });
    }
    return this.#raw('Reshape', [out, { name: this.g.int64([...shape]), shape: [shape.length], integer: true }], [...shape]);
  }
}

export function product(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

function broadcastShape(a: readonly number[], b: readonly number[]): number[] {
  const rank = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    const da = a[a.length - rank + i] ?? 1;
    const db = b[b.length - rank + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) throw new Error(`tape: shapes [${a}] and [${b}] do not broadcast`);
    out.push(Math.max(da, db));
  }
  return out;
}

function matmulShape(a: readonly number[], b: readonly number[]): number[] {
  if (a.length < 2 || b.length < 2) throw new Error('tape: matmul operands need rank ≥ 2');
  if (a.at(-1) !== b.at(-2)) throw new Error(`tape: matmul [${a}] × [${b}] inner sizes differ`);
  const batch = broadcastShape(a.slice(0, -2), b.slice(0, -2));
  return [...batch, a.at(-2)!, b.at(-1)!];
}
