// Where the mailbox assignments live (D87): config.json's `mailboxes` on a single machine
// (state on SQLite: nothing changes), the state database's `assignment` table when the state is
// on PostgreSQL, so `users assign` on any host is seen by every host. Everybody reads the list
// through `mailboxesOf(ctx)` (src/context.ts), never `config.mailboxes` directly.
import { isDeepStrictEqual } from 'node:util';
import { formatIssues } from '../config/load.js';
import { mailboxSchema, type Config, type MailboxConfig } from '../config/schema.js';
import { ConfigError } from '../errors.js';
import type { ClusterTables } from '../sync/state/shared.js';

export interface AssignmentStore {
  /** Where the assignments are kept, for messages ("config.json", "the state database …"). */
  readonly describe: string;
  list(): Promise<MailboxConfig[]>;
  /** Puts these assignments and removes these users, in one transaction; the rest is left as
   *  it is now (another host may have changed it meanwhile). */
  change(put: MailboxConfig[], remove: string[]): Promise<void>;
  /** Changes whenever the list does (a daemon re-reads the list only then). */
  revision(): Promise<string>;
}

/** config.json's `mailboxes` (the single-machine default). */
export class ConfigFileAssignments implements AssignmentStore {
  readonly describe: string;
  constructor(
    private readonly io: { config(): Config; saveConfig(c: Config): void },
    file: string,
  ) {
    this.describe = file;
  }
  async list(): Promise<MailboxConfig[]> {
    return this.io.config().mailboxes;
  }
  async change(put: MailboxConfig[], remove: string[]): Promise<void> {
    const drop = new Set([...remove, ...put.map((m) => m.user)]);
    const config = this.io.config();
    this.io.saveConfig({ ...config, mailboxes: [...config.mailboxes.filter((m) => !drop.has(m.user)), ...put] });
  }
  async revision(): Promise<string> {
    return JSON.stringify(this.io.config().mailboxes);
  }
}

/** The state database's `assignment` table (state.kind = postgres). */
export class DatabaseAssignments implements AssignmentStore {
  constructor(
    private readonly tables: ClusterTables,
    readonly describe: string,
  ) {}

  async list(): Promise<MailboxConfig[]> {
    // Validated on the way out as config.json is: a row written by another version is named, not trusted.
    return (await this.tables.listAssignments()).map(({ user, mailbox }) => {
      const parsed = mailboxSchema.safeParse(mailbox);
      if (!parsed.success) {
        throw new ConfigError(`The assignment of CRM user ${user} in ${this.describe} is not valid`, formatIssues(parsed.error.issues, mailboxSchema), `Assign it again: sync-cli users assign ${user} --url URL --username NAME --password-stdin`);
      }
      return parsed.data;
    });
  }

  async change(put: MailboxConfig[], remove: string[]): Promise<void> {
    await this.tables.writeAssignments(
      put.map((m) => ({ user: m.user, mailbox: m })),
      remove,
    );
  }

  revision(): Promise<string> {
    return this.tables.assignmentRevision();
  }
}

/** What a command changed: from the list it read (`base`) to the list it wants (`next`). */
export function assignmentDelta(base: MailboxConfig[], next: MailboxConfig[]): { put: MailboxConfig[]; remove: string[] } {
  const before = new Map(base.map((m) => [m.user, m]));
  const keep = new Set(next.map((m) => m.user));
  return { put: next.filter((m) => !isDeepStrictEqual(before.get(m.user), m)), remove: base.map((m) => m.user).filter((u) => !keep.has(u)) };
}
