// Client CPU per no-change mailbox sync on the PostgreSQL state store (what a sync asks of it when
// nothing changed: lease, status in-progress, loadMailbox, cursors, status success, release), as
// separate calls and as the engine makes them since D94.
// npm run build && node bench/state-pg-overhead.mjs [N] — PostgreSQL on 127.0.0.1:5432.
import pg from 'pg';
import { PostgresStateStore } from '../dist/sync/state/postgres.js';

const N = Number(process.argv[2] ?? 1000);
const url = 'postgres://postgres@127.0.0.1:5432/test';
const schema = `state_overhead_${process.pid}`;
const store = await PostgresStateStore.open({ url, schema });
for (let i = 0; i < N; i++) await store.apply(`m${i}`, [{ op: 'collection-put', kind: 'contacts', url: 'https://x/', token: 't' }]);
// Before D94: six round trips (lease, two status writes, head, write group, release) and the
// field-hash key (two more) per mailbox; after: the statuses ride on the lease and the write group.
async function sweep(label, one) {
  const cpu0 = process.cpuUsage();
  const t = performance.now();
  for (let i = 0; i < N; i++) await one(`m${i}`);
  const wall = performance.now() - t;
  const c = process.cpuUsage(cpu0);
  console.log(`N=${N} ${label}: ${(wall / N).toFixed(2)} ms wall, ${((c.user + c.system) / 1000 / N).toFixed(3)} ms client CPU per no-change mailbox`);
}
await sweep('separate status writes', async (user) => {
  const lease = await store.lease(user);
  await store.setStatus(user, { state: 'in-progress', startedAt: new Date().toISOString() });
  const head = await store.loadMailbox(user);
  await store.fieldHashKey();
  await store.apply(user, [{ op: 'cursors-put', cursors: head.cursors }]);
  await store.setStatus(user, { state: 'success', finishedAt: new Date().toISOString() });
  await lease.release();
});
await sweep('statuses with the lease and the write group (D94)', async (user) => {
  const lease = await store.lease(user, { state: 'in-progress', startedAt: new Date().toISOString() });
  const head = await store.loadMailbox(user);
  await store.fieldHashKey();
  await store.apply(user, [{ op: 'cursors-put', cursors: head.cursors }], { state: 'success', finishedAt: new Date().toISOString() });
  await lease.release();
});
await store.close();
const admin = new pg.Client(url);
await admin.connect();
await admin.query(`DROP SCHEMA ${schema} CASCADE`);
await admin.end();
