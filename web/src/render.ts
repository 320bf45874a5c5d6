/**
 * The top-down view on a 2D canvas: ground, river, walls, buildings, trees, labelled landmarks, then
 * avatars and NPCs with name tags and speech bubbles. Pure drawing: what to draw comes in `Scene`.
 */
import { worldToScreen, type Camera } from './input.ts';

export interface MapBox {
  id: string;
  kind: 'box';
  minX: number;
  minZ: number;
  maxX: number;
  maxZ: number;
  note?: string;
}
export interface MapCircle {
  id: string;
  kind: 'circle';
  x: number;
  z: number;
  r: number;
  note?: string;
}
export type MapObstacle = MapBox | MapCircle;

/** The world map as the server serves it at /world/map.json. */
export interface WorldMapView {
  id: string;
  name: string;
  description: string;
  bounds: { minX: number; minZ: number; maxX: number; maxZ: number };
  obstacles: MapObstacle[];
  landmarks: { id: string; name: string; x: number; z: number }[];
  spawnPoints: { x: number; z: number }[];
}

export type Surface = 'water' | 'wall' | 'tree' | 'well' | 'building';

/** What an obstacle looks like, from its id and note (maps name their features plainly). */
export function surfaceOf(o: MapObstacle): Surface {
  const text = `${o.id} ${o.note ?? ''}`.toLowerCase();
  if (/river|water|lake|pond|stream/.test(text)) return 'water';
  if (/wall|fence|palisade/.test(text)) return 'wall';
  if (/tree|oak|orchard|bush|hedge/.test(text)) return 'tree';
  if (/well|fountain|statue/.test(text)) return 'well';
  return 'building';
}

const COLORS = {
  void: '#1b2026',
  ground: '#7fa35b',
  groundDark: '#74984f',
  water: '#3d7fb5',
  waterEdge: '#6aa7d6',
  wall: '#8c8577',
  wallEdge: '#5f594f',
  building: '#a0724a',
  buildingRoof: '#7b4f2e',
  tree: '#2f6b2f',
  treeLight: '#3f8a3a',
  well: '#9aa3ad',
  landmark: '#fff8e0',
  self: '#ffd23f',
  avatar: '#4fc3f7',
  avatarAway: '#90a4ae',
  npc: '#e57373',
  npcTalking: '#ba68c8',
  tagBg: 'rgba(20, 24, 30, 0.72)',
  tagText: '#ffffff',
  bubbleBg: '#ffffff',
  bubbleText: '#1b2026',
  target: 'rgba(255, 255, 255, 0.8)',
  range: 'rgba(255, 210, 63, 0.55)',
};

export interface EntityView {
  id: string;
  name: string;
  x: number;
  z: number;
  heading: number;
  anim: string;
  kind: 'self' | 'avatar' | 'npc';
  connected?: boolean;
  /** NPC: the line it is saying (speech bubble). Avatar: a recent chat line. */
  bubble?: string;
  /** NPC: talking to someone. */
  busy?: boolean;
  /** Highlight (the NPC the player is talking to, or hovering). */
  selected?: boolean;
}

export interface Scene {
  map: WorldMapView;
  camera: Camera;
  entities: EntityView[];
  /** Where a click-to-move is heading. */
  moveTarget?: { x: number; z: number } | undefined;
  /** Talk range ring around the selected NPC. */
  talkRange?: number;
  /** ms clock for small animations. */
  now: number;
}

export function drawScene(ctx: CanvasRenderingContext2D, scene: Scene): void {
  const { camera: cam, map } = scene;
  ctx.save();
  ctx.fillStyle = COLORS.void;
  ctx.fillRect(0, 0, cam.width, cam.height);
  drawGround(ctx, scene);
  for (const o of map.obstacles) if (surfaceOf(o) === 'water') drawObstacle(ctx, cam, o, 'water');
  for (const o of map.obstacles) {
    const s = surfaceOf(o);
    if (s !== 'water' && s !== 'tree') drawObstacle(ctx, cam, o, s);
  }
  if (scene.moveTarget) drawTarget(ctx, cam, scene.moveTarget, scene.now);
  const entities = [...scene.entities].sort((a, b) => b.z - a.z);
  for (const e of entities) if (e.selected && e.kind === 'npc' && scene.talkRange) drawRange(ctx, cam, e, scene.talkRange);
  for (const e of entities) drawEntity(ctx, cam, e);
  // Trees over the walkers (canopies), then labels and tags on top of everything.
  for (const o of map.obstacles) if (surfaceOf(o) === 'tree') drawObstacle(ctx, cam, o, 'tree');
  for (const l of map.landmarks) drawLandmark(ctx, cam, l);
  for (const e of entities) drawTag(ctx, cam, e);
  for (const e of entities) if (e.bubble) drawBubble(ctx, cam, e);
  ctx.restore();
}

