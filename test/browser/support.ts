/**
 * Browser test support: Debian's Chromium (/usr/bin/chromium, installed by .ci/run) driven by
 * playwright-core — never a downloaded browser. Each page gets its own browser process with a fresh
 * --user-data-dir, so two pages are two players (separate localStorage, so separate guests). The page
 * is built from the current source first, so the tests never run against a stale web/dist.
 * Screenshots go to test-artifacts/browser/ (gitignored).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/browser/', import.meta.url));
const WEB_DIR = fileURLToPath(new URL('../../web/', import.meta.url));

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-quic',
  '--no-first-run',
  '--disable-component-update',
  '--disable-sync',
];

/**
 * Whether the browser suites can run. Without Chromium they are skipped on a developer's machine, but
 * in CI (CI=true) they run and fail, so a missing install step cannot pass as green.
 */
export function chromiumAvailable(): boolean {
  return existsSync(CHROMIUM) || process.env.CI === 'true';
}

/**
 * Builds the page from the current source into a fresh temporary folder (a second or two) and returns
 * it, for `startTestServer(…, { webDir })`. Each suite has its own copy: suites running in parallel
 * never rebuild the folder another one is serving, and web/dist (what `npm start` serves) is left alone.
 */
export function buildWebClient(): string {
  const outDir = mkdtempSync(join(tmpdir(), 'wm-web-'));
  const require = createRequire(import.meta.url);
  const pkgPath = require.resolve('vite/package.json');
  const bin = join(pkgPath, '..', (require(pkgPath) as { bin: { vite: string } }).bin.vite);
  const result = spawnSync(process.execPath, [bin, 'build', '--logLevel', 'error', '--outDir', outDir, '--emptyOutDir'], {
    cwd: WEB_DIR,
    encoding: 'utf8',
    timeout: 120_000,
    env: { ...process.env, NODE_ENV: 'production' },
  });
  if (result.status !== 0) throw new Error(`vite build failed:\n${result.stdout}\n${result.stderr}`);
  return outDir;
}

export interface TestPage {
  page: Page;
  context: BrowserContext;
  /** Uncaught page errors and console errors seen so far. */
  errors: string[];
  close(): Promise<void>;
}

export interface PageOptions {
  width?: number;
  height?: number;
  /** Phone: touch events, mobile viewport meta, device scale factor 2. */
  phone?: boolean;
  /** HTTP basic auth answers (e.g. the admin token for /studio). */
  httpCredentials?: { username: string; password: string };
}

export async function openPage(options: PageOptions = {}): Promise<TestPage> {
  const userDataDir = mkdtempSync(join(tmpdir(), 'wm-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: options.width ?? 1024, height: options.height ?? 700 },
    ...(options.phone ? { hasTouch: true, isMobile: true, deviceScaleFactor: 2 } : {}),
    ...(options.httpCredentials ? { httpCredentials: options.httpCredentials } : {}),
    timeout: 30_000,
  });
  context.setDefaultTimeout(20_000);
  const page = context.pages()[0] ?? (await context.newPage());
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console: ${m.text()}`);
  });
  return {
    page,
    context,
    errors,
    async close() {
      await context.close().catch(() => undefined);
      rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}

export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(ARTIFACTS, { recursive: true });
  const path = join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path });
  return path;
}

/** The page's read-only test hooks (window.worldmind, see web/src/main.ts). */
export interface PageWorld {
  sessionId: string | undefined;
  connection: string;
  entities(): { id: string; kind: 'avatar' | 'npc'; name: string; x: number; z: number }[];
  screenOf(id: string): { x: number; y: number } | undefined;
  me(): { x: number; z: number; anim: string } | undefined;
}

/** Evaluates `fn(window.worldmind)` in the page. */
export function inWorld<T>(page: Page, fn: (w: PageWorld) => T): Promise<T> {
  return page.evaluate(`(${fn.toString()})(window.worldmind)`) as Promise<T>;
}

/** Polls `check` in Node (which may query the page) until truthy; bounded. */
export async function until<T>(what: string, check: () => Promise<T | undefined | false | null>, timeoutMs = 15_000, intervalMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
