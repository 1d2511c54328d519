// A PostgreSQL session that ends while the process uses it (a database restart, a failover,
// pg_terminate_backend) must fail that one query, not kill the worker or daemon: node-postgres
// emits an 'error' event on a checked-out client that nobody listens to (src/providers/pg-guard.ts).
// Each case runs in its own node process, because the failure being tested is the process dying.
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..');
const URL = 'postgres://postgres@127.0.0.1:5432/test';

/** A pool (guarded or not) checks out a client, its backend is terminated, then it waits a moment. */
function sessionEndedWhileCheckedOut(guarded: boolean) {
  const script = `
    import pg from 'pg';
    import { guardPool } from ${JSON.stringify(join(ROOT, 'dist', 'providers', 'pg-guard.js'))};
    const raw = new pg.Pool({ connectionString: ${JSON.stringify(URL)}, max: 1 });
    raw.on('error', () => undefined);
    const pool = ${guarded} ? guardPool(raw) : raw;
    const admin = new pg.Client(${JSON.stringify(URL)});
    await admin.connect();
    const client = await pool.connect();
    const { rows } = await client.query('SELECT pg_backend_pid() AS pid');
    await admin.query('SELECT pg_terminate_backend($1)', [rows[0].pid]);
    await new Promise((r) => setTimeout(r, 300));
    const next = await client.query('SELECT 1').then(() => 'answered', (err) => 'failed: ' + err.message);
    client.release(true);
    const fresh = await pool.query('SELECT 2 AS two');
    console.log(JSON.stringify({ next, fresh: fresh.rows[0].two }));
    await admin.end();
    await pool.end();
  `;
  return spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8', timeout: 30_000 });
}

const reachable = spawnSync('psql', ['-h', '127.0.0.1', '-U', 'postgres', '-d', 'test', '-Atc', 'select 1'], { encoding: 'utf8' }).status === 0;
if (!reachable) console.warn('skipping the pg-guard tests: PostgreSQL on 127.0.0.1:5432 is not reachable');

describe.skipIf(!reachable)('a PostgreSQL session ended while in use', () => {
  it('kills an unguarded process (the failure the guard exists for)', () => {
    const r = sessionEndedWhileCheckedOut(false);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/terminat/i);
  });

  it('fails only the query on that session when guarded; the pool goes on with a new one', () => {
    const r = sessionEndedWhileCheckedOut(true);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout.trim()) as { next: string; fresh: number };
    expect(out.next).toMatch(/^failed: /);
    expect(out.fresh).toBe(2);
  });

  it('every pg.Pool in src/ is made through guardPool', () => {
    const files = (dir: string): string[] =>
      readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
    const unguarded = files(join(ROOT, 'src')).flatMap((f) =>
      readFileSync(f, 'utf8')
        .split('\n')
        .map((line, i) => ({ line, at: `${f.slice(ROOT.length + 1)}:${i + 1}` }))
        .filter(({ line }) => /new pg\.Pool\(/.test(line) && !/guardPool\(new pg\.Pool\(/.test(line))
        .map(({ at }) => at),
    );
    expect(unguarded).toEqual([]);
  });
});