function drawGround(ctx: CanvasRenderingContext2D, scene: Scene): void {
  const { camera: cam, map } = scene;
  const b = map.bounds;
  const tl = worldToScreen(cam, b.minX, b.maxZ);
  const br = worldToScreen(cam, b.maxX, b.minZ);
  ctx.fillStyle = COLORS.ground;
  ctx.fillRect(tl.x, tl.y, br.x - tl.x, br.y - tl.y);
  // A faint 10-unit grid helps judge distance and motion.
  ctx.strokeStyle = COLORS.groundDark;
  ctx.lineWidth = 1;
  ctx.beginPath();
  const step = 10;
  const left = Math.max(b.minX, Math.floor((cam.x - cam.width / 2 / cam.scale) / step) * step);
  const right = Math.min(b.maxX, cam.x + cam.width / 2 / cam.scale);
  for (let x = left; x <= right; x += step) {
    const p = worldToScreen(cam, x, 0);
    ctx.moveTo(Math.round(p.x) + 0.5, Math.max(tl.y, 0));
    ctx.lineTo(Math.round(p.x) + 0.5, Math.min(br.y, cam.height));
  }
  const bottom = Math.max(b.minZ, Math.floor((cam.z - cam.height / 2 / cam.scale) / step) * step);
  const top = Math.min(b.maxZ, cam.z + cam.height / 2 / cam.scale);
  for (let z = bottom; z <= top; z += step) {
    const p = worldToScreen(cam, 0, z);
    ctx.moveTo(Math.max(tl.x, 0), Math.round(p.y) + 0.5);
    ctx.lineTo(Math.min(br.x, cam.width), Math.round(p.y) + 0.5);
  }
  ctx.stroke();
}

function drawObstacle(ctx: CanvasRenderingContext2D, cam: Camera, o: MapObstacle, surface: Surface): void {
  if (o.kind === 'box') {
    const tl = worldToScreen(cam, o.minX, o.maxZ);
    const br = worldToScreen(cam, o.maxX, o.minZ);
    const w = br.x - tl.x;
    const h = br.y - tl.y;
    if (tl.x > cam.width || tl.y > cam.height || br.x < 0 || br.y < 0) return;
    switch (surface) {
      case 'water':
        ctx.fillStyle = COLORS.water;
        ctx.fillRect(tl.x, tl.y, w, h);
        ctx.strokeStyle = COLORS.waterEdge;
        ctx.lineWidth = 2;
        ctx.strokeRect(tl.x, tl.y, w, h);
        break;
      case 'wall':
        ctx.fillStyle = COLORS.wall;
        ctx.fillRect(tl.x, tl.y, w, h);
        ctx.strokeStyle = COLORS.wallEdge;
        ctx.lineWidth = 1;
        ctx.strokeRect(tl.x + 0.5, tl.y + 0.5, w - 1, h - 1);
        break;
      default: {
        ctx.fillStyle = COLORS.building;
        ctx.fillRect(tl.x, tl.y, w, h);
        const inset = Math.min(w, h) * 0.12;
        ctx.fillStyle = COLORS.buildingRoof;
        ctx.fillRect(tl.x + inset, tl.y + inset, w - 2 * inset, h - 2 * inset);
        ctx.strokeStyle = COLORS.wallEdge;
        ctx.lineWidth = 1;
        ctx.strokeRect(tl.x + 0.5, tl.y + 0.5, w - 1, h - 1);
      }
    }
    return;
  }
  const c = worldToScreen(cam, o.x, o.z);
  const r = o.r * cam.scale;
  if (c.x + r < 0 || c.y + r < 0 || c.x - r > cam.width || c.y - r > cam.height) return;
  ctx.beginPath();
  ctx.arc(c.x, c.y, r, 0, Math.PI * 2);
  if (surface === 'tree') {
    ctx.fillStyle = COLORS.tree;
    ctx.globalAlpha = 0.92;
    ctx.fill();
    ctx.globalAlpha = 1;
    ctx.beginPath();
    ctx.arc(c.x - r * 0.25, c.y - r * 0.25, r * 0.55, 0, Math.PI * 2);
    ctx.fillStyle = COLORS.treeLight;
    ctx.fill();
  } else if (surface === 'water') {
    ctx.fillStyle = COLORS.water;
    ctx.fill();
  } else {
    ctx.fillStyle = COLORS.well;
    ctx.fill();
    ctx.beginPath();
    ctx.arc(c.x, c.y, r * 0.6, 0, Math.PI * 2);
    ctx.fillStyle = COLORS.water;
    ctx.fill();
  }
}

