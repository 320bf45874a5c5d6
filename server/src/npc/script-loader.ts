/**
 * Reads NPC scripts (`*.yaml`, one NPC per file) into validated `NpcScript`s. Every problem — YAML
 * syntax, schema, map references, duplicate ids — comes back as `file:line:col: message`; a broken
 * file is reported and skipped, never thrown. `watchNpcScripts` reloads on edits (development) and keeps
 * the last good version of a file that an edit broke.
 */
import { readdirSync, readFileSync, watch, type FSWatcher } from 'node:fs';
import { basename, join } from 'node:path';
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node as YamlNode } from 'yaml';
import type { z } from 'zod';
import { ACTION_TYPES, checkScriptAgainstMap, checkScriptFields, NpcScriptSchema, partialScript, type NpcScript, type ScriptMap } from './script-schema.ts';

export type { NpcAction, NpcActions, NpcActionType, NpcExample, NpcPlace, NpcSamplingOverrides, NpcScheduleEntry, NpcScript, ScriptMap } from './script-schema.ts';

/** One problem in one file, positioned for editors (1-based line and column). */
export interface ScriptProblem {
  file: string;
  line: number;
  col: number;
  message: string;
}

/** Minimal logger shape (a pino logger fits). */
export interface ScriptLog {
  warn(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
}

export interface ScriptOptions {
  /** When given, landmark references, home and placement are checked against this map. */
  map?: ScriptMap;
  log?: ScriptLog;
}

export interface ParsedScript {
  /** Present when the file has no problems. */
  script?: NpcScript;
  /** The file's `id` when that field is valid, even if other fields are not (for cross-file checks). */
  id?: string;
  problems: ScriptProblem[];
  /** Position of a field path in this file (nearest existing ancestor when the field is absent). */
  positionOf(path: readonly PropertyKey[]): { line: number; col: number };
}

export function formatProblem(p: ScriptProblem): string {
  return `${p.file}:${p.line}:${p.col}: ${p.message}`;
}

type Path = readonly PropertyKey[];

/** `actions.walk_to.landmark[2]` */
function fieldName(path: Path): string {
  let out = '';
  for (const seg of path) out += typeof seg === 'number' ? `[${seg}]` : `${out ? '.' : ''}${String(seg)}`;
  return out || '(top level)';
}

interface Located {
  /** The value node at the full path, if it exists. */
  node?: YamlNode | null;
  /** The key node of the deepest mapping entry walked through. */
  key?: YamlNode;
  /** The deepest node that exists on the path. */
  deepest?: YamlNode;
  /** Whether the whole path exists in the document. */
  found: boolean;
}

/** Walks a zod issue path through the YAML node tree (the doc's own getIn loses the key nodes). */
function locate(doc: Document, path: Path): Located {
  let node = doc.contents as YamlNode | null;
  let key: YamlNode | undefined;
  let deepest: YamlNode | undefined = node ?? undefined;
  for (const seg of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && (isScalar(p.key) ? String(p.key.value) === String(seg) : p.key === seg));
      if (!pair) return { key, deepest, found: false };
      key = isScalar(pair.key) ? pair.key : key;
      node = pair.value as YamlNode | null;
      deepest = node ?? key;
    } else if (isSeq(node) && typeof seg === 'number') {
      const item = node.items[seg] as YamlNode | undefined;
      if (item === undefined) return { key, deepest, found: false };
      node = item;
      deepest = node;
    } else {
      return { key, deepest, found: false };
    }
  }
  return { node, key, deepest, found: true };
}

function describeValue(v: unknown): string {
  if (v === null || v === undefined) return 'nothing (an empty value)';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'string') {
    const line = v.replace(/\s+/g, ' ').trim();
    return `text "${line.length > 40 ? line.slice(0, 37) + '...' : line}"`;
  }
  return `${typeof v} ${String(v)}`;
}

const NOUNS: Record<string, string> = {
  string: 'text', number: 'a number', int: 'a whole number', boolean: 'true or false', array: 'a list', object: 'a mapping', record: 'a mapping',
};

function valueAt(data: unknown, path: Path): unknown {
  let v = data;
  for (const seg of path) v = v !== null && typeof v === 'object' ? (v as Record<PropertyKey, unknown>)[seg] : undefined;
  return v;
}

