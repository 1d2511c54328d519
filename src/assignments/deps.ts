// AdminDeps from the CLI context (the real CRM, the assignments wherever they live, the DAV
// provider). `config()` carries the mailboxes as `mailboxesOf(ctx)` reads them (config.json, or
// the shared PostgreSQL state, D87); saving writes the mailboxes back there and the rest to
// config.json.
import { configWithMailboxes, type Context } from '../context.js';
import type { AdminDeps } from './assign.js';
import { davConnector } from './connection.js';
import { assignmentDelta } from './store.js';

export async function adminDepsFromContext(ctx: Context): Promise<AdminDeps> {
  const store = await ctx.assignments();
  let current = await configWithMailboxes(ctx);
  return {
    paths: ctx.paths,
    crm: () => ctx.crm(),
    config: () => current,
    async saveConfig(next) {
      const { mailboxes, ...rest } = next;
      // Only what this command changed: another host may have assigned others meanwhile.
      const { put, remove } = assignmentDelta(current.mailboxes, mailboxes);
      ctx.saveConfig({ ...ctx.config(), ...rest, mailboxes: ctx.config().mailboxes });
      await store.change(put, remove);
      current = { ...next, mailboxes: await store.list() };
    },
    connect: davConnector,
  };
}
