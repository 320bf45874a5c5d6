/**
 * The designer view (/studio, served only with STUDIO_ENABLED): talk to an NPC without walking to it
 * and see, for each turn, why it came out as it did — prompt sections, lore facts with their retrieval
 * scores, memory, the player's line, the action chosen among the calls the grammar allowed, seed,
 * sampling and timings — and replay a turn against the script as it is now.
 */
import './studio.css';
import type { StudioNpc, StudioReplay, StudioTurn, StudioTurnSummary } from '@worldmind/shared';
import { el } from './dom.ts';

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const npcSelect = $<HTMLSelectElement>('npc');
const turnsList = $('turns');
const detail = $('detail');
const sayState = $('say-state');
let npcs: StudioNpc[] = [];
let selectedTurn: string | undefined;

async function api<T>(path: string, init?: RequestInit): Promise<T> {
  const res = await fetch(path, { ...init, headers: { 'Content-Type': 'application/json', ...(init?.headers ?? {}) }, signal: AbortSignal.timeout(120_000) });
  const body = (await res.json().catch(() => ({}))) as T & { message?: string };
  if (!res.ok) throw new Error(body.message ?? `HTTP ${res.status}`);
  return body;
}

async function loadNpcs(): Promise<void> {
  try {
    npcs = await api<StudioNpc[]>('/studio/api/npcs');
  } catch (err) {
    detail.replaceChildren(el('p', { class: 'error' }, `Cannot load the NPCs: ${(err as Error).message}`));
    return;
  }
  const wanted = new URLSearchParams(location.search).get('npc');
  npcSelect.replaceChildren(...npcs.map((n) => el('option', { value: n.id }, `${n.name} — ${n.role}`)));
  if (wanted && npcs.some((n) => n.id === wanted)) npcSelect.value = wanted;
  await loadTurns();
}

async function loadTurns(): Promise<void> {
  const turns = await api<StudioTurnSummary[]>(`/studio/api/turns?npc=${encodeURIComponent(npcSelect.value)}&limit=40`).catch(() => [] as StudioTurnSummary[]);
  turnsList.replaceChildren(
    ...turns.map((t) => {
      const li = el(
        'li',
        { 'data-turn': t.turnId, 'data-testid': 'studio-turn' },
        el('div', { class: 'who' }, `${new Date(t.createdAt).toLocaleTimeString()} · ${t.playerId.startsWith('studio:') ? 'studio' : `player ${t.playerId.slice(0, 8)}`} · ${t.call ?? t.finishReason}`),
        el('div', {}, `“${t.playerLine}”`),
      );
      if (t.turnId === selectedTurn) li.classList.add('selected');
      li.addEventListener('click', () => void showTurn(t.turnId));
      return li;
    }),
  );
  if (turns.length === 0) turnsList.replaceChildren(el('li', { class: 'muted' }, 'No turns yet for this NPC.'));
}

async function showTurn(turnId: string): Promise<void> {
  selectedTurn = turnId;
  turnsList.querySelectorAll('li').forEach((li) => li.classList.toggle('selected', li.getAttribute('data-turn') === turnId));
  try {
    render(await api<StudioTurn>(`/studio/api/turns/${encodeURIComponent(turnId)}`));
  } catch (err) {
    detail.replaceChildren(el('p', { class: 'error' }, (err as Error).message));
  }
}

function fmt(v: number | null | undefined, unit = ''): string {
  return v === null || v === undefined ? '—' : `${v}${unit}`;
}