/** Turns one zod issue into designer-readable messages, each with the path to position it at. */
function explain(issue: z.core.$ZodIssue, doc: Document, data: unknown): { path: Path; message: string; atKey?: string }[] {
  const path = issue.path;
  const field = fieldName(path);
  switch (issue.code) {
    case 'invalid_type': {
      if (path.length === 0 && (data === null || data === undefined)) return [{ path, message: 'the file is empty; expected an NPC script (a mapping of fields)' }];
      if (!locate(doc, path).found) {
        return [{ path, message: `missing required field "${String(path[path.length - 1])}"${path.length > 1 ? ` in ${fieldName(path.slice(0, -1))}` : ''}` }];
      }
      return [{ path, message: `${field}: expected ${NOUNS[issue.expected] ?? issue.expected}, got ${describeValue(valueAt(data, path))}` }];
    }
    case 'unrecognized_keys': {
      const inActions = path.length === 1 && path[0] === 'actions';
      return issue.keys.map((k) => ({
        path,
        atKey: k,
        message: inActions
          ? `unknown action "${k}" (known actions: ${ACTION_TYPES.join(', ')})`
          : `unknown field "${k}"${path.length ? ` in ${field}` : ''}`,
      }));
    }
    case 'invalid_value':
      return [{ path, message: `${field}: ${describeValue(valueAt(data, path))} is not one of: ${issue.values.map(String).join(', ')}` }];
    case 'invalid_union':
      if (Array.isArray((issue as { options?: unknown }).options)) {
        // A discriminated union whose tag matched no option (zod puts the allowed tags in `options`).
        const options = (issue as unknown as { options: unknown[] }).options;
        return [{ path, message: `${field}: ${describeValue(valueAt(data, path))} is not one of: ${options.map(String).join(', ')}` }];
      }
      return [{ path, message: `${field}: ${issue.message}` }];
    default:
      return [{ path, message: `${field}: ${issue.message}` }];
  }
}

/**
 * Parses and validates one script's YAML text. `file` names it in problems. Never throws on bad input.
 */
export function parseNpcScript(source: string, file: string, opts: Pick<ScriptOptions, 'map'> = {}): ParsedScript {
  const lineCounter = new LineCounter();
  const doc = parseDocument(source, { lineCounter, prettyErrors: true, uniqueKeys: true });
  const posAt = (offset: number) => {
    const { line, col } = lineCounter.linePos(offset);
    return { line, col };
  };
  const positionOf = (path: Path, atKey?: string) => {
    const loc = locate(doc, path);
    if (atKey !== undefined && isMap(loc.node)) {
      const pair = loc.node.items.find((p) => isScalar(p.key) && String(p.key.value) === atKey);
      if (pair && isScalar(pair.key) && pair.key.range) return posAt(pair.key.range[0]);
    }
    // A present value → its own position; an absent field → the key of its parent (or the parent itself).
    const target = loc.found ? (loc.node?.range ? loc.node : loc.key) : (loc.key ?? loc.deepest);
    return target?.range ? posAt(target.range[0]) : { line: 1, col: 1 };
  };

  const problems: ScriptProblem[] = [];
  if (doc.errors.length > 0) {
    for (const err of doc.errors) {
      const pos = err.linePos?.[0] ?? posAt(err.pos[0]);
      // yaml's pretty message repeats the position and adds a code frame; keep the first clause only.
      const message = err.message.split(/ at line \d+, column \d+/)[0]!.split('\n')[0]!;
      problems.push({ file, line: pos.line, col: pos.col, message: `YAML syntax: ${message}` });
    }
    return { problems, positionOf };
  }

  const data: unknown = doc.toJS({ maxAliasCount: 100 });
  // One pass: schema errors, cross-field checks and map references together. A file with schema errors
  // still gets the other checks on every field that is valid on its own (script-schema.ts PartialScript),
  // so a designer sees all of a file's problems at once, not one kind after another.
  const seen = new Set<string>();
  const add = (path: Path, message: string, atKey?: string) => {
    const key = `${JSON.stringify(path)}\u0000${atKey ?? ''}\u0000${message}`;
    if (seen.has(key)) return;
    seen.add(key);
    problems.push({ file, ...positionOf(path, atKey), message });
  };
  const parsed = NpcScriptSchema.safeParse(data);
  let id: string | undefined = parsed.success ? parsed.data.id : undefined;
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      for (const { path, message, atKey } of explain(issue, doc, data)) add(path, message, atKey);
    }
    if (data !== null && typeof data === 'object') {
      const partial = partialScript(data);
      id = partial.id;
      checkScriptFields(partial, (path, message) => add(path, `${fieldName(path)}: ${message}`));
      if (opts.map) for (const issue of checkScriptAgainstMap(partial, opts.map)) add(issue.path, `${fieldName(issue.path)}: ${issue.message}`);
    }
  } else if (opts.map) {
    for (const issue of checkScriptAgainstMap(parsed.data, opts.map)) add(issue.path, `${fieldName(issue.path)}: ${issue.message}`);
  }
  problems.sort((a, b) => a.line - b.line || a.col - b.col);
  const base = { problems, positionOf, ...(id !== undefined ? { id } : {}) };
  return problems.length === 0 && parsed.success ? { script: parsed.data, ...base } : base;
}

