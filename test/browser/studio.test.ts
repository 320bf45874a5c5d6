/**
 * The designer view in headless Chromium: off by default (404), behind the admin token when one is
 * set, and with it a designer talks to an NPC and sees the turn explained — the lore retrieved with
 * scores, the action chosen among the grammar's alternatives, the seed — then replays it against the
 * current script. A screenshot lands in test-artifacts/browser/.
 */
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer } from '../support/world-server.ts';
import { buildWebClient, chromiumAvailable, openPage, screenshot, type TestPage } from './support.ts';

const ADMIN_TOKEN = 'studio-test-admin-token-0123456789';

describe.skipIf(!chromiumAvailable())('designer view (/studio) in headless Chromium', () => {
  let server: Awaited<ReturnType<typeof startTestServer>>;
  let webDir: string;
  let base: string;
  let designer: TestPage | undefined;

  beforeAll(async () => {
    webDir = buildWebClient();
    server = await startTestServer({ STUDIO_ENABLED: true, ADMIN_TOKEN, NPC_FIRST_TOKEN_DEADLINE_MS: 15_000 }, { webDir });
    base = `http://127.0.0.1:${server.port}`;
  }, 120_000);

  afterAll(async () => {
    await designer?.close();
    await server?.shutdown();
    if (webDir) rmSync(webDir, { recursive: true, force: true });
  });

  it('asks for the admin token when one is set', async () => {
    expect((await fetch(`${base}/studio`)).status).toBe(401);
    expect((await fetch(`${base}/studio/api/npcs`)).status).toBe(401);
    const basic = `Basic ${Buffer.from(`admin:${ADMIN_TOKEN}`).toString('base64')}`;
    const npcs = (await (await fetch(`${base}/studio/api/npcs`, { headers: { Authorization: basic } })).json()) as { id: string; calls: string[] }[];
    expect(npcs.map((n) => n.id)).toContain('bram');
    expect(npcs.find((n) => n.id === 'bram')!.calls).toContain('none');
  });

  it('a designer talks to an NPC and sees the turn explained: lore with scores, action among alternatives, seed; replay reproduces it', async () => {
    designer = await openPage({ width: 1280, height: 1000, httpCredentials: { username: 'admin', password: ADMIN_TOKEN } });
    const { page } = designer;
    await page.goto(`${base}/studio?npc=bram`);
    await page.locator('[data-testid=studio-npc] option[value=bram]').waitFor({ state: 'attached' });
    expect(await page.locator('[data-testid=studio-npc]').inputValue()).toBe('bram');
    await page.locator('[data-testid=studio-line]').fill('Can you mend my sword before the market opens?');
    await page.locator('#seed').fill('7');
    await page.locator('[data-testid=studio-say]').click();
    await page.locator('[data-testid=studio-speech]').waitFor({ timeout: 60_000 });

    expect(await page.locator('[data-testid=studio-player-line]').textContent()).toBe('Can you mend my sword before the market opens?');
    expect(await page.locator('[data-testid=studio-seed]').textContent()).toBe('7');
    // Lore: the facts in the prompt, with numeric scores (the line names the sword and mending).
    const inPrompt = page.locator('[data-testid=studio-lore-in]');
    expect(await inPrompt.count()).toBeGreaterThan(0);
    expect(await inPrompt.first().locator('td.score').textContent()).toMatch(/\d+\.\d\d/);
    // The action: every call the grammar allowed, at most one of them chosen.
    const alternatives = await page.locator('[data-testid=studio-alternatives] .call').allTextContents();
    expect(alternatives).toContain('[[none]]');
    expect(alternatives.length).toBeGreaterThan(3);
    const chosen = await page.locator('[data-testid=studio-alternatives] [data-testid=studio-action-chosen]').allTextContents();
    expect(chosen.length).toBeLessThanOrEqual(1);
    for (const c of chosen) expect(alternatives).toContain(c);
    // Lore grounding: the line matches a fact well enough for the speech to be nudged towards it (in Bram's words).
    expect(await page.locator('[data-testid=studio-grounding]').textContent()).toMatch(/^Speech nudged towards lore fact \d+ .*"I /);
    // The turn is in the log list.
    await page.locator('[data-testid=studio-turn]').first().waitFor();

    // Replay with the same seed against the unchanged script: the same output, bit for bit.
    await page.locator('[data-testid=studio-replay]').click();
    const verdict = page.locator('[data-testid=studio-replay-verdict]');
    await verdict.waitFor({ timeout: 60_000 });
    expect(await verdict.textContent()).toBe('identical');
    await screenshot(page, 'studio');
    expect(designer.errors, designer.errors.join("\n")).toEqual([]);
  });
});
