/**
 * The OpenAI-compatible HTTP API of the inference service, so existing tools and client libraries use the
 * same batched engine the NPCs use: `GET /v1/models` and `POST /v1/chat/completions` (whole answers, or
 * `stream: true` as server-sent events ending in `data: [DONE]`). Messages are rendered with the model's
 * own chat template (renderChat), exactly as NPC prompts are. Errors use OpenAI's shape
 * `{ error: { message, type, param, code } }`.
 *
 * Extensions beyond OpenAI's fields: `top_k`, `repetition_penalty`, and `priority` (`ambient` by default,
 * so tools never take batch slots ahead of players talking to NPCs; `interactive` to compete with them).
 * Fields the engine cannot honour (n > 1, tools, logprobs, penalties other than 0, JSON response formats)
 * are refused with a 400 naming the field, never silently ignored.
 */
import { randomUUID } from 'node:crypto';
import type { HttpRequest, HttpResponse, TemplatedApp } from 'uWebSockets.js';
import { z } from 'zod';
import type { GenerationEngine } from '../engine/engine-api.ts';
import { EngineError, type EngineErrorCode } from '../engine/errors.ts';
import type { Generation } from '../engine/generation.ts';
import type { FinishReason, GenerationResult } from '../engine/protocol.ts';
import { renderChat, type ModelText } from '../model/index.ts';
import type { ChatMessage } from '../tokenizer/index.ts';
import { BodyTooLarge, isAdmin, readBody, statusLine } from '../../http-surface.ts';
import type { Logger } from '../../observability/logger.ts';

export interface OpenAiDeps {
  engine: GenerationEngine;
  text: ModelText;
  modelId: string;
  /** When set, every /v1 request needs `Authorization: Bearer <key>`. */
  apiKey: string | undefined;
  log: Logger;
  /** Called once per chat completion with how it ended (a finish reason or an error code). */
  onOutcome?: (outcome: string) => void;
}

const MAX_BODY_BYTES = 4 * 1024 * 1024;
const startedAt = Math.floor(Date.now() / 1000);

const TextPart = z.looseObject({ type: z.literal('text'), text: z.string() });
const MessageSchema = z.looseObject({
  role: z.enum(['system', 'developer', 'user', 'assistant']),
  content: z.union([z.string(), z.array(TextPart)]),
});
const zeroPenalty = z.number().refine((v) => v === 0, 'only 0 is supported (use repetition_penalty)').nullish();

export const ChatCompletionRequestSchema = z.looseObject({
  model: z.string().min(1),
  messages: z.array(MessageSchema).min(1).max(10_000),
  max_tokens: z.number().int().min(1).nullish(),
  max_completion_tokens: z.number().int().min(1).nullish(),
  temperature: z.number().min(0).max(2).nullish(),
  top_p: z.number().gt(0).max(1).nullish(),
  top_k: z.number().int().min(0).nullish(),
  repetition_penalty: z.number().positive().nullish(),
  seed: z.number().int().nullish(),
  stop: z.union([z.string().min(1), z.array(z.string().min(1)).max(4)]).nullish(),
  stream: z.boolean().nullish(),
  stream_options: z.looseObject({ include_usage: z.boolean().optional() }).nullish(),
  n: z.literal(1, 'only n=1 is supported').nullish(),
  presence_penalty: zeroPenalty,
  frequency_penalty: zeroPenalty,
  logprobs: z.literal(false, 'logprobs are not supported').nullish(),
  tools: z.array(z.unknown()).max(0, 'tools are not supported').nullish(),
  tool_choice: z.literal('none', 'tools are not supported').nullish(),
  response_format: z.looseObject({ type: z.literal('text', 'only the text response format is supported') }).nullish(),
  priority: z.enum(['interactive', 'ambient']).optional(),
});
type ChatCompletionRequest = z.infer<typeof ChatCompletionRequestSchema>;

