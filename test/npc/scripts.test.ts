/**
 * NPC script validation: every kind of mistake is reported as file:line:col, broken files are skipped
 * while good ones load, the committed scripts are valid against the town map, and the published JSON
 * Schema is the one generated from the zod schema. The CLI is exercised as a child process.
 */
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { formatProblem, loadNpcScripts, parseNpcScript } from '../../server/src/npc/script-loader.ts';
import { actionFromCall, actionToCall, isActionAllowed, legalActions, samplingOverrides } from '../../server/src/npc/script-schema.ts';
import { createLogger } from '../../server/src/observability/logger.ts';
import { loadWorldMap } from '../../server/src/world/world-map.ts';
import { ottoYaml, tempDir, tessYaml, testMap, withLine } from './fixtures.ts';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const npcDir = join(repoRoot, 'assets/npcs');
const run = promisify(execFile);

function problemsOf(source: string, file = 'tess.yaml') {
  return parseNpcScript(source, file, { map: testMap }).problems.map(formatProblem);
}

describe('one script, each kind of mistake → file:line:col', () => {
  it('accepts the valid fixture', () => {
    const parsed = parseNpcScript(tessYaml(), 'tess.yaml', { map: testMap });
    expect(parsed.problems).toEqual([]);
    expect(parsed.script?.id).toBe('tess');
    expect(parsed.script?.examples).toEqual([]); // defaults applied
  });

  it('bad YAML syntax', () => {
    expect(problemsOf(withLine(tessYaml(), 6, 'style: one: two'))).toEqual([
      expect.stringMatching(/^tess\.yaml:6:8: YAML syntax: /),
    ]);
    expect(problemsOf(withLine(tessYaml(), 12, '  walk_to: { landmark: [well, gate }'))[0]).toMatch(/^tess\.yaml:12:\d+: YAML syntax: /);
    expect(problemsOf(tessYaml() + 'id: again\n')).toEqual(['tess.yaml:21:1: YAML syntax: Map keys must be unique']);
  });

  it('missing required field', () => {
    expect(problemsOf(withLine(tessYaml(), 7, ''))).toEqual(['tess.yaml:2:1: missing required field "greeting"']);
    // nested: points at the parent key
    expect(problemsOf(withLine(tessYaml(), 18, 'home: { x: 104 }'))).toEqual(['tess.yaml:18:1: missing required field "z" in home']);
  });

  it('wrong type', () => {
    expect(problemsOf(withLine(withLine(withLine(tessYaml(), 10, ''), 9, ''), 8, 'lore: The well is wet.'))).toEqual([
      'tess.yaml:8:7: lore: expected a list, got text "The well is wet."',
    ]);
    expect(problemsOf(withLine(tessYaml(), 17, '  bread: lots'))).toEqual(['tess.yaml:17:10: inventory.bread: expected a number, got text "lots"']);
    expect(problemsOf(withLine(tessYaml(), 3, 'name:'))).toEqual(['tess.yaml:3:6: name: expected text, got nothing (an empty value)']);
  });

  it('unknown action, unknown field, unknown emote', () => {
    expect(problemsOf(withLine(tessYaml(), 15, '  fly: true'))).toEqual([
      'tess.yaml:15:3: unknown action "fly" (known actions: walk_to, give_item, emote, follow, stop, trade, point_at)',
    ]);
    expect(problemsOf(withLine(tessYaml(), 7, 'greting: Hello there.'))).toEqual([
      'tess.yaml:2:1: missing required field "greeting"',
      'tess.yaml:7:1: unknown field "greting"',
    ]);
    expect(problemsOf(withLine(tessYaml(), 14, '  emote: [wave, moonwalk]'))).toEqual([
      expect.stringMatching(/^tess\.yaml:14:17: actions\.emote\[1\]: text "moonwalk" is not one of: wave, bow, /),
    ]);
  });

  it('landmark not on the map, home in an obstacle or off the map, an id that is a landmark\'s', () => {
    expect(problemsOf(withLine(tessYaml(), 12, '  walk_to: { landmark: [well, tavern] }'))).toEqual([
      'tess.yaml:12:31: actions.walk_to.landmark[1]: "tavern" is not a landmark on the map "testville" (landmarks: well, gate, market)',
    ]);
    expect(problemsOf(withLine(tessYaml(), 18, 'home: { x: 15, z: 15 }'))).toEqual([
      'tess.yaml:18:7: home: home (15, 15) is inside an obstacle',
    ]);
    expect(problemsOf(withLine(tessYaml(), 18, 'home: { x: 500, z: 15 }'))).toEqual([
      'tess.yaml:18:7: home: home (500, 15) is outside the map\'s walkable bounds',
    ]);
    // The map places no NPCs: any id is fine unless a landmark has it (places and NPCs share ids).
    expect(problemsOf(tessYaml({ id: 'nobody' }))).toEqual([]);
    expect(problemsOf(tessYaml({ id: 'well' }))).toEqual([
      'tess.yaml:2:5: id: "well" is a landmark id on the map "testville"; give the NPC another id',
    ]);
    // Without a map the same script is fine: map checks only run when a map is given.
    expect(parseNpcScript(tessYaml({ id: 'well' }), 'x.yaml').problems).toEqual([]);
  });

  it('places of its own: usable like landmarks, walkable, not a map landmark\'s id', () => {
    const withPlaces = (places: string) => tessYaml().replace('home: { x: 104, z: 90 }', `home: { x: 104, z: 90 }\nplaces:\n${places}`);
    // Its own place is known to walk_to; the map needs no edit.
    expect(problemsOf(withLine(withPlaces('  stall: { name: Tess\'s Stall, x: 60, z: 40 }'), 12, '  walk_to: { landmark: [well, stall] }'))).toEqual([]);
    expect(problemsOf(withPlaces('  well: { name: Another Well, x: 60, z: 40 }\n  shed: { name: The Shed, x: 15, z: 15 }'))).toEqual([
      'tess.yaml:20:9: places.well: "well" is already a landmark on the map "testville"; give this place another id',
      'tess.yaml:21:9: places.shed: place (15, 15) is inside an obstacle',
    ]);
    // A place with a bad field is reported once; walking to it is not reported as an unknown place too.
    expect(problemsOf(withLine(withPlaces('  stall: { name: Tess\'s Stall, x: 60 }'), 12, '  walk_to: { landmark: [well, stall] }'))).toEqual([
      'tess.yaml:20:3: missing required field "z" in places.stall',
    ]);
    expect(problemsOf(withLine(withPlaces('  stall: { name: Tess\'s Stall, x: 60, z: 40 }'), 12, '  walk_to: { landmark: [well, tavern] }'))).toEqual([
      'tess.yaml:12:31: actions.walk_to.landmark[1]: "tavern" is not a landmark on the map "testville" (landmarks: well, gate, market; its own places: stall)',
    ]);
  });

  it('reports every problem of a file in one pass: schema errors, cross-field checks and map references together', () => {
    let source = tessYaml();
    source = withLine(source, 3, 'name:'); // schema: empty name
    source = withLine(source, 12, '  walk_to: { landmark: [well, tavern] }'); // map: unknown landmark
    source = withLine(source, 13, '  give_item: { item: [bread, sword] }'); // cross-field: not in the inventory
    source = withLine(source, 14, '  emote: [wave, moonwalk]'); // schema: unknown emote
    source = withLine(source, 18, 'home: { x: 15, z: 15 }'); // map: home inside an obstacle
    source += 'trust:\n  requires: { follow: 1, give_item: 9 }\n'; // cross-field (follow not listed) and schema (9 > 3)
    expect(problemsOf(source)).toEqual([
      'tess.yaml:3:6: name: expected text, got nothing (an empty value)',
      'tess.yaml:12:31: actions.walk_to.landmark[1]: "tavern" is not a landmark on the map "testville" (landmarks: well, gate, market)',
      'tess.yaml:13:30: actions.give_item.item[1]: item "sword" can be given but is not in the inventory; add it under inventory',
      expect.stringMatching(/^tess\.yaml:14:17: actions\.emote\[1\]: text "moonwalk" is not one of: wave, bow, /),
      'tess.yaml:18:7: home: home (15, 15) is inside an obstacle',
      'tess.yaml:22:23: trust.requires.follow: "follow" needs trust but this NPC does not list it under actions',
      'tess.yaml:22:37: trust.requires.give_item: a required trust is at most 3',
    ]);
  });

  it('cross-field checks: giveable item missing from inventory, illegal example action', () => {
    expect(problemsOf(withLine(tessYaml(), 13, '  give_item: { item: [bread, sword] }'))).toEqual([
      'tess.yaml:13:30: actions.give_item.item[1]: item "sword" can be given but is not in the inventory; add it under inventory',
    ]);
    const withExample = tessYaml().replace('actions:', 'examples:\n  - { player: hi, npc: hello, action: { type: give_item, item: gold } }\nactions:');
    expect(problemsOf(withExample)).toEqual([
      'tess.yaml:12:39: examples[0].action: example action give_item(gold) is not allowed by this NPC\'s actions',
    ]);
  });

  it('an empty file', () => {
    expect(problemsOf('')).toEqual(['tess.yaml:1:1: the file is empty; expected an NPC script (a mapping of fields)']);
  });
});

