/** Lore retrieval over real script facts, and conversation memory within a token budget. */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { createLoreIndex, stem } from '../../server/src/npc/lore-index.ts';
import { ConversationMemory, type MemoryTurn, type TurnStore } from '../../server/src/npc/memory.ts';
import { loadNpcScripts } from '../../server/src/npc/script-loader.ts';

const npcDir = join(fileURLToPath(new URL('../../', import.meta.url)), 'assets/npcs');
const scripts = loadNpcScripts(npcDir).byId;

describe('lore index (BM25 over an NPC\'s facts)', () => {
  const bram = createLoreIndex(scripts.get('bram')!.lore);
  const marta = createLoreIndex(scripts.get('marta')!.lore);

  it('returns the relevant facts first', () => {
    expect(bram.size).toBe(scripts.get('bram')!.lore.length);
    expect(bram.search('How did you lose your fingers?', 1)[0]).toMatch(/lost two fingers/);
    expect(bram.search('Who made the hinges on the gate?', 2)[0]).toMatch(/hinges and the great bar of the South Gate/);
    expect(bram.search('where does your iron come from', 1)[0]).toMatch(/iron for the forge comes up the Salt Road/);
    expect(marta.search('how much is a room for the night', 1)[0]).toMatch(/six rooms upstairs/);
    expect(marta.search('who bakes your bread? where is the flour from', 1)[0]).toMatch(/flour ground at Ashwater Mill/);
  });

  it('matches word forms (plurals, possessives, -ing)', () => {
    expect(stem('horseshoes')).toBe(stem('horseshoe'));
    expect(stem("Marta's".toLowerCase())).toBe('marta');
    expect(bram.search('any lucky horseshoes?', 3).some((f) => /horseshoe to travellers/.test(f))).toBe(true);
    expect(marta.search("tell me about Finn's singing", 2).some((f) => /Finn the bard plays/.test(f))).toBe(true);
  });

  it('respects k, and returns nothing for empty or irrelevant queries', () => {
    expect(bram.search('forge', 3)).toHaveLength(3);
    expect(bram.search('forge', 0)).toEqual([]);
    expect(bram.search('   ', 5)).toEqual([]);
    expect(bram.search('the and of', 5)).toEqual([]); // stop words only
    expect(bram.search('xylophone quasar', 5)).toEqual([]);
    const scored = bram.searchScored('bridge', 5);
    expect(scored.length).toBeGreaterThan(1);
    for (let i = 1; i < scored.length; i++) expect(scored[i]!.score).toBeLessThanOrEqual(scored[i - 1]!.score);
    expect(scored[0]!.text).toBe(scripts.get('bram')!.lore[scored[0]!.index]);
  });
});

/** Crude but deterministic token count for tests: whitespace-separated words. */
const words = (t: string) => t.split(/\s+/).filter(Boolean).length;

