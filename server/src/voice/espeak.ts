/**
 * espeak-ng (Debian `espeak-ng`) as the default SpeechSynthesizer: one short-lived process per sentence,
 * text on stdin (never on the command line, so no text is ever parsed as an option), a WAV on stdout at
 * its native 22.05 kHz, resampled to the wire's 16 kHz.
 */
import { VOICE_SAMPLE_RATE } from '@worldmind/shared';
import { parseWav, resample } from './audio.ts';
import { runTool } from './process.ts';
import { SpeechError, type Pcm, type SpeechSynthesizer, type VoiceSpec } from './speech.ts';

export const ESPEAK_ID = 'espeak-ng';
/** A sentence that takes longer than this to synthesise is dropped (the NPC stays text-only for it). */
const SYNTH_TIMEOUT_MS = 10_000;
/** Longest text handed to one process: a sentence; longer input is cut by the caller (voice-stream.ts). */
export const MAX_SENTENCE_CHARS = 400;

export const DEFAULT_VOICE: VoiceSpec = { engine: ESPEAK_ID, name: 'en-us', pitch: 50, rate: 165 };

export class EspeakSynthesizer implements SpeechSynthesizer {
  readonly id = ESPEAK_ID;

  constructor(private readonly binary = 'espeak-ng') {}

  async synthesize(text: string, voice: VoiceSpec, signal?: AbortSignal): Promise<Pcm> {
    const line = text.replace(/\s+/g, ' ').trim().slice(0, MAX_SENTENCE_CHARS);
    if (!line) throw new SpeechError('nothing to say', 'bad_input');
    // A voice declared for another engine still speaks, with this engine's defaults.
    const v = voice.engine === ESPEAK_ID ? voice : DEFAULT_VOICE;
    const args = ['--stdin', '--stdout', '-v', v.name, '-p', String(Math.round(v.pitch)), '-s', String(Math.round(v.rate))];
    const { stdout } = await runTool(this.binary, args, { stdin: line, timeoutMs: SYNTH_TIMEOUT_MS, signal, maxStdoutBytes: 64 * 1024 * 1024 });
    return resample(parseWav(stdout), VOICE_SAMPLE_RATE);
  }
}