function drawLandmark(ctx: CanvasRenderingContext2D, cam: Camera, l: { name: string; x: number; z: number }): void {
  const p = worldToScreen(cam, l.x, l.z);
  if (p.x < -150 || p.y < -20 || p.x > cam.width + 150 || p.y > cam.height + 20) return;
  ctx.font = 'italic 600 12px system-ui, sans-serif';
  ctx.textAlign = 'center';
  ctx.textBaseline = 'middle';
  ctx.lineWidth = 3;
  ctx.strokeStyle = 'rgba(0,0,0,0.6)';
  ctx.strokeText(l.name, p.x, p.y);
  ctx.fillStyle = COLORS.landmark;
  ctx.fillText(l.name, p.x, p.y);
}

function drawTarget(ctx: CanvasRenderingContext2D, cam: Camera, t: { x: number; z: number }, now: number): void {
  const p = worldToScreen(cam, t.x, t.z);
  const pulse = 0.5 + 0.5 * Math.sin(now / 150);
  ctx.strokeStyle = COLORS.target;
  ctx.lineWidth = 2;
  ctx.beginPath();
  ctx.arc(p.x, p.y, 4 + pulse * 4, 0, Math.PI * 2);
  ctx.stroke();
}

function drawRange(ctx: CanvasRenderingContext2D, cam: Camera, e: EntityView, range: number): void {
  const p = worldToScreen(cam, e.x, e.z);
  ctx.setLineDash([6, 6]);
  ctx.strokeStyle = COLORS.range;
  ctx.lineWidth = 2;
  ctx.beginPath();
  ctx.arc(p.x, p.y, range * cam.scale, 0, Math.PI * 2);
  ctx.stroke();
  ctx.setLineDash([]);
}

function drawEntity(ctx: CanvasRenderingContext2D, cam: Camera, e: EntityView): void {
  const p = worldToScreen(cam, e.x, e.z);
  if (p.x < -40 || p.y < -40 || p.x > cam.width + 40 || p.y > cam.height + 40) return;
  const r = Math.max(6, 0.6 * cam.scale);
  const color = e.kind === 'self' ? COLORS.self : e.kind === 'npc' ? (e.busy ? COLORS.npcTalking : COLORS.npc) : e.connected === false ? COLORS.avatarAway : COLORS.avatar;
  // Shadow, body, facing notch.
  ctx.beginPath();
  ctx.ellipse(p.x, p.y + r * 0.35, r, r * 0.55, 0, 0, Math.PI * 2);
  ctx.fillStyle = 'rgba(0,0,0,0.25)';
  ctx.fill();
  ctx.beginPath();
  if (e.kind === 'npc') {
    ctx.moveTo(p.x, p.y - r * 1.15);
    ctx.lineTo(p.x + r * 1.15, p.y);
    ctx.lineTo(p.x, p.y + r * 1.15);
    ctx.lineTo(p.x - r * 1.15, p.y);
    ctx.closePath();
  } else {
    ctx.arc(p.x, p.y, r, 0, Math.PI * 2);
  }
  ctx.fillStyle = color;
  ctx.globalAlpha = e.connected === false ? 0.55 : 1;
  ctx.fill();
  ctx.globalAlpha = 1;
  ctx.lineWidth = e.selected ? 3 : 1.5;
  ctx.strokeStyle = e.selected ? '#ffffff' : 'rgba(0,0,0,0.55)';
  ctx.stroke();
  const hx = Math.sin(e.heading);
  const hz = Math.cos(e.heading);
  ctx.beginPath();
  ctx.moveTo(p.x + hx * r * 0.3, p.y - hz * r * 0.3);
  ctx.lineTo(p.x + hx * r * 1.35, p.y - hz * r * 1.35);
  ctx.strokeStyle = 'rgba(0,0,0,0.7)';
  ctx.lineWidth = 2;
  ctx.stroke();
}

