/**
 * The conversation panel: the player's lines, the NPC's reply streaming in, the action it took, how
 * the turn ended, thumbs up/down (the SDK's `rateTurn`), and a clear state line (too far, answering,
 * refused, reconnecting…).
 */
import { TalkError, type NpcActionCall, type TalkResult, type TalkTurn, type WorldClient } from '@worldmind/client-sdk';
import { el, thumb } from './dom.ts';
import { PushToTalk } from './voice.ts';

export type TalkStateKind = 'ok' | 'warn' | 'bad' | 'info';

/** Words a player understands for each refusal code the server or SDK can give. */
export function describeTalkError(code: string, npcName: string): { text: string; kind: TalkStateKind } {
  switch (code) {
    case 'too_far':
      return { text: `${npcName} is too far away to hear you: walk closer.`, kind: 'warn' };
    case 'busy':
      return { text: `${npcName} is still answering you: wait for the end of the reply.`, kind: 'warn' };
    case 'rate_limited':
      return { text: 'You are talking too fast: wait a few seconds.', kind: 'warn' };
    case 'moderated':
      return { text: 'That line was refused by the moderation filter.', kind: 'bad' };
    case 'unknown_npc':
      return { text: `${npcName} cannot talk here.`, kind: 'bad' };
    case 'timeout':
      return { text: `${npcName} did not answer in time.`, kind: 'bad' };
    case 'disconnected':
      return { text: 'The connection was lost before the reply finished.', kind: 'bad' };
    case 'invalid_message':
      return { text: 'That line cannot be sent (empty or too long).', kind: 'warn' };
    case 'not_understood':
      return { text: `${npcName} could not make out what you said: try again, or type.`, kind: 'warn' };
    case 'too_long':
      return { text: 'That was too long to send: keep it to a sentence or two.', kind: 'warn' };
    case 'voice_disabled':
      return { text: 'This server does not take spoken lines: type instead.', kind: 'warn' };
    case 'invalid_audio':
      return { text: 'The recording could not be sent: try again.', kind: 'bad' };
    case 'mic':
      return { text: 'No microphone: allow it in the browser, or type.', kind: 'bad' };
    default:
      return { text: `Refused (${code}).`, kind: 'bad' };
  }
}

/** What an action looks like in the panel. */
export function describeAction(action: NpcActionCall | null, npcName: string): string | undefined {
  if (!action) return undefined;
  const arg = (k: string) => action.args[k] ?? Object.values(action.args)[0] ?? '';
  switch (action.name) {
    case 'give_item':
      return `gives you: ${arg('item').replace(/_/g, ' ')}`;
    case 'walk_to':
      return `walks to: ${arg('landmark').replace(/_/g, ' ')}`;
    case 'emote':
      return `*${arg('emote').replace(/_/g, ' ')}*`;
    case 'trade':
      return `sells you: ${arg('item').replace(/_/g, ' ')}${action.args.price ? ` for ${action.args.price} coppers` : ''}`;
    case 'point_at':
      return `points the way to: ${arg('landmark').replace(/_/g, ' ')}`;
    case 'follow':
      return 'follows you';
    case 'stop':
      return 'stops';
    case 'none':
      return undefined;
    default:
      return `${npcName}: ${action.name} ${Object.values(action.args).join(' ')}`.trim();
  }
}

export function describeFinish(result: Pick<TalkResult, 'finishReason'>): string | undefined {
  switch (result.finishReason) {
    case 'fallback':
      return 'busy — a scripted line (the model could not answer in time)';
    case 'length':
      return 'cut short';
    case 'cancelled':
      return 'cancelled';
    case 'error':
      return 'error';
    default:
      return undefined;
  }
}

export interface TalkPanelHooks {
  /** Where the player is relative to the NPC, to enable or disable talking. */
  distanceTo(npcId: string): number | undefined;
  talkRange(): number;
  /** A turn finished (debug overlay stats). */
  onResult(result: TalkResult): void;
  /** The panel was closed. */
  onClose(): void;
}

interface Conversation {
  npcId: string;
  name: string;
  role: string;
  log: HTMLElement[];
}

