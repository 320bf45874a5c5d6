/**
 * The two speech interfaces the rest of the server depends on. The Debian engines (espeak-ng, pocketsphinx)
 * are the defaults; a studio with a better engine implements one of these and selects it by configuration
 * (VOICE_TTS_ENGINE / VOICE_STT_ENGINE, resolved in engines.ts) — nothing else changes.
 */

/** Mono 16-bit audio. */
export interface Pcm {
  sampleRate: number;
  samples: Int16Array;
}

/** How an NPC sounds (script field `voice`, see script-schema.ts). Engines ignore what they cannot do. */
export interface VoiceSpec {
  /** Engine id (e.g. "espeak-ng"); a voice for another engine than the server's is spoken with its defaults. */
  engine: string;
  /** Engine voice name, e.g. espeak-ng "en-us", "en-gb-scotland", "en+m3". */
  name: string;
  /** 0–100, 50 = the voice's normal pitch. */
  pitch: number;
  /** Words per minute. */
  rate: number;
}

export interface SpeechSynthesizer {
  readonly id: string;
  /** Speaks `text`; resolves to 16 kHz mono PCM. Rejects (SpeechError) on failure, timeout or abort. */
  synthesize(text: string, voice: VoiceSpec, signal?: AbortSignal): Promise<Pcm>;
}

/**
 * Words and phrases to favour: the world's names, places, items and how players talk to NPCs. Engines
 * compile it to whatever they take (a language model, keyword list, hints).
 */
export interface RecognitionBias {
  /** Stable id of the bias (a hash of its content), so engines can cache what they compile. */
  id: string;
  /** Sentences players might say. */
  sentences: readonly string[];
  /** Further words that should stay recognisable though the sentences do not use them. */
  vocabulary?: readonly string[];
}

export interface Transcript {
  text: string;
  /** Seconds of audio heard. */
  audioSeconds: number;
  /** Wall-clock ms the recogniser took. */
  elapsedMs: number;
}

export interface SpeechRecognizer {
  readonly id: string;
  /** Transcribes 16 kHz mono PCM; '' when nothing was recognised. Rejects (SpeechError) on failure or timeout. */
  transcribe(audio: Pcm, options?: { bias?: RecognitionBias | undefined; signal?: AbortSignal }): Promise<Transcript>;
}

export class SpeechError extends Error {
  override name = 'SpeechError';
  constructor(
    message: string,
    readonly code: 'engine_failed' | 'timeout' | 'aborted' | 'bad_input',
  ) {
    super(message);
  }
}
