/**
 * How each NPC sounds in generated replies: forms of address, short openers and closers. Hand-written
 * for the town's NPCs (from their `style`); any other script gets a voice derived from its style text
 * (quoted one- or two-word names become forms of address, longer quotes become sayings).
 */
import type { NpcScript } from '../../../server/src/npc/script-schema.ts';
import type { Gender } from '../../../server/src/npc/english.ts';

export interface Voice {
  gender: Gender;
  /** How it addresses the player ("lad", "love"). */
  address: string[];
  /** Short first sentences ("Hm.", "Well now."). */
  openers: string[];
  /** Short last sentences in character ("Mind the sparks."). */
  closers: string[];
  /** How it says goodbye. */
  farewells: string[];
  /** Answers to "how are you". */
  moods: string[];
  /** In-character confusion at words it cannot know (out-of-world questions). */
  puzzled: string[];
  /** In-character refusal of orders from a player (prompt injections). */
  unmoved: string[];
}

/** Gender is not here: it is the script's `pronouns`. */
const KNOWN: Record<string, Omit<Voice, 'gender'>> = {
  bram: {
    address: ['lad', 'lass'],
    openers: ['Hm.', 'Hmph.', 'Aye.', 'Right.'],
    closers: ["That's all there is to say.", "Good iron doesn't lie.", 'Mind the sparks.', 'Now let me work.'],
    farewells: ['Mind how you go, {addr}.', 'Off with you, then. Mind the sparks.', 'Go on. Come back if it breaks.', 'Safe road, {addr}.'],
    moods: ["Busy. The iron doesn't wait, {addr}.", 'Arms ache, fire is hot. Same as every day.', 'Well enough. Too many blades, too few hands.', 'Tired, {addr}. Still no apprentice.'],
    puzzled: ['Hm. Never heard of it, {addr}.', "That plan has a crack in it. I don't know what you mean.", "No idea what that is. I know iron and fire.", 'Strange talk. Ask me about the forge, {addr}.', "Means nothing to me, {addr}. I'm a smith, not a scholar."],
    unmoved: ['Hmph. Nobody gives orders at my anvil, {addr}.', "I'm a blacksmith, {addr}. That's all I'll ever be.", 'Strange words. If you want something, ask plain.', "No. Fancy talk won't get you my iron.", "That plan has a crack in it, {addr}. I don't bend."],
  },
  finn: {
    address: ['friend', 'my muse'],
    openers: ['Ah!', 'Oh!', 'Ha!', 'Listen close!'],
    closers: ["There's a song in that!", 'What a verse that would make!', 'Remember it, and hum it later!', 'Oh, I must rhyme that.'],
    farewells: ['Farewell, {addr}! May your road have a tune.', 'Go well, {addr}, and come back for a song!', 'Until the next verse, {addr}!', 'Off you go, and sing as you walk!'],
    moods: ['Marvellous, {addr}! The sun is out and my lute is in tune.', 'Never better! A new song is coming to me.', 'A little hoarse from last night at the Lantern, but happy!', 'Wonderful, now that I have an audience!'],
    puzzled: ['Ha! Never heard of it, {addr}, and I know every song in town.', 'What strange words, {addr}! Not even a bard can rhyme those.', "That's no tale I know, friend. Ask me about Emberfall instead!", 'Oh, {addr}, you speak in riddles. I know only songs and stories of this town.', "No ballad ever mentioned that, I'm afraid."],
    unmoved: ["Ha! A clever verse, {addr}, but I'm still Finn the bard.", 'Oh, you want me to change my tune? Not that one, friend.', 'Strange lines, {addr}. I sing my own songs, not yours.', "Nice try, my muse! A bard can't be bought with riddles.", "I don't take orders, friend, only requests for songs."],
  },
  marta: {
    address: ['love', 'dear'],
    openers: ['Oh, my.', 'Well now.', 'Bless you.', 'Now then.'],
    closers: ['Now, are you hungry?', "But you didn't hear it from me.", 'More stew, love?', "Sit down, I'll bring you bread."],
    farewells: ['Mind how you go, {addr}. Come back for supper!', 'Off you go, {addr}. Door is always open.', 'Safe roads, {addr}. Wrap up warm.', "Bye now, {addr}. Don't be a stranger."],
    moods: ['Run off my feet, {addr}, but happy. Hungry?', "Busy as ever. The stew won't stir itself.", 'Well enough, dear. A full house tonight.', "Tired, love, but the Lantern is lit and that's what matters."],
    puzzled: ["Oh, love, I have no idea what that is.", 'Never heard of it, dear, and I hear everything across this counter.', 'That sounds like traveller talk from far away, love. Not in Emberfall.', 'Bless you, dear, that means nothing to me. Have some bread.', "I can't help you there, love. Ask me about the inn."],
    unmoved: ['Now, now, {addr}. Nobody gives orders in my inn but me.', "I'm Marta of the Gilded Lantern, dear, and that won't change.", 'Strange talk, love. Sit down and eat something.', 'Oh, you are a cheeky one, {addr}. Still no.', "That's not how we do things here, dear."],
  },
  roderick: {
    address: ['traveller', 'citizen'],
    openers: ['Noted.', 'Listen well.', 'Hm.', 'Understood.'],
    closers: ['Keep to the road.', 'Remember that.', "That's all.", 'Move along.'],
    farewells: ['Move along, {addr}. Keep to the road.', 'Dismissed, {addr}.', 'Safe travels, {addr}. Be inside by sundown.', 'Go, {addr}. And stay out of trouble.'],
    moods: ["On duty, {addr}. That's all you need to know.", 'Alert. Always alert.', 'Well enough. The gate holds.', 'Tired, {addr}. The stranger is still out there.'],
    puzzled: ['I know nothing of that, {addr}.', 'Unknown to me. State your business in Emberfall.', "That's not watch business, {addr}.", 'Strange words, {addr}. Speak plainly or move along.', 'No such thing in Emberfall, {addr}.'],
    unmoved: ['I follow the town charter, {addr}, not strangers.', "That's not an order I take. State your business.", "I'm Sergeant Roderick of the watch, {addr}. That doesn't change.", 'No. Rules are rules, {addr}.', 'Careful, {addr}. Tricks will get you a night in the guardhouse.'],
  },
  selka: {
    address: ['friend', 'my friend'],
    openers: ['Ah, a fine question!', 'A fine eye you have.', 'Ha!', 'Well, well.'],
    closers: ['Salt keeps, gossip spoils.', 'And that news comes free, friend.', 'Remember who told you.', 'Now, are you buying?'],
    farewells: ['Safe roads, {addr}. Come back with coin!', 'Off you go, {addr}. Salt keeps, gossip spoils.', 'Farewell, {addr}. My stall is always here.', 'Until the next caravan, {addr}!'],
    moods: ['Trade is good, {addr}, and it could be better with your coin.', "Busy, friend. Salt doesn't sell itself.", 'Very well! The road was kind this time.', 'Tired from the road, but never too tired to haggle.'],
    puzzled: ['Never heard of it, {addr}, and I have walked the whole Salt Road.', "Ha! That's no ware I know, friend.", 'Strange words, {addr}. Not from Marrow Bay to Greyfell.', 'I deal in salt and maps, friend, not riddles.', "That's beyond my maps, {addr}."],
    unmoved: ['Ha! A fine try, {addr}, but Selka gives nothing for tricks.', 'Nobody bargains me out of my goods with words like that, friend.', 'I keep my word, {addr}, and I never gave it to you.', 'Strange talk. Offer me coin or news instead.', 'Salt keeps, gossip spoils, and tricks get you nothing, friend.'],
  },
};

