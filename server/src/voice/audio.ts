/**
 * PCM helpers: WAV read/write, resampling to the wire rate, loudness. Plain TypeScript so no extra
 * Debian tool (sox) is needed.
 */
import { SpeechError, type Pcm } from './speech.ts';

/** Reads a PCM WAV (mono or stereo 16-bit; stereo is mixed down). */
export function parseWav(bytes: Uint8Array): Pcm {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const tag = (o: number) => String.fromCharCode(bytes[o]!, bytes[o + 1]!, bytes[o + 2]!, bytes[o + 3]!);
  if (bytes.length < 12 || tag(0) !== 'RIFF' || tag(8) !== 'WAVE') throw new SpeechError('not a RIFF/WAVE file', 'bad_input');
  let offset = 12;
  let channels = 0;
  let sampleRate = 0;
  let bits = 0;
  while (offset + 8 <= bytes.length) {
    const id = tag(offset);
    // espeak-ng writing to a pipe cannot seek back, so its data chunk size is 0x7fffffff: clamp to what arrived.
    const size = Math.min(view.getUint32(offset + 4, true), bytes.length - offset - 8);
    const body = offset + 8;
    if (id === 'fmt ') {
      const format = view.getUint16(body, true);
      channels = view.getUint16(body + 2, true);
      sampleRate = view.getUint32(body + 4, true);
      bits = view.getUint16(body + 14, true);
      if (format !== 1 || bits !== 16 || channels < 1 || channels > 2) throw new SpeechError(`unsupported WAV: format ${format}, ${bits} bits, ${channels} channels (need 16-bit PCM)`, 'bad_input');
    } else if (id === 'data') {
      if (!sampleRate) throw new SpeechError('WAV data before its fmt chunk', 'bad_input');
      const frames = Math.floor(size / (2 * channels));
      const samples = new Int16Array(frames);
      for (let i = 0; i < frames; i++) {
        if (channels === 1) samples[i] = view.getInt16(body + i * 2, true);
        else samples[i] = (view.getInt16(body + i * 4, true) + view.getInt16(body + i * 4 + 2, true)) >> 1;
      }
      return { sampleRate, samples };
    }
    offset = body + size + (size & 1);
  }
  throw new SpeechError('WAV has no data chunk', 'bad_input');
}

/** A 16-bit mono WAV file of `pcm`. */
export function toWav(pcm: Pcm): Uint8Array {
  const data = pcm.samples.length * 2;
  const out = new Uint8Array(44 + data);
  const view = new DataView(out.buffer);
  const put = (o: number, s: string) => [...s].forEach((c, i) => view.setUint8(o + i, c.charCodeAt(0)));
  put(0, 'RIFF');
  view.setUint32(4, 36 + data, true);
  put(8, 'WAVE');
  put(12, 'fmt ');
  view.setUint32(16, 16, true);
  view.setUint16(20, 1, true);
  view.setUint16(22, 1, true);
  view.setUint32(24, pcm.sampleRate, true);
  view.setUint32(28, pcm.sampleRate * 2, true);
  view.setUint16(32, 2, true);
  view.setUint16(34, 16, true);
  put(36, 'data');
  view.setUint32(40, data, true);
  for (let i = 0; i < pcm.samples.length; i++) view.setInt16(44 + i * 2, pcm.samples[i]!, true);
  return out;
}

/**
 * Resamples with a windowed-sinc low-pass (cut-off just under the lower Nyquist), so going 22.05 → 16 kHz
 * does not fold espeak-ng's 8–11 kHz hiss back into the speech band, which costs the recogniser accuracy.
 * Polyphase: the filter taps for each of the (rate ratio's) output phases are computed once and cached,
 * so a sentence costs ~50 multiply-adds per output sample (a few ms) on the thread that calls it.
 */
export function resample(pcm: Pcm, rate: number): Pcm {
  if (pcm.sampleRate === rate) return pcm;
  const g = gcd(pcm.sampleRate, rate);
  const up = rate / g; // output samples per `down` input samples
  const down = pcm.sampleRate / g;
  const bank = filterBank(up, down);
  const src = pcm.samples;
  const n = Math.floor((src.length * up) / down);
  const out = new Int16Array(n);
  for (let i = 0; i < n; i++) {
    const pos = i * down;
    const base = Math.floor(pos / up);
    const taps = bank.taps[pos % up]!;
    let acc = 0;
    for (let k = 0; k < taps.length; k++) {
      const j = base + bank.first + k;
      if (j >= 0 && j < src.length) acc += src[j]! * taps[k]!;
    }
    out[i] = acc > 32767 ? 32767 : acc < -32768 ? -32768 : Math.round(acc);
  }
  return { sampleRate: rate, samples: out };
}

interface FilterBank {
  /** Offset of tap 0 from floor(center), in input samples. */
  first: number;
  taps: Float64Array[];
}
const banks = new Map<string, FilterBank>();

function filterBank(up: number, down: number): FilterBank {
  const key = `${up}/${down}`;
  const cached = banks.get(key);
  if (cached) return cached;
  const ratio = up / down;
  const cutoff = Math.min(1, ratio) * 0.95; // of the input Nyquist
  const width = Math.ceil(16 / Math.min(1, ratio)); // taps each side, in input samples
  const first = -width;
  const taps: Float64Array[] = [];
  for (let phase = 0; phase < up; phase++) {
    const frac = phase / up; // the output sample sits `frac` input samples past floor(center)
    const row = new Float64Array(2 * width + 1);
    let norm = 0;
    for (let k = 0; k < row.length; k++) {
      const x = first + k - frac;
      const sinc = x === 0 ? 1 : Math.sin(Math.PI * cutoff * x) / (Math.PI * cutoff * x);
      const hann = Math.abs(x) > width + 1 ? 0 : 0.5 + 0.5 * Math.cos((Math.PI * x) / (width + 1));
      row[k] = sinc * hann;
      norm += row[k]!;
    }
    for (let k = 0; k < row.length; k++) row[k] = row[k]! / norm;
    taps.push(row);
  }
  const bank = { first, taps };
  if (up <= 4096) banks.set(key, bank);
  return bank;
}

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

/** Root-mean-square level of the loudest 50 ms window, in dBFS (−Infinity for digital silence). */
export function peakLevelDb(pcm: Pcm): number {
  const win = Math.max(1, Math.round(pcm.sampleRate * 0.05));
  let best = 0;
  for (let start = 0; start < pcm.samples.length; start += win) {
    let sum = 0;
    const end = Math.min(pcm.samples.length, start + win);
    for (let i = start; i < end; i++) sum += pcm.samples[i]! * pcm.samples[i]!;
    best = Math.max(best, sum / (end - start));
  }
  return best === 0 ? Number.NEGATIVE_INFINITY : 10 * Math.log10(best / (32768 * 32768));
}

export function durationSeconds(pcm: Pcm): number {
  return pcm.samples.length / pcm.sampleRate;
}
