// The per-server request limit (D18, `dav.concurrency`) across a cluster (D81): N slots per server
// origin, each a session advisory lock (two-int form: the origin's key, the slot number) in the
// state database. A mailbox run takes one slot of its server for the whole run, so at most
// `dav.concurrency` mailboxes of one server sync at once in the whole cluster; a run sends its
// requests one at a time, so that is also the number of requests the server sees at once. A dead
// process's slots are freed with its session. Cost: one round trip that tries every slot (D96),
// again every ~100–200 ms while the server is saturated; one to give it back; nothing per request.
import { createHash } from 'node:crypto';
import pg from 'pg';
import { guardPool } from '../providers/pg-guard.js';

/** 32-bit key of a server origin within a schema (the first int of the advisory lock). */
function originKey(schema: string, origin: string): number {
  return createHash('sha256').update(`${schema}\0server\0${origin}`).digest().readInt32BE(0);
}

export function serverOrigin(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return url;
  }
}

export interface ServerSlot {
  release(): Promise<void>;
}

export class ServerSlots {
  private readonly pool: pg.Pool;

  constructor(
    url: string,
    private readonly schema: string,
    maxRuns: number,
    private readonly waitMs = 100,
  ) {
    // One session per running mailbox holds its slot; +1 so a release never waits for a connection.
    this.pool = guardPool(new pg.Pool({ connectionString: url, max: maxRuns + 1, application_name: `sync-cli server-slots ${process.pid}`, keepAlive: true }));
  }

  /** Waits for a free slot of `url`'s server (of `slots`); resolves with it held. */
  async acquire(url: string, slots: number, signal?: AbortSignal): Promise<ServerSlot> {
    const key = originKey(this.schema, serverOrigin(url));
    const client = await this.pool.connect();
    // A session that dies while it holds a slot (PostgreSQL restarted) frees the slot with it;
    // its error must not take the process down. The release below then discards the client.
    const ignore = () => undefined;
    client.on('error', ignore);
    const done = (err?: Error) => {
      client.off('error', ignore);
      client.release(err);
    };
    try {
      for (;;) {
        // Every slot tried in ONE round trip: the first free one is locked, and only that one
        // (a function scan under LIMIT 1 evaluates the filter row by row and stops at the first hit).
        const { rows } = await client.query<{ slot: number }>('SELECT s AS slot FROM generate_series(0, $2::int - 1) AS s WHERE pg_try_advisory_lock($1::int, s) LIMIT 1', [key, slots]);
        const slot = rows[0]?.slot;
        if (slot !== undefined) {
          return {
            release: async () => {
              try {
                await client.query('SELECT pg_advisory_unlock($1::int, $2::int)', [key, slot]);
                done();
              } catch (err) {
                done(err as Error); // the session is gone, and its lock with it
              }
            },
          };
        }
        if (signal?.aborted) throw signal.reason;
        await new Promise((r) => setTimeout(r, this.waitMs + Math.random() * this.waitMs));
      }
    } catch (err) {
      done(err as Error);
      throw err;
    }
  }

  close(): Promise<void> {
    return this.pool.end();
  }
}
