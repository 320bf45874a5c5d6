/**
 * The browser client: two pages (the game at /, the designer view at /studio), built to web/dist and
 * served by the game server on its own port. The SDK is bundled from source, so the page always
 * matches the SDK in this checkout.
 */
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));

export default defineConfig({
  root: here('./'),
  base: '/',
  // No public/ folder: everything the pages need is imported.
  publicDir: false,
  resolve: {
    alias: { '@worldmind/client-sdk': here('../client-sdk/src/index.ts') },
  },
  build: {
    outDir: here('./dist'),
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: false,
    reportCompressedSize: false,
    rollupOptions: {
      input: { index: here('./index.html'), studio: here('./studio.html') },
      // The SDK's FileStorage (Node only) imports these lazily; a browser never runs that path.
      external: [/^node:/],
    },
  },
  server: {
    // `npm run dev -w web`, then open http://localhost:5173/?server=ws://localhost:2567 (a server run
    // by `npm start`); the map and studio API come through this proxy.
    proxy: { '/world': 'http://localhost:2567', '/studio/api': 'http://localhost:2567' },
  },
});