interface OpenAiErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly type: string,
    message: string,
    readonly code: string | null = null,
    readonly param: string | null = null,
  ) {
    super(message);
  }

  body(): OpenAiErrorBody {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

/** Engine rejections as OpenAI answers them: overload is a 429 (retry later), a prompt that can never fit a 400. */
function fromEngineError(error: EngineError): ApiError {
  const map: Record<EngineErrorCode, [number, string, string]> = {
    'queue-full': [429, 'rate_limit_error', 'rate_limit_exceeded'],
    shed: [429, 'rate_limit_error', 'rate_limit_exceeded'],
    'kv-exhausted': [429, 'rate_limit_error', 'rate_limit_exceeded'],
    'deadline-exceeded': [503, 'server_error', 'timeout'],
    'never-fits': [400, 'invalid_request_error', 'context_length_exceeded'],
    'invalid-request': [400, 'invalid_request_error', 'invalid_request'],
    aborted: [499, 'invalid_request_error', 'cancelled'],
    'worker-died': [503, 'server_error', 'engine_restarting'],
    closed: [503, 'server_error', 'shutting_down'],
    internal: [500, 'server_error', 'internal_error'],
  };
  const [status, type, code] = map[error.code];
  return new ApiError(status, type, error.message, code);
}

function finishReason(reason: FinishReason): 'stop' | 'length' {
  return reason === 'length' ? 'length' : 'stop';
}

export function mountOpenAi(app: TemplatedApp, deps: OpenAiDeps): void {
  const authorized = (req: HttpRequest) => deps.apiKey === undefined || isAdmin(req.getHeader('authorization'), deps.apiKey);
  const unauthorized = new ApiError(401, 'invalid_request_error', 'Incorrect or missing API key: send "Authorization: Bearer <INFERENCE_API_KEY>".', 'invalid_api_key');

  app.get('/v1/models', (res, req) => {
    if (!authorized(req)) return sendError(res, unauthorized);
    sendJson(res, 200, { object: 'list', data: [{ id: deps.modelId, object: 'model', created: startedAt, owned_by: 'worldmind' }] });
  });

  app.get('/v1/models/*', (res, req) => {
    if (!authorized(req)) return sendError(res, unauthorized);
    const id = decodeURIComponent(req.getUrl().slice('/v1/models/'.length));
    if (id !== deps.modelId) return sendError(res, new ApiError(404, 'invalid_request_error', `The model '${id}' does not exist; this service serves '${deps.modelId}'.`, 'model_not_found', 'model'));
    sendJson(res, 200, { id: deps.modelId, object: 'model', created: startedAt, owned_by: 'worldmind' });
  });

  app.post('/v1/chat/completions', (res, req) => {
    const ok = authorized(req);
    const connection = { aborted: false, generation: undefined as Generation | undefined };
    res.onAborted(() => {
      connection.aborted = true;
      // The caller hung up (a closed stream): free the sequence now instead of generating for nobody.
      connection.generation?.cancel();
    });
    if (!ok) return sendError(res, unauthorized, connection);
    void (async () => {
      let raw: Buffer;
      try {
        raw = await readBody(res, MAX_BODY_BYTES);
      } catch (err) {
        if (err instanceof BodyTooLarge) return sendError(res, new ApiError(413, 'invalid_request_error', err.message), connection);
        throw err;
      }
      let body: unknown;
      try {
        body = JSON.parse(raw.toString('utf8'));
      } catch {
        return sendError(res, new ApiError(400, 'invalid_request_error', 'The request body is not valid JSON.'), connection);
      }
      const parsed = ChatCompletionRequestSchema.safeParse(body);
      if (!parsed.success) {
        const issue = parsed.error.issues[0]!;
        const param = issue.path.join('.') || null;
        return sendError(res, new ApiError(400, 'invalid_request_error', `${param ?? 'body'}: ${issue.message}`, 'invalid_request', param), connection);
      }
      await complete(res, parsed.data, connection);
    })().catch((err: unknown) => {
      deps.log.error({ err }, 'chat completion failed');
      sendError(res, new ApiError(500, 'server_error', 'The inference service failed to answer; see its log.'), connection);
    });
  });

  app.any('/v1/*', (res, req) => {
    sendError(res, new ApiError(404, 'invalid_request_error', `Unknown endpoint ${req.getMethod().toUpperCase()} ${req.getUrl()} (this service has GET /v1/models and POST /v1/chat/completions).`, 'not_found'));
  });

  async function complete(res: HttpResponse, request: ChatCompletionRequest, connection: { aborted: boolean; generation: Generation | undefined }): Promise<void> {
    if (request.model !== deps.modelId) {
      return sendError(res, new ApiError(404, 'invalid_request_error', `The model '${request.model}' does not exist; this service serves '${deps.modelId}'.`, 'model_not_found', 'model'), connection);
    }
    const messages: ChatMessage[] = request.messages.map((m) => ({
      role: m.role === 'developer' ? 'system' : m.role,
      content: typeof m.content === 'string' ? m.content : m.content.map((p) => p.text).join(''),
    }));
    let prompt: string;
    try {
      prompt = renderChat(deps.text, messages);
    } catch (err) {
      return sendError(res, new ApiError(400, 'invalid_request_error', `The messages cannot be rendered with the model's chat template: ${(err as Error).message}`, 'invalid_request', 'messages'), connection);
    }
    const stop = request.stop == null ? undefined : typeof request.stop === 'string' ? [request.stop] : request.stop;
    const maxTokens = request.max_completion_tokens ?? request.max_tokens ?? undefined;
    const generation = deps.engine.generate({
      prompt,
      ...(maxTokens != null ? { maxTokens } : {}),
      ...(request.temperature != null ? { temperature: request.temperature } : {}),
      ...(request.top_p != null ? { topP: request.top_p } : {}),
      ...(request.top_k != null ? { topK: request.top_k } : {}),
      ...(request.repetition_penalty != null ? { repetitionPenalty: request.repetition_penalty } : {}),
      ...(request.seed != null ? { seed: request.seed } : {}),
      ...(stop ? { stop } : {}),
      priority: request.priority ?? 'ambient',
    });
    connection.generation = generation;
    if (connection.aborted) generation.cancel();
    const id = `chatcmpl-${randomUUID().replaceAll('-', '')}`;
    const created = Math.floor(Date.now() / 1000);

    if (!request.stream) {
      let result: GenerationResult;
      try {
        result = await generation.result;
      } catch (err) {
        return failed(res, err, connection);
      }
      deps.onOutcome?.(result.finishReason);
      sendJson(
        res,
        200,
        {
          id,
          object: 'chat.completion',
          created,
          model: deps.modelId,
          choices: [{ index: 0, message: { role: 'assistant', content: result.text }, logprobs: null, finish_reason: finishReason(result.finishReason) }],
          usage: usage(result),
        },
        connection,
      );
      return;
    }

    // Streaming: the status line waits for the first text, so a request refused at admission (queue full,
    // never fits) still gets its proper HTTP status instead of an error buried in a 200 stream.
    let started = false;
    const chunk = (delta: Record<string, string>, finish: string | null) => ({ id, object: 'chat.completion.chunk', created, model: deps.modelId, choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }] });
    const write = (payload: unknown) => {
      if (connection.aborted) return;
      res.cork(() => {
        if (!started) {
          started = true;
          res.writeStatus('200 OK').writeHeader('Content-Type', 'text/event-stream').writeHeader('Cache-Control', 'no-store').writeHeader('X-Accel-Buffering', 'no');
          res.write(`data: ${JSON.stringify(chunk({ role: 'assistant', content: '' }, null))}\n\n`);
        }
        if (payload !== undefined) res.write(`data: ${JSON.stringify(payload)}\n\n`);
      });
    };
    try {
      for await (const piece of generation) {
        if (piece.text) write(chunk({ content: piece.text }, null));
      }
      const result = await generation.result;
      deps.onOutcome?.(result.finishReason);
      write(chunk({}, finishReason(result.finishReason)));
      if (request.stream_options?.include_usage) write({ id, object: 'chat.completion.chunk', created, model: deps.modelId, choices: [], usage: usage(result) });
      if (!connection.aborted) res.cork(() => res.end('data: [DONE]\n\n'));
    } catch (err) {
      if (!started) return failed(res, err, connection);
      // Headers are out: the error travels as one more event in OpenAI's error shape, then the stream ends.
      const apiError = err instanceof EngineError ? fromEngineError(err) : new ApiError(500, 'server_error', String(err));
      deps.onOutcome?.(err instanceof EngineError ? err.code : 'internal');
      write(apiError.body());
      if (!connection.aborted) res.cork(() => res.end('data: [DONE]\n\n'));
    }
  }

  function failed(res: HttpResponse, err: unknown, connection: { aborted: boolean }): void {
    const apiError = err instanceof EngineError ? fromEngineError(err) : new ApiError(500, 'server_error', String(err));
    deps.onOutcome?.(err instanceof EngineError ? err.code : 'internal');
    sendError(res, apiError, connection);
  }
}

function usage(result: GenerationResult) {
  return { prompt_tokens: result.promptTokens, completion_tokens: result.tokens.length, total_tokens: result.promptTokens + result.tokens.length };
}

function sendJson(res: HttpResponse, status: number, body: unknown, connection: { aborted: boolean } = { aborted: false }, headers: Record<string, string> = {}): void {
  if (connection.aborted) return;
  res.cork(() => {
    res.writeStatus(status === 503 ? '503 Service Unavailable' : statusLine(status));
    for (const [k, v] of Object.entries(headers)) res.writeHeader(k, v);
    res.writeHeader('Content-Type', 'application/json').writeHeader('Cache-Control', 'no-store').end(JSON.stringify(body));
  });
}

function sendError(res: HttpResponse, error: ApiError, connection: { aborted: boolean } = { aborted: false }): void {
  sendJson(res, error.status, error.body(), connection, error.status === 429 ? { 'Retry-After': '1' } : {});
}
