/**
 * Voice, composed once per server (server.ts) and shared by every room: which engines run (configuration,
 * and whether they are installed — a missing one is named in one log line with the command that installs
 * it), the bounded queues that keep speech off the game thread, the world's recognition bias (rebuilt when
 * the NPC scripts change), and voice metrics.
 */
import { accessSync, constants, existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { VOICE_CHUNK_BYTES, VOICE_SAMPLE_RATE, type Landmark, type VoiceInfo } from '@worldmind/shared';
import { Counter, Histogram, type Registry } from 'prom-client';
import type { ServerConfig } from '../config.ts';
import type { NpcScript } from '../npc/script-schema.ts';
import type { Logger } from '../observability/logger.ts';
import { DEFAULT_VOICE, ESPEAK_ID, EspeakSynthesizer } from './espeak.ts';
import { POCKETSPHINX_ID, POCKETSPHINX_MODEL_DIR, PocketsphinxRecognizer } from './pocketsphinx.ts';
import { SpeechQueue } from './speech-queue.ts';
import type { Pcm, RecognitionBias, SpeechRecognizer, SpeechSynthesizer, Transcript, VoiceSpec } from './speech.ts';
import { SpokenReply, type SpokenOutcome } from './spoken-reply.ts';
import type { NpcVoice } from './voice-schema.ts';
import { worldBias } from './world-bias.ts';

/** The Debian packages each default engine needs: named in the start-up log line when one is missing. */
export const VOICE_PACKAGES = { [ESPEAK_ID]: ['espeak-ng'], [POCKETSPHINX_ID]: ['pocketsphinx', 'pocketsphinx-en-us'] } as const;

/** Transcriptions waiting for the recogniser before new push-to-talk lines are refused (busy). */
const STT_MAX_QUEUED = 4;
/** A transcription that could not start within this is refused: the player would rather repeat it. */
const STT_MAX_WAIT_MS = 10_000;

export interface EngineCheck {
  id: string;
  missing: string[];
}

function onPath(binary: string): boolean {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    try {
      accessSync(join(dir, binary), constants.X_OK);
      return true;
    } catch {
      // not in this folder
    }
  }
  return false;
}

/** What each default engine lacks on this machine ([] = ready). */
export function checkEngines(): { tts: EngineCheck; stt: EngineCheck } {
  const tts: EngineCheck = { id: ESPEAK_ID, missing: onPath('espeak-ng') ? [] : ['espeak-ng (the espeak-ng program)'] };
  const sttMissing: string[] = [];
  if (!onPath('pocketsphinx_batch')) sttMissing.push('pocketsphinx (the pocketsphinx_batch program)');
  if (!existsSync(join(POCKETSPHINX_MODEL_DIR, 'en-us', 'mdef')) || !existsSync(join(POCKETSPHINX_MODEL_DIR, 'cmudict-en-us.dict'))) sttMissing.push(`pocketsphinx-en-us (the model in ${POCKETSPHINX_MODEL_DIR})`);
  return { tts, stt: { id: POCKETSPHINX_ID, missing: sttMissing } };
}

export interface VoiceMetrics {
  sentences: Counter<'outcome'>;
  transcriptions: Counter<'outcome'>;
  firstAudio: Histogram;
}

function createVoiceMetrics(registry: Registry): VoiceMetrics {
  return {
    sentences: new Counter({ name: 'worldmind_voice_sentences_total', help: 'NPC reply sentences by outcome (spoken; dropped: the speech queue was full or late, so text-only; failed; cancelled)', labelNames: ['outcome'] as const, registers: [registry] }),
    transcriptions: new Counter({ name: 'worldmind_voice_transcriptions_total', help: 'Push-to-talk lines by outcome (heard, empty, silent, busy, failed)', labelNames: ['outcome'] as const, registers: [registry] }),
    firstAudio: new Histogram({ name: 'worldmind_voice_first_audio_seconds', help: 'From an NPC reply\'s first text to its first audio frame', buckets: [0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2], registers: [registry] }),
  };
}

