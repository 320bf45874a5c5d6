/**
 * Worker-side evaluation of request constraints (see constraint-spec.ts for the two forms and why the
 * evaluation lives in the worker).
 */
import { isAbsolute } from 'node:path';
import { pathToFileURL } from 'node:url';
import type {
  AutomatonState,
  ConstraintContext,
  ConstraintFactory,
  ConstraintSpec,
  TokenAutomaton,
  TokenConstraint,
} from './constraint-spec.ts';
import { EngineError } from './errors.ts';

/** Build the per-request constraint object; module factories are imported once per module path. */
export async function createConstraint(spec: ConstraintSpec, ctx: ConstraintContext): Promise<TokenConstraint> {
  if (spec.kind === 'automaton') return new AutomatonConstraint(spec.automaton, ctx.vocabSize);
  if (spec.kind === 'module') {
    const factory = await loadFactory(spec.module, spec.exportName ?? 'createConstraint');
    return await factory(spec.options, ctx);
  }
  throw new EngineError('invalid-request', `Unknown constraint kind ${(spec as { kind: unknown }).kind}.`);
}

const factories = new Map<string, Promise<ConstraintFactory>>();

function loadFactory(module: string, exportName: string): Promise<ConstraintFactory> {
  const url = module.startsWith('file:') ? module : isAbsolute(module) ? pathToFileURL(module).href : null;
  if (!url) return Promise.reject(new EngineError('invalid-request', `Constraint module must be an absolute path or file:// URL, got ${module}.`));
  const key = `${url}#${exportName}`;
  let pending = factories.get(key);
  if (!pending) {
    pending = import(url).then(
      (mod: Record<string, unknown>) => {
        const factory = mod[exportName];
        if (typeof factory !== 'function') {
          throw new EngineError('invalid-request', `Constraint module ${module} has no function export ${exportName}.`);
        }
        return factory as ConstraintFactory;
      },
      (error: unknown) => {
        throw new EngineError('invalid-request', `Constraint module ${module} failed to load: ${(error as Error).message}`);
      },
    );
    factories.set(key, pending);
    pending.catch(() => factories.delete(key));
  }
  return pending;
}

/** Compiled form of a state: allowed set as a sorted list or "all but these", plus an edge map. */
interface CompiledState {
  allowList: Int32Array | null;
  deny: Int32Array;
  edges: Map<number, number>;
  otherwise: number;
  final: boolean;
}

export class AutomatonConstraint implements TokenConstraint {
  private readonly states: CompiledState[];
  private state = 0;

  constructor(automaton: TokenAutomaton, private readonly vocabSize: number) {
    if (!Array.isArray(automaton.states) || automaton.states.length === 0) {
      throw new EngineError('invalid-request', 'Constraint automaton has no states.');
    }
    this.states = automaton.states.map((s, i) => compileState(s, i, automaton.states.length, vocabSize));
  }

  mask(logits: Float32Array): void {
    const s = this.states[this.state]!;
    if (s.allowList) {
      // Keep only the allowed ids: save them, wipe the row, restore.
      const kept = new Float32Array(s.allowList.length);
      for (let i = 0; i < s.allowList.length; i++) kept[i] = logits[s.allowList[i]!]!;
      logits.fill(-Infinity, 0, this.vocabSize);
      for (let i = 0; i < s.allowList.length; i++) logits[s.allowList[i]!] = kept[i]!;
    } else {
      for (const id of s.deny) logits[id] = -Infinity;
    }
  }

  accept(tokenId: number): void {
    const s = this.states[this.state]!;
    this.state = s.edges.get(tokenId) ?? s.otherwise;
  }

  isComplete(): boolean {
    return this.states[this.state]!.final;
  }
}

function compileState(s: AutomatonState, index: number, count: number, vocabSize: number): CompiledState {
  const bad = (what: string) => new EngineError('invalid-request', `Constraint automaton state ${index}: ${what}.`);
  const checkToken = (t: number) => {
    if (!Number.isInteger(t) || t < 0 || t >= vocabSize) throw bad(`token ${t} is outside the vocabulary (0..${vocabSize - 1})`);
    return t;
  };
  const checkState = (n: number) => {
    if (!Number.isInteger(n) || n < 0 || n >= count) throw bad(`next state ${n} does not exist`);
    return n;
  };
  if (s.allow !== 'any' && (!Array.isArray(s.allow) || s.allow.length === 0) && !s.final) {
    throw bad('allows no token');
  }
  const edges = new Map<number, number>();
  for (const [token, next] of s.edges ?? []) edges.set(checkToken(token), checkState(next));
  return {
    allowList: s.allow === 'any' ? null : Int32Array.from(s.allow.map(checkToken)),
    deny: Int32Array.from((s.deny ?? []).map(checkToken)),
    edges,
    otherwise: s.otherwise === undefined ? index : checkState(s.otherwise),
    final: s.final ?? false,
  };
}
