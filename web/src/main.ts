/**
 * The game page: signs in as a guest (the SDK keeps the device secret in localStorage), joins the
 * world, draws the town top-down with every avatar and NPC interpolated between patches, sends
 * movement intents from keys, clicks and taps, and talks to NPCs.
 */
import './style.css';
import { WorldClient, WorldCloseCode, type AvatarInfo, type NpcInfo, type TalkResult } from '@worldmind/client-sdk';
import { el } from './dom.ts';
import { approachPoint, followCamera, KeyboardIntents, MOVE_KEYS, pick, RUN_KEYS, scaleFor, screenToWorld, worldToScreen, type Camera } from './input.ts';
import { RenderDelay, SnapshotBuffer, type Pose } from './interpolation.ts';
import { drawScene, type EntityView, type WorldMapView } from './render.ts';
import { RateMeter } from './stats.ts';
import { TalkPanel } from './talk-panel.ts';
import { NpcVoicePlayer } from './voice.ts';

const params = new URLSearchParams(location.search);
// The server that served the page; `?server=ws://host:port` points the page elsewhere (e.g. `vite` dev).
const endpoint = params.get('server') ?? `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}`;
const httpBase = endpoint.replace(/^ws/, 'http');
const NAME_KEY = 'worldmind:name';

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const canvas = $<HTMLCanvasElement>('world');
const ctx = canvas.getContext('2d')!;
const statusEl = $('status');
const bannerEl = $('banner');
const debugEl = $('debug');
const chatLog = $('chat-log');
const inventoryList = $('inventory-items');

type ConnectionState = 'joining' | 'connected' | 'reconnecting' | 'disconnected';

interface Tracked {
  id: string;
  kind: 'avatar' | 'npc';
  buffer: SnapshotBuffer;
  /** Latest replicated snapshot (the SDK refreshes it in place). */
  info: AvatarInfo | NpcInfo;
  /** Pose drawn this frame. */
  pose: Pose | undefined;
  chat?: { text: string; until: number };
}

const state = {
  world: undefined as WorldClient | undefined,
  map: undefined as WorldMapView | undefined,
  connection: 'joining' as ConnectionState,
  entities: new Map<string, Tracked>(),
  delay: new RenderDelay(50),
  camera: { x: 100, z: 20, scale: 12, width: 800, height: 600 } as Camera,
  moveTarget: undefined as { x: number; z: number } | undefined,
  /** NPC to walk up to; the talk panel opens (or stays open) for it. */
  approaching: undefined as string | undefined,
  selectedNpc: undefined as string | undefined,
  held: new Set<string>(),
  keyboard: new KeyboardIntents(),
  inventory: {} as Record<string, number>,
  debug: params.has('debug'),
  ping: Number.NaN,
  bytes: new RateMeter(),
  patches: new RateMeter(),
  frames: new RateMeter(),
  lastTalk: undefined as TalkResult | undefined,
  lastPatchCount: 0,
};

const talk = new TalkPanel({
  distanceTo: (npcId) => {
    const me = selfPose();
    const npc = state.world?.npcs.get(npcId);
    return me && npc ? Math.hypot(npc.x - me.x, npc.z - me.z) : undefined;
  },
  talkRange: () => talkRange(),
  onResult: (result) => (state.lastTalk = result),
  onClose: () => {
    state.selectedNpc = undefined;
    state.approaching = undefined;
  },
});

// NPC speech (servers with voice on), placed where the NPC stands relative to the player.
const voicePlayer = new NpcVoicePlayer((npcId) => {
  const me = selfPose();
  const npc = state.world?.npcs.get(npcId);
  if (!me || !npc) return undefined;
  return { distance: Math.hypot(npc.x - me.x, npc.z - me.z), dx: npc.x - me.x, radius: state.world?.welcome?.chatRadius ?? 25 };
});

function talkRange(): number {
  return state.world?.welcome?.talkRange ?? 4;
}

function selfPose(): Pose | undefined {
  const world = state.world;
  if (!world) return undefined;
  // Distances for talking use the replicated position (what the server checks), not the drawn one.
  const me = world.me;
  return me ? { x: me.x, z: me.z, heading: me.heading } : undefined;
}

// ————— joining —————

async function loadMap(): Promise<WorldMapView> {
  const res = await fetch(`${httpBase}/world/map.json`, { signal: AbortSignal.timeout(10_000) });
  if (!res.ok) throw new Error(`could not load the map (HTTP ${res.status})`);
  return (await res.json()) as WorldMapView;
}

