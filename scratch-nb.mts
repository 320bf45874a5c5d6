import { LineIndex } from './server/src/npc/line-index.ts';
import { splitWords } from './server/src/npc/lore-index.ts';
import { actionMemoryTerm, readActionMemoryFile } from './server/src/npc/action-memory.ts';
const file = readActionMemoryFile('assets/models/default')!;
const npc = process.argv[2]!;
const lines = file.npcs[npc]!;
const idx = new LineIndex(lines.map(([t]) => t), { tokenize: splitWords, processTerm: actionMemoryTerm, related: (t) => file.related?.[t] });
for (const q of process.argv.slice(3)) {
  console.log('==', q);
  for (const h of idx.search(q, 10)) console.log(h.score.toFixed(2), lines[h.id]![1], '|', lines[h.id]![0]);
}
