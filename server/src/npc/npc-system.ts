/**
 * NPC brains, built once per server: the inference engine (in its worker), the model's text side, the
 * NPC scripts (hot-reloaded in development), conversation memory, moderation, the dialogue service and
 * NPC metrics. It uses the world services (server.ts: the store, the map) and owns none of them; the
 * world rooms reach it through their context.
 */
import { availableParallelism } from 'node:os';
import type { GenerationEngine } from '../inference/engine/engine-api.ts';
import { InferenceEngine } from '../inference/engine/engine-client.ts';
import { RemoteEngine } from '../inference/service/remote-engine.ts';
import { hashModelFiles, loadModelText, type ModelText } from '../inference/model/index.ts';
import type { Logger } from '../observability/logger.ts';
import type { ServerMetrics } from '../observability/metrics.ts';
import { createNpcMetrics, type NpcMetrics } from '../observability/npc-metrics.ts';
import type { WorldStore } from '../persistence/store.ts';
import { schedulerSettingsFrom, type ServerConfig } from '../config.ts';
import type { WorldServices } from '../world/world-services.ts';
import { ActionMemory } from './action-memory.ts';
import { NpcDialogue } from './dialogue.ts';
import { worldFacts } from './prompt.ts';
import { ConversationMemory } from './memory.ts';
import { WordListModerator } from './moderation.ts';
import { formatProblem, loadNpcScripts, watchNpcScripts, type NpcScriptWatcher } from './script-loader.ts';
import type { NpcScript } from './script-schema.ts';

/**
 * NPC brains: dialogue (with its inference engine and model), scripts and metrics. The world services it
 * uses — store, map — are the server's (server.ts), not its own.
 */
export interface NpcSystem {
  dialogue: NpcDialogue;
  /** In this process (a worker thread), or the inference services of INFERENCE_URL: one interface. */
  engine: GenerationEngine;
  modelId: string;
  modelHash: string;
  /** The model's tokenizer and chat template. */
  text: ModelText;
  /** The current good script of an NPC (hot reload may swap it between calls). */
  script(npcId: string): NpcScript | undefined;
  scripts(): NpcScript[];
  metrics: NpcMetrics;
  /** Stops the engine and the script watcher. The store belongs to the caller and stays open. */
  close(): Promise<void>;
}

export async function startNpcSystem(config: ServerConfig, services: Pick<WorldServices, 'map' | 'store'>, log: Logger, serverMetrics: ServerMetrics): Promise<NpcSystem> {
  const { map, store } = services;
  const npcLog = log.child({ module: 'npc' });
  const text = loadModelText(config.MODEL_DIR);
  const modelHash = await hashModelFiles(text.spec);
  // The model's action memory (action-memory.ts): a malformed file stops the start with its reason.
  const actionMemory = ActionMemory.load(config.MODEL_DIR);
  const modelId = `${text.spec.modelType}:${config.MODEL_DIR.replace(/\/+$/, '').split('/').pop()}`;

  // Scripts: a broken file is reported and skipped at start; with hot reload, the last good version stays.
  let watcher: NpcScriptWatcher | undefined;
  let byId: ReadonlyMap<string, NpcScript>;
  if (config.NPC_HOT_RELOAD) {
    watcher = watchNpcScripts(config.NPC_DIR, {
      map,
      log: npcLog,
      onReload: (r) => {
        for (const p of r.problems) npcLog.warn(formatProblem(p));
        npcLog.info({ changed: r.changed, removed: r.removed }, 'NPC scripts reloaded');
      },
    });
    byId = watcher.current().byId;
  } else {
    const loaded = loadNpcScripts(config.NPC_DIR, { map, log: npcLog });
    for (const p of loaded.problems) npcLog.warn(formatProblem(p));
    byId = loaded.byId;
  }
  const current = () => (watcher ? watcher.current().byId : byId);
  npcLog.info({ npcs: [...current().keys()] }, 'NPC scripts loaded');

  for (const script of current().values()) await store.stockNpc(script.id, script.inventory, 'missing');
  const memory = new ConversationMemory({ countTokens: (t) => text.tokenizer.encode(t).length, store });
  // With INFERENCE_URL the model runs in inference services (npm run inference); this process still
  // loads the model's text side (tokenizer, chat template) to build prompts and grammars, and the services
  // must hold the very same model files (checked by hash on connect).
  const engine: GenerationEngine = config.INFERENCE_URL
    ? await RemoteEngine.start({ urls: config.INFERENCE_URL.split(','), apiKey: config.INFERENCE_API_KEY, modelHash, log: npcLog.child({ module: 'remote-engine' }) })
    : await InferenceEngine.start({
    modelDir: config.MODEL_DIR,
    // Leave a core to the game loop: inference threads on every core make the tick and TTFT p99 several times worse.
    intraOpThreads: config.INFERENCE_THREADS ?? Math.max(1, availableParallelism() - 1),
    executionProviders: config.INFERENCE_PROVIDERS.split(',').map((p) => p.trim()),
    scheduler: schedulerSettingsFrom(config),
    memory: { cpuMemArena: config.INFERENCE_CPU_ARENA, memPattern: config.INFERENCE_MEM_PATTERN },
  });
  if (engine instanceof InferenceEngine) for (const warning of engine.warnings) npcLog.warn(warning);
  const metrics = createNpcMetrics(serverMetrics, engine);
  if (engine instanceof RemoteEngine) engine.registerMetrics([serverMetrics.registry]);
  const dialogue = new NpcDialogue({
    engine,
    text,
    modelId,
    modelHash,
    world: worldFacts(map),
    store,
    memory,
    moderator: WordListModerator.fromFile(config.MODERATION_WORDLIST),
    log: npcLog,
    settings: {
      memoryBudgetTokens: config.NPC_MEMORY_TOKENS,
      loreFacts: config.NPC_LORE_FACTS,
      firstTokenDeadlineMs: config.NPC_FIRST_TOKEN_DEADLINE_MS,
      defaultMaxSpeechTokens: 48,
      situationTokens: config.NPC_SITUATION_TOKENS,
      actionDecoding: config.NPC_ACTION_DECODING,
      loreGrounding: config.NPC_LORE_GROUNDING,
      actionMemory: config.NPC_ACTION_MEMORY,
      callGrounding: config.NPC_CALL_GROUNDING,
    },
    ...(actionMemory ? { actionMemory } : {}),
    onIllegalAction: (npcId) => metrics.illegalActions.inc({ npc: npcId }),
  });
  // Compile every script now (grammar, lore index, action-memory index: tens of ms each), not in a player's first turn.
  for (const script of current().values()) {
    try {
      dialogue.compiled(script);
    } catch (err) {
      npcLog.warn({ err, npcId: script.id }, 'NPC script does not compile for this model; its turns will fail');
    }
  }
  npcLog.info(
    { modelId, modelHash: modelHash.slice(0, 12), contextLength: engine.model.contextLength, inference: config.INFERENCE_URL ?? 'in-process', actionMemory: actionMemory ? actionMemory.npcIds.length : 0 },
    'NPC brains ready',
  );

  return {
    dialogue,
    engine,
    modelId,
    modelHash,
    text,
    script: (id) => current().get(id),
    scripts: () => [...current().values()],
    metrics,
    async close() {
      watcher?.close();
      await engine.close();
    },
  };
}