async function join(name: string): Promise<void> {
  const joinError = $('join-error');
  const submit = document.querySelector<HTMLButtonElement>('#join-form button')!;
  joinError.textContent = '';
  submit.disabled = true;
  setConnection('joining');
  try {
    state.map ??= await loadMap();
    const world = await WorldClient.connect({ endpoint, name });
    localStorage.setItem(NAME_KEY, name);
    bind(world);
    $('join').hidden = true;
    setConnection('connected');
  } catch (err) {
    joinError.textContent = (err as Error).message;
    setConnection('disconnected');
  } finally {
    submit.disabled = false;
  }
}

function bind(world: WorldClient): void {
  state.world = world;
  state.entities.clear();
  talk.attach(world);
  const now = () => performance.now();
  const track = (kind: 'avatar' | 'npc', id: string, info: AvatarInfo | NpcInfo) => {
    let t = state.entities.get(id);
    if (!t || t.info !== info) {
      const patchRate = world.welcome?.patchRate;
      t = { id, kind, buffer: new SnapshotBuffer(patchRate ? { patchIntervalMs: 1000 / patchRate } : {}), info, pose: undefined };
      state.entities.set(id, t);
    }
    // Distant entities are refreshed a few times a second: the buffer dead-reckons them while they move.
    const motion = 'vx' in info ? { vx: info.vx, vz: info.vz } : { moving: info.anim === 'walk' };
    t.buffer.push({ t: now(), x: info.x, z: info.z, heading: info.heading, ...motion });
  };
  const welcomed = (w: NonNullable<WorldClient['welcome']>) => {
    $('world-name').textContent = w.worldName;
    if (w.patchRate) state.delay.nominalIntervalMs = 1000 / w.patchRate;
  };
  world.on('welcome', welcomed);
  if (world.welcome) welcomed(world.welcome);
  world.on('avatarAdd', (a) => track('avatar', a.sessionId, a));
  world.on('avatarChange', (a) => {
    track('avatar', a.sessionId, a);
    if (a.sessionId === world.sessionId) updateInventory(a.inventory);
  });
  world.on('avatarRemove', (a) => state.entities.delete(a.sessionId));
  world.on('npcAdd', (n) => track('npc', `npc:${n.id}`, n));
  world.on('npcChange', (n) => track('npc', `npc:${n.id}`, n));
  world.on('npcRemove', (n) => state.entities.delete(`npc:${n.id}`));
  world.on('npcAudio', (frame) => voicePlayer.play(frame));
  world.on('chat', (m) => {
    chatLog.append(el('li', { 'data-testid': 'chat-line' }, el('b', {}, `${m.name}: `), m.text));
    while (chatLog.children.length > 100) chatLog.firstElementChild?.remove();
    chatLog.scrollTop = chatLog.scrollHeight;
    const t = state.entities.get(m.from);
    if (t) t.chat = { text: m.text, until: performance.now() + 6000 };
  });
  world.on('serverError', (e) => {
    if (e.type === 'chat') chatLog.append(el('li', { class: 'error' }, e.message));
    else if (e.type === 'move') console.warn('move rejected:', e.message);
  });
  world.on('drop', () => setConnection('reconnecting'));
  world.on('reconnect', () => setConnection('connected'));
  world.on('leave', (code) => {
    setConnection('disconnected', code);
  });
  if (world.me) updateInventory(world.me.inventory);
}

function setConnection(next: ConnectionState, code?: number): void {
  state.connection = next;
  statusEl.dataset.state = next;
  statusEl.textContent = { joining: 'Joining…', connected: 'Connected', reconnecting: 'Reconnecting…', disconnected: 'Disconnected' }[next];
  talk.setConnected(next === 'connected');
  bannerEl.classList.toggle('bad', next === 'disconnected');
  if (next === 'reconnecting') {
    bannerEl.replaceChildren('Connection lost — reconnecting… your avatar waits for you.');
    bannerEl.hidden = false;
  } else if (next === 'disconnected' && state.world) {
    const why =
      code === WorldCloseCode.SessionTakenOver
        ? 'You signed in from another tab or window, which took this session over.'
        : code === WorldCloseCode.SessionRevoked
          ? 'Your session was signed out.'
          : code === WorldCloseCode.Abuse
            ? 'Disconnected for sending too many rejected messages.'
            : code === 4001
              ? 'The server is shutting down.'
              : 'Disconnected from the server.';
    const again = el('button', { type: 'button', 'data-testid': 'rejoin' }, 'Play here');
    again.addEventListener('click', () => {
      bannerEl.hidden = true;
      void join(localStorage.getItem(NAME_KEY) ?? 'Traveller');
    });
    bannerEl.replaceChildren(why, again);
    bannerEl.hidden = false;
  } else {
    bannerEl.hidden = true;
  }
}