export class TalkPanel {
  readonly #root = document.getElementById('talk')!;
  readonly #name = document.getElementById('talk-name')!;
  readonly #role = document.getElementById('talk-role')!;
  readonly #state = document.getElementById('talk-state')!;
  readonly #log = document.getElementById('talk-log')!;
  readonly #form = document.getElementById('talk-form') as HTMLFormElement;
  readonly #input = document.getElementById('talk-input') as HTMLInputElement;
  readonly #send = document.getElementById('talk-send') as HTMLButtonElement;
  /** Push-to-talk (servers with voice on): hold to record, release to send. */
  readonly #ptt = document.getElementById('talk-ptt') as HTMLButtonElement | null;
  readonly #recorder = new PushToTalk();
  #recording = false;
  readonly #conversations = new Map<string, Conversation>();
  #current: Conversation | undefined;
  #answering = new Set<string>();
  #notice: { text: string; kind: TalkStateKind; until: number } | undefined;
  #world: WorldClient | undefined;
  #connected = true;

  constructor(private readonly hooks: TalkPanelHooks) {
    this.#form.addEventListener('submit', (e) => {
      e.preventDefault();
      void this.say(this.#input.value);
    });
    document.getElementById('talk-close')!.addEventListener('click', () => this.close());
    const ptt = this.#ptt;
    if (ptt) {
      const press = (e: Event) => {
        e.preventDefault();
        void this.#startRecording();
      };
      const release = (e: Event) => {
        e.preventDefault();
        if (this.#recording) void this.#stopRecording();
      };
      ptt.addEventListener('pointerdown', press);
      ptt.addEventListener('pointerup', release);
      ptt.addEventListener('pointerleave', release);
    }
  }

  async #startRecording(): Promise<void> {
    if (this.#recording || !this.#current) return;
    this.#recording = true;
    this.#ptt?.classList.add('recording');
    try {
      await this.#recorder.start();
    } catch {
      this.#recording = false;
      this.#ptt?.classList.remove('recording');
      this.#notice = { ...describeTalkError('mic', this.#current?.name ?? ''), until: performance.now() + 4000 };
      this.refresh();
    }
  }

