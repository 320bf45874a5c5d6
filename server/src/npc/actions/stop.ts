/** `[[stop]]`: the NPC stops walking or following and resumes its routine. */
import { z } from 'zod';
import { defineAction } from './kind.ts';

export const stop = defineAction({
  type: 'stop',
  domain: z.boolean().describe('may stop what it is doing (walking, following)'),
  call: z.strictObject({ type: z.literal('stop') }),
  args: () => [],
  parse: (args) => (args.length === 0 ? { type: 'stop' } : undefined),
  wireArgs: () => ({}),
  legal: (d) => (d ? [{ type: 'stop' as const }] : []),
  promptLine: () => '[[stop]] — stop walking or following',
  execute: (_a, { agent }) => {
    agent.stop();
    return { ok: true };
  },
});