/**
 * Designer corrections of logged NPC turns (fine-tuning data, `tools/corpus/feedback.ts`) live beside the
 * scripts under this reserved name; it is not an NPC script.
 */
export const CORRECTIONS_FILE = 'corrections.yaml';

/** The script files of a directory (`*.yaml`, `*.yml`, except CORRECTIONS_FILE), sorted, as paths joined onto `dir`. */
export function listScriptFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isFile() && /\.ya?ml$/i.test(e.name) && e.name.toLowerCase() !== CORRECTIONS_FILE)
    .map((e) => join(dir, e.name))
    .sort();
}

export interface LoadedScripts {
  /** Good scripts, in file order. */
  scripts: NpcScript[];
  byId: Map<string, NpcScript>;
  /** The file each good script came from. */
  fileOf: Map<string, string>;
  problems: ScriptProblem[];
}

function readAndParse(file: string, opts: ScriptOptions): ParsedScript {
  let source: string;
  try {
    source = readFileSync(file, 'utf8');
  } catch (err) {
    return { problems: [{ file, line: 1, col: 1, message: `cannot read file: ${(err as Error).message}` }], positionOf: () => ({ line: 1, col: 1 }) };
  }
  return parseNpcScript(source, file, opts);
}

/**
 * Validates a set of files together: each on its own, then ids across files. `previous` (file → last
 * good script) lets a file whose new text is broken keep its last good version; an id is kept by the
 * file that already had it, otherwise by the first file in order.
 */
export function resolveScripts(files: readonly string[], opts: ScriptOptions = {}, previous: ReadonlyMap<string, NpcScript> = new Map()): LoadedScripts & { goodByFile: Map<string, NpcScript> } {
  const problems: ScriptProblem[] = [];
  const candidates = new Map<string, { script: NpcScript; fresh: boolean; parsed: ParsedScript }>();
  /** Files with problems whose id is readable: a clash with another file is reported with their other problems. */
  const brokenWithId: { file: string; parsed: ParsedScript; id: string }[] = [];
  for (const file of files) {
    const parsed = readAndParse(file, opts);
    problems.push(...parsed.problems);
    if (!parsed.script && parsed.id !== undefined) brokenWithId.push({ file, parsed, id: parsed.id });
    if (parsed.script) candidates.set(file, { script: parsed.script, fresh: true, parsed });
    else {
      const last = previous.get(file);
      if (last) {
        candidates.set(file, { script: last, fresh: false, parsed });
        opts.log?.warn({ file, npc: last.id }, 'NPC script has problems; keeping its last good version');
      }
    }
  }

  // Ownership of each id: the file that held it before wins, then file order.
  const owner = new Map<string, string>();
  for (const [file, script] of previous) if (candidates.get(file)?.script.id === script.id) owner.set(script.id, file);
  for (const [file, c] of candidates) if (!owner.has(c.script.id)) owner.set(c.script.id, file);

  const goodByFile = new Map<string, NpcScript>();
  for (const [file, c] of candidates) {
    const ownerFile = owner.get(c.script.id)!;
    if (ownerFile === file) {
      goodByFile.set(file, c.script);
      continue;
    }
    if (c.fresh) {
      problems.push({ file, ...c.parsed.positionOf(['id']), message: `id: duplicate NPC id "${c.script.id}", already used by ${basename(ownerFile)}` });
      const last = previous.get(file);
      if (last && last.id !== c.script.id && !owner.has(last.id)) {
        owner.set(last.id, file);
        goodByFile.set(file, last);
      }
    }
  }

  for (const { file, parsed, id } of brokenWithId) {
    const ownerFile = owner.get(id);
    if (ownerFile !== undefined && ownerFile !== file) problems.push({ file, ...parsed.positionOf(['id']), message: `id: duplicate NPC id "${id}", already used by ${basename(ownerFile)}` });
  }

  const scripts = [...goodByFile.values()];
  const byId = new Map(scripts.map((s) => [s.id, s]));
  const fileOf = new Map([...goodByFile].map(([f, s]) => [s.id, f]));
  problems.sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : a.line - b.line || a.col - b.col));
  for (const p of problems) opts.log?.warn({ file: p.file, line: p.line, col: p.col }, formatProblem(p));
  return { scripts, byId, fileOf, problems, goodByFile };
}

