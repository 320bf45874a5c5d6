/**
 * feedbackSamples on a real temp SQLite file: well-rated turns become `feedback` samples with the
 * messages the server logged, down-rated / fallback / illegal / message-less turns are skipped with their
 * reason, and designer corrections (by turn id or by npc + player line) override the logged reply.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ChatMessage } from '../../server/src/inference/tokenizer/index.ts';
import { SqliteStore } from '../../server/src/persistence/sqlite-store.ts';
import type { TurnLogInput } from '../../server/src/persistence/store.ts';
import { CorrectionsError, feedbackSamples } from './feedback.ts';

const npcDir = fileURLToPath(new URL('../../assets/npcs/', import.meta.url));
const PLAYER = 'name:ada';

function prompt(line: string): ChatMessage[] {
  return [
    { role: 'system', content: 'You are Bram Ironhand, the blacksmith of Emberfall.' },
    { role: 'user', content: 'Earlier line' },
    { role: 'assistant', content: 'Hm. [[none]]' },
    { role: 'user', content: line },
  ];
}

describe('feedbackSamples', () => {
  let dir: string;
  let dbPath: string;
  let correctionsPath: string;
  let at = 1_000;

  const log = async (store: SqliteStore, turnId: string, output: string, opts: Partial<TurnLogInput> & { line?: string } = {}) => {
    const { line = 'Anything for luck on the road?', ...rest } = opts;
    await store.logTurn({
      turnId, npcId: 'bram', playerId: PLAYER, modelId: 'llama:test', modelHash: 'h', seed: 7, prompt: `<rendered ${line}>`,
      sampling: { temperature: 0.7 }, output, action: null, finishReason: 'stop', messages: prompt(line), createdAt: at++, ...rest,
    });
  };

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'wm-feedback-'));
    dbPath = join(dir, 'world.sqlite');
    correctionsPath = join(dir, 'corrections.yaml');
    writeFileSync(correctionsPath, '# nothing corrected yet\n');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('turns well-rated turns into samples, skips the rest with reasons, and applies corrections', async () => {
    const store = SqliteStore.open(dbPath);
    await log(store, 't-good', '[[give_item horseshoe]] Take a horseshoe, lass. Mind the bridge.', { action: { type: 'give_item', item: 'horseshoe' } });
    await store.rateTurn({ turnId: 't-good', playerId: PLAYER, rating: 1, comment: 'in character' });
    await log(store, 't-down', 'Blorp. [[none]]');
    await store.rateTurn({ turnId: 't-down', playerId: PLAYER, rating: -1 });
    await log(store, 't-rerated', 'Hm. [[emote nod]]', { action: { type: 'emote', emote: 'nod' } });
    await store.rateTurn({ turnId: 't-rerated', playerId: PLAYER, rating: 1 });
    await store.rateTurn({ turnId: 't-rerated', playerId: PLAYER, rating: -1, comment: 'changed my mind' }); // replaces the +1
    // Bram's script has no `follow`: the logged action was nulled at the time, the raw call is still there.
    await log(store, 't-illegal', 'Lead the way, I will follow. [[follow]]');
    await store.rateTurn({ turnId: 't-illegal', playerId: PLAYER, rating: 1 });
    await log(store, 't-fallback', 'The forge is hot, come back later.', { finishReason: 'fallback' });
    await store.rateTurn({ turnId: 't-fallback', playerId: PLAYER, rating: 1 });
    await log(store, 't-nomsg', 'Hm. [[none]]', { messages: undefined });
    await store.rateTurn({ turnId: 't-nomsg', playerId: PLAYER, rating: 1 });
    await log(store, 't-corrected', 'Gribble frob. [[emote frown]]', { action: { type: 'emote', emote: 'frown' } });
    await store.rateTurn({ turnId: 't-corrected', playerId: PLAYER, rating: -1, comment: 'gibberish' });
    await log(store, 't-line', 'Bridge bridge bridge. [[none]]', { line: 'Is it true you lost your fingers at the bridge?' }); // never rated
    await log(store, 't-bad-fix', 'Hm. [[none]]');
    expect(await store.turnRatings('t-rerated')).toMatchObject([{ rating: -1, comment: 'changed my mind' }]);
    await store.close();

    writeFileSync(correctionsPath, `
- turn: t-corrected
  reply: Hm. That plan's got a crack in it, lad.
  action: { type: emote, emote: shrug }
- npc: bram
  player: "  is it true you lost   your fingers at the BRIDGE?"
  reply: Two of them. Roderick kept me from losing the rest.
  action: { type: emote, emote: cross_arms }
- turn: t-bad-fix
  reply: Let's go.
  action: { type: follow }
- turn: no-such-turn
  reply: Hm.
- npc: bram
  player: A line nobody ever said
  reply: Hm.
`);
    const { samples, report } = await feedbackSamples({ dbPath, npcDir, correctionsPath });

    expect(samples.map((s) => s.id)).toEqual(['feedback:t-good', 'correction:t-corrected', 'correction:t-line']);
    const [good, corrected, byLine] = samples;
    expect(good).toEqual({
      id: 'feedback:t-good',
      npcId: 'bram',
      kind: 'feedback',
      split: 'train',
      player: 'Anything for luck on the road?',
      messages: prompt('Anything for luck on the road?'),
      speech: 'Take a horseshoe, lass. Mind the bridge.',
      action: { type: 'give_item', item: 'horseshoe' },
      reply: '[[give_item horseshoe]] Take a horseshoe, lass. Mind the bridge.',
    });
    expect(corrected).toMatchObject({ kind: 'feedback', split: 'train', speech: 'Hm. That plan\'s got a crack in it, lad.', action: { type: 'emote', emote: 'shrug' } });
    expect(corrected!.reply).toBe('[[emote shrug]] Hm. That plan\'s got a crack in it, lad.');
    expect(byLine!.messages).toEqual(prompt('Is it true you lost your fingers at the bridge?'));
    expect(byLine!.reply).toBe('[[emote cross_arms]] Two of them. Roderick kept me from losing the rest.');

    expect(report).toEqual({
      rated: 7,
      used: 3,
      skipped: {
        low_rating: 2,
        illegal_action: 1,
        fallback: 1,
        no_messages: 1,
        correction_illegal_action: 1,
        correction_unknown_turn: 1,
        correction_no_match: 1,
      },
    });

    // A stricter threshold drops the single up-vote; corrections still stand.
    const strict = await feedbackSamples({ dbPath, npcDir, correctionsPath, minRating: 2 });
    expect(strict.samples.map((s) => s.id)).toEqual(['correction:t-corrected', 'correction:t-line']);
    expect(strict.report.skipped).toEqual({ low_rating: 6, correction_illegal_action: 1, correction_unknown_turn: 1, correction_no_match: 1 }); // the rating is checked first
  });

  it('reads the default corrections file beside the scripts (all commented out: none), and refuses a broken one', async () => {
    await SqliteStore.open(dbPath).close();
    expect((await feedbackSamples({ dbPath, npcDir })).report).toEqual({ rated: 0, used: 0, skipped: {} });
    writeFileSync(correctionsPath, '- turn: t1\n  reply: "Fine. [[none]]"\n- npc: bram\n  reply: Hm.\n');
    await expect(feedbackSamples({ dbPath, npcDir, correctionsPath })).rejects.toThrow(CorrectionsError);
    await expect(feedbackSamples({ dbPath, npcDir, correctionsPath })).rejects.toThrow(/corrections\.yaml:2:10: \[0\]\.reply: the reply is speech only[\s\S]*corrections\.yaml:3:3: \[1\]\.player: missing required field "player"/);
    await expect(feedbackSamples({ dbPath, npcDir, correctionsPath: join(dir, 'missing.yaml') })).rejects.toThrow(/no corrections file/);
    await expect(feedbackSamples({ dbPath: join(dir, 'nope.sqlite'), npcDir })).rejects.toThrow(/no turn log database/);
  });
});
