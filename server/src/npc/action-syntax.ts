/**
 * The action-call syntax NPC replies end with. One call, always last, always present:
 *
 *   <spoken reply> [[walk_to forge]]      [[give_item bread]]   [[emote wave]]
 *                  [[follow]]   [[stop]]   [[trade salt_pouch 3]]   [[point_at well]]   [[none]]
 *
 * A call is its kind's name and its arguments, space-separated; each kind (actions/<kind>.ts) says how
 * its arguments are written and read.
 *
 * Square brackets never occur in the spoken part (the decode-time grammar forbids them), so the first
 * "[" ends the speech. The grammar makes every generated call one of the NPC's legal calls; parsing
 * here still treats the text as untrusted (replayed or hand-edited logs go through it too).
 */
import { anyKind } from './actions/index.ts';
import { actionArgs, type NpcAction } from './script-schema.ts';

export const ACTION_OPEN = '[[';
export const ACTION_CLOSE = ']]';
/** The call for "no action". */
export const NO_ACTION = 'none';

/** The body of a call, e.g. `walk_to forge`, or `none` for no action. */
export function actionBody(action: NpcAction | null): string {
  if (!action) return NO_ACTION;
  return [action.type, ...actionArgs(action)].join(' ');
}

export function formatActionCall(action: NpcAction | null): string {
  return `${ACTION_OPEN}${actionBody(action)}${ACTION_CLOSE}`;
}

export interface ParsedReply {
  /** The spoken part, trimmed. */
  speech: string;
  /** The call's body as written, or null when the reply has no well-formed call. */
  body: string | null;
  /** The action the body names, or null for `none` / no call / a body that names no known action. */
  action: NpcAction | null;
  /** True when a call was present but is not well-formed or names no known action. */
  malformed: boolean;
}

const CALL = /^\[\[([a-z_]+)((?: [a-z0-9_-]+)*)\]\]\s*$/;

export function parseReply(text: string): ParsedReply {
  const open = text.indexOf('[');
  if (open < 0) return { speech: text.trim(), body: null, action: null, malformed: false };
  const speech = text.slice(0, open).trim();
  const call = text.slice(open);
  const match = CALL.exec(call);
  if (!match) return { speech, body: null, action: null, malformed: true };
  const [, name, rest] = match;
  const args = rest ? rest.trim().split(' ') : [];
  const body = [name!, ...args].join(' ');
  const action = toAction(name!, args);
  const malformed = action === undefined;
  return { speech, body, action: action ?? null, malformed };
}

/** undefined = not a known action shape; null = the explicit "none". */
function toAction(name: string, args: readonly string[]): NpcAction | null | undefined {
  if (name === NO_ACTION) return args.length === 0 ? null : undefined;
  return anyKind(name)?.parse(args);
}
