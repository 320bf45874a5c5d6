/**
 * `npm install` / `npm ci` run this (the workspace's `prepare`): builds the page into web/dist so
 * `npm start` serves it with no extra step. An install without dev dependencies (no Vite) skips the
 * build with a note instead of failing the install; a real build error fails it.
 */
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
let viteBin;
try {
  const pkgPath = require.resolve('vite/package.json');
  const pkg = require(pkgPath);
  viteBin = new URL(typeof pkg.bin === 'string' ? pkg.bin : pkg.bin.vite, `file://${pkgPath}`).pathname;
} catch {
  console.warn('web: Vite is not installed (an install without dev dependencies?): the browser client was not built. Run `npm run build -w web` where Vite is installed.');
  process.exit(0);
}
const result = spawnSync(process.execPath, [viteBin, 'build', '--logLevel', 'warn'], {
  stdio: 'inherit',
  cwd: new URL('..', import.meta.url).pathname,
  env: { ...process.env, NODE_ENV: 'production' },
});
process.exit(result.status ?? 1);
