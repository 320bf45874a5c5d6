import { describe, expect, it } from 'vitest';
import { GroupConversation, type GroupLine } from './group-conversation.ts';

const limits = { maxPlayers: 3, maxLinesPerRound: 3, idleMs: 60_000 };
const line = (sessionId: string, text: string, at = 0): GroupLine<string> => ({ sessionId, text, at, reply: `${sessionId}:${text}` });
const said = (lines: readonly GroupLine<string>[]) => lines.map((l) => `${l.sessionId}:${l.text}`);

describe('GroupConversation', () => {
  it('a lone line is a round of one, at once', () => {
    const g = new GroupConversation<string>(limits);
    expect(g.offer(line('ada', 'hello'))).toBeNull();
    const round = g.nextRound()!;
    expect(said(round.lines)).toEqual(['ada:hello']);
    expect(g.nextRound()).toBeUndefined(); // in flight
    g.endRound();
    expect(g.nextRound()).toBeUndefined(); // nothing waits
    expect(g.members).toEqual(['ada']);
  });

  it('lines said while the NPC answers are gathered into ONE next round', () => {
    const g = new GroupConversation<string>(limits);
    g.offer(line('ada', 'first'));
    g.nextRound();
    expect(g.offer(line('bea', 'where is the inn?', 1))).toBeNull();
    expect(g.offer(line('cai', 'and the well?', 2))).toBeNull();
    expect(g.nextRound()).toBeUndefined(); // still answering Ada
    g.endRound();
    const round = g.nextRound()!;
    expect(round.number).toBe(2);
    // Neither was answered yet: the first to speak is addressed (last line), the other comes before.
    expect(said(round.lines)).toEqual(['cai:and the well?', 'bea:where is the inn?']);
    expect(g.pending).toEqual([]);
  });

  it('the reply addresses the speaker answered least recently', () => {
    const g = new GroupConversation<string>(limits);
    g.offer(line('ada', 'a1'));
    g.nextRound(); // Ada addressed in round 1
    g.endRound();
    g.offer(line('ada', 'a2'));
    g.offer(line('bea', 'b1'));
    expect(said(g.nextRound()!.lines)).toEqual(['ada:a2', 'bea:b1']); // Bea never answered: addressed
    g.endRound();
    g.offer(line('bea', 'b2'));
    g.offer(line('ada', 'a3'));
    expect(said(g.nextRound()!.lines)).toEqual(['bea:b2', 'ada:a3']); // Ada (round 1) before Bea (round 2)
  });

  it('one line per player per round: a second one, waiting or being answered, is busy', () => {
    const g = new GroupConversation<string>(limits);
    g.offer(line('ada', 'one'));
    expect(g.offer(line('ada', 'two'))).toBe('busy'); // waiting
    g.nextRound();
    expect(g.offer(line('ada', 'three'))).toBe('busy'); // being answered
    expect(g.offer(line('bea', 'hi'))).toBeNull();
    g.endRound();
    expect(g.offer(line('ada', 'four'))).toBeNull();
  });

  it('the group size and the lines per round are bounded', () => {
    const g = new GroupConversation<string>({ ...limits, maxPlayers: 2, maxLinesPerRound: 1 });
    g.offer(line('ada', 'a'));
    g.nextRound();
    expect(g.offer(line('bea', 'b'))).toBeNull();
    expect(g.refusal('cai')).toBe('full');
    expect(g.offer(line('cai', 'c'))).toBe('full');
    expect(g.members).toEqual(['ada', 'bea']);
    g.leave('bea'); // walked away: her waiting line is dropped, her place frees
    expect(g.offer(line('cai', 'c'))).toBeNull();
    expect(g.offer(line('ada', 'again'))).toBe('busy');
    g.endRound();
    expect(g.offer(line('ada', 'again'))).toBe('round_full'); // Cai's line fills the next round
  });

  it('a player who leaves takes their waiting lines along', () => {
    const g = new GroupConversation<string>(limits);
    g.offer(line('ada', 'a'));
    g.nextRound();
    g.offer(line('bea', 'b'));
    g.offer(line('cai', 'c'));
    expect(said(g.leave('bea'))).toEqual(['bea:b']);
    expect(g.members).toEqual(['ada', 'cai']);
    g.endRound();
    expect(said(g.nextRound()!.lines)).toEqual(['cai:c']);
  });

  it('silent members leave after the idle time, never with a line in flight', () => {
    const g = new GroupConversation<string>(limits);
    g.offer(line('ada', 'a', 0));
    g.offer(line('bea', 'b', 50_000));
    g.nextRound();
    expect(g.pruneIdle(70_000)).toEqual([]); // Ada is idle but being answered
    g.endRound();
    expect(g.pruneIdle(70_000)).toEqual(['ada']);
    expect(g.pruneIdle(120_000)).toEqual(['bea']);
    expect(g.empty).toBe(true);
  });
});
