/**
 * One NPC reply spoken aloud while it streams: the moderated text chunks are cut into sentences, each
 * sentence is synthesised as soon as it is complete (the first audio goes out after the first sentence,
 * not after the reply), and the audio is sent in order as npc_audio frames. Synthesis goes through the
 * server's bounded SpeechQueue; when it refuses (full, or a sentence would start late) the rest of this
 * reply stays text-only — the player already reads it — and that is counted.
 */
import { encodeNpcAudioFrame, NPC_AUDIO_FRAME_BYTES, samplesToPcm } from '@worldmind/shared';
import { MAX_SENTENCE_CHARS } from './espeak.ts';
import { SpeechQueueFull, type SpeechQueue } from './speech-queue.ts';
import type { Pcm, SpeechSynthesizer, VoiceSpec } from './speech.ts';

/** A clause (after , ; :) long enough to be worth speaking on its own, when no sentence end comes. */
const CLAUSE_MIN_CHARS = 80;

export type SpokenOutcome = 'spoken' | 'dropped' | 'failed' | 'cancelled';

export interface SpokenReplyDeps {
  synthesizer: SpeechSynthesizer;
  queue: SpeechQueue;
  voice: VoiceSpec;
  turnId: string;
  npcId: string;
  /** Sends one encoded npc_audio frame to everyone who should hear it (computed at send time). */
  send(frame: Uint8Array): void;
  /** Called once per sentence with how it went (metrics). */
  onSentence?(outcome: SpokenOutcome, error?: unknown): void;
}

/**
 * Cuts streamed text into speakable pieces: at a sentence end (. ! ? …) followed by a space, at a clause
 * mark once the piece is long, or at a word boundary when a piece would exceed what one synthesis takes.
 */
export class SentenceSplitter {
  #pending = '';

  push(text: string): string[] {
    this.#pending += text;
    const out: string[] = [];
    for (;;) {
      const cut = this.#cut();
      if (cut < 0) break;
      const piece = this.#pending.slice(0, cut).trim();
      this.#pending = this.#pending.slice(cut);
      if (/[A-Za-z0-9]/.test(piece)) out.push(piece);
    }
    return out;
  }

  /** The rest, at the end of the reply. */
  flush(): string[] {
    const piece = this.#pending.trim();
    this.#pending = '';
    return /[A-Za-z0-9]/.test(piece) ? [piece] : [];
  }

  #cut(): number {
    const s = this.#pending;
    const end = /[.!?…]+["')\]]*\s/.exec(s);
    if (end) return end.index + end[0].length;
    if (s.length >= CLAUSE_MIN_CHARS) {
      const clause = /[,;:—]\s/g;
      let last = -1;
      for (let m = clause.exec(s); m; m = clause.exec(s)) if (m.index + 2 >= CLAUSE_MIN_CHARS) { last = m.index + 2; break; }
      if (last > 0) return last;
    }
    if (s.length > MAX_SENTENCE_CHARS) {
      const space = s.lastIndexOf(' ', MAX_SENTENCE_CHARS);
      return space > 0 ? space + 1 : MAX_SENTENCE_CHARS;
    }
    return -1;
  }
}

export class SpokenReply {
  readonly #splitter = new SentenceSplitter();
  readonly #abort = new AbortController();
  /** Sentences in order; each resolves to its audio (or null: not spoken). */
  #tail: Promise<void> = Promise.resolve();
  #seq = 0;
  #framesSent = 0;
  #textOnly = false;
  /** A sentence before this point was not spoken: nothing after it is sent. */
  #gap = false;
  #ended = false;
  /** performance.now() of the first text pushed, and of the first audio frame sent. */
  firstTextAt = Number.NaN;
  firstAudioAt = Number.NaN;
  /** Seconds of audio sent. */
  audioSeconds = 0;
  /** Resolves when every sentence has been sent or dropped and the last frame is out. */
  readonly done: Promise<void>;
  #resolveDone!: () => void;

  constructor(private readonly deps: SpokenReplyDeps) {
    this.done = new Promise((r) => (this.#resolveDone = r));
  }

  /** Streamed (moderated) speech text. */
  push(text: string): void {
    if (this.#ended || !text) return;
    if (Number.isNaN(this.firstTextAt)) this.firstTextAt = performance.now();
    for (const sentence of this.#splitter.push(text)) this.#speak(sentence);
  }

  /** The reply is complete: speak what is left, then send the turn's last frame. */
  end(): void {
    if (this.#ended) return;
    for (const sentence of this.#splitter.flush()) this.#speak(sentence);
    this.#ended = true;
    this.#tail = this.#tail.then(() => {
      // A closing frame only when the listeners got audio: it tells them this turn's voice is over.
      if (this.#framesSent > 0) this.#sendFrame(new Int16Array(0), 16_000, true);
    });
    void this.#tail.finally(() => this.#resolveDone());
  }

  /** The turn was cancelled (player left, room closing): stop synthesising and sending. */
  cancel(): void {
    this.#textOnly = true;
    this.#ended = true;
    this.#abort.abort();
    void this.#tail.finally(() => this.#resolveDone());
  }

  #speak(text: string): void {
    // Moderation masks a refused word as asterisks: silence, not "asterisk asterisk".
    const sentence = text.replace(/\*+/g, ' ').replace(/\s+/g, ' ').trim();
    if (!/[A-Za-z0-9]/.test(sentence)) return;
    if (this.#textOnly) return this.deps.onSentence?.('dropped');
    const { deps } = this;
    // Synthesis starts now (in parallel with earlier sentences, as the queue allows); sending keeps order.
    const audio: Promise<Pcm | null> = deps.queue.submit(() => deps.synthesizer.synthesize(sentence, deps.voice, this.#abort.signal), this.#abort.signal).then(
      (pcm) => pcm,
      (error: unknown) => {
        if (this.#abort.signal.aborted) {
          deps.onSentence?.('cancelled');
          return null;
        }
        // Full or late: the rest of this reply is text-only, so the voice never lags behind its text.
        this.#textOnly = true;
        deps.onSentence?.(error instanceof SpeechQueueFull ? 'dropped' : 'failed', error);
        return null;
      },
    );
    this.#tail = this.#tail.then(async () => {
      const pcm = await audio;
      if (this.#abort.signal.aborted) return;
      // In order: once a sentence is missing, later ones are not sent either (no skipped sentence).
      if (!pcm) {
        this.#gap = true;
        return;
      }
      if (this.#gap) return deps.onSentence?.('dropped');
      const bytesPerFrame = NPC_AUDIO_FRAME_BYTES / 2;
      for (let i = 0; i < pcm.samples.length; i += bytesPerFrame) this.#sendFrame(pcm.samples.subarray(i, i + bytesPerFrame), pcm.sampleRate, false);
      this.audioSeconds += pcm.samples.length / pcm.sampleRate;
      deps.onSentence?.('spoken');
    });
  }

  #sendFrame(samples: Int16Array, sampleRate: number, last: boolean): void {
    if (Number.isNaN(this.firstAudioAt)) this.firstAudioAt = performance.now();
    this.#framesSent++;
    this.deps.send(encodeNpcAudioFrame({ turnId: this.deps.turnId, npcId: this.deps.npcId, seq: this.#seq++, last, sampleRate, pcm: samplesToPcm(samples) }));
  }
}
