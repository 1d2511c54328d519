// A PostgreSQL pool whose lost connections never take the process down. node-postgres emits
// 'error' on a client whose connection ends unexpectedly (a server restart, pg_terminate_backend,
// a network cut); pg-pool listens only while the client is idle, so a client that is checked out
// (inside a transaction, a Kysely query, a held lock) with no listener of its own crashes the
// process with an unhandled 'error' event. The query in flight still fails with the error, and
// pg-pool discards the broken client on release; this only keeps the event from being fatal.
import type pg from 'pg';

const ignore = () => undefined;

export function guardPool<P extends pg.Pool>(pool: P): P {
  pool.on('error', ignore); // an idle client's connection died
  pool.on('connect', (client) => client.on('error', ignore)); // a checked-out one's did
  return pool;
}
