import { defineConfig } from 'vitest/config';

// One config for the whole repo: integration suites live in test/, unit tests may sit beside their code.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', '{shared,client-sdk,server,loadtest,tools,web}/**/*.test.ts'],
    exclude: ['**/node_modules/**'],
    // The machine has 2 cores and many suites run real servers and ONNX sessions: keep files from fighting.
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
