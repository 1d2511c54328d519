import { configDefaults, defineConfig } from 'vitest/config';

// Files that measure latencies across several processes of their own (a 60-mailbox cluster of
// five sync-cli processes asserting that a CRM edit arrives within 2 s): they run after the rest,
// alone, so that the suite's other files do not share the two cores with them.
const ALONE = ['test/cluster/cluster.test.ts'];

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Real servers (Radicale, Xandikos, PostgreSQL, MariaDB) are shared machine resources:
    // files run in parallel but each starts its own server on a free loopback port.
    pool: 'forks',
    maxWorkers: 2,
    projects: [
      {
        extends: true,
        test: { name: 'suite', include: ['test/**/*.test.ts', 'test/**/*.test.tsx'], exclude: [...configDefaults.exclude, ...ALONE], sequence: { groupOrder: 0 } },
      },
      { extends: true, test: { name: 'alone', include: ALONE, sequence: { groupOrder: 1 } } },
    ],
  },
});
