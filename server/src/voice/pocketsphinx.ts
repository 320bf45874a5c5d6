/**
 * pocketsphinx (Debian `pocketsphinx` + `pocketsphinx-en-us`) as the default SpeechRecognizer: one
 * `pocketsphinx_batch` process per utterance (~0.1–0.3 s of model loading with the world's model, then
 * faster than real time), so recognition never runs on the game thread. Batch rather than
 * `pocketsphinx_continuous -infile`: a push-to-talk line is one whole utterance, and batch normalises the
 * cepstrum over all of it where continuous starts from a prior meant for long live streams — measured on
 * the bench's lines, continuous made markedly more errors on these short lines. With a RecognitionBias it decodes with a trigram
 * model of the world's sentences and a dictionary of their words (language-model.ts), compiled once per
 * bias into a private temporary folder.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VOICE_SAMPLE_RATE } from '@worldmind/shared';
import { durationSeconds, resample, toWav } from './audio.ts';
import { buildArpa, ipaToCmu, readGeneralUnigrams, readLexicon, words, type Background, type Lexicon } from './language-model.ts';
import { runTool } from './process.ts';
import { SpeechError, type Pcm, type RecognitionBias, type SpeechRecognizer, type Transcript } from './speech.ts';

export const POCKETSPHINX_ID = 'pocketsphinx';
export const POCKETSPHINX_MODEL_DIR = '/usr/share/pocketsphinx/model/en-us';
const RECOGNIZE_TIMEOUT_MS = 30_000;
/** General-English words kept beside the world's in a biased model, and their share of unigram mass. */
const BACKGROUND_WORDS = 20_000;
const BACKGROUND_WEIGHT = 0.5;

export interface PocketsphinxOptions {
  binary?: string;
  modelDir?: string;
  /** For world words missing from the CMU dictionary: espeak-ng's pronunciation (null = leave them out). */
  espeakBinary?: string | null;
}

interface CompiledBias {
  lm: string;
  dict: string;
  /** Words of the bias with no pronunciation (left out of the model). */
  unpronounceable: string[];
}

export class PocketsphinxRecognizer implements SpeechRecognizer {
  readonly id = POCKETSPHINX_ID;
  readonly #binary: string;
  readonly #modelDir: string;
  readonly #espeak: string | null;
  readonly #dir = mkdtempSync(join(tmpdir(), 'wm-asr-'));
  readonly #compiled = new Map<string, Promise<CompiledBias>>();
  #lexicon: Lexicon | undefined;
  #backgroundProbs: Map<string, number> | null | undefined;
  /** Why the general-English background could not be read (the bias then has the world's words only). */
  backgroundError: string | undefined;
  #counter = 0;

  constructor(options: PocketsphinxOptions = {}) {
    this.#binary = options.binary ?? 'pocketsphinx_batch';
    this.#modelDir = options.modelDir ?? POCKETSPHINX_MODEL_DIR;
    this.#espeak = options.espeakBinary === undefined ? 'espeak-ng' : options.espeakBinary;
  }