function render(turn: StudioTurn): void {
  const maxScore = Math.max(1e-9, ...turn.prompt.lore.map((l) => l.score ?? 0));
  const loreRows = turn.prompt.lore.map((l) =>
    el(
      'tr',
      { class: l.inPrompt ? 'in' : 'out', 'data-testid': l.inPrompt ? 'studio-lore-in' : 'studio-lore-out' },
      el('td', { class: 'score' }, el('span', { class: 'bar', style: `width:${Math.round(((l.score ?? 0) / maxScore) * 60)}px` }), l.score === null ? 'n/a' : l.score.toFixed(2)),
      el('td', {}, l.inPrompt ? 'in prompt' : 'left out'),
      el('td', {}, l.text),
    ),
  );
  const calls = turn.grammar.alternatives.map((c) => el('span', { class: `call${c === turn.grammar.chosen ? ' chosen' : ''}`, 'data-testid': c === turn.grammar.chosen ? 'studio-action-chosen' : 'studio-action-alt' }, `[[${c}]]`));
  const replayBox = el('div', { class: 'replay', hidden: '' });
  const replayButton = el('button', { type: 'button', 'data-testid': 'studio-replay' }, 'Replay against the current script');
  replayButton.addEventListener('click', () => void replay(turn, replayButton, replayBox));
  const memory = turn.prompt.memory.length
    ? el('ol', {}, ...turn.prompt.memory.map((m) => el('li', {}, el('b', {}, `${m.role}: `), m.text)))
    : el('p', { class: 'muted' }, 'No earlier turns with this player were recalled.');
  detail.replaceChildren(
    el('h2', {}, `${turn.npcName} · turn ${turn.turnId}`),
    el('div', { class: 'muted' }, `${new Date(turn.createdAt).toLocaleString()} · ${turn.playerId.startsWith('studio:') ? 'studio' : `player ${turn.playerId}`}`),
    el('h3', {}, 'Exchange'),
    el(
      'div',
      { class: 'exchange' },
      el('div', { class: 'bubble player', 'data-testid': 'studio-player-line' }, turn.prompt.playerLine),
      el('div', { class: 'bubble npc', 'data-testid': 'studio-speech' }, turn.output.speech || '(silence)'),
    ),
    el('h3', {}, 'Action'),
    el('p', {}, turn.grammar.chosen ? 'Chosen ' : turn.finishReason === 'fallback' ? 'No action: the model did not answer in time and a scripted fallback line was said. ' : 'No well-formed call. ', turn.grammar.chosen ? el('span', { class: 'call chosen' }, `[[${turn.grammar.chosen}]]`) : ''),
    el('p', { class: 'muted' }, `The ${turn.grammar.alternatives.length} calls the grammar allowed (decode-time constraint; the model could end with no other):`),
    el('div', { 'data-testid': 'studio-alternatives' }, ...calls),
    turn.grammar.grounding
      ? el('p', { class: 'muted', 'data-testid': 'studio-grounding' }, `Speech nudged towards ${turn.grammar.grounding.fact < 0 ? 'its schedule' : `lore fact ${turn.grammar.grounding.fact + 1}`} (+${turn.grammar.grounding.bias} nats on its words, +${turn.grammar.grounding.continuation} to continue it; applies after [[none]]): "${turn.grammar.grounding.text}"`)
      : el('p', { class: 'muted' }, 'No lore grounding: no fact matched the line well enough, or it is off.'),
    turn.grammar.callPrior
      ? el(
          'p',
          { class: 'muted', 'data-testid': 'studio-call-prior' },
          `Call tipped by the action memory (${turn.grammar.callPrior.strength} nats per log-share) towards the calls of the most similar trained lines: `,
          Object.entries(turn.grammar.callPrior.weights)
            .sort(([, a], [, b]) => b - a)
            .slice(0, 3)
            .map(([call, weight]) => `[[${call}]] ${Math.round(weight * 100)} %`)
            .join(', '),
        )
      : el('p', { class: 'muted' }, 'No call prior: the model has no action memory for this NPC, nothing in it matched the line, or it is off.'),
    el('h3', {}, 'Lore retrieved for this line (BM25, scored against the current script)'),
    turn.prompt.lore.length ? el('table', {}, el('tr', {}, el('th', {}, 'score'), el('th', {}, ''), el('th', {}, 'fact')), ...loreRows) : el('p', { class: 'muted' }, 'No lore fact matched the line.'),
    el('h3', {}, 'Situation (what the NPC perceived)'),
    turn.prompt.situation ? el('pre', { 'data-testid': 'studio-situation' }, turn.prompt.situation) : el('p', { class: 'muted' }, 'No situation block in this turn.'),
    el('h3', {}, 'Memory recalled'),
    memory,
    el('h3', {}, 'Run'),
    el(
      'dl',
      {},
      el('dt', {}, 'seed'),
      el('dd', { 'data-testid': 'studio-seed' }, String(turn.seed)),
      el('dt', {}, 'sampling'),
      el('dd', {}, JSON.stringify(turn.sampling)),
      el('dt', {}, 'finish'),
      el('dd', {}, turn.finishReason),
      el('dt', {}, 'model'),
      el('dd', {}, `${turn.model.id} · ${turn.model.hash.slice(0, 12)}…`),
      el('dt', {}, 'timings'),
      el('dd', {}, turn.timings ? `first text ${fmt(turn.timings.ttftMs, ' ms')} · total ${fmt(turn.timings.durationMs, ' ms')} · ${turn.timings.tokens} tokens · ${fmt(turn.timings.tokensPerSecond, ' tokens/s')}` : 'not kept (turn from before this server started)'),
      el('dt', {}, 'raw output'),
      el('dd', {}, turn.output.raw),
    ),
    replayButton,
    replayBox,
    el('h3', {}, 'Prompt'),
    el('details', {}, el('summary', {}, 'Persona block (identical for every player: the shared, cached prefix)'), el('pre', {}, turn.prompt.persona)),
    el('details', {}, el('summary', {}, 'Rendered prompt, exactly as the model saw it'), el('pre', {}, turn.prompt.rendered)),
  );
}

