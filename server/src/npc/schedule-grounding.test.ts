import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { loadWorldMap } from '../world/world-map.ts';
import { loadNpcScripts } from './script-loader.ts';
import { SCHEDULE_FACT, scheduleGrounding, scheduleSentences, timeNamed } from './schedule-grounding.ts';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const map = loadWorldMap(`${root}assets/world/town.json`, 0.5);
const scripts = loadNpcScripts(`${root}assets/npcs`, { map }).byId;
const sentences = (id: string) => scheduleSentences(scripts.get(id)!, map.landmarks)!;

describe('timeNamed', () => {
  it.each([
    ['Where will you be at noon?', 12 * 60],
    ['What are you up to at 7am?', 7 * 60],
    ['at 6pm?', 18 * 60],
    ['at 19:00', 19 * 60],
    ['at ten in the morning', 10 * 60],
    ['around one', 13 * 60],
    ['at five', 17 * 60],
    ['at eight', 8 * 60],
    ['at ten at night', 22 * 60],
    ['after lunch', 13 * 60 + 30],
    ['at supper time', 18 * 60 + 30],
    ['early in the morning', 5 * 60 + 45],
    ['at sunrise', 6 * 60],
    ['in the afternoon', 15 * 60],
    ['tonight', 21 * 60],
  ])('%s', (line, minutes) => expect(timeNamed(line)).toBe(minutes));

  it('finds no time where none is named', () => {
    expect(timeNamed('Where is the forge?')).toBeUndefined();
    expect(timeNamed('I have 30 coins')).toBeUndefined();
  });
});

describe('schedule grounding', () => {
  it('answers where the NPC is at a named time from the entry in force then, in its first person', () => {
    const g = scheduleGrounding(sentences('bram'), 'Where will you be at noon?', 4)!;
    expect(g.fact).toBe(SCHEDULE_FACT);
    expect(g.text).toBe("From noon I'm at the Gilded Lantern, eating Marta's mutton stew.");
    expect(g.bias).toBe(4);
    expect(scheduleGrounding(sentences('bram'), 'what are you up to after lunch', 4)!.text).toMatch(/^From one o'clock in the afternoon I'm at my forge, hammering horseshoes/);
    // Before the day's first entry, the last one of the day before (the situation block's rule).
    expect(scheduleGrounding(sentences('bram'), 'where r u at 3am', 4)!.text).toMatch(/banking the fire/);
  });

  it('answers "when do you …" from the entry whose activity the line names', () => {
    expect(scheduleGrounding(sentences('bram'), 'When do you light the furnace?', 4)!.text).toBe("At six o'clock in the morning, at my forge.");
    expect(scheduleGrounding(sentences('selka'), "when is it that you count the day's coin over supper?", 4)!.text).toBe("At six o'clock in the evening, at the Gilded Lantern.");
  });

  it('answers a question about the whole day with its first entries, and a patrolling NPC with its rounds', () => {
    expect(scheduleGrounding(sentences('bram'), 'How do you spend your days?', 4)!.text).toMatch(/^From six o'clock in the morning I'm at my forge, from noon at the Gilded Lantern, .*, and so on\.$/);
    const rounds = "I walk my rounds all day: the South Gate, the Guardhouse, the Market Well and the Market Square.";
    expect(scheduleGrounding(sentences('roderick'), 'Where will you be at noon?', 4)!.text).toBe(rounds);
    expect(scheduleGrounding(sentences('roderick'), 'how do u spend ur days', 4)!.text).toBe(rounds);
  });

  it('leaves lore questions, requests and greetings to lore grounding, and does nothing when off', () => {
    for (const line of ['Why does the South Gate close at sundown?', 'Take me to the forge', 'Good evening!', 'Tell me about the Market Well']) {
      expect(scheduleGrounding(sentences('bram'), line, 4), line).toBeUndefined();
    }
    expect(scheduleGrounding(sentences('bram'), 'Where will you be at noon?', 0)).toBeUndefined();
    expect(scheduleGrounding(undefined, 'Where will you be at noon?', 4)).toBeUndefined();
  });
});