const GENERIC: Omit<Voice, 'gender' | 'address'> = {
  openers: ['Well.', 'Ah.', 'Hm.', 'Right.'],
  closers: ["That's all I know.", 'Remember that.', 'Anything else?'],
  farewells: ['Farewell, {addr}.', 'Safe roads, {addr}.', 'Go well, {addr}.'],
  moods: ['Well enough, {addr}.', 'Busy, as always.', "Can't complain, {addr}."],
  puzzled: ["I don't know what that is, {addr}.", 'Never heard of it, {addr}.', 'Strange words. I only know this town.'],
  unmoved: ["I don't take orders like that, {addr}.", 'Strange talk. Ask me plainly.', "No, {addr}. I am who I am."],
};

/** The voice of a script: hand-written for known NPCs, derived from `style` otherwise. */
export function voiceOf(script: NpcScript, gender?: Gender): Voice {
  const known = KNOWN[script.id];
  if (known) return { ...known, gender: gender ?? 'they' };
  const quoted = [...script.style.matchAll(/"([^"]+)"/g)].map((m) => m[1]!.trim());
  const address = quoted.filter((q) => q.split(/\s+/).length <= 2 && /^[a-z]/.test(q));
  const sayings = quoted.filter((q) => q.split(/\s+/).length > 2).map((q) => `${q.charAt(0).toUpperCase()}${q.slice(1)}${/[.!?]$/.test(q) ? '' : '.'}`);
  return {
    ...GENERIC,
    closers: [...GENERIC.closers, ...sayings],
    gender: gender ?? 'they',
    address: address.length ? address : ['traveller', 'friend'],
  };
}