async function replay(turn: StudioTurn, button: HTMLButtonElement, box: HTMLElement): Promise<void> {
  button.disabled = true;
  box.hidden = false;
  box.replaceChildren(el('span', { class: 'muted' }, 'Replaying…'));
  try {
    const r = await api<StudioReplay>(`/studio/api/turns/${encodeURIComponent(turn.turnId)}/replay`, { method: 'POST', body: '{}' });
    box.replaceChildren(
      el('div', {}, el('span', { class: `badge ${r.identical ? 'same' : 'diff'}`, 'data-testid': 'studio-replay-verdict' }, r.identical ? 'identical' : 'differs'), ' ', el('span', { class: 'muted' }, `same seed ${turn.seed}; ${r.personaChanged ? 'the persona block changed since' : 'persona unchanged'}; ${r.grammarChanged ? 'the allowed calls changed since' : 'allowed calls unchanged'}; ${r.durationMs} ms`)),
      el('p', {}, el('b', {}, 'now: '), r.speech, ' ', r.call ? el('span', { class: 'call chosen' }, `[[${r.call}]]`) : el('span', { class: 'muted' }, '(no call)')),
      r.identical ? '' : el('p', { class: 'muted' }, `logged: ${r.logged}`),
    );
  } catch (err) {
    box.replaceChildren(el('span', { class: 'error' }, `Replay failed: ${(err as Error).message}`));
  } finally {
    button.disabled = false;
  }
}

$('say').addEventListener('submit', (e) => {
  e.preventDefault();
  void (async () => {
    const line = $<HTMLTextAreaElement>('line');
    const seedText = $<HTMLInputElement>('seed').value.trim();
    const button = document.querySelector<HTMLButtonElement>('#say button')!;
    if (!line.value.trim()) return;
    button.disabled = true;
    sayState.textContent = `${npcs.find((n) => n.id === npcSelect.value)?.name ?? 'The NPC'} is answering…`;
    try {
      const turn = await api<StudioTurn>('/studio/api/talk', {
        method: 'POST',
        body: JSON.stringify({ npcId: npcSelect.value, text: line.value, ...(seedText ? { seed: Number(seedText) } : {}), fresh: $<HTMLInputElement>('fresh').checked }),
      });
      selectedTurn = turn.turnId;
      render(turn);
      sayState.textContent = '';
      await loadTurns();
    } catch (err) {
      sayState.textContent = (err as Error).message;
    } finally {
      button.disabled = false;
    }
  })();
});
npcSelect.addEventListener('change', () => void loadTurns());
$('refresh').addEventListener('click', () => void loadTurns());
void loadNpcs();
