import { profileDecodeStep } from './step-profile.ts';
import { renderProfile } from '../ort-profile.ts';
const p = await profileDecodeStep(process.argv[2]!, { rows: 32, columns: 271 }, { threads: 2, runs: 10 });
console.log(renderProfile('decode step', p));
