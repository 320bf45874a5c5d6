/**
 * Development hot reload: a real directory watched with fs.watch. An edit that breaks a file keeps its
 * last good version and reports the problem; fixing it picks the new version up; new and deleted files
 * come and go.
 */
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { formatProblem, watchNpcScripts, type NpcScriptWatcher, type ScriptReload } from '../../server/src/npc/script-loader.ts';
import { ottoYaml, tempDir, tessYaml, testMap, withLine } from './fixtures.ts';

describe('watchNpcScripts', () => {
  let tmp: ReturnType<typeof tempDir>;
  let watcher: NpcScriptWatcher | undefined;
  let reloads: ScriptReload[];
  let waiters: (() => void)[];

  beforeEach(() => {
    tmp = tempDir();
    reloads = [];
    waiters = [];
  });
  afterEach(() => {
    watcher?.close();
    tmp.cleanup();
  });

  const start = () => {
    watcher = watchNpcScripts(tmp.dir, {
      map: testMap,
      debounceMs: 40,
      onReload: (r) => {
        reloads.push(r);
        waiters.splice(0).forEach((w) => w());
      },
    });
    return watcher;
  };

  /** Waits (bounded) for a reload whose result satisfies `pred`. */
  async function reloadWhere(pred: (r: ScriptReload) => boolean): Promise<ScriptReload> {
    const deadline = Date.now() + 5000;
    for (;;) {
      const hit = reloads.find(pred);
      if (hit) return hit;
      if (Date.now() > deadline) throw new Error(`no matching reload; saw ${JSON.stringify(reloads.map((r) => ({ changed: r.changed, removed: r.removed, problems: r.problems.length })))}`);
      await new Promise<void>((resolve) => {
        waiters.push(resolve);
        setTimeout(resolve, 200);
      });
    }
  }

  it('keeps the last good version of a broken file and picks up the fixed one', async () => {
    const tessFile = tmp.write('tess.yaml', tessYaml());
    tmp.write('otto.yaml', ottoYaml());
    const w = start();
    expect(w.current().scripts.map((s) => s.id)).toEqual(['otto', 'tess']);

    // Break tess: a landmark that is not on the map.
    writeFileSync(tessFile, withLine(withLine(tessYaml(), 7, 'greeting: Broken edit.'), 12, '  walk_to: { landmark: [well, tavern] }'));
    const broken = await reloadWhere((r) => r.problems.length > 0);
    expect(broken.problems.map(formatProblem)).toEqual([expect.stringMatching(/tess\.yaml:12:31: .*"tavern" is not a landmark/)]);
    expect(broken.byId.get('tess')?.greeting).toBe('Hello there.'); // last good version kept
    expect(broken.changed).toEqual([]);
    expect(w.current().byId.get('otto')).toBeDefined();

    // Break it worse (YAML syntax): still the last good version.
    writeFileSync(tessFile, 'id: tess\nname: [oops\n');
    const worse = await reloadWhere((r) => r.problems.some((p) => p.message.startsWith('YAML syntax')));
    expect(worse.byId.get('tess')?.greeting).toBe('Hello there.');

    // Fix it, with a new greeting.
    reloads = [];
    writeFileSync(tessFile, withLine(tessYaml(), 7, 'greeting: Welcome back!'));
    const fixed = await reloadWhere((r) => r.problems.length === 0);
    expect(fixed.changed).toEqual(['tess']);
    expect(fixed.byId.get('tess')?.greeting).toBe('Welcome back!');
    expect(w.current().byId.get('tess')?.greeting).toBe('Welcome back!');
  });

  it('adds new files, removes deleted ones, and refuses a duplicate id without dropping the original', async () => {
    tmp.write('tess.yaml', tessYaml());
    const w = start();
    tmp.write('otto.yaml', ottoYaml());
    const added = await reloadWhere((r) => r.changed.includes('otto'));
    expect(added.scripts.map((s) => s.id)).toEqual(['otto', 'tess']);

    // A new file claiming an existing id ("a-" sorts first, but tess.yaml already owns the id).
    tmp.write('a-copy.yaml', withLine(tessYaml(), 7, 'greeting: I am the impostor.'));
    const dup = await reloadWhere((r) => r.problems.some((p) => p.message.includes('duplicate')));
    expect(dup.problems.map(formatProblem)).toEqual([`${join(tmp.dir, 'a-copy.yaml')}:2:5: id: duplicate NPC id "tess", already used by tess.yaml`]);
    expect(dup.byId.get('tess')?.greeting).toBe('Hello there.');

    rmSync(join(tmp.dir, 'a-copy.yaml'));
    rmSync(join(tmp.dir, 'otto.yaml'));
    const removed = await reloadWhere((r) => r.removed.includes('otto'));
    expect(removed.scripts.map((s) => s.id)).toEqual(['tess']);
    expect(w.current().problems).toEqual([]);
  });
});