describe('loadNpcScripts', () => {
  const tmp = tempDir();
  afterAll(() => tmp.cleanup());

  it('skips a broken file and a duplicate id, loads the others, never throws', () => {
    tmp.write('a-tess.yaml', tessYaml());
    tmp.write('b-otto.yaml', ottoYaml());
    tmp.write('c-broken.yaml', withLine(ottoYaml(), 12, '  walk_to: { landmark: [well, tavern] }'));
    tmp.write('d-dup.yaml', tessYaml());
    tmp.write('notes.txt', 'not a script');
    const warnings: string[] = [];
    const log = { warn: (_o: object, msg: string) => void warnings.push(msg), info: () => {} };
    const loaded = loadNpcScripts(tmp.dir, { map: testMap, log });
    expect(loaded.scripts.map((s) => s.id)).toEqual(['tess', 'otto']);
    expect(loaded.fileOf.get('tess')).toBe(join(tmp.dir, 'a-tess.yaml'));
    // The broken file's id clash is reported with its other problem, in the same pass.
    expect(loaded.problems.map(formatProblem)).toEqual([
      `${join(tmp.dir, 'c-broken.yaml')}:2:5: id: duplicate NPC id "otto", already used by b-otto.yaml`,
      expect.stringMatching(/c-broken\.yaml:12:31: actions\.walk_to\.landmark\[1\]: "tavern" is not a landmark/),
      `${join(tmp.dir, 'd-dup.yaml')}:2:5: id: duplicate NPC id "tess", already used by a-tess.yaml`,
    ]);
    expect(warnings).toHaveLength(3);
  });

  it('takes the server\'s pino logger', () => {
    const loaded = loadNpcScripts(tmp.dir, { map: testMap, log: createLogger('silent') });
    expect(loaded.scripts.length).toBeGreaterThan(0);
  });

  it('reports a missing directory as a problem', () => {
    const loaded = loadNpcScripts(join(tmp.dir, 'nope'));
    expect(loaded.scripts).toEqual([]);
    expect(loaded.problems[0]!.message).toMatch(/cannot read NPC script directory/);
  });
});

