/**
 * The inference service's WebSocket protocol: msgpack frames (msgpackr, plain maps so any msgpack client
 * can speak it), validated with zod on both ends, and how a request's constraint travels.
 *
 * Client → service: `submit` (a generation request with priority and deadline), `cancel`, `metrics`.
 * Service → client: `hello` (protocol version, model identity, limits) once on open; per engine step one
 * `tokens` frame with every token of this connection's requests; `done` / `failed` per request (failed
 * carries the engine's error code and `retryable`: `queue-full`, `shed`, `kv-exhausted` mean "retry later",
 * `never-fits` means never); `status` (load and health, for balancing) a few times a second; `metrics`.
 *
 * Constraints are data. An automaton travels as it is. A constraint *module* never travels as a path: a
 * service must not import whatever file a remote caller names, and the path on the game machine need not
 * exist on the service's. Modules are registered here by name; the client sends the name and the options
 * (validated against the module's own schema), the service maps the name to its own copy of the module.
 */
import { fileURLToPath } from 'node:url';
import { Packr } from 'msgpackr';
import { z } from 'zod';
import type { ConstraintSpec } from '../engine/constraint-spec.ts';
import type { GenerateOptions } from '../engine/engine-client.ts';
import { EngineError } from '../engine/errors.ts';

/** Bumped on any incompatible frame change; a client refuses a service speaking another version. */
export const PROTOCOL_VERSION = 1;

/** The WebSocket path of the engine protocol on a service. */
export const ENGINE_WS_PATH = '/engine';

/** Largest frame either side accepts (a prompt near the context limit is far below this). */
export const MAX_FRAME_BYTES = 8 * 1024 * 1024;

// ---- constraint modules --------------------------------------------------------------------------------

const ActionConstraintOptionsSchema = z.strictObject({
  openerId: z.number().int().min(0),
  alternatives: z.array(z.array(z.number().int().min(0)).min(1).max(256)).min(1).max(4096),
  maxSpeechTokens: z.number().int().min(0).max(65_536),
  minSpeechTokens: z.number().int().min(0).max(65_536),
  sampleCall: z.boolean().optional(),
  noneAlternative: z.number().int().min(-1).max(4096).optional(),
  grounding: z.strictObject({
    sequences: z.array(z.array(z.number().int().min(0)).max(1024)).max(4),
    bias: z.number().min(0).max(100),
    continuation: z.number().min(0).max(100),
  }).optional(),
});

interface RegisteredModule {
  path: string;
  /** The options a remote caller may pass (the module trusts its options; the service must not). */
  options: z.ZodType;
}

/** Constraint modules a remote request may name. Add a module here to make it usable over the wire. */
export const CONSTRAINT_MODULES: Readonly<Record<string, RegisteredModule>> = {
  'worldmind/npc-action': { path: fileURLToPath(new URL('../../npc/action-constraint.ts', import.meta.url)), options: ActionConstraintOptionsSchema },
};

function modulePath(module: string): string {
  return module.startsWith('file:') ? fileURLToPath(module) : module;
}

/** A constraint as it travels: automaton as data, module by registered name. */
export type WireConstraint =
  | { kind: 'automaton'; automaton: Extract<ConstraintSpec, { kind: 'automaton' }>['automaton'] }
  | { kind: 'module'; name: string; exportName?: string; options?: unknown };

/** Game side: the wire form of a caller's constraint; a module that is not registered is an invalid request. */
export function constraintToWire(spec: ConstraintSpec): WireConstraint {
  if (spec.kind === 'automaton') return spec;
  const path = modulePath(spec.module);
  const name = Object.entries(CONSTRAINT_MODULES).find(([, m]) => m.path === path)?.[0];
  if (!name) {
    throw new EngineError('invalid-request', `Constraint module ${spec.module} is not registered for remote inference (see CONSTRAINT_MODULES in inference/service/wire.ts).`);
  }
  return { kind: 'module', name, ...(spec.exportName !== undefined ? { exportName: spec.exportName } : {}), ...(spec.options !== undefined ? { options: spec.options } : {}) };
}

