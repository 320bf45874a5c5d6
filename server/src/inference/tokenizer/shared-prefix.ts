/**
 * A prompt as the engine tokenizes it: its shared prefix (an NPC's persona) encoded on its own — once per
 * distinct prefix, remembered — then the rest. Every conversation with an NPC so starts with the same
 * prefix tokens (the prefix cache's key), and the trainer and the eval, which tokenize with this too, feed
 * the model exactly what the server does. Encoding the ~700-token persona once also makes tokenizing a
 * training stage's turns ~6× faster.
 */
import type { TextTokenizer } from './text-tokenizer.ts';

export interface PromptTokens {
  /** The whole prompt: the prefix's tokens, then the rest's. */
  ids: number[];
  /** How many leading ids are the shared prefix (0 without one). */
  prefixLength: number;
}

export class PromptPrefixMismatch extends Error {
  override name = 'PromptPrefixMismatch';
}

export class SharedPrefixTokenizer {
  private readonly prefixes = new Map<string, readonly number[]>();

  /** `memory`: most distinct prefixes remembered (all are forgotten when it fills: personas are few). */
  constructor(
    private readonly tokenizer: TextTokenizer,
    private readonly memory = 256,
  ) {}

  encode(prompt: string, sharedPrefix = ''): PromptTokens {
    if (!sharedPrefix) return { ids: this.tokenizer.encode(prompt), prefixLength: 0 };
    if (!prompt.startsWith(sharedPrefix)) throw new PromptPrefixMismatch('The prompt does not start with its sharedPrefix.');
    let head = this.prefixes.get(sharedPrefix);
    if (!head) {
      head = this.tokenizer.encode(sharedPrefix);
      if (this.prefixes.size >= this.memory) this.prefixes.clear();
      this.prefixes.set(sharedPrefix, head);
    }
    return { ids: [...head, ...this.tokenizer.encode(prompt.slice(sharedPrefix.length))], prefixLength: head.length };
  }
}