  async #stopRecording(): Promise<void> {
    this.#recording = false;
    this.#ptt?.classList.remove('recording');
    const audio = await this.#recorder.stop();
    const conv = this.#current;
    const world = this.#world;
    if (!audio || !conv || !world) return;
    const line = el('li', { class: 'line player voice', 'data-testid': 'player-line' }, '🎤 …');
    await this.#converse(conv, line, world.talkVoice(conv.npcId, audio), (result) => {
      line.textContent = `🎤 ${result.transcript ?? ''}`;
    });
  }

  get npcId(): string | undefined {
    return this.#current?.npcId;
  }

  get isOpen(): boolean {
    return !this.#root.hidden;
  }

  attach(world: WorldClient): void {
    this.#world = world;
  }

  setConnected(connected: boolean): void {
    this.#connected = connected;
    this.refresh();
  }

  open(npc: { id: string; name: string; role: string }): void {
    let conv = this.#conversations.get(npc.id);
    if (!conv) {
      conv = { npcId: npc.id, name: npc.name, role: npc.role, log: [] };
      this.#conversations.set(npc.id, conv);
    }
    this.#current = conv;
    this.#notice = undefined;
    this.#name.textContent = npc.name;
    this.#role.textContent = `the ${npc.role}`;
    this.#log.replaceChildren(...conv.log);
    this.#root.hidden = false;
    this.#root.dataset.npc = npc.id;
    this.refresh();
    this.#scroll();
    if (matchMedia('(min-width: 701px)').matches) this.#input.focus();
  }

  close(): void {
    this.#root.hidden = true;
    this.#current = undefined;
    this.#input.blur();
    this.hooks.onClose();
  }

  /** Updates the state line and the send button; call every frame or so. */
  refresh(): void {
    const conv = this.#current;
    if (!conv) return;
    const now = performance.now();
    let state: { text: string; kind: TalkStateKind };
    let canSend = true;
    const distance = this.hooks.distanceTo(conv.npcId);
    if (!this.#connected) {
      state = { text: 'Disconnected — reconnecting…', kind: 'bad' };
      canSend = false;
    } else if (this.#notice && this.#notice.until > now) {
      state = this.#notice;
    } else if (this.#answering.has(conv.npcId)) {
      state = { text: `${conv.name} is answering…`, kind: 'info' };
      canSend = false;
    } else if (distance === undefined) {
      state = { text: `${conv.name} is out of sight.`, kind: 'warn' };
    } else if (distance > this.hooks.talkRange()) {
      state = { text: `Too far to talk (${distance.toFixed(1)} m, need ${this.hooks.talkRange()} m) — walking closer…`, kind: 'warn' };
      canSend = false;
    } else {
      state = { text: `In range — say something to ${conv.name}.`, kind: 'ok' };
    }
    if (this.#state.textContent !== state.text) this.#state.textContent = state.text;
    this.#state.dataset.kind = state.kind;
    this.#send.disabled = !canSend;
    if (this.#ptt) {
      this.#ptt.hidden = !this.#world?.welcome?.voice?.hears;
      this.#ptt.disabled = !canSend && !this.#recording;
    }
  }

  async say(raw: string): Promise<void> {
    const conv = this.#current;
    const world = this.#world;
    const text = raw.trim();
    if (!conv || !world || !text) return;
    this.#input.value = '';
    await this.#converse(conv, el('li', { class: 'line player', 'data-testid': 'player-line' }, text), world.talk(conv.npcId, text));
  }

  /** One turn in the panel: the player's line, the reply streaming in, how it ended (typed or spoken). */
  async #converse(conv: Conversation, playerLine: HTMLElement, turn: TalkTurn, onResult?: (result: TalkResult) => void): Promise<void> {
    const world = this.#world!;
    const npcId = conv.npcId;
    this.#append(conv, playerLine);
    const textEl = el('span', { class: 'text' });
    const meta = el('div', { class: 'meta' });
    const reply = el('li', { class: 'line npc streaming', 'data-testid': 'npc-line' }, textEl, meta);
    this.#append(conv, reply);
    this.#answering.add(npcId);
    this.refresh();
    try {
      for await (const chunk of turn) {
        textEl.textContent += chunk.text;
        this.#scroll();
      }
      const result = await turn.result;
      onResult?.(result);
      reply.classList.remove('streaming');
      reply.dataset.turnId = result.turnId;
      reply.dataset.finish = result.finishReason;
      textEl.textContent = result.text || textEl.textContent;
      const action = describeAction(result.action, conv.name);
      if (action) meta.append(el('span', { class: 'action', 'data-testid': 'npc-action', 'data-action': result.action!.name }, action));
      else meta.append(el('span', { class: 'action none', 'data-testid': 'npc-action', 'data-action': result.action?.name ?? 'none' }, '· no action'));
      const finish = describeFinish(result);
      if (finish) meta.append(el('span', { class: 'finish', 'data-testid': 'npc-finish' }, finish));
      meta.append(this.#ratingButtons(world, result.turnId));
      this.hooks.onResult(result);
    } catch (err) {
      reply.remove();
      const at = conv.log.indexOf(reply);
      if (at >= 0) conv.log.splice(at, 1);
      const code = err instanceof TalkError ? err.code : 'error';
      const described = describeTalkError(code, conv.name);
      this.#append(conv, el('li', { class: 'line error', 'data-testid': 'talk-error', 'data-code': code }, described.text));
      this.#notice = { ...described, until: performance.now() + 4000 };
    } finally {
      this.#answering.delete(npcId);
      this.refresh();
      this.#scroll();
    }
  }

  #ratingButtons(world: WorldClient, turnId: string): HTMLElement {
    const up = el('button', { type: 'button', title: 'Good reply', 'aria-label': 'Good reply', 'aria-pressed': 'false', 'data-testid': 'rate-up' }, thumb(false));
    const down = el('button', { type: 'button', title: 'Bad reply', 'aria-label': 'Bad reply', 'aria-pressed': 'false', 'data-testid': 'rate-down' }, thumb(true));
    const note = el('span', { class: 'muted' });
    const rate = async (rating: 1 | -1) => {
      up.disabled = down.disabled = true;
      try {
        await world.rateTurn(turnId, rating);
        up.setAttribute('aria-pressed', String(rating === 1));
        down.setAttribute('aria-pressed', String(rating === -1));
        note.textContent = 'thanks';
      } catch (err) {
        note.textContent = `not rated: ${(err as Error).message}`;
      } finally {
        up.disabled = down.disabled = false;
      }
    };
    up.addEventListener('click', () => void rate(1));
    down.addEventListener('click', () => void rate(-1));
    return el('span', { class: 'rate' }, up, down, note);
  }

  #append(conv: Conversation, item: HTMLElement): void {
    conv.log.push(item);
    if (conv.log.length > 80) conv.log.splice(0, conv.log.length - 80)[0]?.remove();
    if (this.#current === conv) {
      this.#log.append(item);
      this.#scroll();
    }
  }

  #scroll(): void {
    this.#log.scrollTop = this.#log.scrollHeight;
  }
}