describe('the committed town scripts', () => {
  const map = loadWorldMap(join(repoRoot, 'assets/world/town.json'), 0.5);
  const loaded = loadNpcScripts(npcDir, { map });

  it('are all valid against the town map (each declares its own home; the map places no NPC)', () => {
    expect(loaded.problems.map(formatProblem)).toEqual([]);
    expect(loaded.scripts.map((s) => s.id).sort()).toEqual(['bram', 'finn', 'marta', 'roderick', 'selka']);
    expect('npcs' in map).toBe(false);
  });

  it('each has 8–15 lore facts, examples, fallback lines, an allowed action set and a routine', () => {
    const landmarkNames = map.landmarks.map((l) => l.name.toLowerCase().replace(/^the /, ''));
    for (const s of loaded.scripts) {
      expect(s.lore.length, s.id).toBeGreaterThanOrEqual(8);
      expect(s.lore.length, s.id).toBeLessThanOrEqual(15);
      expect(s.examples.length, s.id).toBeGreaterThanOrEqual(2);
      expect(s.fallback.length, s.id).toBeGreaterThanOrEqual(3);
      expect(legalActions(s.actions).length, s.id).toBeGreaterThan(3);
      expect(s.patrol ?? s.schedule, s.id).toBeDefined();
      // Lore ties to the map: most facts name a landmark, and every NPC's lore names another NPC.
      const tied = s.lore.filter((f) => landmarkNames.some((n) => f.toLowerCase().includes(n.split(' ').pop()!)));
      expect(tied.length, s.id).toBeGreaterThanOrEqual(s.lore.length / 2);
      const others = loaded.scripts.filter((o) => o.id !== s.id).map((o) => o.id[0]!.toUpperCase() + o.id.slice(1));
      expect(s.lore.some((f) => others.some((n) => f.includes(n))), s.id).toBe(true);
      for (const ex of s.examples) if (ex.action) expect(isActionAllowed(s.actions, ex.action)).toBe(true);
    }
  });

  it('start with the yaml-language-server schema line', () => {
    for (const file of loaded.fileOf.values()) {
      expect(readFileSync(file, 'utf8').split('\n')[0]).toBe('# yaml-language-server: $schema=./npc.schema.json');
    }
  });

  it('enumerate legal actions, which round-trip through the wire form', () => {
    const finn = loaded.byId.get('finn')!;
    const legal = legalActions(finn.actions);
    expect(legal).toContainEqual({ type: 'walk_to', landmark: 'old-oak' });
    expect(legal).toContainEqual({ type: 'follow' });
    for (const a of legal) {
      expect(isActionAllowed(finn.actions, a)).toBe(true);
      expect(actionFromCall(actionToCall(a))).toEqual(a);
    }
    expect(actionToCall({ type: 'give_item', item: 'apple' })).toEqual({ name: 'give_item', args: { item: 'apple' } });
    expect(isActionAllowed(finn.actions, { type: 'give_item', item: 'horseshoe' })).toBe(false);
    expect(isActionAllowed(loaded.byId.get('bram')!.actions, { type: 'follow' })).toBe(false);
    expect(actionFromCall({ name: 'give_item', args: { item: 'apple', extra: 'x' } })).toBeUndefined();
    expect(actionFromCall({ name: 'teleport', args: {} })).toBeUndefined();
  });

  it('expose sampling overrides in engine option names', () => {
    const bram = loaded.byId.get('bram')!;
    expect(samplingOverrides(bram)).toEqual({ temperature: 0.7, topP: 0.9, maxTokens: 96 });
  });

  it('the published JSON Schema is the one generated from the zod schema', async () => {
    const { renderJsonSchema, SCHEMA_FILE } = await import('../../tools/npc-validate.ts');
    expect(readFileSync(SCHEMA_FILE, 'utf8'), 'assets/npcs/npc.schema.json is stale: run `npm run npc:validate -- --write-schema`').toBe(renderJsonSchema());
  });
});

