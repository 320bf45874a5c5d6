/**
 * Voice in the browser (servers with VOICE_ENABLED): NPC speech played where the NPC stands — louder when
 * near, panned left/right — and push-to-talk recording for `world.talkVoice`.
 */
import type { NpcAudio, VoiceAudio } from '@worldmind/client-sdk';

/** Loudness of an NPC `distance` units away: full within a few units, fading to a floor at the hearing radius. */
export function hearingGain(distance: number, radius: number): number {
  if (!Number.isFinite(distance)) return 0;
  const near = Math.min(3, radius / 4);
  if (distance <= near) return 1;
  const t = Math.min(1, (distance - near) / Math.max(1e-6, radius - near));
  return 1 - 0.85 * t; // 0.15 at the edge: the server only sends speech to players in hearing
}

/** Left/right placement (−1…1) of a sound at `dx` units to the side of the listener. */
export function hearingPan(dx: number, radius: number): number {
  return Math.max(-1, Math.min(1, dx / Math.max(1, radius / 2)));
}

interface Voice {
  gain: GainNode;
  pan: StereoPannerNode;
  /** AudioContext time the next frame of this NPC starts at. */
  next: number;
}

export class NpcVoicePlayer {
  #ctx: AudioContext | undefined;
  readonly #voices = new Map<string, Voice>();

  constructor(private readonly where: (npcId: string) => { distance: number; dx: number; radius: number } | undefined) {}

  /** Browsers start audio only after a user gesture: call from one (the join button, a click). */
  unlock(): void {
    try {
      this.#ctx ??= new AudioContext();
    } catch (err) {
      console.warn('NPC speech is off: this browser has no Web Audio', err);
      return;
    }
    // A browser may keep it suspended until a later gesture: NPCs are then silent for now, not broken.
    this.#ctx.resume().catch(() => undefined);
  }

  play(frame: NpcAudio): void {
    const ctx = this.#ctx;
    if (!ctx || frame.samples.length === 0) return;
    let voice = this.#voices.get(frame.npcId);
    if (!voice) {
      const gain = ctx.createGain();
      const pan = ctx.createStereoPanner();
      gain.connect(pan).connect(ctx.destination);
      voice = { gain, pan, next: 0 };
      this.#voices.set(frame.npcId, voice);
    }
    const at = this.where(frame.npcId);
    voice.gain.gain.setTargetAtTime(at ? hearingGain(at.distance, at.radius) : 0.15, ctx.currentTime, 0.05);
    voice.pan.pan.setTargetAtTime(at ? hearingPan(at.dx, at.radius) : 0, ctx.currentTime, 0.05);
    const buffer = ctx.createBuffer(1, frame.samples.length, frame.sampleRate);
    const channel = buffer.getChannelData(0);
    for (let i = 0; i < frame.samples.length; i++) channel[i] = frame.samples[i]! / 32768;
    const source = ctx.createBufferSource();
    source.buffer = buffer;
    source.connect(voice.gain);
    // Frames of a turn play back to back; a little lead keeps network jitter from cutting words.
    const start = Math.max(ctx.currentTime + 0.05, voice.next);
    source.start(start);
    voice.next = start + buffer.duration;
  }
}

/** Records the microphone while a button is held; `stop()` gives the line for `talkVoice`. */
export class PushToTalk {
  #stream: MediaStream | undefined;
  #ctx: AudioContext | undefined;
  #chunks: Float32Array[] = [];
  #node: ScriptProcessorNode | undefined;

  async start(): Promise<void> {
    this.#chunks = [];
    this.#stream = await navigator.mediaDevices.getUserMedia({ audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true } });
    this.#ctx = new AudioContext();
    const source = this.#ctx.createMediaStreamSource(this.#stream);
    // ScriptProcessor is deprecated but everywhere and needs no separate worklet file; a line is seconds long.
    const node = this.#ctx.createScriptProcessor(4096, 1, 1);
    node.onaudioprocess = (e) => this.#chunks.push(new Float32Array(e.inputBuffer.getChannelData(0)));
    source.connect(node);
    node.connect(this.#ctx.destination);
    this.#node = node;
  }

  async stop(): Promise<VoiceAudio | undefined> {
    const ctx = this.#ctx;
    if (!ctx) return undefined;
    this.#node?.disconnect();
    for (const track of this.#stream?.getTracks() ?? []) track.stop();
    const sampleRate = ctx.sampleRate;
    await ctx.close();
    this.#ctx = undefined;
    const total = this.#chunks.reduce((n, c) => n + c.length, 0);
    const samples = new Float32Array(total);
    let offset = 0;
    for (const c of this.#chunks) {
      samples.set(c, offset);
      offset += c.length;
    }
    return { sampleRate, samples };
  }
}
