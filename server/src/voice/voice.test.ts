/**
 * Voice parts on their own: the wire format, sentence cutting, the language model and pronunciations,
 * and — with the real espeak-ng — synthesis length, and the bounded queue keeping replies text-only
 * under load instead of late. (The whole path through a server is test/voice/voice-e2e.test.ts.)
 */
import { describe, expect, it } from 'vitest';
import { decodeNpcAudioFrame, decodeTalkVoiceChunk, encodeNpcAudioFrame, encodeTalkVoiceChunk, toWireSamples, VoiceWireError } from '@worldmind/shared';
import { parseWav, resample, toWav } from './audio.ts';
import { DEFAULT_VOICE, EspeakSynthesizer } from './espeak.ts';
import { buildArpa, ipaToCmu, words } from './language-model.ts';
import { SpeechQueue, SpeechQueueFull } from './speech-queue.ts';
import { SentenceSplitter, SpokenReply, type SpokenOutcome } from './spoken-reply.ts';
import { checkEngines } from './voice-service.ts';
import { PocketsphinxRecognizer } from './pocketsphinx.ts';
import { worldBias } from './world-bias.ts';
import { listScriptFiles, resolveScripts } from '../npc/script-loader.ts';
import { loadWorldMap } from '../world/world-map.ts';
import { fileURLToPath } from 'node:url';

describe('voice wire format', () => {
  it('round-trips talk_voice chunks and npc_audio frames', () => {
    const pcm = new Uint8Array([1, 2, 3, 4]);
    expect(decodeTalkVoiceChunk(encodeTalkVoiceChunk({ ref: 'r:1', npcId: 'bram', seq: 7, last: true, pcm }))).toEqual({ ref: 'r:1', npcId: 'bram', seq: 7, last: true, pcm });
    const frame = { turnId: 't-1', npcId: 'marta', seq: 3, last: false, sampleRate: 16_000, pcm };
    expect(decodeNpcAudioFrame(encodeNpcAudioFrame(frame))).toEqual(frame);
  });

  it('names what is wrong with a malformed frame', () => {
    const good = encodeTalkVoiceChunk({ ref: 'r', npcId: 'bram', seq: 0, last: true, pcm: new Uint8Array(4) });
    expect(() => decodeTalkVoiceChunk(new Uint8Array([2, ...good.slice(1)]))).toThrow(/version 2/);
    expect(() => decodeTalkVoiceChunk(good.slice(0, 6))).toThrow(/truncated/);
    expect(() => decodeTalkVoiceChunk(new Uint8Array([...good, 1]))).toThrow(/odd byte count/);
    expect(() => decodeTalkVoiceChunk(new Uint8Array([1, 0, 0, 0, 0]))).toThrow(VoiceWireError);
    expect(() => encodeTalkVoiceChunk({ ref: 'x'.repeat(65), npcId: 'bram', seq: 0, last: true, pcm: new Uint8Array() })).toThrow(/ref must be 1–64 bytes/);
  });

  it('converts captured audio (48 kHz floats) to the wire rate', () => {
    const samples = new Float32Array(48_000).map((_, i) => Math.sin((2 * Math.PI * 440 * i) / 48_000) * 0.5);
    const wire = toWireSamples({ sampleRate: 48_000, samples });
    expect(wire.length).toBe(16_000);
    expect(Math.max(...wire)).toBeGreaterThan(15_000);
    expect(() => toWireSamples({ sampleRate: 1000, samples })).toThrow(/sample rate/);
  });
});

