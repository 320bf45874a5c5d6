/**
 * The browser client end to end, in real headless Chromium against a real server on a loopback port:
 * two players see each other move (keyboard and click-to-move), a player clicks an NPC, walks up,
 * talks, and the reply streams into the panel with its action; the same on a phone-sized touch
 * screen. Screenshots land in test-artifacts/browser/.
 */
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { npcDirWith } from '../support/npc-fixtures.ts';
import { startTestServer } from '../support/world-server.ts';
import { buildWebClient, chromiumAvailable, CHROMIUM, openPage, screenshot, until, type TestPage } from './support.ts';

/**
 * Roderick stays at the gate, near the spawn points, between conversations (no patrol). Only the
 * patrol goes: the persona, actions and examples — what the model was trained on — stay as written.
 */
function stationaryRoderick(doc: Record<string, unknown>): void {
  delete doc.patrol;
  delete doc.schedule;
}

type Entity = { id: string; kind: string; name: string; x: number; z: number };

const entities = (p: TestPage) => p.page.evaluate(() => (window as unknown as { worldmind: { entities(): Entity[] } }).worldmind.entities());
const sessionId = (p: TestPage) => p.page.evaluate(() => (window as unknown as { worldmind: { sessionId?: string } }).worldmind.sessionId);
const screenOf = (p: TestPage, id: string) =>
  p.page.evaluate((id) => (window as unknown as { worldmind: { screenOf(id: string): { x: number; y: number } | undefined } }).worldmind.screenOf(id), id);

async function joined(p: TestPage, name: string, base: string): Promise<string> {
  await p.page.goto(`${base}/?name=${encodeURIComponent(name)}`);
  try {
    await p.page.locator('[data-testid=connection-status][data-state=connected]').waitFor({ timeout: 20_000 });
  } catch (err) {
    const joinError = await p.page.locator('#join-error').textContent().catch(() => '?');
    throw new Error(`${name} did not join: ${joinError || '(no join error shown)'}; page errors: ${p.errors.join(' | ') || 'none'}`, { cause: err });
  }
  return until(`${name}'s session id`, () => sessionId(p));
}

async function seenAt(p: TestPage, id: string): Promise<Entity | undefined> {
  return (await entities(p)).find((e) => e.id === id);
}

/**
 * Clicks (or taps) the NPC on the canvas, waits until the panel says it is in range, says `line`, and
 * returns what the panel showed: the intermediate texts of the streaming reply, the final text, the
 * action and how the turn finished.
 */
async function talkThroughThePanel(p: TestPage, npcId: string, line: string, tap = false) {
  const { page } = p;
  const size = page.viewportSize()!;
  // On screen, with the camera settled (it eases toward the player after joining).
  let previous: { x: number; y: number } | undefined;
  const spot = await until(`NPC ${npcId} on screen, camera still`, async () => {
    const at = await screenOf(p, `npc:${npcId}`);
    const still = at && previous && Math.hypot(at.x - previous.x, at.y - previous.y) < 0.5;
    previous = at;
    return still && at.x > 10 && at.y > 60 && at.x < size.width - 10 && at.y < size.height - 10 ? at : undefined;
  }, 10_000).catch((err: Error) => {
    throw new Error(`${err.message}; last seen at ${JSON.stringify(previous)} in ${size.width}x${size.height}`);
  });
  const canvas = await page.locator('canvas#world').boundingBox();
  if (tap) await page.touchscreen.tap(canvas!.x + spot.x, canvas!.y + spot.y);
  else await page.mouse.click(canvas!.x + spot.x, canvas!.y + spot.y);
  await page.locator('[data-testid=talk-panel]').waitFor({ state: 'visible' });
  expect(await page.locator('[data-testid=talk-panel]').getAttribute('data-npc')).toBe(npcId);
  // The player walks over by itself; the panel says when it can talk.
  await page.locator('[data-testid=talk-state][data-kind=ok]').waitFor({ timeout: 30_000 });
  // Record every text the reply shows while it streams in.
  await page.evaluate(() => {
    const seen: string[] = [];
    (window as unknown as { replyTexts: string[] }).replyTexts = seen;
    new MutationObserver(() => {
      const lines = document.querySelectorAll('[data-testid=npc-line]');
      const last = lines[lines.length - 1];
      const text = last?.querySelector('.text')?.textContent ?? '';
      if (text && seen[seen.length - 1] !== text) seen.push(text);
    }).observe(document.getElementById('talk-log')!, { subtree: true, childList: true, characterData: true });
  });
  const before = await page.locator('[data-testid=npc-line]').count();
  await page.locator('[data-testid=talk-input]').fill(line);
  await page.locator('[data-testid=talk-send]').click();
  await page.locator('[data-testid=player-line]').last().waitFor();
  const reply = page.locator('[data-testid=npc-line]').nth(before);
  // The end of the turn (its action line), or a refusal.
  const refused = page.locator('[data-testid=talk-error]');
  await page.locator('[data-testid=npc-line] [data-testid=npc-action], [data-testid=talk-error]').nth(before).waitFor({ timeout: 60_000 });
  if ((await refused.count()) > 0) throw new Error(`the NPC refused the line: ${await refused.last().getAttribute('data-code')}: ${await refused.last().textContent()}`);
  return {
    texts: await page.evaluate(() => (window as unknown as { replyTexts: string[] }).replyTexts),
    text: (await reply.locator('.text').textContent()) ?? '',
    action: await reply.locator('[data-testid=npc-action]').getAttribute('data-action'),
    finish: await reply.getAttribute('data-finish'),
    turnId: await reply.getAttribute('data-turn-id'),
    reply,
  };
}

