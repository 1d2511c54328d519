// The CRM's user list as the daemon needs it: read once and kept, not before every mailbox sync
// (at 1,000 users that read alone cost ~6 ms per sync, a sweep N², #16). It is read again when it
// is older than one sync interval, after a config reload, for a webhook, and when a mailbox names
// a user the list does not hold (a user added in the CRM since).
import type { CrmProvider, CrmUser } from '../providers/crm/model.js';

export class CrmUsersCache {
  private users: CrmUser[] = [];
  private byId = new Map<string, CrmUser>();
  private loadedAt = -Infinity;

  constructor(
    private readonly crm: CrmProvider,
    /** How long a read list stays good (the daemon's sync interval). */
    private readonly maxAgeMs: () => number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Reads the list now (throws when the CRM cannot be read). */
  async refresh(): Promise<CrmUser[]> {
    const users = await this.crm.listUsers();
    this.users = users;
    this.byId = new Map(users.map((u) => [u.id, u]));
    this.loadedAt = this.now();
    return users;
  }

  /** The list, read again first if it is too old; a failed read keeps the last one. */
  async current(): Promise<CrmUser[]> {
    if (this.now() - this.loadedAt >= this.maxAgeMs()) await this.refresh().catch(() => undefined);
    return this.users;
  }

  /** A user by id; an id the list does not hold makes one fresh read. Throws when that read fails. */
  async find(id: string): Promise<CrmUser | undefined> {
    await this.current();
    if (!this.byId.has(id)) await this.refresh();
    return this.byId.get(id);
  }

  /** The last list read, without touching the CRM. */
  list(): CrmUser[] {
    return this.users;
  }

  byLogin(login: string): CrmUser | undefined {
    return this.users.find((u) => u.login === login);
  }

  loginOf(id: string): string {
    return this.byId.get(id)?.login ?? id;
  }
}
