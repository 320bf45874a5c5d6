/** The shipped world for tests that use the real scripts and the default model: map, world facts, scripts, model text. */
import { fileURLToPath } from 'node:url';
import { loadModelText } from '../../server/src/inference/model/index.ts';
import { worldFacts } from '../../server/src/npc/prompt.ts';
import { loadNpcScripts } from '../../server/src/npc/script-loader.ts';
import { loadWorldMap } from '../../server/src/world/world-map.ts';

export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
export const DEFAULT_MODEL_DIR = `${repoRoot}assets/models/default`;
export const shippedMap = loadWorldMap(`${repoRoot}assets/world/town.json`, 0.5);
export const shippedWorld = worldFacts(shippedMap);
export const shippedScripts = loadNpcScripts(`${repoRoot}assets/npcs`, { map: shippedMap }).byId;
export const defaultModelText = loadModelText(DEFAULT_MODEL_DIR);
