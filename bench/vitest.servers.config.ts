// Only for bench/servers.bench.ts (never part of npm test): one file, one server at a time.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: { include: ['bench/servers.bench.ts'], testTimeout: 900_000, hookTimeout: 120_000, pool: 'forks', maxWorkers: 1 },
});
