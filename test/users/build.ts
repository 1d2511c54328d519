// The CLI tests run bin/sync-cli, i.e. dist/bundle/ (built from dist/). `npm test` builds first; when vitest is run on
// its own, rebuild here if any source is newer than the build (serialized between test files).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { repoRoot } from '../helpers/cli.js';

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(p) : fs.statSync(p).mtimeMs);
  }
  return newest;
}

export function ensureBuilt(): void {
  const built = path.join(repoRoot, 'dist/cli.js');
  if (fs.existsSync(built) && fs.statSync(built).mtimeMs >= newestMtime(path.join(repoRoot, 'src'))) return;
  try {
    execFileSync('flock', ['/tmp/sync-cli-build.lock', 'npx', 'tsc', '-p', 'tsconfig.build.json'], { cwd: repoRoot, stdio: 'ignore' });
  } catch {
    // Type errors in files still being written elsewhere do not stop tsc from emitting.
  }
  // bin/sync-cli runs dist/bundle/: without this, a test would run the previous bundle.
  execFileSync('flock', ['/tmp/sync-cli-build.lock', process.execPath, 'scripts/bundle.mjs'], { cwd: repoRoot, stdio: 'ignore' });
  fs.utimesSync(built, new Date(), new Date());
}
