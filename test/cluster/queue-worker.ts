// A worker process for test/cluster/queue.test.ts: takes sync jobs from the queue, holds the
// mailbox lease of the PostgreSQL state store while it "syncs" (sleeps), and writes each run
// into a table of the test so the test can check that runs of one mailbox never overlap.
import pg from 'pg';
import { SyncQueue } from '../../src/cluster/queue.js';
import { PostgresStateStore } from '../../src/sync/state/postgres.js';

const url = process.env.TEST_PG_URL!;
const stateSchema = process.env.TEST_STATE_SCHEMA!;
const queueSchema = process.env.TEST_QUEUE_SCHEMA!;
const concurrency = Number(process.env.TEST_CONCURRENCY ?? '2');

const log = new pg.Pool({ connectionString: url, max: 2 });
const store = await PostgresStateStore.open({ url, schema: stateSchema });
const queue = await SyncQueue.open({ url, schema: queueSchema, pollingIntervalSeconds: 0.5, leasedDelaySeconds: 0.5, supervise: false });
await queue.work(concurrency, async (job) => {
  const lease = await store.lease(job.mailboxId); // MailboxLockedError → put back by the queue
  try {
    const { rows } = await log.query<{ id: number }>(`INSERT INTO ${stateSchema}.test_run (mailbox, reason, pid) VALUES ($1, $2, $3) RETURNING id`, [job.mailboxId, job.reason, process.pid]);
    process.stdout.write(`start ${job.mailboxId}\n`);
    await new Promise((r) => setTimeout(r, job.reason === 'slow' ? 60_000 : 150));
    await log.query(`UPDATE ${stateSchema}.test_run SET ended = clock_timestamp() WHERE id = $1`, [rows[0]!.id]);
  } finally {
    await lease.release();
  }
});
process.stdout.write('ready\n');
