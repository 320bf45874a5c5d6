/**
 * `--find-knee`: the CCU knee — the largest player count whose tick p99 stays under a target — found by
 * a ramp (×1.5 from `min`) until a count fails, then a bisection between the last count that held and
 * the first that did not, bounded in time (`budgetMs`: no new probe starts after it). On a shared machine
 * one slow moment can fail a count that holds, so a failing count is probed once more and fails only if
 * both runs do (each run is listed).
 *
 * A count also fails when the server did not keep its patch rate (frames per room per second below
 * `minFrameShare` of the expected rate, 95 %): frame time alone no longer shows an overloaded event loop
 * once socket writes leave the frame (world rooms publish each group's frame and uWS writes the sockets
 * after the room's timer returns), and a loop that runs late keeps short frames while it misses frames.
 */

export interface KneeProbe {
  players: number;
  /** Tick p99 (ms) under that load; null when the server reported none. */
  tickP99Ms: number | null;
  /** Players that actually joined (a count that cannot even join does not hold). */
  joined: number;
  /** State frames per room per second, and the patch rate it should be (null when not known). */
  framesPerRoomS?: number | null;
  expectedFramesPerRoomS?: number | null;
  holds: boolean;
}

export interface KneeResult {
  /** Largest count that held (below `min` when `min` already failed; 0 when not even one player holds). */
  knee: number;
  /** The smallest count that did not hold, if one was probed. */
  firstFailing: number | undefined;
  probes: KneeProbe[];
  /** Why the search stopped: found (ramp and bisection done), max (held up to `max`), budget (time ran out). */
  stoppedBy: 'found' | 'max' | 'budget';
}

export interface KneeSearch {
  min: number;
  max: number;
  targetMs: number;
  budgetMs: number;
  /** Bisection stops when the bracket is narrower than this fraction of the knee (default 0.1). */
  resolution?: number;
  /** Share of the expected frames per room per second a count must keep (default 0.95). */
  minFrameShare?: number;
  now?: () => number;
}

/** Runs the search; `probe(players)` loads the server with that many players and reports its tick p99. */
export async function findKnee(
  probe: (players: number) => Promise<{ tickP99Ms: number | null; joined: number; framesPerRoomS?: number | null; expectedFramesPerRoomS?: number | null }>,
  search: KneeSearch,
): Promise<KneeResult> {
  const now = search.now ?? Date.now;
  const deadline = now() + search.budgetMs;
  const probes: KneeProbe[] = [];
  const share = search.minFrameShare ?? 0.95;
  const once = async (players: number): Promise<boolean> => {
    const r = await probe(players);
    const frames = r.framesPerRoomS ?? null;
    const expected = r.expectedFramesPerRoomS ?? null;
    const keptRate = frames === null || expected === null || frames >= share * expected;
    const holds = r.tickP99Ms !== null && r.tickP99Ms < search.targetMs && r.joined >= players && keptRate;
    probes.push({ players, tickP99Ms: r.tickP99Ms, joined: r.joined, ...(frames !== null ? { framesPerRoomS: frames } : {}), ...(expected !== null ? { expectedFramesPerRoomS: expected } : {}), holds });
    return holds;
  };
  const run = async (players: number): Promise<boolean> => (await once(players)) || (now() <= deadline && (await once(players)));
  let good = 0;
  let bad: number | undefined;
  for (let n = search.min; ; n = Math.min(search.max, Math.ceil(n * 1.5))) {
    if (now() > deadline) return { knee: good, firstFailing: bad, probes, stoppedBy: 'budget' };
    if (await run(n)) good = n;
    else {
      bad = n;
      break;
    }
    if (n >= search.max) return { knee: good, firstFailing: undefined, probes, stoppedBy: 'max' };
  }
  const resolution = search.resolution ?? 0.1;
  while (bad - good > Math.max(1, Math.ceil(good * resolution))) {
    if (now() > deadline) return { knee: good, firstFailing: bad, probes, stoppedBy: 'budget' };
    const mid = Math.floor((good + bad) / 2);
    if (await run(mid)) good = mid;
    else bad = mid;
  }
  return { knee: good, firstFailing: bad, probes, stoppedBy: 'found' };
}