describe('SentenceSplitter', () => {
  it('cuts at sentence ends as text streams in, and keeps the rest for the end', () => {
    const s = new SentenceSplitter();
    expect(s.push('Mind the sp')).toEqual([]);
    expect(s.push('arks, lad. Come back')).toEqual(['Mind the sparks, lad.']);
    expect(s.push(' after noon! Or')).toEqual(['Come back after noon!']);
    expect(s.push(' not?')).toEqual([]); // no space after it yet: the reply may go on ("not?!")
    expect(s.flush()).toEqual(['Or not?']);
    expect(s.flush()).toEqual([]);
  });

  it('cuts a long clause at a comma, and text without any punctuation at a word boundary', () => {
    const s = new SentenceSplitter();
    const clause = 'The caravans come up the Salt Road from Greyfell every spring with ore and salt, ';
    expect(s.push(`${clause}and leave`)).toEqual([clause.trim()]);
    const words400 = Array.from({ length: 120 }, () => 'word').join(' ');
    const pieces = new SentenceSplitter().push(words400);
    expect(pieces.length).toBe(1);
    expect(pieces[0]!.length).toBeLessThanOrEqual(400);
    expect(new SentenceSplitter().push('... !!! ')).toEqual([]); // nothing speakable
  });
});

describe('language model and pronunciations', () => {
  it('builds an ARPA trigram model whose vocabulary covers the sentences and the extra words', () => {
    const model = buildArpa(['Where is the forge?', "where's the well", 'take me to the forge'], ['hello']);
    expect(model.vocabulary).toEqual(['forge', 'hello', 'is', 'me', 'take', 'the', 'to', 'well', 'where', "where's"]);
    expect(model.text).toMatch(/^\\data\\\nngram 1=12\nngram 2=\d+\nngram 3=\d+\n/);
    // Unigram probabilities of the vocabulary and </s> sum to 1.
    const uni = model.text.split('\\1-grams:\n')[1]!.split('\n\n')[0]!.split('\n').filter((l) => !l.includes('<s>'));
    const sum = uni.reduce((s, l) => s + 10 ** Number(l.split(' ')[0]), 0);
    expect(sum).toBeCloseTo(1, 2);
    expect(words("Bram's forge — by the EAST wall!")).toEqual(["bram's", 'forge', 'by', 'the', 'east', 'wall']);
  });

  it('maps espeak-ng IPA to CMU phones', () => {
    expect(ipaToCmu('ɛmbˈɜːfɔːl')).toBe('EH M B ER F AO L');
    expect(ipaToCmu('sˈɛlkə')).toBe('S EH L K AH');
    expect(ipaToCmu('dˈɔːŋkiːpɚ')).toBe('D AO NG K IY P ER');
    expect(ipaToCmu('ʘ')).toBeNull();
  });

  it('resamples and writes WAV files that read back the same', () => {
    const pcm = { sampleRate: 22_050, samples: new Int16Array(22_050).map((_, i) => Math.round(Math.sin((2 * Math.PI * 300 * i) / 22_050) * 10_000)) };
    const down = resample(pcm, 16_000);
    expect(down.samples.length).toBe(16_000);
    expect(Math.max(...down.samples)).toBeGreaterThan(9_000);
    expect(parseWav(toWav(down))).toEqual(down);
  });
});

