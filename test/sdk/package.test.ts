/**
 * The SDK as another project gets it: `npm pack` (which builds it through `prepack`), unpacked into a
 * consumer's node_modules, type-checked by a strict TypeScript consumer, and run in Node against a
 * real server — no tsx, no source files, no workspace links.
 */
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer } from '../support/world-server.ts';

const repo = fileURLToPath(new URL('../../', import.meta.url));
const sdkDir = join(repo, 'client-sdk');

describe('the published SDK package', () => {
  // Inside the repo's node_modules, so the SDK's dependencies (@colyseus/sdk, zod…) resolve as installed ones would.
  let consumer: string;
  let files: string[];
  let server: Awaited<ReturnType<typeof startTestServer>>;

  beforeAll(async () => {
    mkdirSync(join(repo, 'node_modules/.cache'), { recursive: true });
    consumer = mkdtempSync(join(repo, 'node_modules/.cache/wm-sdk-consumer-'));
    const out = execFileSync('npm', ['pack', '--json', '--pack-destination', consumer], { cwd: sdkDir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 180_000 });
    // Lifecycle output (prepack's build) may precede npm's JSON.
    const packed = JSON.parse(out.slice(out.search(/^\[/m))) as { filename: string; files: { path: string }[] }[];
    files = packed[0]!.files.map((f) => f.path);
    const target = join(consumer, 'node_modules/@worldmind/client-sdk');
    mkdirSync(target, { recursive: true });
    execFileSync('tar', ['-xzf', join(consumer, packed[0]!.filename), '-C', target, '--strip-components=1']);
    server = await startTestServer({ NPC_ENABLED: false });
  }, 240_000);

  afterAll(async () => {
    await server?.shutdown();
    if (consumer) rmSync(consumer, { recursive: true, force: true });
  });

  it('ships the built ESM, declarations, the browser bundle and a README — no sources', () => {
    const manifest = JSON.parse(readFileSync(join(consumer, 'node_modules/@worldmind/client-sdk/package.json'), 'utf8')) as Record<string, unknown>;
    expect(manifest.private).toBeUndefined();
    expect(manifest.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(files).toEqual(expect.arrayContaining(['package.json', 'README.md', 'dist/index.js', 'dist/index.d.ts', 'dist/worldmind-sdk.browser.js']));
    expect(files.filter((f) => f.startsWith('src/'))).toEqual([]);
    // The unpublished wire-protocol package is bundled in, not depended on.
    expect(Object.keys(manifest.dependencies as object)).not.toContain('@worldmind/shared');
    const js = readFileSync(join(consumer, 'node_modules/@worldmind/client-sdk/dist/index.js'), 'utf8');
    expect(js).not.toMatch(/@worldmind\/shared/);
    const browser = readFileSync(join(consumer, 'node_modules/@worldmind/client-sdk/dist/worldmind-sdk.browser.js'), 'utf8');
    expect(browser.split('\n').length).toBeLessThan(500); // minified
  });

  it('the browser bundle is self-contained: it loads with no node_modules at all', async () => {
    const alone = mkdtempSync(join(tmpdir(), 'wm-sdk-browser-'));
    try {
      copyFileSync(join(consumer, 'node_modules/@worldmind/client-sdk/dist/worldmind-sdk.browser.js'), join(alone, 'sdk.mjs'));
      const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', `const m = await import(${JSON.stringify(join(alone, 'sdk.mjs'))}); console.log(Object.keys(m).sort().join(','));`], { timeout: 30_000 });
      expect(stdout.trim().split(',')).toEqual(expect.arrayContaining(['WorldClient', 'TalkError', 'WorldAuth', 'WorldCloseCode']));
    } finally {
      rmSync(alone, { recursive: true, force: true });
    }
  });

  it('type-checks in a strict TypeScript consumer (NodeNext)', () => {
    writeFileSync(
      join(consumer, 'tsconfig.json'),
      JSON.stringify({ compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, skipLibCheck: false, types: ['node'], typeRoots: [join(repo, 'node_modules/@types')] }, files: ['consumer.ts'] }),
    );
    writeFileSync(
      join(consumer, 'consumer.ts'),
      `import { WorldClient, TalkError, WorldCloseCode, type TalkResult, type AvatarInfo } from '@worldmind/client-sdk';
export async function run(endpoint: string): Promise<string> {
  const world = await WorldClient.connect({ endpoint, name: 'Consumer' });
  world.on('avatarAdd', (a: AvatarInfo) => void a.name.toUpperCase());
  const turn = world.talk('bram', 'hello');
  const done: Promise<TalkResult | TalkError> = turn.result.catch((e: unknown) => e as TalkError);
  void done;
  const code: number = WorldCloseCode.SessionTakenOver;
  void code;
  const name = world.welcome?.worldName ?? '';
  await world.leave();
  return name;
}
`,
    );
    const tsc = spawnSync(process.execPath, [join(repo, 'node_modules/typescript/bin/tsc'), '-p', consumer], { encoding: 'utf8', timeout: 120_000 });
    // skipLibCheck is off so our declarations are checked; only errors in them or the consumer count
    // (@colyseus/core's own declarations, pulled in through @colyseus/sdk's, have some of their own).
    const ours = (tsc.stdout + tsc.stderr).split('\n').filter((line) => /client-sdk|consumer\.ts/.test(line));
    expect(ours).toEqual([]);
  });

  it('runs in plain Node from the package: signs in as a guest, joins, sees itself', async () => {
    writeFileSync(
      join(consumer, 'run.mjs'),
      `import { WorldClient } from '@worldmind/client-sdk';
const world = await WorldClient.connect({ endpoint: process.argv[2], name: 'Packaged' });
const [welcome] = await world.next('welcome', 5000).catch(() => [world.welcome]);
for (let i = 0; i < 50 && !world.me; i++) await new Promise((r) => setTimeout(r, 100));
console.log(JSON.stringify({ world: welcome?.worldName, me: world.me?.name, account: Boolean(world.accountId) }));
await world.leave();
process.exit(0);
`,
    );
    // Asynchronously: the server runs in this process and must keep answering.
    const { stdout: out } = await promisify(execFile)(process.execPath, [join(consumer, 'run.mjs'), server.endpoint], { cwd: consumer, encoding: 'utf8', timeout: 30_000 });
    expect(JSON.parse(out.trim().split('\n').pop()!)).toEqual({ world: 'Emberfall', me: 'Packaged', account: true });
  });
});
