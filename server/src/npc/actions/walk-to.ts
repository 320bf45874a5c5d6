/** `[[walk_to <place>]]`: the NPC walks to one of its landmarks along a path around obstacles. */
import { z } from 'zod';
import { defineAction, duplicates, slug } from './kind.ts';

export const walkTo = defineAction({
  type: 'walk_to',
  domain: z.strictObject({
    landmark: z.array(slug('a landmark id')).min(1, 'list at least one landmark').describe('landmark ids (from the world map) this NPC may walk to'),
  }).describe('walk to one of these landmarks'),
  call: z.strictObject({ type: z.literal('walk_to'), landmark: slug('a landmark id') }),
  args: (a) => [a.landmark],
  parse: ([landmark, ...rest]) => (landmark && rest.length === 0 ? { type: 'walk_to', landmark } : undefined),
  wireArgs: (a) => ({ landmark: a.landmark }),
  legal: (d) => d.landmark.map((landmark) => ({ type: 'walk_to' as const, landmark })),
  promptLine: (d, world) => {
    const name = new Map(world.landmarks.map((l) => [l.id, l.name]));
    return `[[walk_to <place>]] — walk there; places: ${d.landmark.map((id) => `${id} (${name.get(id) ?? id})`).join(', ')}`;
  },
  checkScript: (d, _script, issue) => duplicates(d.landmark, ['actions', 'walk_to', 'landmark'], 'landmark', issue),
  checkMap: (d, map) => d.landmark.forEach((id, i) => map.checkLandmark(id, ['actions', 'walk_to', 'landmark', i])),
  callLandmarks: (a) => [a.landmark],
  execute: (a, { agent, now }) => {
    const target = agent.resolvePlace(a.landmark);
    if (!target) return { ok: false, why: `no landmark "${a.landmark}" on this map` };
    if (!agent.walkTo(target, now)) return { ok: false, why: `no path to ${a.landmark}` };
    return { ok: true };
  },
});
