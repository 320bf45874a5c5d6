/** `[[emote <emote>]]`: the NPC plays a gesture (replicated as its `anim`). */
import { z } from 'zod';
import { defineAction, duplicates, EMOTES } from './kind.ts';

export const emote = defineAction({
  type: 'emote',
  domain: z.array(z.enum(EMOTES)).min(1, 'list at least one emote').describe('emotes this NPC may play'),
  call: z.strictObject({ type: z.literal('emote'), emote: z.enum(EMOTES) }),
  args: (a) => [a.emote],
  parse: ([name, ...rest]) => {
    const parsed = z.enum(EMOTES).safeParse(name);
    // An unknown emote name still parses as a call (it is then not legal for any NPC).
    return name && rest.length === 0 ? { type: 'emote', emote: (parsed.success ? parsed.data : name) as (typeof EMOTES)[number] } : undefined;
  },
  wireArgs: (a) => ({ emote: a.emote }),
  legal: (d) => d.map((e) => ({ type: 'emote' as const, emote: e })),
  promptLine: (d) => `[[emote <emote>]] — gesture; emotes: ${d.join(', ')}`,
  checkScript: (d, _script, issue) => duplicates(d, ['actions', 'emote'], 'emote', issue),
  execute: (a, { agent, now }) => {
    agent.emote(a.emote, now);
    return { ok: true };
  },
});