function updateInventory(inventory: Record<string, number>): void {
  const before = state.inventory;
  const items = Object.entries(inventory).filter(([, n]) => n > 0).sort(([a], [b]) => a.localeCompare(b));
  const rows = items.map(([item, count]) => {
    const li = el('li', { 'data-testid': 'inventory-item', 'data-item': item }, el('span', {}, item.replace(/_/g, ' ')), el('b', {}, `×${count}`));
    if ((before[item] ?? 0) < count) li.classList.add('new');
    return li;
  });
  inventoryList.replaceChildren(...(rows.length ? rows : [el('li', { class: 'empty' }, 'nothing yet')]));
  state.inventory = { ...inventory };
}

// ————— input —————

function sendMove(intent: Parameters<WorldClient['move']>[0]): void {
  if (state.connection !== 'connected') return;
  try {
    state.world?.move(intent);
  } catch (err) {
    console.warn(err);
  }
}

function typing(target: EventTarget | null): boolean {
  return target instanceof HTMLInputElement || target instanceof HTMLTextAreaElement;
}

function keysChanged(): void {
  const intent = state.keyboard.update(state.held);
  if (!intent) return;
  if (!('stop' in intent)) {
    state.moveTarget = undefined;
    state.approaching = undefined;
  }
  sendMove(intent);
}

addEventListener('keydown', (e) => {
  if (typing(e.target)) {
    if (e.key === 'Escape') (e.target as HTMLElement).blur();
    return;
  }
  if (e.code === 'Backquote' || e.code === 'F3') {
    toggleDebug();
    e.preventDefault();
    return;
  }
  if (e.key === 'Escape' && talk.isOpen) {
    talk.close();
    return;
  }
  if (e.key === 'Enter') {
    e.preventDefault();
    const input = talk.isOpen ? $('talk-input') : $('chat-input');
    $('chat').classList.remove('collapsed');
    input.focus();
    return;
  }
  if (MOVE_KEYS[e.code] || RUN_KEYS.has(e.code)) {
    e.preventDefault();
    state.held.add(e.code);
    keysChanged();
  }
});
addEventListener('keyup', (e) => {
  if (state.held.delete(e.code)) keysChanged();
});
addEventListener('blur', () => {
  state.held.clear();
  keysChanged();
});

function npcAt(px: number, py: number): NpcInfo | undefined {
  const world = state.world;
  if (!world) return undefined;
  const point = screenToWorld(state.camera, px, py);
  const drawn = [...state.entities.values()]
    .filter((t) => t.kind === 'npc' && t.pose)
    .map((t) => ({ x: t.pose!.x, z: t.pose!.z, npc: t.info as NpcInfo }));
  return pick(drawn, point, Math.max(1.2, 14 / state.camera.scale))?.npc;
}

canvas.addEventListener('pointerdown', (e) => {
  if (!state.world || state.connection !== 'connected') return;
  const rect = canvas.getBoundingClientRect();
  const px = e.clientX - rect.left;
  const py = e.clientY - rect.top;
  (document.activeElement as HTMLElement | null)?.blur?.();
  const npc = npcAt(px, py);
  state.keyboard.reset();
  if (npc) {
    selectNpc(npc.id);
    return;
  }
  const target = screenToWorld(state.camera, px, py);
  state.moveTarget = target;
  state.approaching = undefined;
  sendMove({ target, run: e.shiftKey });
});
canvas.addEventListener('pointermove', (e) => {
  const rect = canvas.getBoundingClientRect();
  canvas.classList.toggle('over-npc', npcAt(e.clientX - rect.left, e.clientY - rect.top) !== undefined);
});

/** Opens the talk panel for an NPC and walks within range of it if needed. */
function selectNpc(id: string): void {
  const npc = state.world?.npcs.get(id);
  if (!npc) return;
  state.selectedNpc = id;
  talk.open(npc);
  const me = selfPose();
  if (me && Math.hypot(npc.x - me.x, npc.z - me.z) > talkRange() * 0.9) {
    state.approaching = id;
    approach(npc, me);
  }
}

function approach(npc: NpcInfo, me: Pose): void {
  const target = approachPoint(me, npc, Math.max(1, talkRange() * 0.5));
  state.moveTarget = target;
  // Run when it is a long way off.
  sendMove({ target, run: Math.hypot(npc.x - me.x, npc.z - me.z) > 12 });
}

