/**
 * LoRA adapters (Hu et al. 2021): W·x + (α/r)·B·A·x on the targeted projections, the base frozen.
 * A starts small and random, B at zero, so training starts from the base model exactly. Merging folds
 * the adapters into plain weights for serving; unmerged adapters are written in PEFT's layout
 * (adapter_config.json + adapter_model.safetensors) so Hugging Face tools can load them too.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';
import { uniformFloat64 } from 'pure-rand/distribution/uniformFloat64';
import type { LlamaArchitecture } from '../model-builder/architecture.ts';
import { loraParamSpecs, paramNames, type LoraConfig } from './llama-train-graph.ts';
import { transpose, type Params } from './model-weights.ts';

export function initLoraParams(arch: LlamaArchitecture, lora: LoraConfig, seed: number): Params {
  const rng = xoroshiro128plus(seed);
  const out: Params = new Map();
  for (const spec of loraParamSpecs(arch, lora)) {
    const size = spec.shape[0]! * spec.shape[1]!;
    if (spec.name.endsWith('lora_A')) {
      // Kaiming-uniform bound for fan_in = in_features, as PEFT initialises A.
      const bound = 1 / Math.sqrt(spec.shape[0]!);
      out.set(spec.name, Float32Array.from({ length: size }, () => (uniformFloat64(rng) * 2 - 1) * bound));
    } else {
      out.set(spec.name, new Float32Array(size));
    }
  }
  return out;
}

/** Base weights with the adapters folded in: W_t + (α/r)·A·B for every targeted projection. */
export function mergeLora(arch: LlamaArchitecture, lora: LoraConfig, base: Params, adapters: Params): Params {
  const merged: Params = new Map([...base].map(([k, v]) => [k, Float32Array.from(v)]));
  const scale = lora.alpha / lora.rank;
  for (let layer = 0; layer < arch.numLayers; layer++) {
    for (const p of lora.targets) {
      const w = merged.get(paramNames.linear(layer, p))!;
      const a = adapters.get(paramNames.loraA(layer, p))!; // [in, r]
      const b = adapters.get(paramNames.loraB(layer, p))!; // [r, out]
      const r = lora.rank;
      const inF = a.length / r;
      const outF = b.length / r;
      // One small product per projection, once per run (not per step): plain loops are enough.
      for (let i = 0; i < inF; i++) {
        for (let k = 0; k < r; k++) {
          const aik = a[i * r + k]! * scale;
          if (aik === 0) continue;
          const row = i * outF;
          const bRow = k * outF;
          for (let j = 0; j < outF; j++) w[row + j] = w[row + j]! + aik * b[bRow + j]!;
        }
      }
    }
  }
  return merged;
}

/** Writes the adapters as a PEFT LoRA adapter directory. */
export function writePeftAdapter(dir: string, arch: LlamaArchitecture, lora: LoraConfig, adapters: Params, baseModel: string): void {
  mkdirSync(dir, { recursive: true });
  const tensors: Array<{ name: string; shape: number[]; data: Float32Array }> = [];
  for (let layer = 0; layer < arch.numLayers; layer++) {
    for (const p of lora.targets) {
      const module = paramNames.linear(layer, p).replace(/\.weight_t$/, '');
      const a = adapters.get(paramNames.loraA(layer, p))!; // ours [in, r] → PEFT [r, in]
      const b = adapters.get(paramNames.loraB(layer, p))!; // ours [r, out] → PEFT [out, r]
      const inF = a.length / lora.rank;
      const outF = b.length / lora.rank;
      tensors.push({ name: `base_model.model.${module}.lora_A.weight`, shape: [lora.rank, inF], data: transpose(a, inF, lora.rank) });
      tensors.push({ name: `base_model.model.${module}.lora_B.weight`, shape: [outF, lora.rank], data: transpose(b, lora.rank, outF) });
    }
  }
  writeFileSync(join(dir, 'adapter_model.safetensors'), safetensors(tensors));
  writeFileSync(
    join(dir, 'adapter_config.json'),
    `${JSON.stringify({ peft_type: 'LORA', task_type: 'CAUSAL_LM', r: lora.rank, lora_alpha: lora.alpha, target_modules: [...lora.targets], lora_dropout: 0, bias: 'none', base_model_name_or_path: baseModel }, null, 2)}\n`,
  );
}

/** safetensors: an 8-byte header length, a JSON header, then the raw little-endian tensors. */
function safetensors(tensors: Array<{ name: string; shape: number[]; data: Float32Array }>): Uint8Array {
  const header: Record<string, unknown> = {};
  let offset = 0;
  for (const t of tensors) {
    header[t.name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const headerBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + headerBytes.byteLength + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.byteLength), true);
  out.set(headerBytes, 8);
  let position = 8 + headerBytes.byteLength;
  for (const t of tensors) {
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), position);
    position += t.data.byteLength;
  }
  return out;
}
