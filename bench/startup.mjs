// Where a sync-cli process start goes: import time of each heavy dependency and of each
// command module, each in a fresh Node process (so nothing is cached). Usage: node bench/startup.mjs
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './lib.mjs';

const SPECIFIERS = [
  'commander', 'zod', 'winston', 'ink', 'react', 'tsdav', 'ical.js', 'better-sqlite3', 'kysely', 'pg', 'mysql2',
  '@napi-rs/keyring', 'p-limit', 'p-retry', 'write-file-atomic',
  './dist/cli.js', './dist/commands/run.js', './dist/sync/engine.js', './dist/commands/configure.js', './dist/commands/crm.js',
];

export function importCosts(runs = 3) {
  const out = [];
  for (const spec of SPECIFIERS) {
    if (spec.startsWith('./') && !existsSync(join(ROOT, spec))) continue;
    const times = [];
    for (let i = 0; i < runs; i++) {
      const code = `const t=performance.now(); await import(${JSON.stringify(spec)}); console.log(performance.now()-t)`;
      const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { cwd: ROOT, encoding: 'utf8' });
      if (r.status === 0) times.push(Number(r.stdout.trim().split('\n').pop()));
    }
    times.sort((a, b) => a - b);
    if (times.length) out.push({ module: spec, medianMs: Math.round(times[Math.floor(times.length / 2)]) });
  }
  return out;
}

if (process.argv[1]?.endsWith('startup.mjs')) for (const c of importCosts()) console.log(`${String(c.medianMs).padStart(6)} ms  ${c.module}`);
