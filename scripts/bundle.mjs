// Bundles the compiled CLI (dist/) into dist/bundle/: one process start reads a few files
// instead of several hundred modules (kysely, zod, winston, …), which halves the start
// of every `run --once`. Native addons, the TUI stack and the optional database drivers stay
// external and load from node_modules when used.
import { rmSync } from 'node:fs';
import { build } from 'esbuild';

// Chunk names are content hashes: without this, every rebuild of a checkout leaves the old ones
// behind (and `npm pack` would ship them).
rmSync('dist/bundle', { recursive: true, force: true });

await build({
  entryPoints: ['dist/cli.js'],
  outdir: 'dist/bundle',
  bundle: true,
  splitting: true, // dynamic imports (command bodies, TUI) stay separate chunks
  format: 'esm',
  platform: 'node',
  target: 'node20',
  sourcemap: true,
  logLevel: 'warning',
  // No comments or indentation in the chunks: V8 keeps every loaded module's source as a string for
  // the process's life, and a single non-ASCII character in a comment makes it two bytes per
  // character (measured: live heap of a 3-item run 15.5 -> 12.7 MB). Names are kept (no
  // minifyIdentifiers), so messages and stack traces read as before; the source maps still map.
  minifyWhitespace: true,
  charset: 'ascii',
  external: ['better-sqlite3', '@napi-rs/keyring', 'unix-dgram', 'ink', 'react', 'yoga-layout', 'pg', 'mysql2'],
  // CommonJS dependencies use require, __filename and __dirname; give the ESM chunks those.
  banner: {
    js: [
      "import { createRequire as __syncCliRequire } from 'node:module';",
      "import { fileURLToPath as __syncCliPath } from 'node:url';",
      "import { dirname as __syncCliDirname } from 'node:path';",
      'const require = __syncCliRequire(import.meta.url);',
      'const __filename = __syncCliPath(import.meta.url);',
      'const __dirname = __syncCliDirname(__filename);',
    ].join(' '),
  },
});
