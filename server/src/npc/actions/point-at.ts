/** `[[point_at <place>]]`: the NPC turns toward one of its landmarks and points, without leaving its post. */
import { z } from 'zod';
import { defineAction, duplicates, slug } from './kind.ts';

export const pointAt = defineAction({
  type: 'point_at',
  domain: z.strictObject({
    landmark: z.array(slug('a landmark id')).min(1, 'list at least one landmark').describe('landmark ids (from the world map) this NPC may point at'),
  }).describe('point the way to one of these landmarks'),
  call: z.strictObject({ type: z.literal('point_at'), landmark: slug('a landmark id') }),
  args: (a) => [a.landmark],
  parse: ([landmark, ...rest]) => (landmark && rest.length === 0 ? { type: 'point_at', landmark } : undefined),
  wireArgs: (a) => ({ landmark: a.landmark }),
  legal: (d) => d.landmark.map((landmark) => ({ type: 'point_at' as const, landmark })),
  promptLine: (d, world) => {
    const name = new Map(world.landmarks.map((l) => [l.id, l.name]));
    return `[[point_at <place>]] — point the way there without leaving; places: ${d.landmark.map((id) => `${id} (${name.get(id) ?? id})`).join(', ')}`;
  },
  checkScript: (d, _script, issue) => duplicates(d.landmark, ['actions', 'point_at', 'landmark'], 'landmark', issue),
  checkMap: (d, map) => d.landmark.forEach((id, i) => map.checkLandmark(id, ['actions', 'point_at', 'landmark', i])),
  callLandmarks: (a) => [a.landmark],
  execute: (a, { agent, now }) => {
    const target = agent.resolvePlace(a.landmark);
    if (!target) return { ok: false, why: `no landmark "${a.landmark}" on this map` };
    agent.pointAt(target, now);
    return { ok: true };
  },
});
