/**
 * Talk to an NPC: walk up to it, say a line, print the reply as it streams, show the action the NPC
 * took and rate the turn. Every refusal is a TalkError with a code.
 * Usage: node --import tsx client-sdk/examples/talk.ts [npc-id] [line] [endpoint]
 */
import { TalkError, WorldClient } from '../src/index.ts';

const [npcId = 'roderick', line = 'Good day! What news from the road?', endpoint = 'ws://localhost:2567'] = process.argv.slice(2);

const world = await WorldClient.connect({ endpoint, name: 'Talker' });
try {
  // NPCs are replicated only near you (area of interest): walk toward the NPC's home until it is in
  // view, then up to it. Its home is on the map; the gate's sergeant stands near the spawn points.
  const deadline = Date.now() + 30_000;
  for (;;) {
    const npc = world.npcs.get(npcId);
    const me = world.me;
    if (npc && me && Math.hypot(npc.x - me.x, npc.z - me.z) <= 3) break;
    if (Date.now() > deadline) throw new Error(`could not reach ${npcId}`);
    if (npc) world.move({ target: { x: npc.x - 1.5, z: npc.z }, run: true });
    await new Promise((r) => setTimeout(r, 200));
  }
  world.move({ stop: true });

  const turn = world.talk(npcId, line);
  process.stdout.write(`> ${line}\n< `);
  for await (const chunk of turn) process.stdout.write(chunk.text); // the reply, as it is generated
  const result = await turn.result;
  process.stdout.write('\n');
  console.log(`action: ${result.action ? `${result.action.name} ${JSON.stringify(result.action.args)}` : 'none'}`);
  console.log(`finish: ${result.finishReason}${result.finishReason === 'fallback' ? ' (the NPC was too busy: a scripted line)' : ''}`);
  console.log(`first text after ${result.firstChunkMs.toFixed(0)} ms; ${result.tokens ?? '?'} tokens`);
  await world.rateTurn(result.turnId, 1, 'nice');
} catch (err) {
  if (err instanceof TalkError) console.error(`refused (${err.code}): ${err.message}`); // too_far, busy, rate_limited, moderated, …
  else throw err;
} finally {
  await world.leave();
}
