/**
 * npm run quantize -- --model <fp32 dir> --out <int8 dir> [--method dynamic|matmul-nbits] [--lm-head int8|fp32]
 *                     [--block-size 32] [--accuracy-level 4]
 *
 * Writes the int8 variant of a model directory (see quantize-model.ts); serve it with MODEL_DIR=<int8 dir>.
 */
import { parseCliArgs } from '../../server/src/cli-args.ts';
import { QUANTIZATION_METHODS, QuantizeError, quantizeModelDirectory, type QuantizationMethod } from './quantize-model.ts';

const USAGE = `usage: npm run quantize -- --model <dir> --out <dir> [--method ${QUANTIZATION_METHODS.join('|')}] [--lm-head int8|fp32]
                            [--block-size 32] [--accuracy-level 4]

Writes the int8 variant of an fp32 model directory: every linear layer (MatMul/Gemm with a constant weight)
runs on int8 weights in onnxruntime's native kernels; config.json records how (worldmind.quantization).
Serve it like any model: MODEL_DIR=<out dir>.

  --model <dir>           the fp32 model directory (Hugging Face/Optimum layout)
  --out <dir>             the directory to write (replaced)
  --method <m>            dynamic (default, the faster here): com.microsoft.DynamicQuantizeMatMul, a scale per
                          output column, activations quantised per tensor at run time
                          matmul-nbits: com.microsoft.MatMulNBits, bits 8, a scale per block of inputs
  --lm-head int8|fp32     quantise the LM head too (default int8)
  --block-size N          matmul-nbits: inputs per scale, a power of two >= 16 (default 32)
  --accuracy-level N      matmul-nbits: 4 = int8 compute (default), 0 = fp32 compute on dequantised weights
`;

const { values } = parseCliArgs('quantize', USAGE, {
  options: {
    model: { type: 'string' },
    out: { type: 'string' },
    method: { type: 'string', default: 'dynamic' },
    'lm-head': { type: 'string', default: 'int8' },
    'block-size': { type: 'string', default: '32' },
    'accuracy-level': { type: 'string', default: '4' },
  },
});

function usage(problem: string): never {
  console.error(`quantize: ${problem}`);
  console.error(USAGE);
  process.exit(2);
}

if (!values.model) usage('--model <dir> is required');
if (!values.out) usage('--out <dir> is required');
if (!(QUANTIZATION_METHODS as readonly string[]).includes(values.method!)) usage(`--method must be ${QUANTIZATION_METHODS.join(' or ')}, got "${values.method}"`);
if (values['lm-head'] !== 'int8' && values['lm-head'] !== 'fp32') usage(`--lm-head must be int8 or fp32, got "${values['lm-head']}"`);
const blockSize = Number(values['block-size']);
const accuracyLevel = Number(values['accuracy-level']);
if (![0, 1, 2, 3, 4].includes(accuracyLevel)) usage(`--accuracy-level must be 0-4, got "${values['accuracy-level']}"`);

const started = performance.now();
try {
  const q = quantizeModelDirectory({
    modelDir: values.model,
    outDir: values.out,
    method: values.method as QuantizationMethod,
    lmHead: values['lm-head'] === 'int8',
    blockSize,
    accuracyLevel: accuracyLevel as 0 | 1 | 2 | 3 | 4,
  });
  const mb = (bytes: number) => (bytes / 1e6).toFixed(1);
  console.log(
    `quantised ${q.record.quantized_matmuls} linear layers of ${values.model} (${q.record.op}, LM head ${q.record.lm_head}; ` +
      `weights ${mb(q.sourceBytes)} MB → ${mb(q.bytes)} MB) into ${q.dir} in ${((performance.now() - started) / 1000).toFixed(1)}s`,
  );
} catch (error) {
  if (!(error instanceof QuantizeError)) throw error;
  console.error(`quantize: ${error.message}`);
  process.exit(1);
}
