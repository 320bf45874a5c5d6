/**
 * A minimal bot: joins the world, walks toward a landmark and reports who it sees, then leaves.
 * Usage: node --import tsx client-sdk/examples/wander.ts [name] [landmark-id] [seconds] [endpoint]
 */
import { WorldClient } from '../src/index.ts';

const [name = 'Wanderer', landmarkId = 'well', seconds = '5', endpoint = 'ws://localhost:2567'] = process.argv.slice(2);

const world = await WorldClient.connect({ endpoint, name });
const [welcome] = await world.next('welcome');
const landmark = welcome.landmarks.find((l) => l.id === landmarkId);
if (!landmark) throw new Error(`no landmark "${landmarkId}"; try one of ${welcome.landmarks.map((l) => l.id).join(', ')}`);

console.log(`${name} joined ${welcome.worldName} (room ${world.roomId}) and walks to ${landmark.name}`);
world.on('avatarAdd', (a) => a.sessionId !== world.sessionId && console.log(`${name} sees ${a.name} at ${a.x.toFixed(1)}, ${a.z.toFixed(1)}`));
world.on('avatarRemove', (a) => console.log(`${name} lost sight of ${a.name}`));
world.on('npcAdd', (n) => console.log(`${name} sees ${n.name}, the ${n.role}`));
world.on('chat', (m) => console.log(`${name} hears ${m.name}: ${m.text}`));
world.move({ target: { x: landmark.x, z: landmark.z }, run: true });
world.say(`${name} heading to ${landmark.name}!`);

await new Promise((r) => setTimeout(r, Number(seconds) * 1000));
const me = world.me!;
console.log(`${name} is at ${me.x.toFixed(1)}, ${me.z.toFixed(1)}; sees ${[...world.avatars.values()].filter((a) => a.sessionId !== world.sessionId).map((a) => `${a.name} (${a.x.toFixed(1)}, ${a.z.toFixed(1)})`).join(', ') || 'nobody'}`);
await world.leave();