/** Service side: the engine's constraint spec for a wire constraint (throws EngineError invalid-request). */
export function constraintFromWire(wire: WireConstraint): ConstraintSpec {
  if (wire.kind === 'automaton') return wire;
  const registered = CONSTRAINT_MODULES[wire.name];
  if (!registered) throw new EngineError('invalid-request', `Unknown constraint module "${wire.name}"; this service knows ${Object.keys(CONSTRAINT_MODULES).join(', ')}.`);
  const options = registered.options.safeParse(wire.options);
  if (!options.success) throw new EngineError('invalid-request', `Bad options for constraint module "${wire.name}": ${z.prettifyError(options.error)}`);
  return { kind: 'module', module: registered.path, ...(wire.exportName !== undefined ? { exportName: wire.exportName } : {}), options: options.data };
}

// ---- frames --------------------------------------------------------------------------------------------

const tokenId = z.number().int().min(0).max(2 ** 31 - 1);

const AutomatonStateSchema = z.strictObject({
  allow: z.union([z.array(tokenId).max(1_000_000), z.literal('any')]),
  deny: z.array(tokenId).max(1_000_000).optional(),
  edges: z.array(z.tuple([tokenId, z.number().int().min(0)])).max(1_000_000).optional(),
  otherwise: z.number().int().min(0).optional(),
  final: z.boolean().optional(),
});

const WireConstraintSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('automaton'), automaton: z.strictObject({ states: z.array(AutomatonStateSchema).min(1).max(100_000) }) }),
  z.strictObject({ kind: z.literal('module'), name: z.string().min(1).max(200), exportName: z.string().min(1).max(200).optional(), options: z.unknown().optional() }),
]);

/** A generation request on the wire: GenerateOptions without the AbortSignal, constraint in wire form. */
export const RemoteRequestSchema = z
  .strictObject({
    prompt: z.string().max(4_000_000).optional(),
    promptTokens: z.array(tokenId).max(1_000_000).optional(),
    sharedPrefix: z.string().max(4_000_000).optional(),
    sharedPrefixTokens: z.number().int().min(0).optional(),
    maxTokens: z.number().int().min(1).max(1_000_000).optional(),
    temperature: z.number().finite().min(0).optional(),
    topK: z.number().int().min(0).optional(),
    topP: z.number().finite().min(0).max(1).optional(),
    repetitionPenalty: z.number().finite().positive().optional(),
    seed: z.number().int().optional(),
    stop: z.array(z.string().min(1).max(1000)).max(32).optional(),
    priority: z.enum(['interactive', 'ambient']).optional(),
    firstTokenDeadlineMs: z.number().int().min(1).max(3_600_000).optional(),
    retainKv: z.boolean().optional(),
    constraint: WireConstraintSchema.optional(),
  })
  .refine((r) => (r.prompt === undefined) !== (r.promptTokens === undefined), { message: 'give exactly one of prompt or promptTokens' });
export type RemoteRequest = z.infer<typeof RemoteRequestSchema>;

export const ClientFrameSchema = z.discriminatedUnion('t', [
  z.strictObject({ t: z.literal('submit'), id: z.number().int().min(1).max(2 ** 53), request: RemoteRequestSchema }),
  z.strictObject({ t: z.literal('cancel'), id: z.number().int().min(1).max(2 ** 53) }),
  z.strictObject({ t: z.literal('metrics'), q: z.number().int().min(0) }),
]);
export type ClientFrame = z.infer<typeof ClientFrameSchema>;

const ModelInfoSchema = z.object({
  modelDir: z.string(),
  contextLength: z.number(),
  vocabSize: z.number(),
  numLayers: z.number(),
  kvHeads: z.number(),
  headDim: z.number(),
  kvDtype: z.enum(['float32', 'float16']),
  kvBytesPerToken: z.number(),
  eosTokenIds: z.array(z.number()),
  kvStrategy: z.enum(['inplace', 'resident', 'rebuild']),
  kvStrategyNote: z.string().optional(),
});

const ErrorInfoSchema = z.object({
  code: z.enum(['queue-full', 'shed', 'kv-exhausted', 'never-fits', 'deadline-exceeded', 'aborted', 'worker-died', 'closed', 'invalid-request', 'internal']),
  message: z.string(),
  retryable: z.boolean(),
});

