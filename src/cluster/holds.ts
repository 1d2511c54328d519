// Hard failures across a cluster (D82): the worker whose sync ended hard stores a fingerprint of
// what a human would change to fix it (the mailbox's settings, the global sync/limits/dav
// settings, its password — a hash, never the values, R25) in a small shared table. Any worker
// that gets a job for a held mailbox compares: unchanged → the job ends without a request to the
// server; changed → the hold is dropped and the mailbox syncs. So "no retry until the
// configuration changes" holds whichever worker gets the next interval's job. A human's Retry on
// the status page releases the hold and enqueues one sync (D91).
import pg from 'pg';
import { guardPool } from '../providers/pg-guard.js';

export class ClusterHolds {
  private readonly pool: pg.Pool;
  private readonly schema: string;
  private readonly table: string;
  private ready: Promise<void> | undefined;

  constructor(url: string, stateSchema: string) {
    this.pool = guardPool(new pg.Pool({ connectionString: url, max: 2, application_name: `sync-cli holds ${process.pid}`, keepAlive: true }));
    this.table = `"${stateSchema}_cluster".held`;
    this.schema = `"${stateSchema}_cluster"`;
  }

  private init(): Promise<void> {
    this.ready ??= this.pool
      .query(`CREATE SCHEMA IF NOT EXISTS ${this.schema}; CREATE TABLE IF NOT EXISTS ${this.table} (mailbox text PRIMARY KEY, fingerprint text NOT NULL, since timestamptz NOT NULL DEFAULT now())`)
      .then(() => undefined)
      .catch((err: Error) => {
        this.ready = undefined; // two hosts creating it at once, or PostgreSQL away: next call tries again
        if (!/already exists|duplicate key/.test(err.message)) throw err;
      });
    return this.ready;
  }

  /** The fingerprint a mailbox is held with, or null. */
  async get(mailbox: string): Promise<string | null> {
    await this.init();
    const { rows } = await this.pool.query<{ fingerprint: string }>(`SELECT fingerprint FROM ${this.table} WHERE mailbox = $1`, [mailbox]);
    return rows[0]?.fingerprint ?? null;
  }

  /** The held ones among `mailboxes`, with their fingerprints: one query for a fetched batch of jobs (D95). */
  async getMany(mailboxes: string[]): Promise<Map<string, string>> {
    await this.init();
    const { rows } = await this.pool.query<{ mailbox: string; fingerprint: string }>(`SELECT mailbox, fingerprint FROM ${this.table} WHERE mailbox = ANY($1::text[])`, [mailboxes]);
    return new Map(rows.map((r) => [r.mailbox, r.fingerprint]));
  }

  async hold(mailbox: string, fingerprint: string): Promise<void> {
    await this.init();
    await this.pool.query(`INSERT INTO ${this.table} (mailbox, fingerprint) VALUES ($1, $2) ON CONFLICT (mailbox) DO UPDATE SET fingerprint = $2, since = now()`, [mailbox, fingerprint]);
  }

  /** Every held mailbox (the status page marks them, D91). */
  async list(): Promise<string[]> {
    await this.init();
    const { rows } = await this.pool.query<{ mailbox: string }>(`SELECT mailbox FROM ${this.table}`);
    return rows.map((r) => r.mailbox);
  }

  async release(mailbox: string): Promise<void> {
    await this.init();
    await this.pool.query(`DELETE FROM ${this.table} WHERE mailbox = $1`, [mailbox]);
  }

  close(): Promise<void> {
    return this.pool.end();
  }
}