export interface VoiceServiceOptions {
  config: Pick<ServerConfig, 'VOICE_ENABLED' | 'VOICE_TTS_ENGINE' | 'VOICE_STT_ENGINE' | 'VOICE_TTS_WORKERS' | 'VOICE_TTS_QUEUE' | 'VOICE_TTS_MAX_DELAY_MS' | 'VOICE_WORLD_BIAS'>;
  log: Logger;
  registry: Registry;
  /** The current NPC scripts (hot reload may change them) and the map's landmarks, for the bias. */
  scripts: () => readonly NpcScript[];
  landmarks: readonly Landmark[];
  /** Engines to use instead of the Debian defaults (tests, benchmarks, a studio's own engine). */
  synthesizer?: SpeechSynthesizer;
  recognizer?: SpeechRecognizer;
}

export class VoiceService {
  readonly synthesizer: SpeechSynthesizer | undefined;
  readonly recognizer: SpeechRecognizer | undefined;
  readonly speech: SpeechQueue;
  readonly hearing: SpeechQueue;
  readonly metrics: VoiceMetrics;
  #bias: { scripts: readonly NpcScript[]; bias: RecognitionBias } | undefined;

  constructor(private readonly options: VoiceServiceOptions, engines: { synthesizer?: SpeechSynthesizer | undefined; recognizer?: SpeechRecognizer | undefined }) {
    this.synthesizer = engines.synthesizer;
    this.recognizer = engines.recognizer;
    const { config } = options;
    this.speech = new SpeechQueue('speech synthesis', config.VOICE_TTS_WORKERS, config.VOICE_TTS_QUEUE, config.VOICE_TTS_MAX_DELAY_MS);
    this.hearing = new SpeechQueue('speech recognition', 1, STT_MAX_QUEUED, STT_MAX_WAIT_MS);
    this.metrics = createVoiceMetrics(options.registry);
  }

  /** The world's recognition bias for the current scripts (none when VOICE_WORLD_BIAS=false). */
  bias(): RecognitionBias | undefined {
    if (!this.options.config.VOICE_WORLD_BIAS) return undefined;
    const scripts = this.options.scripts();
    if (this.#bias?.scripts.length !== scripts.length || this.#bias.scripts.some((s, i) => s !== scripts[i])) {
      this.#bias = { scripts: [...scripts], bias: worldBias(scripts, this.options.landmarks) };
    }
    return this.#bias.bias;
  }

  /**
   * Compiles the recogniser's world bias now, not on the first spoken line (which would wait for it), and
   * logs what it holds. Failures are logged; recognition then compiles again on first use.
   */
  async warmUp(): Promise<void> {
    const bias = this.bias();
    if (!bias || !(this.recognizer instanceof PocketsphinxRecognizer)) return;
    const started = performance.now();
    try {
      const compiled = await this.recognizer.compile(bias);
      this.options.log.info(
        { sentences: bias.sentences.length, unpronounceable: compiled.unpronounceable, ms: Math.round(performance.now() - started), ...(this.recognizer.backgroundError ? { backgroundError: this.recognizer.backgroundError } : {}) },
        'voice: world bias compiled for the recogniser',
      );
    } catch (error) {
      this.options.log.warn({ err: error instanceof Error ? error.message : String(error) }, 'voice: could not compile the world bias; it is retried on the first spoken line');
    }
  }

  /** Starts speaking a reply, or undefined when this server does not synthesise speech. */
  speak(turn: { turnId: string; npcId: string; voice: NpcVoice | undefined; send: (frame: Uint8Array) => void }): SpokenReply | undefined {
    if (!this.synthesizer) return undefined;
    const voice: VoiceSpec = turn.voice ?? DEFAULT_VOICE;
    const reply = new SpokenReply({
      synthesizer: this.synthesizer,
      queue: this.speech,
      voice,
      turnId: turn.turnId,
      npcId: turn.npcId,
      send: turn.send,
      onSentence: (outcome: SpokenOutcome, error?: unknown) => {
        this.metrics.sentences.inc({ outcome });
        if (outcome === 'failed') this.options.log.warn({ npcId: turn.npcId, turnId: turn.turnId, err: error instanceof Error ? error.message : String(error) }, 'NPC speech synthesis failed; the rest of the reply is text-only');
      },
    });
    void reply.done.then(() => {
      if (!Number.isNaN(reply.firstAudioAt)) this.metrics.firstAudio.observe((reply.firstAudioAt - reply.firstTextAt) / 1000);
    });
    return reply;
  }

