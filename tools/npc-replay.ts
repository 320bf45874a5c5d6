/**
 * npm run npc:replay -- <turn id> [--db <file>] [--model <dir>] [--npcs <dir>] [--current-script] [--json]
 *
 * Runs a logged NPC turn again — same model (checked by content hash), same rendered prompt, same
 * seed, same sampling settings, same action grammar — and checks the output is identical, bit for bit.
 * With --current-script the NPC's persona block and action grammar are rebuilt from the script as it
 * is now (the rest of the prompt — lore, memory, the player's line — stays as logged), so a designer
 * sees what an edit changes. Exit 0: identical (or, with --current-script, ran); 1: differs or failed.
 */
import { parseCliArgs } from '../server/src/cli-args.ts';
import { loadConfig } from '../server/src/config.ts';
import { InferenceEngine } from '../server/src/inference/engine/engine-client.ts';
import { hashModelFiles, loadModelText } from '../server/src/inference/model/index.ts';
import { compileCallGrammar } from '../server/src/npc/action-grammar.ts';
import { parseReply } from '../server/src/npc/action-syntax.ts';
import { pickFallback, type GrammarRecord } from '../server/src/npc/dialogue.ts';
import { withCurrentScript } from '../server/src/npc/replay.ts';
import { loadNpcScripts } from '../server/src/npc/script-loader.ts';
import { openStore } from '../server/src/persistence/store.ts';
import { loadWorldMap } from '../server/src/world/world-map.ts';
import { worldFacts } from '../server/src/npc/prompt.ts';

const USAGE = `usage: npm run npc:replay -- <turn id> [--db <file>] [--model <dir>] [--npcs <dir>] [--current-script] [--json]

  <turn id>          a turn from the turn log (the designer view and the turn log show ids)
  --db <file>        the SQLite database (default: the PostgreSQL of DATABASE_URL when set, else DB_PATH)
  --model <dir>      the model directory (default MODEL_DIR; its content hash must match the turn's)
  --npcs <dir>       NPC scripts (default NPC_DIR)
  --current-script   rebuild the persona and action grammar from the script as it is now
  --json             one JSON line

Exit 0: identical (or, with --current-script, ran); 1: differs or failed.
`;

function fail(message: string): never {
  console.error(`npc:replay: ${message}`);
  process.exit(1);
}

const { values, positionals } = parseCliArgs('npc:replay', USAGE, {
  allowPositionals: true,
  options: {
    db: { type: 'string' },
    model: { type: 'string' },
    npcs: { type: 'string' },
    'current-script': { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
  },
});
const turnId = positionals[0];
if (!turnId) fail(USAGE.trimEnd());

const config = loadConfig(process.env, {
  ...(values.db ? { DB_PATH: values.db } : {}),
  ...(values.model ? { MODEL_DIR: values.model } : {}),
  ...(values.npcs ? { NPC_DIR: values.npcs } : {}),
});
const store = await openStore({ dbPath: config.DB_PATH, databaseUrl: values.db ? undefined : config.DATABASE_URL, connectTimeoutMs: config.DATABASE_CONNECT_TIMEOUT_MS });
const turn = await store.getTurn(turnId);
const where = store.where;
await store.close();
if (!turn) fail(`no turn "${turnId}" in ${where}`);

const text = loadModelText(config.MODEL_DIR);
const hash = await hashModelFiles(text.spec);
if (hash !== turn.modelHash) {
  fail(`the model in ${config.MODEL_DIR} (sha256 ${hash.slice(0, 12)}…) is not the one that ran this turn (${turn.modelId}, ${turn.modelHash.slice(0, 12)}…); pass --model <dir>`);
}

const sampling = turn.sampling as { temperature?: number; topP?: number; topK?: number; repetitionPenalty?: number; maxTokens: number; seed: number; grammar: GrammarRecord };
let prompt = turn.prompt;
let grammar = sampling.grammar;
if (values['current-script']) {
  const map = loadWorldMap(config.WORLD_MAP, 0.5);
  const script = loadNpcScripts(config.NPC_DIR, { map }).byId.get(turn.npcId);
  if (!script) fail(`no valid script for NPC "${turn.npcId}" in ${config.NPC_DIR}`);
  const world = worldFacts(map);
  // The logged prompt starts with the persona block as it was; swap in the block the script gives now.
  try {
    ({ prompt, grammar } = withCurrentScript(text, prompt, grammar, script, world));
  } catch (err) {
    fail((err as Error).message);
  }
}

let output: string;
let finishReason: string;
if (turn.finishReason === 'fallback' && !values['current-script']) {
  // The engine could not answer; the reply was the script's fallback line chosen by the seed.
  const script = loadNpcScripts(config.NPC_DIR).byId.get(turn.npcId);
  if (!script) fail(`no valid script for NPC "${turn.npcId}" to pick its fallback line`);
  output = pickFallback(script, turn.seed);
  finishReason = 'fallback';
} else {
  const engine = await InferenceEngine.start({ modelDir: config.MODEL_DIR, intraOpThreads: config.INFERENCE_THREADS ?? 1 });
  try {
    const generation = engine.generate({
      prompt,
      maxTokens: sampling.maxTokens,
      ...(sampling.temperature !== undefined ? { temperature: sampling.temperature } : {}),
      ...(sampling.topP !== undefined ? { topP: sampling.topP } : {}),
      ...(sampling.topK !== undefined ? { topK: sampling.topK } : {}),
      ...(sampling.repetitionPenalty !== undefined ? { repetitionPenalty: sampling.repetitionPenalty } : {}),
      seed: turn.seed,
      constraint: compileCallGrammar(grammar.bodies, text.tokenizer, grammar),
    });
    const result = await generation.result;
    output = result.text;
    finishReason = result.finishReason;
  } finally {
    await engine.close();
  }
}

const identical = output === turn.output;
const report = {
  turnId,
  npcId: turn.npcId,
  seed: turn.seed,
  model: turn.modelId,
  currentScript: values['current-script'],
  identical,
  logged: turn.output,
  replayed: output,
  loggedAction: turn.action,
  replayedAction: parseReply(output).action,
  finishReason,
};
if (values.json) {
  console.log(JSON.stringify(report));
} else {
  console.log(`turn ${turnId} (${turn.npcId}, seed ${turn.seed}, ${turn.modelId})`);
  console.log(`logged:   ${JSON.stringify(turn.output)}`);
  console.log(`replayed: ${JSON.stringify(output)}`);
  console.log(identical ? 'identical' : values['current-script'] ? 'differs (script changed)' : 'DIFFERENT');
}
process.exit(identical || values['current-script'] ? 0 : 1);
