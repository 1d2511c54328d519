// PostgreSQL push: the trigger the CRM engineer shipped (sql/postgres/notify.sql) plus the
// daemon's LISTEN client. A CRM write must reach the listener as "<kind>:<id>" within 2 s, and
// the feed watcher must then report the changed record.
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { CrmFeedWatcher } from '../../src/daemon/crm-feed.js';
import { listenForCrmNotifications, type PgListener } from '../../src/daemon/pg-listen.js';
import { resolvePaths } from '../../src/config/paths.js';
import { createLogger } from '../../src/log/logger.js';
import { importExchange, parseExchangeText } from '../../src/providers/crm/exchange.js';
import { openWithTables, postgresTarget, type TestDatabase } from '../crm/databases.js';
import { repoRoot, tempHome } from '../helpers/cli.js';
import { smallCrm } from '../helpers/small-crm.js';

let cleanup: (() => Promise<void>) | undefined;
afterEach(async () => {
  await cleanup?.();
  cleanup = undefined;
});

it('a PostgreSQL CRM write notifies the daemon (LISTEN sync_cli_crm) within 2 s and the feed names the record', async () => {
  if (postgresTarget.unavailable) {
    console.warn(`skipped: ${postgresTarget.unavailable}`);
    return;
  }
  const { db, provider } = await openWithTables(postgresTarget);
  const handles: { listener?: PgListener } = {};
  cleanup = async () => {
    await handles.listener?.close();
    await provider.close();
    await (db as TestDatabase).drop();
  };
  await db.exec(fs.readFileSync(path.join(repoRoot, 'sql/postgres/notify.sql'), 'utf8'));
  await importExchange(provider, parseExchangeText(JSON.stringify(smallCrm()), 'fixture'), 'fixture');
  const feed = new CrmFeedWatcher(provider);
  await feed.init();

  const payloads: string[] = [];
  const home = tempHome();
  handles.listener = listenForCrmNotifications({ dialect: 'postgres', url: db.options.url, schema: db.options.schema, overlapSeconds: 120 }, 'sync_cli_crm', resolvePaths(home), createLogger({ level: 'error' }), (p) => payloads.push(p), {});
  const deadline = Date.now() + 5000;
  while (!payloads.includes('reconnected') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  expect(payloads).toContain('reconnected'); // listening

  const [a1] = await provider.getAddresses(['a1']);
  const t0 = Date.now();
  await provider.updateAddress('a1', { city: 'Augsburg' }, a1!.version);
  while (!payloads.includes('address:a1') && Date.now() - t0 < 3000) await new Promise((r) => setTimeout(r, 20));
  expect(payloads).toContain('address:a1');
  expect(Date.now() - t0).toBeLessThan(2000);
  const changes = await feed.check();
  expect(changes.map((c) => `${c.kind}:${c.id}`)).toEqual(['address:a1']);
  fs.rmSync(home, { recursive: true, force: true });
});
