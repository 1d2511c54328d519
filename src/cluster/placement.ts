// For `status` on a cluster: which process on which host syncs which mailbox right now. Read from
// PostgreSQL itself — the mailbox leases are session advisory locks (D67) and each session names
// its host and pid (application_name) — so a dead process never shows as running.
import pg from 'pg';
import { configWithMailboxes, type Context } from '../context.js';
import type { ClusterStatus } from '../daemon/status.js';
import { SyncQueue } from './queue.js';
import { queueSchemaOf, stateDatabaseUrl } from './runtime.js';
import { advisoryKey } from '../sync/state/postgres.js';

export interface RunningMailbox {
  user: string;
  host: string;
  pid: number;
}

export async function runningMailboxes(url: string, schema: string, users: string[]): Promise<RunningMailbox[]> {
  if (!users.length) return [];
  const byKey = new Map(users.map((u) => [advisoryKey(schema, `lease:${u}`), u]));
  const client = new pg.Client({ connectionString: url, application_name: 'sync-cli status' });
  await client.connect();
  try {
    // A bigint advisory key is split into classid (high 32 bits) and objid (low 32 bits).
    const { rows } = await client.query<{ key: string; app: string | null }>(
      `SELECT ((l.classid::bigint << 32) | l.objid::bigint)::text AS key, a.application_name AS app
         FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
        WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
    );
    const out: RunningMailbox[] = [];
    for (const r of rows) {
      const user = byKey.get(BigInt.asIntN(64, BigInt(r.key)).toString());
      if (!user) continue;
      const m = /^sync-cli (\d+) (.+)$/.exec(r.app ?? '');
      out.push({ user, host: m?.[2] ?? 'unknown', pid: m ? Number(m[1]) : 0 });
    }
    return out.sort((a, b) => a.user.localeCompare(b.user));
  } finally {
    await client.end();
  }
}

/** `status` on a cluster: the mailboxes running now (from the leases) and the jobs waiting. */
export async function clusterStatus(ctx: Context, login: (id: string) => string): Promise<ClusterStatus> {
  const config = await configWithMailboxes(ctx);
  const url = await stateDatabaseUrl(config, ctx.paths, process.env);
  const running = await runningMailboxes(url, config.state.schema, config.mailboxes.map((m) => m.user));
  const queue = await SyncQueue.open({ url, schema: queueSchemaOf(config.state.schema), supervise: false });
  try {
    return { queueDepth: await queue.depth(), running: running.map((r) => ({ ...r, user: login(r.user) })) };
  } finally {
    await queue.close(false);
  }
}
