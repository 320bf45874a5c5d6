/**
 * The action-call syntax of NPC replies. One call, always first, always present, then the speech:
 *
 *   [[walk_to forge]] <spoken reply>      [[give_item bread]]   [[emote wave]]
 *   [[follow]]   [[stop]]   [[trade salt_pouch 3]]   [[point_at well]]   [[none]]
 *
 * A call is its kind's name and its arguments, space-separated; each kind (actions/<kind>.ts) says how
 * its arguments are written and read.
 *
 * Why the call comes first: the decision is then made by the first tokens, right after the player's line,
 * where it is nearly certain given the request ("take me to the forge" → walk_to forge), and the speech is
 * written knowing what the NPC does. With the call last, the first speech token carried the decision
 * mixed with style ("Follow me" / "I'll show you" / "I can't leave my post"), greedy decoding took the
 * most common opener across all intents, and the call followed the speech: on the previous default model
 * the first reply token was the expected one for 3 of 25 training requests.
 *
 * Square brackets never occur in the spoken part (the decode-time grammar forbids them), so the first
 * "]]" ends the call. The grammar makes every generated call one of the NPC's legal calls; parsing here
 * still treats the text as untrusted (replayed or hand-edited logs go through it too), and also reads
 * the older layout (speech, then the call last) that turn logs written before the change hold.
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

/** A whole reply as the model writes it: the call, then the speech. The one place that fixes the layout. */
export function formatReply(speech: string, action: NpcAction | null): string {
  const spoken = speech.trim();
  return spoken ? `${formatActionCall(action)} ${spoken}` : formatActionCall(action);
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
  const trimmed = text.trimStart();
  if (trimmed.startsWith('[')) {
    // The call first: it runs to the first "]]"; the speech is everything after it.
    const end = trimmed.indexOf(ACTION_CLOSE);
    const call = end < 0 ? trimmed : trimmed.slice(0, end + ACTION_CLOSE.length);
    const speech = end < 0 ? '' : trimmed.slice(end + ACTION_CLOSE.length).trim();
    if (speech.includes('[') || speech.includes(']')) return { speech: speech.replace(/[[\]]/g, '').trim(), body: null, action: null, malformed: true };
    return parseCall(call, speech);
  }
  // The older layout: speech, then the call last.
  const open = text.indexOf('[');
  if (open < 0) return { speech: text.trim(), body: null, action: null, malformed: false };
  return parseCall(text.slice(open), text.slice(0, open).trim());
}

function parseCall(call: string, speech: string): ParsedReply {
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
