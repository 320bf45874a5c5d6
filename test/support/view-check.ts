/** Checks shared by the loopback AOI tests: does a client decode exactly what its server-side view holds? */
import type { WorldClient } from '../../client-sdk/src/index.ts';
import type { WorldRoom } from '../../server/src/world/world-room.ts';

/** Undefined when the client decodes exactly what its view holds, at the server's positions; else what differs. */
export function viewMismatch(room: WorldRoom, c: WorldClient): string | undefined {
  const view = room.interest.visibleTo(c.sessionId);
  if (!view) return `${c.sessionId} has no view`;
  const expected = new Map<string, { x: number; z: number }>();
  for (const body of view) {
    const b = body as unknown as { sessionId?: string; id?: string; x: number; z: number };
    expected.set(b.sessionId ?? `npc:${b.id}`, b);
  }
  const seen = new Map<string, { x: number; z: number }>();
  for (const [id, a] of c.avatars) seen.set(id, a);
  for (const [id, n] of c.npcs) seen.set(`npc:${id}`, n);
  if (!seen.has(c.sessionId)) return `${c.sessionId} does not see itself`;
  const keys = (m: Map<string, unknown>) => [...m.keys()].sort().join(',');
  if (keys(seen) !== keys(expected)) return `${c.sessionId} sees ${keys(seen)}, its view holds ${keys(expected)}`;
  for (const [id, truth] of expected) {
    const got = seen.get(id)!;
    if (Math.abs(got.x - truth.x) > 0.006 || Math.abs(got.z - truth.z) > 0.006) return `${c.sessionId} has ${id} at ${got.x},${got.z}, the server at ${truth.x},${truth.z}`;
  }
  return undefined;
}
