/**
 * The `voice` field of an NPC script: how the NPC sounds when the server speaks its replies
 * (VOICE_ENABLED). Defaults are espeak-ng's American English voice at its normal pitch and a slightly
 * slow rate (easier to follow in a busy square). Not part of the prompt: changing a voice needs no retraining.
 */
import { z } from 'zod';

export const NpcVoiceSchema = z.strictObject({
  engine: z.string().trim().min(1).max(40).default('espeak-ng').describe('speech synthesiser id (espeak-ng); a voice for another engine than the server runs is spoken with that engine\'s defaults'),
  name: z.string().trim().regex(/^[A-Za-z0-9][A-Za-z0-9_+\-/]{0,63}$/, 'must be an engine voice name such as en-us, en-gb-scotland or en+m3').default('en-us')
    .describe('engine voice name (espeak-ng: `espeak-ng --voices=en` lists them; "+m3"/"+f2" pick a variant)'),
  pitch: z.number().int().min(0).max(99).default(50).describe('0–99, 50 = the voice\'s normal pitch'),
  rate: z.number().int().min(80).max(450).default(165).describe('speaking rate, words per minute'),
}).describe('how the NPC sounds when replies are spoken aloud (VOICE_ENABLED=true)');

export type NpcVoice = z.output<typeof NpcVoiceSchema>;