function toggleDebug(force?: boolean): void {
  state.debug = force ?? !state.debug;
  debugEl.hidden = !state.debug;
}
$('toggle-debug').addEventListener('click', () => toggleDebug());
$('toggle-chat').addEventListener('click', () => $('chat').classList.toggle('collapsed'));
if (matchMedia('(max-width: 700px)').matches) $('chat').classList.add('collapsed');
$('chat-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const input = $<HTMLInputElement>('chat-input');
  const text = input.value.trim();
  if (!text || !state.world) return;
  try {
    state.world.say(text);
    input.value = '';
  } catch (err) {
    chatLog.append(el('li', { class: 'error' }, (err as Error).message));
  }
});

// ————— the frame —————

function resize(): void {
  const dpr = Math.min(window.devicePixelRatio || 1, 2);
  const w = canvas.clientWidth;
  const h = canvas.clientHeight;
  if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
    canvas.width = Math.round(w * dpr);
    canvas.height = Math.round(h * dpr);
  }
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  state.camera.width = w;
  state.camera.height = h;
  state.camera.scale = scaleFor(w, h);
}

let lastFrame = performance.now();
function frame(now: number): void {
  const dt = now - lastFrame;
  lastFrame = now;
  state.frames.add(1, now);
  resize();
  const world = state.world;
  if (world) {
    const patches = world.network.patchesReceived;
    if (patches !== state.lastPatchCount) {
      state.delay.onPatch(now);
      state.patches.add(patches - state.lastPatchCount, now);
      state.lastPatchCount = patches;
    }
  }
  const renderTime = now - state.delay.ms;
  const views: EntityView[] = [];
  for (const t of state.entities.values()) {
    t.pose = t.buffer.sample(renderTime) ?? t.pose;
    t.buffer.prune(renderTime);
    if (!t.pose) continue;
    if (t.kind === 'npc') {
      const n = t.info as NpcInfo;
      views.push({
        id: t.id,
        name: n.name,
        x: t.pose.x,
        z: t.pose.z,
        heading: t.pose.heading,
        anim: n.anim,
        kind: 'npc',
        ...(n.speech ? { bubble: n.speech } : {}),
        busy: n.activity === 'talking',
        selected: state.selectedNpc === n.id,
      });
    } else {
      const a = t.info as AvatarInfo;
      const self = world && a.sessionId === world.sessionId;
      if (t.chat && t.chat.until < now) delete t.chat;
      views.push({ id: t.id, name: a.name, x: t.pose.x, z: t.pose.z, heading: t.pose.heading, anim: a.anim, kind: self ? 'self' : 'avatar', connected: a.connected, ...(t.chat ? { bubble: t.chat.text } : {}) });
    }
  }
  const me = world ? state.entities.get(world.sessionId)?.pose : undefined;
  if (me) followCamera(state.camera, cameraTarget(me), dt);
  // Walking up to an NPC: once in range, stop there; if it moved away, follow it.
  if (world && state.approaching) {
    const npc = world.npcs.get(state.approaching);
    const pos = selfPose();
    if (!npc || !pos) state.approaching = undefined;
    else if (Math.hypot(npc.x - pos.x, npc.z - pos.z) <= talkRange() * 0.9) {
      state.approaching = undefined;
      state.moveTarget = undefined;
    } else if (state.moveTarget && Math.hypot(npc.x - state.moveTarget.x, npc.z - state.moveTarget.z) > talkRange()) approach(npc, pos);
  }
  if (state.moveTarget && world?.me && world.me.anim === 'idle' && Math.hypot(world.me.x - state.moveTarget.x, world.me.z - state.moveTarget.z) < 0.6) state.moveTarget = undefined;
  if (state.map) drawScene(ctx, { map: state.map, camera: state.camera, entities: views, moveTarget: state.moveTarget, talkRange: talkRange(), now });
  talk.refresh();
  if (state.debug) renderDebug(now, views.length);
  requestAnimationFrame(frame);
}

const talkEl = $('talk');
/** Where the camera centres so the player stays in the part of the screen the talk panel leaves free. */
function cameraTarget(me: Pose): { x: number; z: number } {
  if (!talk.isOpen) return me;
  const cam = state.camera;
  const rect = talkEl.getBoundingClientRect();
  const sheet = rect.width > cam.width * 0.8; // a phone's bottom sheet
  const fx = sheet ? cam.width / 2 : rect.left / 2;
  const fy = sheet ? Math.max(60, rect.top / 2 + 20) : cam.height / 2;
  return { x: me.x - (fx - cam.width / 2) / cam.scale, z: me.z + (fy - cam.height / 2) / cam.scale };
}

