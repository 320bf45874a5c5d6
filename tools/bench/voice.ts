/**
 * `npm run bench:voice -- [--lines N] [--turns 8] [--jobs 2] [--batch] [--json]`
 *
 * Voice numbers (issue 16), all with the Debian engines the server runs:
 * - TTS: espeak-ng's real-time factor (synthesis time / audio length) per voice, over the test lines.
 * - First audio: a real server (VOICE_ENABLED, the default model, the town's NPCs) and a real SDK client
 *   talking to Bram: ms from the reply's first text chunk to its first audio frame, at the client.
 * - ASR: word error rate and real-time factor of pocketsphinx on phrases players say to the town's NPCs —
 *   assets/eval/handwritten.yaml (typed by hand without looking at the corpus templates, so not in the
 *   world bias either; prompt injections left out, chat spellings such as "u"/"ur" spoken as words) —
 *   and the world corpus's test split when built (`npm run corpus`: templates held out from training, with
 *   the world's names, places and items; lines with typing noise left out) —
 *   spoken by several espeak-ng voices and speeds, plus the recorded human speech of Debian's
 *   pocketsphinx-testdata when installed, each without and with the world bias (the language model and
 *   dictionary the server builds from the NPC scripts and the map). WER and RTF come from the server's own
 *   path (one pocketsphinx_batch process per line, model loading included, `--jobs` at a time); with
 *   `--batch`, one run per condition over all lines (models loaded once) gives the engine's own speed.
 * Prints a table and one JSON line (stdout); progress goes to stderr.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { WorldClient, type NpcAudio } from '../../client-sdk/src/index.ts';
import { parseCliArgs } from '../../server/src/cli-args.ts';
import { loadConfig } from '../../server/src/config.ts';
import { listScriptFiles, resolveScripts } from '../../server/src/npc/script-loader.ts';
import { startServer } from '../../server/src/server.ts';
import { createLogger } from '../../server/src/observability/logger.ts';
import { loadWorldMap } from '../../server/src/world/world-map.ts';
import { parseWav, toWav } from '../../server/src/voice/audio.ts';
import { EspeakSynthesizer } from '../../server/src/voice/espeak.ts';
import { readLexicon, words } from '../../server/src/voice/language-model.ts';
import { POCKETSPHINX_MODEL_DIR, PocketsphinxRecognizer } from '../../server/src/voice/pocketsphinx.ts';
import { runTool } from '../../server/src/voice/process.ts';
import type { Pcm, RecognitionBias, VoiceSpec } from '../../server/src/voice/speech.ts';
import { checkEngines } from '../../server/src/voice/voice-service.ts';
import { worldBias } from '../../server/src/voice/world-bias.ts';
import { mean, percentile, round, table } from './stats.ts';

const USAGE = `usage: npm run bench:voice -- [--lines N] [--turns 8] [--jobs 2] [--batch] [--json]

TTS real-time factor, first-audio latency through a real server, and pocketsphinx's word error rate and
real-time factor on phrases players say to the town's NPCs (several espeak-ng voices and speeds, plus
Debian's recorded test speech), without and with the world bias. --lines caps the test lines (default all),
--turns the talk turns timed for first audio, --jobs the recogniser processes run at once, --batch also
decodes every line in one pocketsphinx_batch run per condition (the engine's speed with models loaded once).
`;

const { values: args } = parseCliArgs('bench:voice', USAGE, {
  options: {
    lines: { type: 'string', default: '0' },
    turns: { type: 'string', default: '8' },
    jobs: { type: 'string', default: '2' },
    batch: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
  },
});
const log = (line: string) => process.stderr.write(`${line}\n`);
const repo = fileURLToPath(new URL('../../', import.meta.url));

const engines = checkEngines();
const missing = [...engines.tts.missing, ...engines.stt.missing];
if (missing.length) {
  console.error(`bench:voice: missing ${missing.join(', ')}; install with: apt-get install -y espeak-ng pocketsphinx pocketsphinx-en-us (pocketsphinx-testdata for the human speech)`);
  process.exit(1);
}

/** Voices and speeds the test lines are spoken in (a male, a low Scottish, a female, a fast RP). */
const VOICES: { label: string; voice: VoiceSpec }[] = [
  { label: 'en-us 165wpm', voice: { engine: 'espeak-ng', name: 'en-us', pitch: 50, rate: 165 } },
  { label: 'en-gb-scotland 145wpm low', voice: { engine: 'espeak-ng', name: 'en-gb-scotland', pitch: 30, rate: 145 } },
  { label: 'en-us+f3 175wpm high', voice: { engine: 'espeak-ng', name: 'en-us+f3', pitch: 70, rate: 175 } },
  { label: 'en-gb-x-rp 220wpm', voice: { engine: 'espeak-ng', name: 'en-gb-x-rp', pitch: 50, rate: 220 } },
];

