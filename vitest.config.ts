import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Real timers and child processes: give slow CI machines room.
    testTimeout: 20_000,
    hookTimeout: 20_000,
    reporters: ['default', 'json'],
    outputFile: { json: 'test-results.json' },
  },
});
