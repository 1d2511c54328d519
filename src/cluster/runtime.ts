// What a process of a cluster needs to run sync jobs (the worker, and a daemon on a PostgreSQL
// state): the queue, the shared hard-failure holds and server slots, and the job handler on the
// daemon's MailboxRunner. The queue and the slots live in the state database, each in a schema
// named after the state's (D83): `<schema>_queue` (pg-boss), `<schema>_cluster` (holds).
import type { Paths } from '../config/paths.js';
import type { Config } from '../config/schema.js';
import { ConfigError } from '../errors.js';
import { MailboxRunner } from '../daemon/mailbox-runner.js';
import type { DaemonParts } from '../daemon/parts.js';
import { ClusterHolds } from './holds.js';
import { clusterJobHandler } from './jobs.js';
import { SyncQueue } from './queue.js';
import { ServerSlots } from './server-slots.js';

export const queueSchemaOf = (stateSchema: string) => `${stateSchema}_queue`;

/** A PostgreSQL state, or exit 2 with the fix. */
export function requirePostgresState(config: Config, what: string): void {
  if (config.state.kind !== 'postgres') {
    throw new ConfigError(`${what} needs the state on PostgreSQL (state.kind is "${config.state.kind}")`, [], 'point this installation at the shared database: `sync-cli state connect postgres --url postgres://USER@HOST:5432/DB`');
  }
}

/** The state database's URL with its stored password (for the queue and the cluster's sessions). */
export async function stateDatabaseUrl(config: Config, paths: Paths, env: NodeJS.ProcessEnv): Promise<string> {
  const { withStoredPassword } = await import('../providers/crm/index.js');
  const { STATE_PASSWORD_ENV, STATE_PASSWORD_REF } = await import('../sync/state/open.js');
  return withStoredPassword(config.state.url!, paths, env, STATE_PASSWORD_REF, STATE_PASSWORD_ENV);
}

export interface ClusterRuntime {
  readonly queue: SyncQueue;
  /** Starts taking jobs, `concurrency` at a time. */
  start(): Promise<void>;
  /** Stops taking jobs and lets running ones finish within `graceMs`. */
  close(graceMs: number): Promise<void>;
}

export async function openClusterRuntime(parts: DaemonParts, url: string, concurrency: number, runner = new MailboxRunner(parts)): Promise<ClusterRuntime> {
  const config = parts.config();
  const schema = config.state.schema;
  // A fetched job may wait for a slot behind one run (D95) before its own run: two runs' bound.
  const queue = await SyncQueue.open({ url, schema: queueSchemaOf(schema), expireInSeconds: 2 * config.limits.mailboxRunSeconds + 60, pollingIntervalSeconds: 0.5 });
  const holds = new ClusterHolds(url, schema);
  const slots = new ServerSlots(url, schema, concurrency);
  const handler = clusterJobHandler({ runner, holds, slots, logger: parts.logger, config: parts.config, metrics: parts.metrics });
  return {
    queue,
    start: () => queue.work(concurrency, handler),
    async close(graceMs) {
      await queue.close(true, graceMs);
      await Promise.allSettled([holds.close(), slots.close()]);
    },
  };
}
