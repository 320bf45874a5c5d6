/**
 * Push-to-talk on the room's side: assembles a player's talk_voice chunks into one utterance (in order,
 * bounded in size and time), refuses malformed, oversize and silent audio with a clear error, transcribes
 * it through the voice service's bounded queue, and hands the transcript to the room's ordinary talk
 * path (limits, moderation, memory, turn log) — a spoken line is a typed line that was heard. Range, busy and
 * the talk rate are checked before transcribing (a refused line costs no recogniser time).
 */
import { decodeTalkVoiceChunk, ErrorCode, Limits, pcmToSamples, VOICE_SAMPLE_RATE, VoiceWireError, type ErrorCodeValue } from '@worldmind/shared';
import type { Logger } from '../observability/logger.ts';
import { durationSeconds, peakLevelDb } from './audio.ts';
import { SpeechQueueFull } from './speech-queue.ts';
import type { VoiceService } from './voice-service.ts';

/** Audio whose loudest 50 ms stays below this (dBFS) is silence: nothing to transcribe. */
const SILENCE_DB = -50;
/** Shortest utterance worth transcribing (s). */
const MIN_SECONDS = 0.2;
/** An upload not finished this long after its first chunk (beyond its own length) is abandoned. */
const UPLOAD_SLACK_MS = 5_000;

interface Upload {
  ref: string;
  npcId: string;
  nextSeq: number;
  bytes: number;
  chunks: Uint8Array[];
  timer: ReturnType<typeof setTimeout>;
}

export interface VoiceInboxDeps {
  voice: VoiceService | undefined;
  maxSeconds: number;
  log: Logger;
  /** Error reply to the sender (counted as a strike, like any rejected message). */
  reject(sessionId: string, code: ErrorCodeValue, message: string, ref?: string): void;
  /**
   * Before transcribing: the talk checks (NPC here, in range, not answering you) and the player's talk
   * rate, taken now — a refusal, or null. Transcription costs CPU, so a refused line never gets that far.
   */
  admit(sessionId: string, npcId: string): { code: ErrorCodeValue; message: string } | null;
  /** The ordinary talk path, with the transcript as the player's line. */
  talk(sessionId: string, message: { npcId: string; text: string; ref: string }, transcript: string): void;
}

export class VoiceInbox {
  readonly #uploads = new Map<string, Upload>();
  /** Per session: the ref of the last line refused mid-upload; its remaining chunks are ignored (the sender was told once). */
  readonly #refused = new Map<string, string>();
  readonly #maxBytes: number;

  constructor(private readonly deps: VoiceInboxDeps) {
    this.#maxBytes = deps.maxSeconds * VOICE_SAMPLE_RATE * 2;
  }