export const ServiceFrameSchema = z.discriminatedUnion('t', [
  z.object({
    t: z.literal('hello'),
    v: z.number().int(),
    model: ModelInfoSchema,
    modelId: z.string(),
    modelHash: z.string(),
    maxBatch: z.number().int(),
    maxQueue: z.number().int(),
  }),
  z.object({ t: z.literal('tokens'), ids: z.array(z.number()), tokens: z.array(z.number()), texts: z.array(z.string()) }),
  z.object({
    t: z.literal('done'),
    id: z.number(),
    finalText: z.string(),
    finishReason: z.enum(['stop', 'length', 'constraint']),
    promptTokens: z.number(),
    cachedPromptTokens: z.number(),
    queueMs: z.number(),
  }),
  z.object({ t: z.literal('failed'), id: z.number(), error: ErrorInfoSchema }),
  z.object({ t: z.literal('status'), queueDepth: z.number(), running: z.number(), healthy: z.boolean() }),
  // The snapshot is the engine's own EngineSnapshot (deeply nested numbers); checked for shape where read.
  z.object({ t: z.literal('metrics'), q: z.number(), snapshot: z.record(z.string(), z.unknown()).optional(), error: z.string().optional() }),
]);
export type ServiceFrame = z.infer<typeof ServiceFrameSchema>;

const packr = new Packr({ useRecords: false, mapsAsObjects: true });

export function encodeFrame(frame: ClientFrame | ServiceFrame): Buffer {
  return packr.pack(frame);
}

export class FrameError extends Error {
  override name = 'FrameError';
}

/** Decodes and validates one frame; throws FrameError saying what is wrong. */
export function decodeFrame<T>(bytes: Uint8Array, schema: z.ZodType<T>): T {
  let raw: unknown;
  try {
    raw = packr.unpack(bytes);
  } catch (err) {
    throw new FrameError(`undecodable msgpack frame: ${(err as Error).message}`);
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) throw new FrameError(`invalid frame: ${z.prettifyError(parsed.error)}`);
  return parsed.data;
}

/** Game side: GenerateOptions → the wire request (throws EngineError invalid-request). */
export function toRemoteRequest(o: GenerateOptions): RemoteRequest {
  const request: RemoteRequest = {
    ...(o.prompt !== undefined ? { prompt: o.prompt } : {}),
    ...(o.promptTokens !== undefined ? { promptTokens: Array.from(o.promptTokens) } : {}),
    ...(o.sharedPrefix !== undefined ? { sharedPrefix: o.sharedPrefix } : {}),
    ...(o.sharedPrefixTokens !== undefined ? { sharedPrefixTokens: o.sharedPrefixTokens } : {}),
    ...(o.maxTokens !== undefined ? { maxTokens: o.maxTokens } : {}),
    ...(o.temperature !== undefined ? { temperature: o.temperature } : {}),
    ...(o.topK !== undefined ? { topK: o.topK } : {}),
    ...(o.topP !== undefined ? { topP: o.topP } : {}),
    ...(o.repetitionPenalty !== undefined ? { repetitionPenalty: o.repetitionPenalty } : {}),
    ...(o.seed !== undefined ? { seed: o.seed } : {}),
    ...(o.stop !== undefined ? { stop: o.stop } : {}),
    ...(o.priority !== undefined ? { priority: o.priority } : {}),
    ...(o.firstTokenDeadlineMs !== undefined ? { firstTokenDeadlineMs: o.firstTokenDeadlineMs } : {}),
    ...(o.retainKv !== undefined ? { retainKv: o.retainKv } : {}),
    ...(o.constraint !== undefined ? { constraint: constraintToWire(o.constraint) } : {}),
  };
  // Checked here too, so a bad request fails at the caller with the reason instead of as a closed socket.
  const parsed = RemoteRequestSchema.safeParse(request);
  if (!parsed.success) throw new EngineError('invalid-request', `Invalid generation request: ${z.prettifyError(parsed.error)}`);
  return parsed.data;
}

/** Service side: the wire request → GenerateOptions for the local engine (throws EngineError invalid-request). */
export function fromRemoteRequest(r: RemoteRequest, signal?: AbortSignal): GenerateOptions {
  const { constraint, ...rest } = r;
  return {
    ...rest,
    ...(constraint !== undefined ? { constraint: constraintFromWire(constraint as WireConstraint) } : {}),
    ...(signal ? { signal } : {}),
  } as GenerateOptions;
}
