/**
 * npm run npc:validate [files or dirs…] [--map <world.json> | --no-map] [--write-schema]
 *
 * Validates NPC scripts (default: every script in assets/npcs) against the schema and the world map and
 * prints `file:line:col: message` per problem; exits 1 on any problem, 0 with a one-line summary otherwise.
 * `--write-schema` regenerates assets/npcs/npc.schema.json from server/src/npc/script-schema.ts.
 */
import { statSync, writeFileSync } from 'node:fs';
import { relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseCliArgs } from '../server/src/cli-args.ts';
import { formatProblem, listScriptFiles, resolveScripts } from '../server/src/npc/script-loader.ts';
import { npcJsonSchema } from '../server/src/npc/script-schema.ts';
import { loadWorldMap, type WorldMap } from '../server/src/world/world-map.ts';

const repoRoot = fileURLToPath(new URL('../', import.meta.url));
export const NPC_DIR = resolve(repoRoot, 'assets/npcs');
export const SCHEMA_FILE = resolve(NPC_DIR, 'npc.schema.json');

const USAGE = 'usage: npm run npc:validate -- [files or dirs…] [--map <world.json> | --no-map] [--write-schema]';

export function renderJsonSchema(): string {
  return JSON.stringify(npcJsonSchema(), null, 2) + '\n';
}

function main(): number {
  const { values, positionals } = parseCliArgs('npc:validate', USAGE, {
    allowPositionals: true,
    options: { map: { type: 'string' }, 'no-map': { type: 'boolean' }, 'write-schema': { type: 'boolean' } },
  });
  if (values['write-schema']) {
    writeFileSync(SCHEMA_FILE, renderJsonSchema());
    console.log(`wrote ${relative(process.cwd(), SCHEMA_FILE)}`);
    return 0;
  }

  // npm runs scripts from the package root; resolve the user's paths against where they typed the command.
  const base = process.env.INIT_CWD ?? process.cwd();
  let map: WorldMap | undefined;
  if (!values['no-map']) {
    const mapPath = values.map ? resolve(base, values.map) : (process.env.WORLD_MAP ?? resolve(repoRoot, 'assets/world/town.json'));
    try {
      map = loadWorldMap(mapPath, 0.5);
    } catch (err) {
      console.error(`npc:validate: ${(err as Error).message}`);
      return 2;
    }
  }

  const files: string[] = [];
  try {
    for (const target of positionals.length ? positionals.map((p) => resolve(base, p)) : [NPC_DIR]) {
      if (statSync(target).isDirectory()) files.push(...listScriptFiles(target));
      else files.push(target);
    }
  } catch (err) {
    console.error(`npc:validate: ${(err as Error).message}`);
    return 2;
  }

  const shown = (file: string) => {
    const rel = relative(base, file);
    return rel && !rel.startsWith('..') ? rel : file;
  };
  const result = resolveScripts(files, map ? { map } : {});
  for (const p of result.problems) console.log(formatProblem({ ...p, file: shown(p.file) }));
  if (result.problems.length > 0) {
    const bad = new Set(result.problems.map((p) => p.file)).size;
    console.log(`npc:validate: ${result.problems.length} problem(s) in ${bad} of ${files.length} file(s)`);
    return 1;
  }
  const ids = result.scripts.map((s) => s.id).join(', ');
  console.log(`npc:validate: ${files.length} script(s) OK (${ids})${map ? ` against map ${map.id}` : ''}`);
  return 0;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = main();
}
