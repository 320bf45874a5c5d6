/** `[[follow]]`: the NPC follows the player until told to stop. */
import { z } from 'zod';
import { defineAction } from './kind.ts';

export const follow = defineAction({
  type: 'follow',
  domain: z.boolean().describe('may follow the player until told to stop'),
  call: z.strictObject({ type: z.literal('follow') }),
  args: () => [],
  parse: (args) => (args.length === 0 ? { type: 'follow' } : undefined),
  wireArgs: () => ({}),
  legal: (d) => (d ? [{ type: 'follow' as const }] : []),
  promptLine: () => '[[follow]] — follow the player until told to stop',
  execute: (_a, ctx) => {
    if (!ctx.playerPresent()) return { ok: false, why: 'the player left' };
    ctx.agent.follow(ctx.sessionId, ctx.now);
    return { ok: true };
  },
});
