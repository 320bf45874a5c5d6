/**
 * Builds the publishable SDK into dist/:
 *   index.js                 ESM for Node and bundlers; @colyseus/sdk, @colyseus/schema and zod stay
 *                            dependencies, the wire protocol (@worldmind/shared, not published) is bundled in
 *   index.d.ts (+ types/)    declarations, the protocol's included
 *   worldmind-sdk.browser.js one self-contained minified ES module for a <script type="module"> or a CDN
 * Run with `npm run build -w client-sdk` (npm pack / publish run it through `prepack`).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'vite';

const root = fileURLToPath(new URL('./', import.meta.url));
const dist = join(root, 'dist');
const entry = join(root, 'src/index.ts');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string; dependencies: Record<string, string> };
const banner = `/*! @worldmind/client-sdk ${pkg.version} */`;

rmSync(dist, { recursive: true, force: true });

// 1. ESM for Node and bundlers.
const dependencies = Object.keys(pkg.dependencies);
await build({
  configFile: false,
  logLevel: 'warn',
  build: {
    outDir: dist,
    emptyOutDir: false,
    target: 'es2022',
    minify: false,
    sourcemap: true,
    reportCompressedSize: false,
    lib: { entry, formats: ['es'], fileName: () => 'index.js' },
    rollupOptions: {
      external: (id) => id.startsWith('node:') || dependencies.some((d) => id === d || id.startsWith(`${d}/`)),
      output: { banner },
    },
  },
});

// 2. The browser bundle: everything inside; Node's file system replaced by a stub that says why.
const stub = join(root, 'src/stubs/node-fs.ts');
await build({
  configFile: false,
  logLevel: 'warn',
  resolve: { alias: [{ find: /^node:(fs\/promises|path)$/, replacement: stub }] },
  build: {
    outDir: dist,
    emptyOutDir: false,
    target: 'es2022',
    minify: true,
    sourcemap: true,
    reportCompressedSize: false,
    lib: { entry, formats: ['es'], fileName: () => 'worldmind-sdk.browser.js' },
    rollupOptions: { output: { banner, codeSplitting: false, minify: true } },
  },
});

// 3. Declarations: tsc over the SDK and the protocol, then specifiers made loadable by consumers
//    (`./x.ts` → `./x.js`, `@worldmind/shared` → the bundled protocol's declarations).
const tsc = spawnSync(process.execPath, [join(root, '../node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit' });
if (tsc.status !== 0) process.exit(tsc.status ?? 1);
const typesDir = join(dist, 'types');
const sharedIndex = join(typesDir, 'shared/src/index.d.ts');
const walk = (dir: string): string[] => readdirSync(dir).flatMap((name) => (statSync(join(dir, name)).isDirectory() ? walk(join(dir, name)) : [join(dir, name)]));
for (const file of walk(typesDir)) {
  if (!file.endsWith('.d.ts')) continue;
  let text = readFileSync(file, 'utf8');
  text = text.replace(/(from\s+|import\()(['"])(\.{1,2}\/[^'"]+)\.ts\2/g, '$1$2$3.js$2');
  let toShared = relative(dirname(file), sharedIndex).replace(/\.d\.ts$/, '.js');
  if (!toShared.startsWith('.')) toShared = `./${toShared}`;
  text = text.replace(/(['"])@worldmind\/shared\1/g, `$1${toShared}$1`);
  writeFileSync(file, text);
}
mkdirSync(dist, { recursive: true });
writeFileSync(join(dist, 'index.d.ts'), `export * from './types/client-sdk/src/index.js';\n`);
writeFileSync(join(dist, 'worldmind-sdk.browser.d.ts'), `export * from './types/client-sdk/src/index.js';\n`);
console.error(`client-sdk ${pkg.version}: ${walk(dist).map((f) => relative(root, f)).filter((f) => !f.includes('/types/')).join(', ')} + types/`);
