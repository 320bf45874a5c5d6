/**
 * The action-call syntax NPC replies end with. One call, always last, always present:
 *
 *   <spoken reply> [[walk_to forge]]      [[give_item bread]]   [[emote wave]]
 *                  [[follow]]   [[stop]]   [[none]]
 *
 * Square brackets never occur in the spoken part (the decode-time grammar forbids them), so the first
 * "[" ends the speech. The grammar makes every generated call one of the NPC's legal calls; parsing
 * here still treats the text as untrusted (replayed or hand-edited logs go through it too).
 */
import type { NpcAction } from './script-schema.ts';

export const ACTION_OPEN = '[[';
export const ACTION_CLOSE = ']]';
/** The call for "no action". */
export const NO_ACTION = 'none';

/** The body of a call, e.g. `walk_to forge`, or `none` for no action. */
export function actionBody(action: NpcAction | null): string {
  if (!action) return NO_ACTION;
  switch (action.type) {
    case 'walk_to': return `walk_to ${action.landmark}`;
    case 'give_item': return `give_item ${action.item}`;
    case 'emote': return `emote ${action.emote}`;
    default: return action.type;
  }
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

const CALL = /^\[\[([a-z_]+)(?: ([a-z0-9_-]+))?\]\]\s*$/;

export function parseReply(text: string): ParsedReply {
  const open = text.indexOf('[');
  if (open < 0) return { speech: text.trim(), body: null, action: null, malformed: false };
  const speech = text.slice(0, open).trim();
  const call = text.slice(open);
  const match = CALL.exec(call);
  if (!match) return { speech, body: null, action: null, malformed: true };
  const [, name, arg] = match;
  const body = arg ? `${name} ${arg}` : name!;
  const action = toAction(name!, arg);
  const malformed = action === undefined;
  return { speech, body, action: action ?? null, malformed };
}

/** undefined = not a known action shape; null = the explicit "none". */
function toAction(name: string, arg: string | undefined): NpcAction | null | undefined {
  if (name === NO_ACTION && !arg) return null;
  if (name === 'walk_to' && arg) return { type: 'walk_to', landmark: arg };
  if (name === 'give_item' && arg) return { type: 'give_item', item: arg };
  if (name === 'emote' && arg) return { type: 'emote', emote: arg as Extract<NpcAction, { type: 'emote' }>['emote'] };
  if ((name === 'follow' || name === 'stop') && !arg) return { type: name };
  return undefined;
}
