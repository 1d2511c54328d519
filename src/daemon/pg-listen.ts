// PostgreSQL push: LISTEN on the channel that sql/postgres/notify.sql notifies ("<kind>:<id>").
// A notification only wakes the change-feed check; the feed stays the source of truth, so a
// notification lost while reconnecting loses nothing (the next poll or interval finds it).
import pg from 'pg';
import type { Paths } from '../config/paths.js';
import type { Config } from '../config/schema.js';
import type { Logger } from '../log/logger.js';
import { registerSecret } from '../log/redact.js';
import { CRM_PASSWORD_ENV, CRM_PASSWORD_REF } from '../providers/crm/index.js';
import { FileCredentialStore } from '../secrets/file-store.js';

export interface PgListener {
  close(): Promise<void>;
}

async function connectionString(crm: Config['crm'], paths: Paths, env: NodeJS.ProcessEnv): Promise<string> {
  const u = new URL(crm.url!);
  if (!u.password) {
    const password = env[CRM_PASSWORD_ENV] || (await new FileCredentialStore(paths.secretsFile).get(CRM_PASSWORD_REF));
    if (password) {
      registerSecret(password);
      u.password = encodeURIComponent(password);
    }
  }
  return u.toString();
}

/** Listens until closed; reconnects with a growing pause when the connection drops. */
export function listenForCrmNotifications(
  crm: Config['crm'],
  channel: string,
  paths: Paths,
  logger: Logger,
  onNotify: (payload: string) => void,
  env: NodeJS.ProcessEnv = process.env,
): PgListener {
  let client: pg.Client | undefined;
  let closed = false;
  let delay = 1000;
  let retryTimer: NodeJS.Timeout | undefined;
  const connect = async () => {
    if (closed) return;
    const c = new pg.Client({ connectionString: await connectionString(crm, paths, env) });
    c.on('notification', (n) => n.channel === channel && onNotify(n.payload ?? ''));
    c.on('error', (err) => {
      logger.warn(`PostgreSQL LISTEN connection lost (${err.message}); retrying`);
      void c.end().catch(() => undefined);
      schedule();
    });
    try {
      await c.connect();
      // channel is validated by the config schema ([a-z_][a-z0-9_]*): safe as an identifier.
      await c.query(`LISTEN ${channel}`);
      client = c;
      delay = 1000;
      logger.info(`listening for CRM changes on PostgreSQL channel ${channel}`);
      // Changes made while we were not listening: let the feed check catch up.
      onNotify('reconnected');
    } catch (err) {
      logger.warn(`PostgreSQL LISTEN ${channel} failed (${(err as Error).message}); retrying in ${delay / 1000} s`);
      await c.end().catch(() => undefined);
      schedule();
    }
  };
  const schedule = () => {
    if (closed || retryTimer) return;
    client = undefined;
    retryTimer = setTimeout(() => {
      retryTimer = undefined;
      void connect();
    }, delay);
    delay = Math.min(delay * 2, 60_000);
  };
  void connect();
  return {
    async close() {
      closed = true;
      if (retryTimer) clearTimeout(retryTimer);
      await client?.end().catch(() => undefined);
    },
  };
}
