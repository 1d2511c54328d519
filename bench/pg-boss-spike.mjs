// Spike (issue #16, D69): pg-boss 10 on Node 20 — which queue policy gives "one job waiting and one
// running per mailbox" without blocking other mailboxes? node bench/pg-boss-spike.mjs
// (PostgreSQL on 127.0.0.1:5432, trust, db test; uses and drops its own schemas).
import PgBoss from 'pg-boss';
import pg from 'pg';

const url = 'postgres://postgres@127.0.0.1:5432/test';
for (const policy of ['stately', 'short']) {
  const schema = `boss_spike_${policy}_${process.pid}`;
  const boss = new PgBoss({ connectionString: url, schema, supervise: false });
  boss.on('error', (e) => console.log('  boss error:', e.message));
  await boss.start();
  await boss.createQueue('sync', { policy });
  const send = async (m, key) => ((await boss.send('sync', { m }, { singletonKey: key })) ? 'queued' : 'coalesced');
  const t0 = performance.now();
  const first = [await send('A1', 'A'), await send('A1b', 'A')];
  const sendMs = (performance.now() - t0) / 2;
  const [a1] = await boss.fetch('sync'); // A1 runs now
  const more = [await send('A2', 'A'), await send('A2b', 'A'), await send('B1', 'B')];
  const fetched = [];
  for (let i = 0; i < 3; i++) fetched.push((await boss.fetch('sync', { batchSize: 1 })).map((j) => j.data.m).join(',') || '-');
  console.log(`${policy}: A1, A1 → ${first.join(', ')}; running ${a1.data.m}; A2, A2, B1 → ${more.join(', ')}; next fetches → ${fetched.join(' | ')}; ${sendMs.toFixed(1)} ms/send`);
  await boss.stop({ graceful: false, wait: true });
  const c = new pg.Client(url);
  await c.connect();
  await c.query(`DROP SCHEMA ${schema} CASCADE`);
  await c.end();
}
