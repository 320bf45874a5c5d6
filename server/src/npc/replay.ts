/**
 * Replaying a logged turn against the NPC's script as it is now: the persona block at the head of the
 * logged prompt is swapped for the one the script gives today (lore, memory and the player's line stay
 * as logged), and the grammar's call bodies come from today's actions (an NPC-to-NPC line keeps its
 * `none`-only grammar). Used by `npm run npc:replay --
 * --current-script` and the designer view's replay button.
 */
import { renderChat, type ModelText } from '../inference/model/index.ts';
import { legalCallBodies } from './action-grammar.ts';
import type { GrammarRecord } from './dialogue.ts';
import { personaMessage, type WorldFacts } from './prompt.ts';
import type { NpcScript } from './script-schema.ts';
import { actionGate, hasGates } from './trust.ts';

/** End of a chat-template message (the ChatML family the project's models use). */
const MESSAGE_END = '<|im_end|>';

export function withCurrentScript(text: ModelText, loggedPrompt: string, grammar: GrammarRecord, script: NpcScript, world: WorldFacts): { prompt: string; grammar: GrammarRecord } {
  const end = loggedPrompt.indexOf(MESSAGE_END);
  if (end < 0) throw new Error('the logged prompt has no persona block to replace');
  const persona = renderChat(text, [personaMessage(script, world)], { addGenerationPrompt: false });
  // Today's trust gates at the trust the turn was logged with (a turn of a script without gates then: 0).
  const gate = hasGates(script.trust) ? actionGate(script.trust, grammar.trust ?? 0) : undefined;
  // An NPC-to-NPC line allows no action whatever the script lists: its `none`-only grammar stays.
  const bodies = grammar.ambient ? grammar.bodies : legalCallBodies(script.actions, gate);
  return { prompt: persona + loggedPrompt.slice(loggedPrompt.indexOf('\n', end) + 1), grammar: { ...grammar, bodies } };
}