  async transcribe(audio: Pcm, options: { bias?: RecognitionBias | undefined; signal?: AbortSignal } = {}): Promise<Transcript> {
    const started = performance.now();
    const pcm = resample(audio, VOICE_SAMPLE_RATE);
    const args = ['-hmm', join(this.#modelDir, 'en-us'), '-logfn', '/dev/null'];
    if (options.bias) {
      const bias = await this.compile(options.bias);
      args.push('-lm', bias.lm, '-dict', bias.dict);
    } else {
      args.push('-lm', join(this.#modelDir, 'en-us.lm.bin'), '-dict', join(this.#modelDir, 'cmudict-en-us.dict'));
    }
    const id = `utt-${++this.#counter}`;
    const files = { wav: join(this.#dir, `${id}.wav`), ctl: join(this.#dir, `${id}.ctl`), hyp: join(this.#dir, `${id}.hyp`) };
    writeFileSync(files.wav, toWav(pcm));
    writeFileSync(files.ctl, `${id}\n`);
    try {
      // The ctl file names the utterance; the audio is <cepdir>/<id><cepext>, a WAV whose 44-byte header is skipped.
      await runTool(this.#binary, [...args, '-ctl', files.ctl, '-cepdir', this.#dir, '-cepext', '.wav', '-adcin', 'yes', '-adchdr', '44', '-hyp', files.hyp], { timeoutMs: RECOGNIZE_TIMEOUT_MS, signal: options.signal, maxStdoutBytes: 1024 * 1024 });
      // One line: "<words> (<id> <score>)"; no line when nothing was decoded.
      const line = readFileSync(files.hyp, 'utf8').split('\n').find((l) => l.includes(`(${id}`)) ?? '';
      const text = line.replace(/\s*\([^()]*\)\s*$/, '').trim();
      return { text, audioSeconds: durationSeconds(pcm), elapsedMs: performance.now() - started };
    } finally {
      for (const file of Object.values(files)) rmSync(file, { force: true });
    }
  }

  /** Compiles (once per bias id) the bias's language model and dictionary. */
  compile(bias: RecognitionBias): Promise<CompiledBias> {
    let entry = this.#compiled.get(bias.id);
    if (!entry) {
      entry = this.#build(bias);
      entry.catch(() => this.#compiled.delete(bias.id));
      this.#compiled.set(bias.id, entry);
    }
    return entry;
  }

  async #build(bias: RecognitionBias): Promise<CompiledBias> {
    this.#lexicon ??= readLexicon(join(this.#modelDir, 'cmudict-en-us.dict'));
    const lexicon = this.#lexicon;
    const vocabulary = new Set<string>();
    for (const s of bias.sentences) for (const w of words(s)) vocabulary.add(w);
    for (const w of bias.vocabulary ?? []) for (const x of words(w)) vocabulary.add(x);
    const missing = [...vocabulary].filter((w) => !lexicon.has(w));
    const guessed = await this.#pronounce(missing);
    const unpronounceable = missing.filter((w) => !guessed.has(w));
    const drop = new Set(unpronounceable);
    // A sentence with an unpronounceable word is kept without it (the words around it still count).
    const sentences = bias.sentences.map((s) => words(s).filter((w) => !drop.has(w)).join(' ')).filter(Boolean);
    const model = buildArpa(sentences, (bias.vocabulary ?? []).filter((w) => !drop.has(w)), this.#background());
    const dictLines: string[] = [];
    for (const w of model.vocabulary) {
      const prons = lexicon.get(w) ?? (guessed.has(w) ? [guessed.get(w)!] : []);
      prons.forEach((p, i) => dictLines.push(`${i === 0 ? w : `${w}(${i + 1})`} ${p}`));
    }
    const lm = join(this.#dir, `bias-${bias.id}.lm`);
    const dict = join(this.#dir, `bias-${bias.id}.dict`);
    writeFileSync(lm, model.text);
    writeFileSync(dict, dictLines.join('\n') + '\n');
    return { lm, dict, unpronounceable };
  }

  /** The stock model's unigrams as the biased model's general-English background (none if unreadable: logged by the caller's failures only, the bias still works). */
  #background(): Background | undefined {
    if (this.#backgroundProbs === undefined) {
      try {
        const lexicon = this.#lexicon ?? new Map();
        // Only words the dictionary can pronounce (the stock model's vocabulary is the dictionary's, nearly).
        this.#backgroundProbs = new Map([...readGeneralUnigrams(join(this.#modelDir, 'en-us.lm.bin'), BACKGROUND_WORDS)].filter(([w]) => lexicon.has(w)));
      } catch (error) {
        this.backgroundError = error instanceof Error ? error.message : String(error);
        this.#backgroundProbs = null;
      }
    }
    return this.#backgroundProbs ? { probs: this.#backgroundProbs, weight: BACKGROUND_WEIGHT } : undefined;
  }

  /** espeak-ng's IPA for each word, mapped to CMU phones; one espeak-ng process for all of them. */
  async #pronounce(list: readonly string[]): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    if (list.length === 0 || this.#espeak === null) return out;
    // One word per clause ("word.\n"), so espeak-ng prints one line per word in order.
    const { stdout } = await runTool(this.#espeak, ['-q', '--ipa', '-v', 'en-us', '--stdin'], {
      stdin: list.map((w) => `${w.replace(/'/g, '')}.\n`).join(''),
      timeoutMs: 30_000,
      maxStdoutBytes: 4 * 1024 * 1024,
    });
    const lines = stdout.toString('utf8').split('\n').map((l) => l.trim()).filter(Boolean);
    if (lines.length !== list.length) throw new SpeechError(`espeak-ng gave ${lines.length} pronunciations for ${list.length} words`, 'engine_failed');
    list.forEach((w, i) => {
      const cmu = ipaToCmu(lines[i]!);
      if (cmu) out.set(w, cmu);
    });
    return out;
  }

  close(): void {
    rmSync(this.#dir, { recursive: true, force: true });
  }
}