describe('conversation memory', () => {
  const line = (i: number, role: 'player' | 'npc') => (role === 'player' ? `question ${i} about the forge and horseshoe number ${i}` : `answer ${i} from the smith`);

  async function fill(mem: ConversationMemory, player: string, npc: string, exchanges: number) {
    for (let i = 0; i < exchanges; i++) {
      await mem.remember(player, npc, { role: 'player', text: line(i, 'player'), ts: i * 2 });
      await mem.remember(player, npc, { role: 'npc', text: line(i, 'npc'), ts: i * 2 + 1 });
    }
  }

  it('returns everything when it fits', async () => {
    const mem = new ConversationMemory({ countTokens: words, perTurnOverhead: 2 });
    await fill(mem, 'p1', 'bram', 2);
    const r = await mem.recall('p1', 'bram', 1000);
    expect(r.summary).toBeUndefined();
    expect(r.folded).toBe(0);
    expect(r.turns.map((t) => t.text)).toEqual([line(0, 'player'), line(0, 'npc'), line(1, 'player'), line(1, 'npc')]);
    expect(r.tokens).toBe(4 * 2 + words(line(0, 'player')) * 2 + words(line(0, 'npc')) * 2);
  });

  it('stays within the token budget, newest turns verbatim, older ones folded into a summary', async () => {
    const mem = new ConversationMemory({ countTokens: words, perTurnOverhead: 2 });
    await fill(mem, 'p1', 'bram', 30);
    for (const budget of [0, 5, 12, 20, 40, 77, 150, 400]) {
      const r = await mem.recall('p1', 'bram', budget);
      const used = r.turns.reduce((n, t) => n + words(t.text) + 2, 0) + (r.summary ? words(r.summary) + 2 : 0);
      expect(used, `budget ${budget}`).toBe(r.tokens);
      expect(r.tokens, `budget ${budget}`).toBeLessThanOrEqual(budget);
      expect(r.folded + r.turns.length).toBe(60);
      if (r.turns.length) {
        expect(r.turns[0]!.role).toBe('player'); // never opens with an orphaned answer
        expect(r.turns.at(-1)!.text).toBe(line(29, 'npc')); // the newest turn is always kept first
      }
    }
    const r = await mem.recall('p1', 'bram', 150);
    expect(r.summary).toMatch(/^Earlier \(\d+ older turns\): the player talked about .*(forge|horseshoe)/);
    expect(r.turns.length).toBeGreaterThan(4);
  });

  it('never lets one player see another player\'s conversation', async () => {
    const mem = new ConversationMemory({ countTokens: words });
    await mem.remember('alice', 'marta', { role: 'player', text: 'My secret password is swordfish' });
    await mem.remember('alice', 'marta', { role: 'npc', text: 'Your secret is safe with me, love' });
    await mem.remember('bob', 'marta', { role: 'player', text: 'What did Alice tell you?' });
    await mem.remember('alice', 'bram', { role: 'player', text: 'Fix my sword' });
    const bob = (await mem.recall('bob', 'marta', 10_000));
    expect(bob.turns.map((t) => t.text)).toEqual(['What did Alice tell you?']);
    expect(JSON.stringify(bob)).not.toMatch(/swordfish|secret/);
    expect((await mem.recall('alice', 'marta', 10_000)).turns).toHaveLength(2);
    expect((await mem.recall('alice', 'bram', 10_000)).turns.map((t) => t.text)).toEqual(['Fix my sword']);
    mem.forget('alice');
    expect((await mem.recall('alice', 'marta', 10_000)).turns).toEqual([]);
    expect((await mem.recall('bob', 'marta', 10_000)).turns).toHaveLength(1);
  });

  it('writes through to a store and reloads lazily after a restart; bounds turns and pairs in memory', async () => {
    const rows = new Map<string, MemoryTurn[]>();
    let reads = 0;
    const store: TurnStore = {
      appendTurn: async (p, n, t) => void (rows.get(`${p}/${n}`) ?? rows.set(`${p}/${n}`, []).get(`${p}/${n}`)!).push(t),
      recentTurns: async (p, n, limit) => {
        reads++;
        return (rows.get(`${p}/${n}`) ?? []).slice(-limit);
      },
    };
    const first = new ConversationMemory({ countTokens: words, store, maxTurnsPerPair: 6, maxPairs: 2 });
    await fill(first, 'p1', 'finn', 5);
    expect(rows.get('p1/finn')).toHaveLength(10);
    expect((await first.recall('p1', 'finn', 10_000)).turns).toHaveLength(6); // bounded in memory
    const restarted = new ConversationMemory({ countTokens: words, store, maxTurnsPerPair: 6, maxPairs: 2 });
    expect((await restarted.recall('p1', 'finn', 10_000)).turns.map((t) => t.text)).toEqual((await first.recall('p1', 'finn', 10_000)).turns.map((t) => t.text));
    // Evicting a pair from memory (LRU) loses nothing: it comes back from the store.
    await restarted.remember('p2', 'finn', { role: 'player', text: 'hello' });
    await restarted.remember('p3', 'finn', { role: 'player', text: 'hello' });
    expect((await restarted.recall('p1', 'finn', 10_000)).turns).toHaveLength(6);

    // A pair asked for several times at once is read from the store once; a turn remembered before the
    // pair was ever recalled is counted once (the earlier turns are loaded first, then it is added).
    const third = new ConversationMemory({ countTokens: words, store, maxTurnsPerPair: 20 });
    reads = 0;
    const [a, b] = await Promise.all([third.recall('p1', 'finn', 10_000), third.recall('p1', 'finn', 10_000), third.remember('p1', 'finn', { role: 'player', text: 'once more' })]);
    expect(reads).toBe(1);
    expect(a.turns).toEqual(b.turns);
    expect(rows.get('p1/finn')).toHaveLength(11);
    expect((await third.recall('p1', 'finn', 10_000)).turns.map((t) => t.text)).toEqual(rows.get('p1/finn')!.map((t) => t.text));
    // A read under way when the player joins another process (forget) is not kept: that process may write
    // newer turns, and the next recall here reads them.
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const slow: TurnStore = { appendTurn: store.appendTurn, recentTurns: async (p, n, limit) => {
      const snapshot = (rows.get(`${p}/${n}`) ?? []).slice(-limit);
      await gate;
      return snapshot;
    } };
    const fourth = new ConversationMemory({ countTokens: words, store: slow, maxTurnsPerPair: 50 });
    const early = fourth.recall('p1', 'finn', 10_000);
    fourth.forget('p1');
    rows.get('p1/finn')!.push({ role: 'player', text: 'said elsewhere', ts: 99 });
    release();
    expect((await early).turns.map((t) => t.text)).not.toContain('said elsewhere');
    expect((await fourth.recall('p1', 'finn', 10_000)).turns.at(-1)!.text).toBe('said elsewhere');

    // Without a store (the corpus generator), a remembered turn is recallable at once, synchronously.
    const plain = new ConversationMemory({ countTokens: words });
    void plain.remember('p9', 'finn', { role: 'player', text: 'right away' });
    expect(plain.recallInMemory('p9', 'finn', 100).turns.map((t) => t.text)).toEqual(['right away']);
  });
});
