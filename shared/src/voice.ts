/**
 * Voice on the wire: the two binary messages (Colyseus `sendBytes`), their layout and limits. One home
 * for both directions so server, SDK and browser encode and decode the same bytes.
 *
 * Audio is 16 kHz, 16-bit little-endian, mono PCM both ways. Why not a compressed codec: speech band
 * ends at 8 kHz (16 kHz sampling loses nothing espeak-ng or pocketsphinx uses; pocketsphinx's en-us model
 * is trained on 16 kHz), decoding is free in every client (Web Audio takes the samples as they are), and
 * it costs 32 kB per second of speech — only while an NPC speaks, and only to players in hearing. Opus
 * would be ~10× smaller but Debian ships it as a file tool (opusenc → Ogg), not a streaming frame codec
 * a Node server can drive without a native addon; the frame header names the sample rate so a codec
 * byte can be added later without breaking clients (`version`).
 *
 * talk_voice (client → server), one push-to-talk utterance in order-numbered chunks (each frame stays
 * under the server's MAX_PAYLOAD_BYTES):
 *   u8 version (1) · u8 flags (bit 0: last chunk) · u16 seq · u8 refLen · ref · u8 npcIdLen · npcId · PCM
 * npc_audio (server → client), one piece of an NPC's spoken reply:
 *   u8 version (1) · u8 flags (bit 0: last frame of the turn) · u16 seq · u32 sampleRate ·
 *   u8 turnIdLen · turnId · u8 npcIdLen · npcId · PCM
 */

/** Sample rate of every voice payload (Hz). */
export const VOICE_SAMPLE_RATE = 16_000;
export const VOICE_WIRE_VERSION = 1;
/** PCM bytes per talk_voice chunk: with the header, well under the default 16 KiB frame limit. */
export const VOICE_CHUNK_BYTES = 12_000;
/** PCM bytes per npc_audio frame (0.25 s): small enough to start playing early, few enough frames. */
export const NPC_AUDIO_FRAME_BYTES = 8_000;
/** Longest ref / id carried in a voice header. */
const MAX_ID_BYTES = 64;

export interface TalkVoiceChunk {
  ref: string;
  npcId: string;
  seq: number;
  last: boolean;
  /** 16 kHz s16le mono samples (a view into the received frame). */
  pcm: Uint8Array;
}

export interface NpcAudioFrame {
  turnId: string;
  npcId: string;
  seq: number;
  /** True on the turn's final frame (which may carry no samples). */
  last: boolean;
  sampleRate: number;
  /** s16le mono samples. */
  pcm: Uint8Array;
}