/** How a typed chat line is said aloud. */
const SPOKEN: Record<string, string> = {
  u: 'you', ur: 'your', r: 'are', ya: 'you', pls: 'please', plz: 'please', thx: 'thanks', im: "i'm", ive: "i've", isnt: "isn't",
  dont: "don't", cant: "can't", wont: "won't", didnt: "didn't", doesnt: "doesn't", havent: "haven't", whats: "what's", thats: "that's",
  lets: "let's", its: "it's", wheres: "where's", whos: "who's", youre: "you're", heyyy: 'hey', heyy: 'hey', lol: '', lmao: '', oi: 'oi', '3': 'three',
  baldurs: "baldur's", gonna: 'going to', wanna: 'want to',
};
function spoken(line: string): string {
  return words(line).map((w) => SPOKEN[w] ?? w).filter(Boolean).join(' ');
}

/** Word error rate parts: (substitutions + deletions + insertions), reference length. */
function wordErrors(reference: string, hypothesis: string): { errors: number; words: number } {
  const ref = words(reference);
  const hyp = words(hypothesis);
  let prev = Array.from({ length: hyp.length + 1 }, (_, j) => j);
  for (let i = 1; i <= ref.length; i++) {
    const row = [i];
    for (let j = 1; j <= hyp.length; j++) row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (ref[i - 1] === hyp[j - 1] ? 0 : 1));
    prev = row;
  }
  return { errors: prev[hyp.length]!, words: ref.length };
}

interface Utterance {
  id: string;
  group: string;
  reference: string;
  pcm: Pcm;
}

const map = loadWorldMap(join(repo, 'assets/world/town.json'), 0.5);
const { scripts } = resolveScripts(listScriptFiles(join(repo, 'assets/npcs')), { map });
const bias = worldBias(scripts, map.landmarks);
const recognizer = new PocketsphinxRecognizer();
const work = mkdtempSync(join(tmpdir(), 'wm-bench-voice-'));

