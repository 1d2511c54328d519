// D81: the per-server limit across processes — `dav.concurrency` slots per server origin as
// session advisory locks in the real PostgreSQL. Two ServerSlots stand for two processes.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, expect, it } from 'vitest';
import { ServerSlots } from '../../src/cluster/server-slots.js';
import { postgresTarget } from '../crm/databases.js';

const URL_ = `postgres://${process.env.PGUSER ?? 'postgres'}@127.0.0.1:5432/test`;
const schema = `slots_${process.pid}_${randomBytes(3).toString('hex')}`;
const skip = postgresTarget.unavailable;
if (skip) console.warn(`skipping the server-slot tests: ${skip}`);
const opened: ServerSlots[] = [];
afterAll(async () => {
  for (const s of opened) await s.close().catch(() => undefined);
});

function slots(): ServerSlots {
  const s = new ServerSlots(URL_, schema, 4, 20);
  opened.push(s);
  return s;
}

it.skipIf(Boolean(skip))('D18 D81: two processes share 2 slots of one server — a third run waits for a release; another server is not limited by it; a dead session frees its slot', async () => {
  const a = slots();
  const b = slots();
  const s1 = await a.acquire('https://dav.example.net/u1/', 2);
  const s2 = await b.acquire('https://dav.example.net/u2/', 2);
  let third = false;
  const waiting = a.acquire('https://dav.example.net/u3/', 2).then((s) => ((third = true), s));
  const other = await b.acquire('https://other.example.net/u4/', 2); // another origin: its own slots
  await new Promise((r) => setTimeout(r, 200));
  expect(third).toBe(false);
  await s2.release();
  const s3 = await waiting;
  expect(third).toBe(true);
  // A process that dies: PostgreSQL ends its session, and its slot is free for the others.
  const admin = new pg.Client({ connectionString: URL_ });
  await admin.connect();
  await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1`, [`sync-cli server-slots ${process.pid}`]);
  await admin.end();
  const after = await slots().acquire('https://dav.example.net/u5/', 2);
  await Promise.allSettled([s1.release(), s3.release(), other.release(), after.release()]);
});

it.skipIf(Boolean(skip))('D81: taking and giving back a free slot costs about one round trip each (measured, printed)', async () => {
  const s = slots();
  await (await s.acquire('https://dav.example.net/', 4)).release(); // connect once
  const n = 200;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await (await s.acquire('https://dav.example.net/', 4)).release();
  const wall = (performance.now() - t0) / n;
  const cpu = process.cpuUsage(cpu0);
  console.log(`server slot acquire+release: ${wall.toFixed(3)} ms wall, ${((cpu.user + cpu.system) / 1000 / n).toFixed(3)} ms client CPU per mailbox run (N = ${n})`);
  expect(wall).toBeLessThan(20);
});
