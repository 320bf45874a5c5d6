import { describe, expect, it } from 'vitest';
import { describeAction, describeFinish, describeTalkError } from './talk-panel.ts';

describe('talk panel wording', () => {
  it('names every action kind in player words, and none for no action', () => {
    expect(describeAction({ name: 'give_item', args: { item: 'gate_token' } }, 'Roderick')).toBe('gives you: gate token');
    expect(describeAction({ name: 'walk_to', args: { landmark: 'old-oak' } }, 'Finn')).toBe('walks to: old-oak');
    expect(describeAction({ name: 'emote', args: { emote: 'cross_arms' } }, 'Bram')).toBe('*cross arms*');
    expect(describeAction({ name: 'trade', args: { item: 'bread', price: '3' } }, 'Marta')).toBe('sells you: bread for 3 coppers');
    expect(describeAction({ name: 'point_at', args: { landmark: 'well' } }, 'Selka')).toBe('points the way to: well');
    expect(describeAction({ name: 'follow', args: {} }, 'Finn')).toBe('follows you');
    expect(describeAction(null, 'Finn')).toBeUndefined();
    expect(describeAction({ name: 'juggle', args: { what: 'knives' } }, 'Finn')).toBe('Finn: juggle knives');
  });

  it('says why a line was refused', () => {
    expect(describeTalkError('too_far', 'Bram').text).toMatch(/too far.*walk closer/);
    expect(describeTalkError('busy', 'Bram').text).toMatch(/still answering/);
    expect(describeTalkError('moderated', 'Bram')).toMatchObject({ kind: 'bad' });
    expect(describeTalkError('rate_limited', 'Bram').text).toMatch(/too fast/);
    expect(describeTalkError('disconnected', 'Bram').text).toMatch(/connection was lost/);
    expect(describeTalkError('something_new', 'Bram').text).toMatch(/something_new/);
  });

  it('explains a scripted fallback as the NPC being busy', () => {
    expect(describeFinish({ finishReason: 'fallback' })).toMatch(/busy/);
    expect(describeFinish({ finishReason: 'stop' })).toBeUndefined();
  });
});