  /** Transcribes a push-to-talk line through the bounded recognition queue (SpeechQueueFull when busy). */
  transcribe(audio: Pcm, signal?: AbortSignal): Promise<Transcript> {
    const recognizer = this.recognizer;
    if (!recognizer) return Promise.reject(new Error('no speech recogniser on this server'));
    const bias = this.bias();
    return this.hearing.submit(() => recognizer.transcribe(audio, { bias, ...(signal ? { signal } : {}) }), signal);
  }

  close(): void {
    if (this.recognizer instanceof PocketsphinxRecognizer) this.recognizer.close();
  }
}

/**
 * Builds the voice service from configuration: undefined when VOICE_ENABLED=false. With it on, each
 * direction runs if its engine is installed; a missing engine is reported in one warning that names
 * the Debian packages to install. Returns undefined when neither engine can run.
 */
export function startVoice(options: VoiceServiceOptions): VoiceService | undefined {
  const { log, config } = options;
  if (!config.VOICE_ENABLED) {
    log.info('voice is off (VOICE_ENABLED=false): NPCs answer in text only and push-to-talk is refused');
    return undefined;
  }
  const found = checkEngines();
  // A direction configured 'none' needs nothing installed; a supplied engine replaces the default.
  const wantTts = config.VOICE_TTS_ENGINE !== 'none' && !options.synthesizer;
  const wantStt = config.VOICE_STT_ENGINE !== 'none' && !options.recognizer;
  const ttsMissing = wantTts ? found.tts.missing : [];
  const sttMissing = wantStt ? found.stt.missing : [];
  const synthesizer = options.synthesizer ?? (wantTts && ttsMissing.length === 0 ? new EspeakSynthesizer() : undefined);
  const recognizer = options.recognizer ?? (wantStt && sttMissing.length === 0 ? new PocketsphinxRecognizer({ espeakBinary: found.tts.missing.length === 0 ? 'espeak-ng' : null }) : undefined);
  const missing = [...ttsMissing, ...sttMissing];
  if (missing.length > 0) {
    const packages = [...(ttsMissing.length ? VOICE_PACKAGES[ESPEAK_ID] : []), ...(sttMissing.length ? VOICE_PACKAGES[POCKETSPHINX_ID] : [])];
    const off = [ttsMissing.length ? 'NPC replies stay text-only' : '', sttMissing.length ? 'push-to-talk is refused' : ''].filter(Boolean).join(' and ');
    log.warn({ missing, install: `apt-get install -y ${packages.join(' ')}` }, `voice: missing ${missing.join(', ')}, so ${off}; install with: apt-get install -y ${packages.join(' ')}`);
  }
  if (!synthesizer && !recognizer) return undefined;
  log.info({ tts: synthesizer?.id ?? null, stt: recognizer?.id ?? null, worldBias: config.VOICE_WORLD_BIAS }, 'voice ready');
  const service = new VoiceService(options, { synthesizer, recognizer });
  void service.warmUp();
  return service;
}

/** The welcome's `voice` block: what this server does and the push-to-talk limits clients must keep. */
export function voiceInfo(voice: VoiceService, config: Pick<ServerConfig, 'VOICE_MAX_TALK_SECONDS' | 'MAX_PAYLOAD_BYTES'>): VoiceInfo {
  // Room for the frame's own header (≤ 140 bytes) and Colyseus's (type name), under the payload limit.
  const chunkBytes = Math.max(2, Math.min(VOICE_CHUNK_BYTES, config.MAX_PAYLOAD_BYTES - 256)) & ~1;
  return { speaks: voice.synthesizer !== undefined, hears: voice.recognizer !== undefined, sampleRate: VOICE_SAMPLE_RATE, maxTalkSeconds: config.VOICE_MAX_TALK_SECONDS, chunkBytes };
}
