import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'test/**/*.test.tsx'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Real servers (Radicale, Xandikos, PostgreSQL, MariaDB) are shared machine resources:
    // files run in parallel but each starts its own server on a free loopback port.
    pool: 'forks',
    maxWorkers: 2,
  },
});
