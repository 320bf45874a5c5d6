/**
 * Turns the raw token text of a reply into what the player may see: only the speech (everything after
 * the leading action call's "]]"; see action-syntax.ts), moderated word by word. Text is released at word
 * boundaries, so a word split across two tokens is checked whole before anyone sees it. A reply that does
 * not start with a call (the older layout) is speech up to its first "[".
 */
import type { Moderator } from './moderation.ts';

export class SpeechStream {
  #pending = '';
  #ended = false;
  #raw = '';
  /** True once the leading call is behind us (or there is none). */
  #speaking = false;

  constructor(private readonly moderator: Moderator) {}

  /** The raw text seen so far (speech and call). */
  get raw(): string {
    return this.#raw;
  }

  /** Feeds raw generated text; resolves to the moderated speech text that can be shown now ('' if none). */
  async push(text: string): Promise<string> {
    this.#raw += text;
    if (this.#ended) return '';
    if (!this.#speaking) {
      const head = this.#raw.trimStart();
      if (!head) return '';
      if (head.startsWith('[')) {
        const end = head.indexOf(']]');
        if (end < 0) return '';
        text = head.slice(end + 2).trimStart();
      } else {
        text = head;
      }
      this.#speaking = true;
    }
    const cut = text.indexOf('[');
    if (cut >= 0) {
      this.#ended = true;
      this.#pending += text.slice(0, cut);
      return this.#release(true);
    }
    this.#pending += text;
    return this.#release(false);
  }

  /** Releases whatever is held back (end of the reply). */
  async flush(): Promise<string> {
    const out = await this.#release(true);
    this.#ended = true;
    return out;
  }

  async #release(all: boolean): Promise<string> {
    let upTo = this.#pending.length;
    if (!all) {
      const lastSpace = Math.max(this.#pending.lastIndexOf(' '), this.#pending.lastIndexOf('\n'));
      if (lastSpace < 0) return '';
      upTo = lastSpace + 1;
    }
    const ready = this.#pending.slice(0, upTo);
    this.#pending = this.#pending.slice(upTo);
    if (!ready) return '';
    const verdict = await this.moderator.check(ready, { direction: 'output' });
    if (!verdict.allowed) return ready.replace(/\S/g, '*');
    return verdict.cleaned ?? ready;
  }
}
