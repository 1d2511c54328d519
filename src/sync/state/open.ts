// Opens the configured state store: the embedded SQLite file under --home (the default), or
// PostgreSQL (`state.kind = postgres`, a cluster's shared store, docs/scale-out.md). The
// database password is kept out of config.json like the CRM's (C2): in the 0600 secrets file
// under `state:database`, or SYNC_CLI_STATE_PASSWORD.
import type { Paths } from '../../config/paths.js';
import type { Config } from '../../config/schema.js';
import { ConfigError } from '../../errors.js';
import { registerSecret } from '../../log/redact.js';
import type { StateStore } from './store.js';

export const STATE_PASSWORD_REF = 'state:database';
export const STATE_PASSWORD_ENV = 'SYNC_CLI_STATE_PASSWORD';

export { splitCrmUrl as splitDatabaseUrl } from '../../providers/crm/index.js';

/** `password`: use this one (state connect, before it is stored) instead of the stored one. */
export async function openStateStore(state: Config['state'], paths: Paths, env: NodeJS.ProcessEnv = process.env, opts: { password?: string | null; exitOnIdle?: boolean } = {}): Promise<StateStore> {
  if (state.kind === 'sqlite') {
    const { openSqliteStateStore } = await import('./sqlite.js');
    return openSqliteStateStore(paths.stateDb, { lockDir: paths.lockDir });
  }
  if (!state.url) throw new ConfigError('state.url is missing for state.kind "postgres"', [], 'Run `sync-cli state connect postgres --url URL`.');
  let url = state.url;
  if (opts.password) {
    registerSecret(opts.password);
    const u = new URL(url);
    u.password = encodeURIComponent(opts.password);
    url = u.toString();
  } else {
    const { withStoredPassword } = await import('../../providers/crm/index.js');
    url = await withStoredPassword(url, paths, env, STATE_PASSWORD_REF, STATE_PASSWORD_ENV);
  }
  const { PostgresStateStore } = await import('./postgres.js');
  return PostgresStateStore.open({ url, schema: state.schema, exitOnIdle: opts.exitOnIdle });
}
