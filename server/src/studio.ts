/**
 * The designer view's API (`/studio/api/*`, only with STUDIO_ENABLED; with ADMIN_TOKEN set, only for
 * its holder). For a designer debugging a character: talk to an NPC without walking to it, and for
 * every turn (theirs or a player's, from the turn log) see why it came out as it did — the prompt
 * sections (persona, the lore facts retrieved with their BM25 scores and the near misses, the memory
 * recalled, the player's line), the seed and sampling, the action chosen among the calls the grammar
 * allowed, timings — and replay the turn against the script as it is now.
 *
 *   GET  /studio/api/npcs                  the NPCs with scripts
 *   GET  /studio/api/turns?npc=&limit=     recent turns from the turn log, newest first
 *   GET  /studio/api/turns/:id             one turn, explained
 *   POST /studio/api/talk                  { npcId, text, seed?, fresh? } → runs a turn, answers it explained
 *   POST /studio/api/turns/:id/replay      runs the logged turn again against the current script
 */
import { randomUUID } from 'node:crypto';
import type { StudioNpc, StudioReplay, StudioTurn, StudioTurnSummary, StudioTurnTimings } from '@worldmind/shared';
import type { HttpRequest, HttpResponse, TemplatedApp } from 'uWebSockets.js';
import { z } from 'zod';
import type { ServerConfig } from './config.ts';
import { ADMIN_CHALLENGE, BodyTooLarge, readBody, writeJson } from './http-surface.ts';
import { compileCallGrammar } from './npc/action-grammar.ts';
import { actionBody, parseReply } from './npc/action-syntax.ts';
import { DialogueRefusal, type GrammarRecord } from './npc/dialogue.ts';
import type { NpcSystem } from './npc/npc-system.ts';
import type { WorldStore } from './persistence/store.ts';
import { LORE_HEADER, worldFacts } from './npc/prompt.ts';
import { withCurrentScript } from './npc/replay.ts';
import type { Logger } from './observability/logger.ts';
import type { TurnLogRecord } from './persistence/store.ts';
import type { WorldMap } from './world/world-map.ts';

const MAX_BODY_BYTES = 8 * 1024;
/** The account the designer's own lines are remembered under (per NPC). */
const STUDIO_PLAYER = 'studio:designer';
/** Timings of recent turns (the turn log keeps what a replay needs, not how long it took). */
const TIMINGS_KEPT = 2000;

class StudioError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const TalkSchema = z.strictObject({
  npcId: z.string().min(1).max(64),
  text: z.string().trim().min(1, 'say something').max(300),
  seed: z.number().int().min(0).max(2 ** 31 - 2).optional(),
  /** Talk as a designer with no memory of earlier turns. */
  fresh: z.boolean().optional(),
});

export interface StudioDeps {
  npc: NpcSystem | undefined;
  /** The world's store (turn log). */
  store: WorldStore;
  map: WorldMap;
  config: Pick<ServerConfig, 'NPC_LORE_FACTS'>;
  log: Logger;
  authorized(req: HttpRequest): boolean;
}