const espeakMissing = checkEngines().tts.missing;
describe.skipIf(espeakMissing.length > 0)(`with espeak-ng${espeakMissing.length ? ` (skipped: missing ${espeakMissing.join(', ')})` : ''}`, () => {
  const tts = new EspeakSynthesizer();

  it('synthesises audio whose duration fits the text and the rate', async () => {
    const text = 'Bring me three horseshoes and a whetstone before the noon bell rings.'; // 12 words
    const slow = await tts.synthesize(text, { ...DEFAULT_VOICE, rate: 120 });
    const fast = await tts.synthesize(text, { ...DEFAULT_VOICE, rate: 240 });
    const seconds = (p: { samples: Int16Array; sampleRate: number }) => p.samples.length / p.sampleRate;
    expect(slow.sampleRate).toBe(16_000);
    expect(seconds(slow)).toBeGreaterThan((12 / 120) * 60 * 0.6);
    expect(seconds(slow)).toBeLessThan((12 / 120) * 60 * 1.6);
    expect(seconds(fast)).toBeLessThan(seconds(slow) * 0.75);
  });

  it('under load a reply stays text-only rather than late: a full queue refuses at once', async () => {
    const queue = new SpeechQueue('test', 1, 0, 1_000);
    const framesA: Uint8Array[] = [];
    const framesB: Uint8Array[] = [];
    const outcomesA: SpokenOutcome[] = [];
    const outcomesB: SpokenOutcome[] = [];
    const a = new SpokenReply({ synthesizer: tts, queue, voice: DEFAULT_VOICE, turnId: 'a', npcId: 'bram', send: (f) => framesA.push(f), onSentence: (o) => outcomesA.push(o) });
    const b = new SpokenReply({ synthesizer: tts, queue, voice: DEFAULT_VOICE, turnId: 'b', npcId: 'marta', send: (f) => framesB.push(f), onSentence: (o) => outcomesB.push(o) });
    a.push('First sentence here. ');
    b.push('Nobody will hear this one. ');
    a.push('And a second one. ');
    a.end();
    b.end();
    await Promise.all([a.done, b.done]);
    // A's first sentence had the only worker; everything after it found the queue full.
    expect(outcomesA).toEqual(['dropped', 'spoken']);
    expect(outcomesB).toEqual(['dropped']);
    expect(framesB).toEqual([]);
    const decoded = framesA.map((f) => decodeNpcAudioFrame(f));
    expect(decoded.at(-1)).toMatchObject({ last: true, turnId: 'a' });
    expect(decoded.slice(0, -1).every((f) => !f.last && f.pcm.length > 0)).toBe(true);
    expect(queue.stats.refusedFull).toBe(2);
  });

  it('does not read out words moderation masked', async () => {
    const outcomes: SpokenOutcome[] = [];
    const frames: Uint8Array[] = [];
    const reply = new SpokenReply({ synthesizer: tts, queue: new SpeechQueue('test', 1, 4, 5_000), voice: DEFAULT_VOICE, turnId: 't', npcId: 'bram', send: (f) => frames.push(f), onSentence: (o) => outcomes.push(o) });
    reply.push('*****! ');
    reply.push('Mind your ***** tongue. ');
    reply.end();
    await reply.done;
    expect(outcomes).toEqual(['spoken']); // the all-masked sentence is not spoken at all
    const seconds = frames.map((f) => decodeNpcAudioFrame(f)).reduce((s, f) => s + f.pcm.length / 2, 0) / 16_000;
    expect(seconds).toBeLessThan(2.5); // "Mind your tongue", not "mind your asterisk asterisk…"
    expect(seconds).toBeGreaterThan(0.5);
  });

  it('a job that waited past its deadline is refused, not started', async () => {
    const queue = new SpeechQueue('test', 1, 4, 0);
    const first = queue.submit(() => tts.synthesize('One.', DEFAULT_VOICE));
    const late = queue.submit(() => tts.synthesize('Two.', DEFAULT_VOICE));
    await expect(first).resolves.toBeDefined();
    await expect(late).rejects.toBeInstanceOf(SpeechQueueFull);
    await expect(late).rejects.toMatchObject({ reason: 'late' });
  });
});

const engines = checkEngines();
const sttMissing = [...engines.tts.missing, ...engines.stt.missing];
describe.skipIf(sttMissing.length > 0)(`world bias${sttMissing.length ? ` (skipped: missing ${sttMissing.join(', ')})` : ''}`, () => {
  it('hears the town\'s places and items that the stock model cannot', async () => {
    const repo = fileURLToPath(new URL('../../../', import.meta.url));
    const map = loadWorldMap(`${repo}assets/world/town.json`, 0.5);
    const { scripts } = resolveScripts(listScriptFiles(`${repo}assets/npcs`), { map });
    const bias = worldBias(scripts, map.landmarks);
    const recognizer = new PocketsphinxRecognizer();
    const tts = new EspeakSynthesizer();
    try {
      for (const [line, expected] of [['take me to the gilded lantern', 'gilded lantern'], ['do you have a horseshoe', 'horseshoe']] as const) {
        const audio = await tts.synthesize(line, DEFAULT_VOICE);
        const plain = await recognizer.transcribe(audio);
        const biased = await recognizer.transcribe(audio, { bias });
        expect(plain.text).not.toContain(expected);
        expect(biased.text).toContain(expected);
        expect(biased.audioSeconds).toBeGreaterThan(0.5);
      }
    } finally {
      recognizer.close();
    }
  });
});