describe.skipIf(!chromiumAvailable())(`browser client in headless Chromium (${CHROMIUM})`, () => {
  let server: Awaited<ReturnType<typeof startTestServer>>;
  let webDir: string;
  let base: string;
  const pages: TestPage[] = [];

  const start = async () => {
    server = await startTestServer({
      NPC_DIR: npcDirWith({ roderick: stationaryRoderick }),
      TALK_BURST: 100,
      TALK_PER_SECOND: 100,
      RUN_SPEED: 12,
      // Chromium and the model share two cores here: give the first token room.
      NPC_FIRST_TOKEN_DEADLINE_MS: 15_000,
    }, { webDir });
    base = `http://127.0.0.1:${server.port}`;
  };

  beforeAll(async () => {
    webDir = buildWebClient();
    await start();
  }, 120_000);

  afterAll(async () => {
    await Promise.all(pages.map((p) => p.close()));
    await server?.shutdown();
    if (webDir) rmSync(webDir, { recursive: true, force: true });
  });

  it('serves the page, its assets and the map on the game port; unknown paths stay 404', async () => {
    const page = await fetch(`${base}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    const html = await page.text();
    const script = /src="(\/assets\/[^"]+\.js)"/.exec(html)?.[1];
    expect(script).toBeDefined();
    const asset = await fetch(`${base}${script}`);
    expect(asset.status).toBe(200);
    expect(asset.headers.get('cache-control')).toMatch(/immutable/);
    const map = (await (await fetch(`${base}/world/map.json`)).json()) as { name: string; obstacles: unknown[]; landmarks: unknown[] };
    expect(map.name).toBe('Emberfall');
    expect(map.landmarks.length).toBeGreaterThanOrEqual(12);
    expect(map.obstacles.length).toBeGreaterThan(0);
    expect((await fetch(`${base}/nope`)).status).toBe(404);
    expect((await fetch(`${base}/assets/nope.js`)).status).toBe(404);
    expect((await fetch(`${base}/studio`)).status).toBe(404); // STUDIO_ENABLED is off by default
  });

  it('two players join in two browsers and each sees the other move', async () => {
    const ada = await openPage({ width: 1024, height: 700 });
    const bea = await openPage({ width: 1024, height: 700 });
    pages.push(ada, bea);
    const adaId = await joined(ada, 'Ada', base);
    const beaId = await joined(bea, 'Bea', base);
    const adaSeenByBea = await until('Bea to see Ada', () => seenAt(bea, adaId));
    await until('Ada to see Bea', () => seenAt(ada, beaId));
    expect(adaSeenByBea.name).toBe('Ada');

    // Ada walks north with the keyboard; Bea's page draws her moving.
    await ada.page.locator('canvas#world').focus();
    await ada.page.keyboard.down('KeyW');
    const north = await until('Bea to see Ada walk north', async () => {
      const a = await seenAt(bea, adaId);
      return a && a.z > adaSeenByBea.z + 2 ? a : undefined;
    });
    await ada.page.keyboard.up('KeyW');
    expect(Math.abs(north.x - adaSeenByBea.x)).toBeLessThan(0.5);

    // Bea clicks a point east of herself; Ada's page draws her walking there.
    const beaSeenByAda = await until('Ada to see Bea', () => seenAt(ada, beaId));
    const beaOnScreen = await until('Bea on her own screen', () => screenOf(bea, beaId));
    const box = await bea.page.locator('canvas#world').boundingBox();
    await bea.page.mouse.click(box!.x + beaOnScreen.x + 60, box!.y + beaOnScreen.y);
    await until('Ada to see Bea walk east', async () => {
      const b = await seenAt(ada, beaId);
      return b && b.x > beaSeenByAda.x + 2 ? b : undefined;
    });
    await until('both avatars on both screens', async () => (await entities(ada)).filter((e) => e.kind === 'avatar').length === 2 && (await entities(bea)).filter((e) => e.kind === 'avatar').length === 2);
    // Proximity chat: Ada types, Bea (nearby) reads it in her chat log.
    await ada.page.locator('[data-testid=chat-input]').fill('Hello Bea!');
    await ada.page.locator('[data-testid=chat-input]').press('Enter');
    await bea.page.locator('[data-testid=chat-line]', { hasText: 'Hello Bea!' }).waitFor();
    expect(await bea.page.locator('[data-testid=chat-line]').last().textContent()).toBe('Ada: Hello Bea!');
    await screenshot(ada.page, 'two-players-ada');
    await screenshot(bea.page, 'two-players-bea');
    expect(ada.errors).toEqual([]);
    expect(bea.errors).toEqual([]);
  });

  it('says clearly when the player is too far away', async () => {
    const bea = pages[1]!;
    // Bea walked east of the spawn; the NPC at the gate is out of range until she walks over, and
    // the panel says so while she does (she walks over by herself).
    const spot = await until('Roderick on Bea\'s screen', () => screenOf(bea, 'npc:roderick'));
    const box = await bea.page.locator('canvas#world').boundingBox();
    await bea.page.mouse.click(box!.x + spot.x, box!.y + spot.y);
    const state = bea.page.locator('[data-testid=talk-state]');
    await until('a too-far or in-range state', async () => /Too far|In range/.test((await state.textContent()) ?? ''));
    await bea.page.locator('[data-testid=talk-state][data-kind=ok]').waitFor({ timeout: 30_000 });
  });

  it('a player clicks an NPC, walks up, talks, and the reply streams into the panel with its action', async () => {
    const ada = pages[0]!;
    await ada.page.locator('[data-testid=toggle-debug]').click();
    const turn = await talkThroughThePanel(ada, 'roderick', 'Good day, sergeant. Is the road north safe?');
    expect(turn.text.trim().length).toBeGreaterThan(0);
    expect(turn.text).not.toMatch(/\[\[/); // the action call never reaches the player
    expect(turn.finish).toMatch(/^(stop|length|fallback)$/);
    expect(turn.action).toMatch(/^(none|walk_to|give_item|trade|point_at|emote|follow|stop)$/);
    expect(turn.turnId).toBeTruthy();
    // Streamed: the panel showed the reply growing before its end (a scripted fallback is one piece).
    if (turn.finish !== 'fallback') expect(turn.texts.length).toBeGreaterThan(1);
    if (turn.action === 'give_item') await ada.page.locator('[data-testid=inventory-item]').first().waitFor();
    // Thumbs up through the SDK's rateTurn.
    await turn.reply.locator('[data-testid=rate-up]').click();
    await turn.reply.locator('[data-testid=rate-up][aria-pressed=true]').waitFor();
    // The debug overlay shows the connection and the turn's timings.
    const debug = (await ada.page.locator('[data-testid=debug-overlay]').textContent()) ?? '';
    expect(debug).toMatch(/patch rate/);
    expect(debug).toMatch(/last TTFT\s+\d+ ms here/);
    await screenshot(ada.page, 'talk-desktop');
    expect(ada.errors).toEqual([]);
  });

  it('works on a phone-sized touch screen: tap an NPC, talk in the bottom sheet', async () => {
    for (const p of pages.splice(0)) await p.close(); // two cores: one browser at a time from here
    // A fresh world: Roderick may have walked off to a landmark after the last conversation.
    await server.shutdown();
    await start();
    const cy = await openPage({ width: 390, height: 844, phone: true });
    pages.push(cy);
    await joined(cy, 'Cy', base);
    const turn = await talkThroughThePanel(cy, 'roderick', 'Hello! What is this town called?', true);
    expect(turn.text.trim().length).toBeGreaterThan(0);
    expect(turn.action).toMatch(/^(none|walk_to|give_item|trade|point_at|emote|follow|stop)$/);
    // The panel is a bottom sheet inside the viewport.
    const panel = await cy.page.locator('[data-testid=talk-panel]').boundingBox();
    expect(panel!.x).toBeGreaterThanOrEqual(0);
    expect(panel!.x + panel!.width).toBeLessThanOrEqual(390);
    expect(panel!.y + panel!.height).toBeLessThanOrEqual(844);
    await screenshot(cy.page, 'talk-phone');
    expect(cy.errors).toEqual([]);
  });
});