let lastDebug = 0;
function renderDebug(now: number, drawn: number): void {
  if (now - lastDebug < 250) return;
  lastDebug = now;
  const world = state.world;
  if (world) state.bytes.set(world.network.bytesReceived, now);
  const t = state.lastTalk;
  const tokensPerS = t?.tokens !== undefined && t.durationMs !== undefined && t.ttftMs !== undefined && t.durationMs > t.ttftMs ? t.tokens / ((t.durationMs - t.ttftMs) / 1000) : Number.NaN;
  const fmt = (v: number, digits = 0, unit = '') => (Number.isFinite(v) ? `${v.toFixed(digits)}${unit}` : '—');
  const lines = [
    `ping         ${fmt(state.ping, 0, ' ms')}`,
    `tick rate    ${world?.welcome ? `${world.welcome.tickRate} Hz (server)` : '—'}`,
    `patch rate   ${fmt(state.patches.perSecond(now), 1, ' /s')}${world?.welcome?.patchRate ? ` (server up to ${fmt(world.welcome.patchRate, 0)} /s)` : ''}`,
    `bytes in     ${fmt(state.bytes.perSecond(now) / 1024, 1, ' KiB/s')}`,
    `in view      ${world ? `${world.avatars.size} avatars, ${world.npcs.size} NPCs` : '—'} (${drawn} drawn)`,
    `render delay ${fmt(state.delay.ms, 0, ' ms')} (jitter ${fmt(state.delay.jitterMs, 0, ' ms')})`,
    `fps          ${fmt(state.frames.perSecond(now), 0)}`,
    `last TTFT    ${t ? `${fmt(t.firstChunkMs, 0, ' ms')} here, ${fmt(t.ttftMs ?? Number.NaN, 0, ' ms')} server` : '—'}`,
    `tokens/s     ${t ? `${fmt(tokensPerS, 1)} (${t.tokens ?? '?'} tokens)` : '—'}`,
    `position     ${world?.me ? `${world.me.x.toFixed(1)}, ${world.me.z.toFixed(1)}` : '—'}`,
  ];
  debugEl.textContent = lines.join('\n');
}

setInterval(() => {
  const world = state.world;
  if (!world || state.connection !== 'connected' || !state.debug) return;
  world.ping(3000).then(
    (ms) => (state.ping = ms),
    () => (state.ping = Number.NaN),
  );
}, 2000);

// ————— start —————

/** Read-only hooks for the browser tests and for poking around in the console. */
const testApi = {
  get sessionId() {
    return state.world?.sessionId;
  },
  get connection() {
    return state.connection;
  },
  /** Entities as drawn this frame (interpolated poses). */
  entities() {
    return [...state.entities.values()].filter((t) => t.pose).map((t) => ({ id: t.id, kind: t.kind, name: t.info.name, x: t.pose!.x, z: t.pose!.z }));
  },
  /** Where an entity is on screen (CSS pixels from the canvas's top-left), if it is drawn. */
  screenOf(id: string) {
    const t = state.entities.get(id);
    return t?.pose ? worldToScreen(state.camera, t.pose.x, t.pose.z) : undefined;
  },
  npcs() {
    return state.world ? [...state.world.npcs.values()].map((n) => ({ id: n.id, name: n.name, x: n.x, z: n.z })) : [];
  },
  me() {
    const me = state.world?.me;
    return me ? { x: me.x, z: me.z, anim: me.anim } : undefined;
  },
};
(window as unknown as { worldmind: typeof testApi }).worldmind = testApi;

toggleDebug(state.debug);
const nameInput = $<HTMLInputElement>('join-name');
nameInput.value = params.get('name') ?? localStorage.getItem(NAME_KEY) ?? `Traveller ${Math.floor(100 + Math.random() * 900)}`;
$('join-form').addEventListener('submit', (e) => {
  voicePlayer.unlock(); // a user gesture: browsers allow audio from here on
  e.preventDefault();
  void join(nameInput.value);
});
loadMap().then(
  (map) => {
    state.map ??= map;
    $('join-title').textContent = map.name;
    // The map's first sentence, then what to do.
    $('join-about').textContent = `${/^[^.]*\./.exec(map.description)?.[0] ?? ''} Walk about, meet the townsfolk, ask them things.`.trim();
    // Until joined, show the first spawn point (where newcomers arrive).
    const spawn = map.spawnPoints[0];
    if (spawn && !state.world) Object.assign(state.camera, { x: spawn.x, z: spawn.z });
  },
  (err: Error) => ($('join-error').textContent = err.message),
);
if (params.has('name')) void join(nameInput.value);
else nameInput.select();
requestAnimationFrame(frame);
