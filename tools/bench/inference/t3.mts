import { readFileSync } from 'node:fs';
import { deriveEngineGraph } from '../../../server/src/inference/engine/engine-graph.ts';
import { onnxModelProto } from '../../../server/src/inference/model/onnx-proto.ts';
const dir = process.argv[2]!; const L = Number(process.argv[3]);
const names = { pastKey: (l: number) => `past_key_values.${l}.key`, pastValue: (l: number) => `past_key_values.${l}.value`, presentKey: (l: number) => `present.${l}.key`, presentValue: (l: number) => `present.${l}.value`, logits: 'logits' };
const P = onnxModelProto();
const m = P.toObject(P.decode(deriveEngineGraph(`${dir}/onnx/model.onnx`, names, L, { maxPositions: 2048 })), { longs: Number, bytes: Uint8Array }) as any;
for (const n of m.graph.node) console.log(n.op_type.padEnd(14), n.input.map((x: string) => x.slice(-28)).join(', '), '->', n.output[0].slice(-30));
console.log('total', m.graph.node.length);
