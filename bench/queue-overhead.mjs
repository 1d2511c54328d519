// Client CPU and wall time per mailbox job on pg-boss 10 (policy short, one fetch per job, as
// src/cluster/queue.ts uses it): send N jobs, then fetch and complete them one by one.
// node bench/queue-overhead.mjs [N] — PostgreSQL on 127.0.0.1:5432 (trust, db test).
import PgBoss from 'pg-boss';
import pg from 'pg';

const N = Number(process.argv[2] ?? 1000);
const url = 'postgres://postgres@127.0.0.1:5432/test';
const schema = `boss_overhead_${process.pid}`;
const boss = new PgBoss({ connectionString: url, schema, supervise: false });
boss.on('error', (e) => console.error(e.message));
await boss.start();
await boss.createQueue('sync', { policy: 'short' });
const cpu0 = process.cpuUsage();
let t = performance.now();
for (let i = 0; i < N; i++) await boss.send('sync', { mailboxId: `m${i}`, reason: 'interval' }, { singletonKey: `m${i}` });
const sendWall = performance.now() - t;
const cpu1 = process.cpuUsage(cpu0);
t = performance.now();
for (;;) {
  const [job] = await boss.fetch('sync', { batchSize: 1 });
  if (!job) break;
  await boss.complete('sync', job.id);
}
const runWall = performance.now() - t;
const cpu2 = process.cpuUsage(cpu0);
const ms = (c) => (c.user + c.system) / 1000;
// The scheduler's tick: all due mailboxes in one insert (src/cluster/queue.ts enqueueSyncs).
const cpu3 = process.cpuUsage();
t = performance.now();
for (let i = 0; i < N; i += 1000) {
  await boss.insert(Array.from({ length: Math.min(1000, N - i) }, (_v, k) => ({ name: 'sync', data: { mailboxId: `m${i + k}`, reason: 'interval' }, singletonKey: `m${i + k}` })));
}
const insertWall = performance.now() - t;
const insertCpu = process.cpuUsage(cpu3);
console.log(`N=${N}: insert in batches of 1000 ${(insertWall / N).toFixed(3)} ms wall, ${(ms(insertCpu) / N).toFixed(3)} ms CPU per job`);
console.log(`N=${N}: send ${(sendWall / N).toFixed(2)} ms wall, ${(ms(cpu1) / N).toFixed(3)} ms CPU per job; fetch+complete ${(runWall / N).toFixed(2)} ms wall, ${((ms(cpu2) - ms(cpu1)) / N).toFixed(3)} ms CPU per job`);
// The worker loop since D95: up to `concurrency` jobs per fetch, the ended ones completed with the next fetch.
for (const batch of [4, 8]) {
  const c0 = process.cpuUsage();
  let done = [];
  for (;;) {
    const [jobs] = await Promise.all([boss.fetch('sync', { batchSize: batch }), done.length ? boss.complete('sync', done) : null]);
    done = jobs.map((j) => j.id);
    if (!jobs.length) break;
  }
  const c = process.cpuUsage(c0);
  console.log(`N=${N}: fetch ${batch} at a time, complete them with the next fetch: ${(ms(c) / N).toFixed(3)} ms CPU per job`);
  if (batch === 4) await boss.insert(Array.from({ length: N }, (_v, k) => ({ name: 'sync', data: { mailboxId: `m${k}`, reason: 'interval' }, singletonKey: `m${k}` })));
}
await boss.stop({ graceful: false, wait: true });
const c = new pg.Client(url);
await c.connect();
await c.query(`DROP SCHEMA ${schema} CASCADE`);
await c.end();
