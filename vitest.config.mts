import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/setup/global-emulators.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // the JSON report lets .ci/run print a plain 'N passed, N failed' line
    reporters: ['default', ['json', { outputFile: '.local/test-results.json' }]],
  },
});
