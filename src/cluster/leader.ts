// Who schedules a cluster (D80): the daemon whose dedicated PostgreSQL session holds one advisory
// lock. Every other daemon tries again every few seconds; when the leader dies its session ends,
// PostgreSQL frees the lock, and the next try of another daemon wins — a takeover within
// `retryMs` plus PostgreSQL noticing the dead session (at once for a killed process, the TCP
// keepalive for a lost host). A leader whose session breaks stops scheduling at once.
import pg from 'pg';
import { advisoryKey } from '../sync/state/postgres.js';

export interface LeaderOptions {
  url: string;
  /** The state schema: one leader per cluster (two clusters on one database do not share it). */
  schema: string;
  /** How often a follower (or a leader that lost its session) tries again. Default 2 s. */
  retryMs?: number;
  onLead(): void;
  onLose(why: string): void;
  applicationName?: string;
}

export class LeaderElection {
  private client: pg.Client | null = null;
  private timer: NodeJS.Timeout | undefined;
  private leading = false;
  private closed = false;
  private readonly key: string;

  constructor(private readonly opts: LeaderOptions) {
    this.key = advisoryKey(opts.schema, 'scheduler-leader');
  }

  get isLeader(): boolean {
    return this.leading;
  }

  start(): void {
    void this.attempt();
  }

  private schedule(): void {
    if (this.closed) return;
    this.timer = setTimeout(() => void this.attempt(), this.opts.retryMs ?? 2000);
  }

  private lost(client: pg.Client, why: string): void {
    if (this.client !== client) return;
    this.client = null;
    client.end().catch(() => undefined);
    if (this.leading) {
      this.leading = false;
      this.opts.onLose(why);
      this.schedule(); // lead again when PostgreSQL is back and no other daemon took over
    }
  }

  private async attempt(): Promise<void> {
    if (this.closed) return;
    try {
      if (!this.client) {
        const client = new pg.Client({ connectionString: this.opts.url, application_name: this.opts.applicationName ?? `sync-cli leader ${process.pid}`, keepAlive: true, connectionTimeoutMillis: 10_000 });
        client.on('error', (err) => this.lost(client, err.message));
        client.on('end', () => this.lost(client, 'the connection to PostgreSQL ended'));
        await client.connect();
        this.client = client;
      }
      const { rows } = await this.client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1::bigint) AS ok', [this.key]);
      if (rows[0]?.ok) {
        this.leading = true;
        this.opts.onLead();
        return; // held until the session ends or close()
      }
    } catch {
      // PostgreSQL unreachable: try again; the session (if any) is dropped by its error handler.
      if (this.client) this.lost(this.client, 'the connection to PostgreSQL failed');
    }
    this.schedule();
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    const c = this.client;
    this.client = null;
    this.leading = false;
    // Ending the session frees the lock: another daemon takes over at its next try.
    await c?.end().catch(() => undefined);
  }
}