describe('npm run npc:validate (child process)', () => {
  const tmp = tempDir();
  afterAll(() => tmp.cleanup());
  const cli = (args: string[]) =>
    run(process.execPath, ['--import', 'tsx', 'tools/npc-validate.ts', ...args], { cwd: repoRoot }).then(
      (r) => ({ code: 0, out: r.stdout }),
      (e: { code: number; stdout: string }) => ({ code: e.code, out: e.stdout }),
    );

  it('prints file:line:col per problem and exits 1', async () => {
    const mapFile = tmp.write('map.json', JSON.stringify(testMap));
    const files = {
      syntax: tmp.write('syntax.yaml', withLine(tessYaml(), 6, 'style: one: two')),
      missing: tmp.write('missing.yaml', withLine(tessYaml(), 7, '')),
      type: tmp.write('type.yaml', withLine(tessYaml(), 17, '  bread: lots')),
      action: tmp.write('action.yaml', withLine(tessYaml(), 15, '  fly: true')),
      landmark: tmp.write('landmark.yaml', withLine(ottoYaml(), 12, '  walk_to: { landmark: [well, tavern] }')),
      ok: tmp.write('ok.yaml', tessYaml()),
      dup: tmp.write('z-dup.yaml', tessYaml()),
    };
    writeFileSync(join(tmp.dir, 'ignored.txt'), 'x');
    const { code, out } = await cli([tmp.dir, '--map', mapFile]);
    expect(code).toBe(1);
    // The temp dir is outside the working directory, so paths print absolute; strip it for the comparison.
    const lines = out.trim().split('\n').map((l) => l.replace(`${tmp.dir}/`, ''));
    // Every file derived from tess.yaml also clashes with ok.yaml's id: reported with its other problems
    // (a file that is not YAML at all has no id to read).
    expect(lines).toEqual([
      'action.yaml:2:5: id: duplicate NPC id "tess", already used by ok.yaml',
      'action.yaml:15:3: unknown action "fly" (known actions: walk_to, give_item, emote, follow, stop, trade, point_at)',
      expect.stringMatching(/^landmark\.yaml:12:31: actions\.walk_to\.landmark\[1\]: "tavern" is not a landmark/),
      'missing.yaml:2:1: missing required field "greeting"',
      'missing.yaml:2:5: id: duplicate NPC id "tess", already used by ok.yaml',
      expect.stringMatching(/^syntax\.yaml:6:8: YAML syntax: /),
      'type.yaml:2:5: id: duplicate NPC id "tess", already used by ok.yaml',
      'type.yaml:17:10: inventory.bread: expected a number, got text "lots"',
      'z-dup.yaml:2:5: id: duplicate NPC id "tess", already used by ok.yaml',
      'npc:validate: 9 problem(s) in 6 of 7 file(s)',
    ]);
    expect(Object.keys(files)).toHaveLength(7);
  });

  it('exits 0 with a summary for the committed scripts', async () => {
    const { code, out } = await cli([]);
    expect(code).toBe(0);
    expect(out).toMatch(/^npc:validate: 5 script\(s\) OK \(bram, finn, marta, roderick, selka\) against map emberfall\n$/);
  });
});