export class VoiceWireError extends Error {
  override name = 'VoiceWireError';
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

function idBytes(what: string, value: string): Uint8Array {
  const bytes = encoder.encode(value);
  if (bytes.length === 0 || bytes.length > MAX_ID_BYTES) throw new VoiceWireError(`${what} must be 1–${MAX_ID_BYTES} bytes (got ${bytes.length})`);
  return bytes;
}

class Reader {
  offset = 0;
  readonly view: DataView;
  constructor(readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  need(n: number, what: string): void {
    if (this.offset + n > this.bytes.length) throw new VoiceWireError(`truncated frame: no room for ${what}`);
  }
  u8(what: string): number {
    this.need(1, what);
    return this.view.getUint8(this.offset++);
  }
  u16(what: string): number {
    this.need(2, what);
    const v = this.view.getUint16(this.offset, true);
    this.offset += 2;
    return v;
  }
  u32(what: string): number {
    this.need(4, what);
    const v = this.view.getUint32(this.offset, true);
    this.offset += 4;
    return v;
  }
  id(what: string): string {
    const len = this.u8(`${what} length`);
    if (len === 0 || len > MAX_ID_BYTES) throw new VoiceWireError(`${what} must be 1–${MAX_ID_BYTES} bytes (got ${len})`);
    this.need(len, what);
    try {
      return decoder.decode(this.bytes.subarray(this.offset, (this.offset += len)));
    } catch {
      throw new VoiceWireError(`${what} is not UTF-8`);
    }
  }
  pcm(): Uint8Array {
    const rest = this.bytes.subarray(this.offset);
    if (rest.length % 2 !== 0) throw new VoiceWireError(`PCM payload has an odd byte count (${rest.length}): expected 16-bit samples`);
    return rest;
  }
}

function version(r: Reader): void {
  const v = r.u8('version');
  if (v !== VOICE_WIRE_VERSION) throw new VoiceWireError(`unsupported voice frame version ${v} (expected ${VOICE_WIRE_VERSION})`);
}

export function encodeTalkVoiceChunk(chunk: TalkVoiceChunk): Uint8Array {
  const ref = idBytes('ref', chunk.ref);
  const npc = idBytes('npcId', chunk.npcId);
  const out = new Uint8Array(4 + 1 + ref.length + 1 + npc.length + chunk.pcm.length);
  const view = new DataView(out.buffer);
  let o = 0;
  view.setUint8(o++, VOICE_WIRE_VERSION);
  view.setUint8(o++, chunk.last ? 1 : 0);
  view.setUint16(o, chunk.seq, true);
  o += 2;
  view.setUint8(o++, ref.length);
  out.set(ref, o);
  o += ref.length;
  view.setUint8(o++, npc.length);
  out.set(npc, o);
  o += npc.length;
  out.set(chunk.pcm, o);
  return out;
}

/** Throws VoiceWireError with the reason when the frame is malformed. */
export function decodeTalkVoiceChunk(bytes: Uint8Array): TalkVoiceChunk {
  const r = new Reader(bytes);
  version(r);
  const flags = r.u8('flags');
  const seq = r.u16('seq');
  const ref = r.id('ref');
  const npcId = r.id('npcId');
  return { ref, npcId, seq, last: (flags & 1) === 1, pcm: r.pcm() };
}

export function encodeNpcAudioFrame(frame: NpcAudioFrame): Uint8Array {
  const turn = idBytes('turnId', frame.turnId);
  const npc = idBytes('npcId', frame.npcId);
  const out = new Uint8Array(8 + 1 + turn.length + 1 + npc.length + frame.pcm.length);
  const view = new DataView(out.buffer);
  let o = 0;
  view.setUint8(o++, VOICE_WIRE_VERSION);
  view.setUint8(o++, frame.last ? 1 : 0);
  view.setUint16(o, frame.seq & 0xffff, true);
  o += 2;
  view.setUint32(o, frame.sampleRate, true);
  o += 4;
  view.setUint8(o++, turn.length);
  out.set(turn, o);
  o += turn.length;
  view.setUint8(o++, npc.length);
  out.set(npc, o);
  o += npc.length;
  out.set(frame.pcm, o);
  return out;
}

export function decodeNpcAudioFrame(bytes: Uint8Array): NpcAudioFrame {
  const r = new Reader(bytes);
  version(r);
  const flags = r.u8('flags');
  const seq = r.u16('seq');
  const sampleRate = r.u32('sampleRate');
  const turnId = r.id('turnId');
  const npcId = r.id('npcId');
  return { turnId, npcId, seq, last: (flags & 1) === 1, sampleRate, pcm: r.pcm() };
}

/** s16le bytes → samples (copies, so the result is aligned whatever the frame's offset). */
export function pcmToSamples(pcm: Uint8Array): Int16Array {
  const out = new Int16Array(pcm.length >> 1);
  const view = new DataView(pcm.buffer, pcm.byteOffset, pcm.byteLength);
  for (let i = 0; i < out.length; i++) out[i] = view.getInt16(i * 2, true);
  return out;
}

/** Samples → s16le bytes. */
export function samplesToPcm(samples: Int16Array): Uint8Array {
  const out = new Uint8Array(samples.length * 2);
  const view = new DataView(out.buffer);
  for (let i = 0; i < samples.length; i++) view.setInt16(i * 2, samples[i]!, true);
  return out;
}

/**
 * Audio as clients capture it (any rate; 16-bit or float samples, e.g. Web Audio's 48 kHz Float32Array)
 * → the wire's 16 kHz 16-bit samples. Downsampling averages the input samples that fall in each output
 * sample's span (a box filter: enough against aliasing for speech recognition, no dependencies).
 */
export function toWireSamples(audio: { sampleRate: number; samples: Int16Array | Float32Array }): Int16Array {
  const { sampleRate, samples } = audio;
  if (!Number.isFinite(sampleRate) || sampleRate < 8_000 || sampleRate > 192_000) throw new VoiceWireError(`sample rate ${sampleRate} Hz is not supported (8–192 kHz)`);
  const float = samples instanceof Float32Array;
  const at = (i: number) => (float ? Math.max(-1, Math.min(1, samples[i]!)) * 32767 : samples[i]!);
  if (sampleRate === VOICE_SAMPLE_RATE && !float) return samples as Int16Array;
  const step = sampleRate / VOICE_SAMPLE_RATE;
  const out = new Int16Array(Math.floor(samples.length / step));
  for (let i = 0; i < out.length; i++) {
    if (step <= 1) {
      // Upsampling: linear interpolation.
      const pos = i * step;
      const j = Math.floor(pos);
      const next = Math.min(samples.length - 1, j + 1);
      out[i] = Math.round(at(j) + (at(next) - at(j)) * (pos - j));
      continue;
    }
    const from = Math.floor(i * step);
    const to = Math.min(samples.length, Math.floor((i + 1) * step));
    let sum = 0;
    for (let j = from; j < to; j++) sum += at(j);
    out[i] = Math.round(sum / Math.max(1, to - from));
  }
  return out;
}