async function main(): Promise<void> {
  // --- test lines --------------------------------------------------------------------------------
  const entries = (parse(readFileSync(join(repo, 'assets/eval/handwritten.yaml'), 'utf8')) as { npc: string; kind: string; line: string }[])
    .filter((l) => l.kind !== 'injection')
    .map((l) => ({ npc: l.npc, text: spoken(l.line) }))
    .filter((l) => l.text.length > 0);
  const handwritten = entries.map((e) => e.text);
  const toBram = entries.filter((e) => e.npc === 'bram').map((e) => e.text);
  const cap = Number(args.lines);
  const lines = cap > 0 ? handwritten.slice(0, cap) : handwritten;
  // Second set: the world corpus's test split (templates held out from training, written with the world's
  // names, places and items), when `npm run corpus` has built it. Lines with a misspelt word (the corpus
  // adds typing noise) are left out: nobody says a typo.
  const corpusTest = join(repo, 'data/corpus/world/test.jsonl');
  const known = new Set([...readLexicon(join(POCKETSPHINX_MODEL_DIR, 'cmudict-en-us.dict')).keys(), ...bias.sentences.flatMap((x) => words(x))]);
  const templated = existsSync(corpusTest)
    ? [...new Set(readFileSync(corpusTest, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { player: string; source?: string; kind: string })
        .filter((d) => d.source !== 'handwritten' && d.kind !== 'injection').map((d) => words(d.player).join(' ')))]
        .filter((l) => l && words(l).every((w) => known.has(w)))
    : [];
  const templatedLines = templated.filter((_, i) => i % Math.max(1, Math.ceil(templated.length / Math.max(1, lines.length))) === 0).slice(0, lines.length);
  if (!templated.length) log('  (data/corpus/world/test.jsonl not built — npm run corpus — so no corpus test lines)');
  log(`bench:voice: ${lines.length} hand-written + ${templatedLines.length} corpus-test lines × ${VOICES.length} voices; world bias: ${bias.sentences.length} sentences`);

  // --- TTS real-time factor -------------------------------------------------------------------------
  const tts = new EspeakSynthesizer();
  const utterances: Utterance[] = [];
  const ttsRows: { voice: string; rtf: number; sentenceMsP50: number; audioS: number }[] = [];
  for (const { label, voice } of VOICES) {
    let synthMs = 0;
    let audioS = 0;
    const each: number[] = [];
    for (const [set, list] of [['hand', lines], ['corpus', templatedLines]] as const) {
      for (const [i, line] of list.entries()) {
        const t0 = performance.now();
        const pcm = await tts.synthesize(line, voice);
        const ms = performance.now() - t0;
        synthMs += ms;
        each.push(ms);
        audioS += pcm.samples.length / pcm.sampleRate;
        utterances.push({ id: `${set}-${label.split(' ')[0]!.replace(/\W/g, '_')}-${String(i).padStart(3, '0')}`, group: `${set === 'hand' ? 'hand-written' : 'corpus test'}: ${label}`, reference: line, pcm });
      }
    }
    ttsRows.push({ voice: label, rtf: synthMs / 1000 / audioS, sentenceMsP50: percentile(each, 50), audioS });
    log(`  tts ${label}: RTF ${round(synthMs / 1000 / audioS, 3)} over ${round(audioS, 1)} s of speech`);
  }

  // --- human speech (pocketsphinx-testdata) ---------------------------------------------------------
  const testdata = '/usr/share/pocketsphinx/test/data';
  if (existsSync(join(testdata, 'librivox/transcription'))) {
    for (const [dir, file] of [['librivox', 'transcription'], ['cards', 'cards.transcription']] as const) {
      for (const line of readFileSync(join(testdata, dir, file), 'utf8').split('\n')) {
        const m = /^<s>(.*)<\/s>\s*\((\S+)\)/.exec(line.trim());
        if (!m) continue;
        const wav = join(testdata, dir, `${m[2]}.wav`);
        if (existsSync(wav)) utterances.push({ id: `human-${dir}-${m[2]}`, group: `human (${dir})`, reference: m[1]!.trim(), pcm: parseWav(readFileSync(wav)) });
      }
    }
    const raw = readFileSync(join(testdata, 'goforward.raw'));
    utterances.push({ id: 'human-goforward', group: 'human (goforward)', reference: 'go forward ten meters', pcm: { sampleRate: 16_000, samples: new Int16Array(raw.buffer, raw.byteOffset, raw.byteLength >> 1) } });
  } else {
    log('  (pocketsphinx-testdata not installed: no human speech in the test set)');
  }

  // --- ASR: WER without and with the world bias -------------------------------------------------------
  const compiled = await recognizer.compile(bias);
  for (const u of utterances) writeFileSync(join(work, `${u.id}.wav`), toWav(u.pcm));
  writeFileSync(join(work, 'ctl'), utterances.map((u) => u.id).join('\n') + '\n');
  const totalAudio = utterances.reduce((s, u) => s + u.pcm.samples.length / u.pcm.sampleRate, 0);
  const conditions = [
    { name: 'plain', lm: join(POCKETSPHINX_MODEL_DIR, 'en-us.lm.bin'), dict: join(POCKETSPHINX_MODEL_DIR, 'cmudict-en-us.dict') },
    { name: 'world', lm: compiled.lm, dict: compiled.dict },
  ];
  // Engine speed: one pocketsphinx_batch run per condition over every utterance (models loaded once).
  const batchHyps = new Map<string, Map<string, string>>();
  const batchRtf: Record<string, number> = {};
  for (const c of args.batch ? conditions : []) {
    const out = join(work, `${c.name}.hyp`);
    const t0 = performance.now();
    await runTool('pocketsphinx_batch', ['-ctl', join(work, 'ctl'), '-cepdir', work, '-cepext', '.wav', '-adcin', 'yes', '-adchdr', '44', '-hyp', out, '-hmm', join(POCKETSPHINX_MODEL_DIR, 'en-us'), '-lm', c.lm, '-dict', c.dict, '-logfn', '/dev/null'], { timeoutMs: 60 * 60_000, maxStdoutBytes: 1 << 20 });
    batchRtf[c.name] = (performance.now() - t0) / 1000 / totalAudio;
    const map = new Map<string, string>();
    for (const line of readFileSync(out, 'utf8').split('\n')) {
      const m = /^(.*?)\s*\((\S+)(?:\s+-?\d+)?\)\s*$/.exec(line);
      if (m) map.set(m[2]!, m[1]!);
    }
    batchHyps.set(c.name, map);
    log(`  asr batch ${c.name}: decoded ${map.size}/${utterances.length} in ${round(batchRtf[c.name]! * totalAudio, 1)} s (RTF ${round(batchRtf[c.name]!, 3)})`);
  }

  // The server's path, which the WER figures come from: PocketsphinxRecognizer.transcribe, one
  // pocketsphinx_batch process per line (model loading included), --jobs at a time.
  const hyps = new Map<string, Map<string, string>>();
  const serverPath: Record<string, { rtf: number; msP50: number }> = {};
  const jobs = Math.max(1, Number(args.jobs));
  for (const [name, b] of [['plain', undefined], ['world', bias]] as [string, RecognitionBias | undefined][]) {
    const ms: number[] = [];
    let audio = 0;
    const heard = new Map<string, string>();
    let next = 0;
    await Promise.all(Array.from({ length: jobs }, async () => {
      while (next < utterances.length) {
        const u = utterances[next++]!;
        const t = await recognizer.transcribe(u.pcm, { bias: b });
        heard.set(u.id, t.text);
        ms.push(t.elapsedMs);
        audio += t.audioSeconds;
      }
    }));
    hyps.set(name, heard);
    const timing = { rtf: ms.reduce((a, x) => a + x, 0) / 1000 / audio, msP50: percentile(ms, 50) };
    serverPath[name] = timing;
    log(`  asr server path ${name}: p50 ${round(timing.msP50)} ms per line, RTF ${round(timing.rtf, 3)} (${utterances.length} lines, ${jobs} at a time)`);
  }
  const groups = [...new Set(utterances.map((u) => u.group))];
  const werIn = (source: Map<string, Map<string, string>>, cond: string, pick: (u: Utterance) => boolean) => {
    let errors = 0;
    let n = 0;
    for (const u of utterances.filter(pick)) {
      const e = wordErrors(u.reference, source.get(cond)!.get(u.id) ?? '');
      errors += e.errors;
      n += e.words;
    }
    return n === 0 ? Number.NaN : errors / n;
  };
  const werOf = (cond: string, pick: (u: Utterance) => boolean) => werIn(hyps, cond, pick);
  const asrRows = groups.map((g) => ({ group: g, utterances: utterances.filter((u) => u.group === g).length, plain: werOf('plain', (u) => u.group === g), world: werOf('world', (u) => u.group === g) }));
  const synthetic = (u: Utterance) => !u.group.startsWith('human');
  const hand = (u: Utterance) => u.group.startsWith('hand-written');
  const corpus = (u: Utterance) => u.group.startsWith('corpus test');
  const human = (u: Utterance) => u.group.startsWith('human');
  const examples = [...utterances.filter(hand).slice(0, 3), ...utterances.filter(corpus).slice(0, 3)].map((u) => ({ said: u.reference, plain: hyps.get('plain')!.get(u.id) ?? '', world: hyps.get('world')!.get(u.id) ?? '' }));
  const sample = utterances;

  // --- first audio through a real server ------------------------------------------------------------
  const firstAudio = await measureFirstAudio(Number(args.turns), toBram);

  // --- report ---------------------------------------------------------------------------------------
  const summary = {
    bench: 'voice',
    codec: 'pcm s16le 16 kHz mono (32 kB per second of speech)',
    tts: { engine: 'espeak-ng', rtf: Object.fromEntries(ttsRows.map((r) => [r.voice, round(r.rtf, 4)])), sentence_ms_p50: Object.fromEntries(ttsRows.map((r) => [r.voice, round(r.sentenceMsP50, 1)])) },
    first_audio_ms: firstAudio,
    asr: {
      engine: 'pocketsphinx en-us',
      lines: lines.length,
      voices: VOICES.map((v) => v.label),
      corpus_test_lines: templatedLines.length,
      wer_synthetic: { plain: round(werOf('plain', synthetic), 4), world: round(werOf('world', synthetic), 4) },
      wer_handwritten: { plain: round(werOf('plain', hand), 4), world: round(werOf('world', hand), 4) },
      wer_corpus_test: { plain: round(werOf('plain', corpus), 4), world: round(werOf('world', corpus), 4) },
      wer_human: { plain: round(werOf('plain', human), 4), world: round(werOf('world', human), 4) },
      wer_by_group: Object.fromEntries(asrRows.map((r) => [r.group, { n: r.utterances, plain: round(r.plain, 4), world: round(r.world, 4) }])),
      ...(args.batch
        ? {
            batch_rtf: { plain: round(batchRtf.plain!, 4), world: round(batchRtf.world!, 4) },
            batch_wer_synthetic: { plain: round(werIn(batchHyps, 'plain', synthetic), 4), world: round(werIn(batchHyps, 'world', synthetic), 4) },
            batch_wer_human: { plain: round(werIn(batchHyps, 'plain', human), 4), world: round(werIn(batchHyps, 'world', human), 4) },
          }
        : {}),
      server_path: { lines: sample.length, plain: { rtf: round(serverPath.plain!.rtf, 4), ms_p50: round(serverPath.plain!.msP50, 0) }, world: { rtf: round(serverPath.world!.rtf, 4), ms_p50: round(serverPath.world!.msP50, 0) } },
      bias: { sentences: bias.sentences.length, unpronounceable: compiled.unpronounceable },
      examples,
    },
  };
  if (!args.json) {
    console.log('\nTTS (espeak-ng → 16 kHz)');
    console.log(table(['voice', 'RTF', 'sentence ms p50', 'speech s'], ttsRows.map((r) => [r.voice, round(r.rtf, 4), round(r.sentenceMsP50, 1), round(r.audioS, 1)])));
    console.log('\nFirst audio (real server, default model, SDK client talking to Bram; ms from the first text chunk to the first audio frame)');
    console.log(table(['turns', 'with audio', 'p50 ms', 'p90 ms', 'max ms', 'audio before turn end'], [[firstAudio.turns, firstAudio.with_audio, firstAudio.p50, firstAudio.p90, firstAudio.max, firstAudio.before_turn_end]]));
    console.log('\nASR word error rate (pocketsphinx en-us, the server\'s path; plain = its general-English model, world = the world bias)');
    console.log(table(['speech', 'lines', 'WER plain', 'WER world'], [...asrRows.map((r) => [r.group, r.utterances, round(r.plain, 3), round(r.world, 3)]), ['all hand-written', utterances.filter(hand).length, round(werOf('plain', hand), 3), round(werOf('world', hand), 3)], ['all corpus test', utterances.filter(corpus).length, round(werOf('plain', corpus), 3), round(werOf('world', corpus), 3)], ['all synthetic', utterances.filter(synthetic).length, round(werOf('plain', synthetic), 3), round(werOf('world', synthetic), 3)]]));
    console.log('\nASR real-time factor');
    console.log(table(['path', 'RTF plain', 'RTF world', 'ms per line p50 plain', 'ms per line p50 world'], [
      ...(args.batch ? [['batch (models loaded once)', round(batchRtf.plain!, 3), round(batchRtf.world!, 3), '', '']] : []),
      [`server (a process per line, ${sample.length} lines, ${jobs} at a time)`, round(serverPath.plain!.rtf, 3), round(serverPath.world!.rtf, 3), round(serverPath.plain!.msP50, 0), round(serverPath.world!.msP50, 0)],
    ]));
    console.log('\nExamples');
    for (const e of examples) console.log(`  said "${e.said}"\n    plain "${e.plain}"\n    world "${e.world}"`);
    console.log('');
  }
  console.log(JSON.stringify(summary));
}