/**
 * Loads every script in `dir`. Broken files are reported in `problems` and skipped; a missing or
 * unreadable directory is a problem too, not an exception.
 */
export function loadNpcScripts(dir: string, opts: ScriptOptions = {}): LoadedScripts {
  let files: string[];
  try {
    files = listScriptFiles(dir);
  } catch (err) {
    const problem = { file: dir, line: 1, col: 1, message: `cannot read NPC script directory: ${(err as Error).message}` };
    opts.log?.warn({ dir }, formatProblem(problem));
    return { scripts: [], byId: new Map(), fileOf: new Map(), problems: [problem] };
  }
  const { goodByFile: _unused, ...loaded } = resolveScripts(files, opts);
  opts.log?.info({ dir, npcs: loaded.scripts.map((s) => s.id), problems: loaded.problems.length }, 'NPC scripts loaded');
  return loaded;
}

export interface ScriptReload extends LoadedScripts {
  /** Ids whose script was added or changed by this reload. */
  changed: string[];
  /** Ids that no longer have a script. */
  removed: string[];
}

export interface WatchOptions extends ScriptOptions {
  /** Quiet time after the last file event before reloading (editors write in bursts). Default 100 ms. */
  debounceMs?: number;
  /** Called after every reload that followed a file event. */
  onReload?(reload: ScriptReload): void;
}

export interface NpcScriptWatcher {
  /** The current good scripts (last good version of any broken file included). */
  current(): LoadedScripts;
  /** Reload now (what a file event does after the debounce). */
  reload(): ScriptReload;
  close(): void;
}

/**
 * Loads `dir` and watches it for development hot reload. A file edited into a broken state keeps its
 * last good script and its problems are reported; fixing it picks up the new version; deleting it
 * removes the NPC.
 */
export function watchNpcScripts(dir: string, opts: WatchOptions = {}): NpcScriptWatcher {
  const debounceMs = opts.debounceMs ?? 100;
  let state = resolveScripts(listScriptFiles(dir), opts);
  let timer: NodeJS.Timeout | undefined;
  let closed = false;

  const reload = (): ScriptReload => {
    const before = state.byId;
    let files: string[];
    try {
      files = listScriptFiles(dir);
    } catch (err) {
      // The directory itself is gone or unreadable: keep everything as it was.
      opts.log?.warn({ dir, err: (err as Error).message }, 'cannot list NPC script directory; keeping the current scripts');
      return { ...publicPart(state), changed: [], removed: [] };
    }
    state = resolveScripts(files, opts, state.goodByFile);
    const changed = state.scripts.filter((s) => JSON.stringify(before.get(s.id)) !== JSON.stringify(s)).map((s) => s.id);
    const removed = [...before.keys()].filter((id) => !state.byId.has(id));
    const result = { ...publicPart(state), changed, removed };
    opts.log?.info({ dir, changed, removed, problems: state.problems.length }, 'NPC scripts reloaded');
    return result;
  };

  // fs.watch on the directory (not each file) also sees editors that save by writing a temp file and renaming it.
  const watcher: FSWatcher = watch(dir, { persistent: false }, (_event, name) => {
    if (closed || (name && !/\.ya?ml$/i.test(name))) return;
    clearTimeout(timer);
    timer = setTimeout(() => {
      if (closed) return;
      const result = reload();
      opts.onReload?.(result);
    }, debounceMs);
  });
  watcher.on('error', (err) => opts.log?.warn({ dir, err: err.message }, 'NPC script watcher failed; hot reload is off'));

  return {
    current: () => publicPart(state),
    reload,
    close() {
      closed = true;
      clearTimeout(timer);
      watcher.close();
    },
  };
}

function publicPart(s: LoadedScripts): LoadedScripts {
  return { scripts: s.scripts, byId: s.byId, fileOf: s.fileOf, problems: s.problems };
}