export function mountStudio(app: TemplatedApp, deps: StudioDeps): void {
  const { npc, log } = deps;
  const timings = new Map<string, StudioTurnTimings>();
  npc?.dialogue.observers.add(({ outcome }) => {
    const generating = outcome.durationMs - (Number.isFinite(outcome.ttftMs) ? outcome.ttftMs : 0);
    timings.set(outcome.turnId, {
      ttftMs: Number.isFinite(outcome.ttftMs) ? Math.round(outcome.ttftMs) : null,
      durationMs: Math.round(outcome.durationMs),
      tokens: outcome.tokens,
      tokensPerSecond: outcome.tokens > 0 && generating > 0 ? Math.round((outcome.tokens / generating) * 10_000) / 10 : null,
    });
    if (timings.size > TIMINGS_KEPT) timings.delete(timings.keys().next().value!);
  });
  const world = worldFacts(deps.map);

  const brains = (): NpcSystem => {
    if (!npc) throw new StudioError(503, 'npc_disabled', 'NPC brains are off on this server (NPC_ENABLED=false)');
    return npc;
  };

  const explain = (turn: TurnLogRecord): StudioTurn => {
    const system = brains();
    const script = system.script(turn.npcId);
    const messages = turn.messages ?? [];
    const persona = messages[0]?.role === 'system' ? messages[0].content : '';
    let rest = messages.slice(persona ? 1 : 0);
    // After the persona: the lore block and the situation block (what the NPC perceives), both system.
    let loggedLore: string[] = [];
    const situation: string[] = [];
    while (rest[0]?.role === 'system') {
      const content = rest[0].content;
      if (content.startsWith(LORE_HEADER)) loggedLore = content.split('\n').filter((l) => l.startsWith('- ')).map((l) => l.slice(2));
      else situation.push(content);
      rest = rest.slice(1);
    }
    const last = rest[rest.length - 1];
    const playerLine = last?.role === 'user' ? last.content : '';
    const memory = rest.slice(0, -1).map((m) => ({ role: m.role === 'user' ? 'player' : m.role === 'assistant' ? 'npc' : m.role, text: m.content }));
    const hits = script ? system.dialogue.compiled(script).lore.searchScored(playerLine, Math.max(8, deps.config.NPC_LORE_FACTS + 5)) : [];
    const score = new Map(hits.map((h) => [h.text, h.score]));
    const lore = [
      ...loggedLore.map((text) => ({ text, score: score.get(text) ?? null, inPrompt: true })),
      ...hits.filter((h) => !loggedLore.includes(h.text)).map((h) => ({ text: h.text, score: h.score, inPrompt: false })),
    ];
    const parsed = parseReply(turn.output);
    const sampling = turn.sampling as { grammar?: GrammarRecord };
    const alternatives = sampling.grammar?.bodies ?? [];
    const chosen = turn.finishReason === 'fallback' ? null : (parsed.body ?? (turn.action ? actionBody(turn.action as never) : null));
    return {
      turnId: turn.turnId,
      npcId: turn.npcId,
      npcName: script?.name ?? turn.npcId,
      playerId: turn.playerId,
      createdAt: turn.createdAt,
      seed: turn.seed,
      model: { id: turn.modelId, hash: turn.modelHash },
      sampling: Object.fromEntries(Object.entries(turn.sampling).filter(([k]) => k !== 'grammar')),
      finishReason: turn.finishReason,
      prompt: { persona, lore, situation: situation.join('\n\n'), memory, playerLine, rendered: turn.prompt },
      output: { raw: turn.output, speech: turn.finishReason === 'fallback' ? turn.output : parsed.speech, call: parsed.body, action: turn.action },
      grammar: { alternatives, chosen, maxSpeechTokens: sampling.grammar?.maxSpeechTokens ?? null, grounding: sampling.grammar?.grounding ?? null, callPrior: sampling.grammar?.callPrior ?? null },
      timings: timings.get(turn.turnId) ?? null,
    };
  };

  const route = (method: 'get' | 'post', path: string, handle: (req: { body: unknown; params: string[]; query: URLSearchParams }) => Promise<unknown> | unknown) => {
    app[method](path, (res: HttpResponse, req: HttpRequest) => {
      if (!deps.authorized(req)) {
        res.cork(() => {
          res.writeStatus('401 Unauthorized');
          for (const [k, v] of Object.entries(ADMIN_CHALLENGE)) res.writeHeader(k, v);
          res.end('{"error":"unauthorized","message":"the studio needs the admin token (ADMIN_TOKEN)"}');
        });
        return;
      }
      let aborted = false;
      res.onAborted(() => {
        aborted = true;
      });
      const params = [0, 1].map((i) => req.getParameter(i) ?? '');
      const query = new URLSearchParams(req.getQuery() ?? '');
      const contentType = req.getHeader('content-type');
      const respond = (status: number, body: unknown) => {
        if (!aborted) writeJson(res, status, body);
      };
      void (async () => {
        try {
          let body: unknown = {};
          if (method === 'post') {
            const raw = await readBody(res, MAX_BODY_BYTES);
            if (raw.length > 0) {
              if (!/^application\/json\b/i.test(contentType)) throw new StudioError(415, 'invalid_request', 'send JSON (Content-Type: application/json)');
              try {
                body = JSON.parse(raw.toString('utf8'));
              } catch {
                throw new StudioError(400, 'invalid_request', 'the body is not valid JSON');
              }
            }
          }
          respond(200, await handle({ body, params, query }));
        } catch (err) {
          if (err instanceof StudioError) respond(err.status, { error: err.code, message: err.message });
          else if (err instanceof BodyTooLarge) respond(413, { error: 'invalid_request', message: err.message });
          else {
            log.error({ err, path }, 'studio request failed');
            respond(500, { error: 'internal', message: err instanceof Error ? err.message : String(err) });
          }
        }
      })();
    });
  };

  route('get', '/studio/api/npcs', () =>
    brains()
      .scripts()
      .map((s): StudioNpc => ({ id: s.id, name: s.name, role: s.role, lore: s.lore.length, calls: brains().dialogue.compiled(s).grammar.bodies })),
  );

  route('get', '/studio/api/turns', async ({ query }) => {
    const npcId = query.get('npc') || undefined;
    const limit = Math.min(200, Math.max(1, Number(query.get('limit')) || 30));
    brains(); // (503 while NPC brains are off)
    return (await deps.store.listTurns({ ...(npcId ? { npcId } : {}), limit }))
      .map((t): StudioTurnSummary => {
        const messages = t.messages ?? [];
        const line = [...messages].reverse().find((m) => m.role === 'user')?.content ?? '';
        const parsed = parseReply(t.output);
        return { turnId: t.turnId, npcId: t.npcId, playerId: t.playerId, createdAt: t.createdAt, playerLine: line, speech: t.finishReason === 'fallback' ? t.output : parsed.speech, call: parsed.body, finishReason: t.finishReason };
      });
  });

  route('get', '/studio/api/turns/:id', async ({ params }) => {
    brains();
    const turn = await deps.store.getTurn(params[0]!);
    if (!turn) throw new StudioError(404, 'unknown_turn', `no turn "${params[0]}" in the turn log`);
    return explain(turn);
  });

  route('post', '/studio/api/talk', async ({ body }) => {
    const system = brains();
    const parsed = TalkSchema.safeParse(body);
    if (!parsed.success) throw new StudioError(400, 'invalid_request', parsed.error.issues[0]?.message ?? 'invalid request');
    const { npcId, text, seed, fresh } = parsed.data;
    const script = system.script(npcId);
    if (!script) throw new StudioError(404, 'unknown_npc', `no NPC "${npcId}" with a valid script`);
    let handle;
    try {
      handle = await system.dialogue.startTurn({ script, playerId: fresh ? `studio:${randomUUID()}` : STUDIO_PLAYER, text, ...(seed !== undefined ? { seed } : {}) });
    } catch (err) {
      if (err instanceof DialogueRefusal) throw new StudioError(422, 'moderated', err.message);
      throw err;
    }
    for await (const _ of handle.chunks); // drain: the studio shows the finished turn
    await handle.outcome;
    const logged = await deps.store.getTurn(handle.turnId);
    if (!logged) throw new StudioError(500, 'internal', 'the turn was not logged');
    return explain(logged);
  });

  route('post', '/studio/api/turns/:id/replay', async ({ params }): Promise<StudioReplay> => {
    const system = brains();
    const turn = await deps.store.getTurn(params[0]!);
    if (!turn) throw new StudioError(404, 'unknown_turn', `no turn "${params[0]}" in the turn log`);
    const script = system.script(turn.npcId);
    if (!script) throw new StudioError(404, 'unknown_npc', `NPC "${turn.npcId}" has no valid script now`);
    if (turn.modelHash !== system.modelHash) throw new StudioError(409, 'other_model', `the turn ran on another model (${turn.modelId}, ${turn.modelHash.slice(0, 12)}…)`);
    const sampling = turn.sampling as { temperature?: number; topP?: number; topK?: number; repetitionPenalty?: number; maxTokens: number; grammar: GrammarRecord };
    const text = system.text;
    const current = withCurrentScript(text, turn.prompt, sampling.grammar, script, world);
    const started = performance.now();
    const generation = system.engine.generate({
      prompt: current.prompt,
      maxTokens: sampling.maxTokens,
      ...(sampling.temperature !== undefined ? { temperature: sampling.temperature } : {}),
      ...(sampling.topP !== undefined ? { topP: sampling.topP } : {}),
      ...(sampling.topK !== undefined ? { topK: sampling.topK } : {}),
      ...(sampling.repetitionPenalty !== undefined ? { repetitionPenalty: sampling.repetitionPenalty } : {}),
      seed: turn.seed,
      priority: 'interactive',
      constraint: compileCallGrammar(current.grammar.bodies, text.tokenizer, current.grammar),
    });
    const result = await generation.result;
    const reply = parseReply(result.text);
    return {
      turnId: turn.turnId,
      seed: turn.seed,
      personaChanged: current.prompt.slice(0, current.prompt.indexOf('<|im_end|>')) !== turn.prompt.slice(0, turn.prompt.indexOf('<|im_end|>')),
      grammarChanged: JSON.stringify(current.grammar.bodies) !== JSON.stringify(sampling.grammar.bodies),
      alternatives: current.grammar.bodies,
      logged: turn.output,
      replayed: result.text,
      identical: result.text === turn.output,
      speech: reply.speech,
      call: reply.body,
      finishReason: result.finishReason,
      durationMs: Math.round(performance.now() - started),
    };
  });
}
