// On a PostgreSQL state the mailbox assignments live in the database (D87), not in config.json:
// a daemon or worker re-reads them when their revision changes, so `users assign` on any host
// reaches every host within seconds. On a SQLite state config.json is the list and its file
// watcher already reloads it.
import type { Config } from '../config/schema.js';
import type { Context } from '../context.js';
import { mailboxesOf } from '../context.js';

export interface AssignmentSource {
  /** config.json as read, with the shared mailboxes in it. */
  withMailboxes(fileConfig: Config): Promise<Config>;
  /** Calls `apply` with the new config whenever the shared assignments change; returns a stop. */
  watch(apply: (config: Config, why: string) => void, everyMs?: number): () => void;
}

export function sharedAssignments(ctx: Context): AssignmentSource {
  let fileConfig = ctx.config();
  const withMailboxes = async (c: Config): Promise<Config> => {
    fileConfig = c;
    return { ...c, mailboxes: await mailboxesOf(ctx) };
  };
  return {
    withMailboxes,
    watch(apply, everyMs = 3000) {
      let last: string | undefined;
      let busy = false;
      const check = async () => {
        if (busy) return;
        busy = true;
        try {
          const rev = await (await ctx.assignments()).revision();
          if (last !== undefined && rev !== last) apply(await withMailboxes(fileConfig), 'assignments changed (shared state)');
          last = rev;
        } catch (err) {
          ctx.logger.warn(`cannot read the shared assignments (${(err as Error).message}); keeping the last list`);
        } finally {
          busy = false;
        }
      };
      void check();
      const timer = setInterval(() => void check(), everyMs);
      timer.unref();
      return () => clearInterval(timer);
    },
  };
}