/** Talks to Bram through a real server with voice on: ms from each reply's first text chunk to its first audio frame. */
async function measureFirstAudio(turns: number, lines: readonly string[]) {
  const config = loadConfig({}, { PORT: 0, HOST: '127.0.0.1', DB_PATH: ':memory:', VOICE_ENABLED: true, TALK_BURST: 1000, TALK_PER_SECOND: 1000, RUN_SPEED: 30, GUEST_SIGNUP_BURST: 0 });
  const server = await startServer(config, createLogger('warn'));
  const endpoint = `ws://127.0.0.1:${server.port}`;
  const client = await WorldClient.connect({ endpoint, name: 'Bencher' });
  const latencies: number[] = [];
  let beforeEnd = 0;
  try {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const npc = client.npcs.get('bram');
      const me = client.me;
      if (npc && me && Math.hypot(npc.x - me.x, npc.z - me.z) <= 2.5) break;
      if (Date.now() > deadline) throw new Error('bench:voice: could not walk up to Bram within 30 s');
      client.move({ target: npc ? { x: npc.x - 1.5, z: npc.z } : { x: 150, z: 70 }, run: true });
      await new Promise((r) => setTimeout(r, 100));
    }
    client.move({ stop: true });
    const bram = lines;
    for (let t = 0; t < turns; t++) {
      const frames: { at: number; frame: NpcAudio }[] = [];
      const off = client.on('npcAudio', (frame) => frames.push({ at: performance.now(), frame }));
      let firstText = Number.NaN;
      const turn = client.talk('bram', bram[t % bram.length]!);
      for await (const chunk of turn) if (Number.isNaN(firstText) && chunk.text.trim()) firstText = performance.now();
      const result = await turn.result;
      const endedAt = performance.now();
      // Bounded wait for the turn's audio to finish arriving (its last frame).
      const until = Date.now() + 20_000;
      while (!frames.some((f) => f.frame.turnId === result.turnId && f.frame.last) && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
      off();
      const mine = frames.filter((f) => f.frame.turnId === result.turnId);
      if (mine.length && !Number.isNaN(firstText)) {
        latencies.push(mine[0]!.at - firstText);
        if (mine[0]!.at < endedAt) beforeEnd++;
      }
      log(`  turn ${t + 1}: "${result.text.slice(0, 60)}" ${mine.length ? `first audio +${round(mine[0]!.at - firstText, 0)} ms` : 'no audio'}`);
    }
  } finally {
    await client.leave();
    await server.shutdown();
  }
  return { turns, with_audio: latencies.length, p50: round(percentile(latencies, 50), 0), p90: round(percentile(latencies, 90), 0), max: round(Math.max(...latencies), 0), mean: round(mean(latencies), 0), before_turn_end: beforeEnd };
}

try {
  await main();
} finally {
  recognizer.close();
  rmSync(work, { recursive: true, force: true });
}