function tagText(e: EntityView): string {
  const emote = e.anim && !['idle', 'walk', 'run'].includes(e.anim) ? ` *${e.anim}*` : '';
  const away = e.connected === false ? ' (reconnecting…)' : '';
  return `${e.name}${emote}${away}`;
}

function drawTag(ctx: CanvasRenderingContext2D, cam: Camera, e: EntityView): void {
  const p = worldToScreen(cam, e.x, e.z);
  if (p.x < -100 || p.y < -40 || p.x > cam.width + 100 || p.y > cam.height + 40) return;
  const r = Math.max(6, 0.6 * cam.scale);
  const text = tagText(e);
  ctx.font = `${e.kind === 'self' ? 700 : 600} 12px system-ui, sans-serif`;
  const w = ctx.measureText(text).width + 10;
  const y = p.y + r + 12;
  ctx.fillStyle = COLORS.tagBg;
  roundRect(ctx, p.x - w / 2, y - 9, w, 18, 5);
  ctx.fill();
  ctx.fillStyle = e.kind === 'npc' ? '#ffd7d7' : e.kind === 'self' ? COLORS.self : COLORS.tagText;
  ctx.textAlign = 'center';
  ctx.textBaseline = 'middle';
  ctx.fillText(text, p.x, y);
}

/** Splits text into lines no wider than `maxWidth` (at most `maxLines`, the last one ellipsised). */
export function wrapText(measure: (s: string) => number, text: string, maxWidth: number, maxLines: number): string[] {
  const words = text.split(/\s+/).filter(Boolean);
  const lines: string[] = [];
  let line = '';
  for (const word of words) {
    const next = line ? `${line} ${word}` : word;
    if (measure(next) <= maxWidth || !line) {
      line = next;
      continue;
    }
    lines.push(line);
    line = word;
    if (lines.length === maxLines) break;
  }
  if (lines.length < maxLines && line) lines.push(line);
  else if (line && lines.length === maxLines) lines[maxLines - 1] = `${lines[maxLines - 1]!.replace(/\s*\S*$/, '')}…`;
  return lines;
}

function drawBubble(ctx: CanvasRenderingContext2D, cam: Camera, e: EntityView): void {
  const p = worldToScreen(cam, e.x, e.z);
  if (p.x < -200 || p.y < -100 || p.x > cam.width + 200 || p.y > cam.height + 200) return;
  const r = Math.max(6, 0.6 * cam.scale);
  ctx.font = '13px system-ui, sans-serif';
  const maxWidth = Math.min(220, cam.width * 0.6);
  const lines = wrapText((s) => ctx.measureText(s).width, e.bubble!, maxWidth, 4);
  const w = Math.max(...lines.map((l) => ctx.measureText(l).width)) + 16;
  const h = lines.length * 16 + 10;
  const x = Math.min(Math.max(p.x - w / 2, 4), cam.width - w - 4);
  const y = p.y - r - 12 - h;
  ctx.fillStyle = COLORS.bubbleBg;
  ctx.strokeStyle = 'rgba(0,0,0,0.35)';
  ctx.lineWidth = 1;
  roundRect(ctx, x, y, w, h, 8);
  ctx.fill();
  ctx.stroke();
  ctx.beginPath();
  ctx.moveTo(p.x - 6, y + h - 0.5);
  ctx.lineTo(p.x, y + h + 8);
  ctx.lineTo(p.x + 6, y + h - 0.5);
  ctx.fill();
  ctx.fillStyle = COLORS.bubbleText;
  ctx.textAlign = 'left';
  ctx.textBaseline = 'top';
  lines.forEach((l, i) => ctx.fillText(l, x + 8, y + 6 + i * 16));
}

function roundRect(ctx: CanvasRenderingContext2D, x: number, y: number, w: number, h: number, r: number): void {
  ctx.beginPath();
  ctx.moveTo(x + r, y);
  ctx.arcTo(x + w, y, x + w, y + h, r);
  ctx.arcTo(x + w, y + h, x, y + h, r);
  ctx.arcTo(x, y + h, x, y, r);
  ctx.arcTo(x, y, x + w, y, r);
  ctx.closePath();
}
