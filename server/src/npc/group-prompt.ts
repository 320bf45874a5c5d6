/**
 * The prompt of a group round (group-conversation.ts): the one-player prompt (prompt.ts `turnMessages`,
 * which the default model is trained on and which stays byte-identical for a round of one line) with the
 * other players' lines of the round inserted just before the addressed speaker's line, one user message
 * each, prefixed with the speaker's display name.
 *
 * Those lines are as untrusted as the player's own: they are user content, never system text, so they
 * cannot pose as rules; the name is quoted (quoteUntrusted: it cannot close its quotes, start a line or
 * carry call brackets); and nothing in a prompt can unlock an action — the grammar comes from the script
 * and the addressed speaker's trust alone.
 */
import type { ChatMessage } from '../inference/tokenizer/index.ts';
import type { AssembledPrompt } from './prompt.ts';
import { quoteUntrusted } from './situation.ts';

export interface HeardLine {
  /** The speaker's display name (untrusted). */
  name: string;
  /** What they said (moderated; untrusted). */
  text: string;
}

/** Longest display name shown before a line (display names are shorter; this only bounds the quote). */
const NAME_CHARS = 40;

/** One other player's line of the round as user content: `"Bea" says: where is the inn?`. */
export function heardLineMessage(line: HeardLine): ChatMessage {
  return { role: 'user', content: `${quoteUntrusted(line.name, NAME_CHARS)} says: ${line.text}` };
}

/** The one-player prompt with the round's other lines (oldest first) before its last message, the addressed line. */
export function withGroupLines(assembled: AssembledPrompt, others: readonly HeardLine[]): AssembledPrompt {
  if (others.length === 0) return assembled;
  const messages = assembled.messages.slice();
  const addressed = messages.pop()!;
  return { ...assembled, messages: [...messages, ...others.map(heardLineMessage), addressed] };
}