  /** One talk_voice frame from a client. */
  receive(sessionId: string, bytes: Uint8Array): void {
    const { deps } = this;
    let chunk;
    try {
      chunk = decodeTalkVoiceChunk(bytes);
    } catch (error) {
      if (!(error instanceof VoiceWireError)) throw error;
      this.#drop(sessionId);
      return deps.reject(sessionId, ErrorCode.InvalidAudio, `malformed talk_voice frame: ${error.message}`);
    }
    const { ref, npcId } = chunk;
    if (this.#refused.get(sessionId) === ref) return;
    this.#refused.delete(sessionId);
    if (!deps.voice?.recognizer) {
      if (!chunk.last) this.#refused.set(sessionId, ref);
      return deps.reject(sessionId, ErrorCode.VoiceDisabled, 'this server does not take spoken lines (voice is off or no speech recogniser is installed); type instead', ref);
    }
    let upload = this.#uploads.get(sessionId);
    if (upload && upload.ref !== ref) {
      // A new utterance while another is unfinished: the old one is abandoned (its sender is told).
      this.#drop(sessionId);
      deps.reject(sessionId, ErrorCode.InvalidAudio, 'spoken line abandoned: a new one started before its last chunk', upload.ref);
      upload = undefined;
    }
    if (!upload) {
      if (chunk.seq !== 0) return deps.reject(sessionId, ErrorCode.InvalidAudio, `spoken line starts at chunk ${chunk.seq}, expected 0`, ref);
      const timer = setTimeout(() => {
        if (this.#uploads.get(sessionId) !== upload) return;
        this.#drop(sessionId);
        deps.reject(sessionId, ErrorCode.InvalidAudio, 'spoken line never finished (no last chunk)', ref);
      }, deps.maxSeconds * 1000 + UPLOAD_SLACK_MS);
      timer.unref?.();
      upload = { ref, npcId, nextSeq: 0, bytes: 0, chunks: [], timer };
      this.#uploads.set(sessionId, upload);
    }
    if (chunk.seq !== upload.nextSeq || chunk.npcId !== upload.npcId) {
      this.#drop(sessionId);
      if (!chunk.last) this.#refused.set(sessionId, ref);
      return deps.reject(sessionId, ErrorCode.InvalidAudio, chunk.npcId !== upload.npcId ? 'spoken line changed NPC mid-way' : `spoken line chunk ${chunk.seq} out of order (expected ${upload.nextSeq})`, ref);
    }
    upload.bytes += chunk.pcm.length;
    if (upload.bytes > this.#maxBytes) {
      this.#drop(sessionId);
      if (!chunk.last) this.#refused.set(sessionId, ref);
      return deps.reject(sessionId, ErrorCode.TooLong, `spoken line is longer than ${deps.maxSeconds} s (VOICE_MAX_TALK_SECONDS)`, ref);
    }
    // A copy: the frame is a view into the transport's buffer, which is reused once this handler returns.
    upload.chunks.push(new Uint8Array(chunk.pcm));
    upload.nextSeq++;
    if (!chunk.last) return;
    this.#drop(sessionId);
    const pcm = new Uint8Array(upload.bytes);
    let offset = 0;
    for (const part of upload.chunks) {
      pcm.set(part, offset);
      offset += part.length;
    }
    void this.#hear(sessionId, ref, npcId, { sampleRate: VOICE_SAMPLE_RATE, samples: pcmToSamples(pcm) });
  }

  async #hear(sessionId: string, ref: string, npcId: string, audio: { sampleRate: number; samples: Int16Array }): Promise<void> {
    const { deps } = this;
    const voice = deps.voice!;
    const count = (outcome: string) => voice.metrics.transcriptions.inc({ outcome });
    if (durationSeconds(audio) < MIN_SECONDS || peakLevelDb(audio) < SILENCE_DB) {
      count('silent');
      return deps.reject(sessionId, ErrorCode.NotUnderstood, `heard only silence (${durationSeconds(audio).toFixed(2)} s, peak ${peakLevelDb(audio).toFixed(0)} dBFS); hold the button while you speak`, ref);
    }
    const refused = deps.admit(sessionId, npcId);
    if (refused) return deps.reject(sessionId, refused.code, refused.message, ref);
    let text: string;
    try {
      text = (await voice.transcribe(audio)).text.trim();
    } catch (error) {
      if (error instanceof SpeechQueueFull) {
        count('busy');
        return deps.reject(sessionId, ErrorCode.Busy, 'too many spoken lines are being transcribed right now; try again or type', ref);
      }
      count('failed');
      deps.log.error({ err: error, sessionId }, 'speech recognition failed');
      return deps.reject(sessionId, ErrorCode.NotUnderstood, 'speech recognition failed on the server; type instead', ref);
    }
    if (!text) {
      count('empty');
      return deps.reject(sessionId, ErrorCode.NotUnderstood, 'could not make out any words; try again, closer to the microphone', ref);
    }
    count('heard');
    deps.talk(sessionId, { npcId, text: text.slice(0, Limits.talkMaxLength), ref }, text);
  }

  #drop(sessionId: string): void {
    const upload = this.#uploads.get(sessionId);
    if (!upload) return;
    clearTimeout(upload.timer);
    this.#uploads.delete(sessionId);
  }

  /** The player left: forget their unfinished upload. */
  forget(sessionId: string): void {
    this.#drop(sessionId);
    this.#refused.delete(sessionId);
  }

  dispose(): void {
    for (const sessionId of [...this.#uploads.keys()]) this.#drop(sessionId);
  }
}
