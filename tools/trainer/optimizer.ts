/**
 * AdamW (decoupled weight decay, Loshchilov & Hutter) with global gradient-norm clipping, over the
 * trainer's Float32Arrays. Element-wise work only — a few flops per weight per step, far below the
 * graph's matrix work — so it runs here in plain loops rather than as extra graph nodes.
 */
export interface AdamWOptions {
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** Clip the global gradient norm to this (0 = off). */
  clipNorm: number;
}

export const DEFAULT_ADAMW: AdamWOptions = { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, clipNorm: 1 };

export interface OptimizerState {
  step: number;
  m: Map<string, Float32Array>;
  v: Map<string, Float32Array>;
}

export class AdamW {
  readonly state: OptimizerState;

  constructor(
    readonly options: AdamWOptions,
    /** Names of the tensors to update, and whether weight decay applies (matrices yes, norm scales no). */
    readonly tensors: ReadonlyArray<{ name: string; size: number; decay: boolean }>,
    state?: OptimizerState,
  ) {
    this.state = state ?? {
      step: 0,
      m: new Map(tensors.map((t) => [t.name, new Float32Array(t.size)])),
      v: new Map(tensors.map((t) => [t.name, new Float32Array(t.size)])),
    };
  }

  /** Global L2 norm of the gradients. */
  static gradNorm(grads: ReadonlyMap<string, ArrayLike<number>>): number {
    let sum = 0;
    for (const g of grads.values()) for (let i = 0; i < g.length; i++) sum += g[i]! * g[i]!;
    return Math.sqrt(sum);
  }

  /** One update in place; returns the gradient norm before clipping. */
  update(params: Map<string, Float32Array>, grads: ReadonlyMap<string, ArrayLike<number>>, lr: number): number {
    const { beta1, beta2, eps, weightDecay, clipNorm } = this.options;
    const norm = AdamW.gradNorm(grads);
    const clip = clipNorm > 0 && norm > clipNorm ? clipNorm / norm : 1;
    const step = ++this.state.step;
    const correction1 = 1 - beta1 ** step;
    const correction2 = 1 - beta2 ** step;
    for (const { name, decay } of this.tensors) {
      const p = params.get(name)!;
      const g = grads.get(name)!;
      const m = this.state.m.get(name)!;
      const v = this.state.v.get(name)!;
      const shrink = decay ? 1 - lr * weightDecay : 1;
      const keep1 = beta1;
      const take1 = 1 - beta1;
      const keep2 = beta2;
      const take2 = 1 - beta2;
      const step1 = lr / correction1;
      const inverseCorrection2 = 1 / correction2;
      for (let i = 0; i < p.length; i++) {
        const gi = g[i]! * clip;
        const mi = (m[i] = keep1 * m[i]! + take1 * gi);
        const vi = (v[i] = keep2 * v[i]! + take2 * gi * gi);
        p[i] = p[i]! * shrink - (step1 * mi) / (Math.sqrt(vi * inverseCorrection2) + eps);
      }
    }
    return norm;
  }
}

/** Linear warmup to `peak`, then cosine decay to `floor` at `total` steps. */
export function learningRate(step: number, schedule: { peak: number; floor: number; warmup: number; total: number }): number {
  const { peak, floor, warmup, total } = schedule;
  if (step < warmup) return (peak * (step + 1)) / warmup;
  const progress = Math.min(1, (step - warmup) / Math.max(1, total - warmup));
  return floor + 0.5 * (peak - floor) * (1 + Math.cos(Math.PI * progress));
}
