// Push from the CRM side without CRM cooperation: the change feed (the same one the engine reads,
// indexed by (updated_at, id)) is checked every pushPollMs — one probe of the three feeds, their
// pages only when it finds something. A
// PostgreSQL NOTIFY or a webhook only makes the next check happen at once.
import type { CrmCursor, CrmProvider } from '../providers/crm/model.js';
import type { ChangedRecord } from './affected.js';

/**
 * Records stamped this long before the watermark are read again: a slow transaction commits late.
 * Only until the CRM's clock has passed the watermark by this much (D108): a record stamped
 * earlier than `OVERLAP_MS` before a check was committed by then and that check read it.
 */
export const OVERLAP_MS = 5_000;
const PAGE = 500;

export class CrmFeedWatcher {
  private cursors: { addresses: CrmCursor | null; activities: CrmCursor | null; tombstones: CrmCursor | null } = {
    addresses: null,
    activities: null,
    tombstones: null,
  };
  /** `kind:id:version` seen recently, so the overlap window does not re-trigger syncs. */
  private seen = new Map<string, number>();
  private checking: Promise<ChangedRecord[]> | undefined;
  /** The CRM's clock (ms) when the last read of pages began: what was stamped OVERLAP_MS before it is settled. */
  private lastRead: number | undefined;

  constructor(private readonly crm: CrmProvider) {}

  /** Starts at the CRM's clock: older changes are the first scheduled sync's job. */
  async init(): Promise<void> {
    const start: CrmCursor = { ts: await this.crm.now(), id: '' };
    this.cursors = { addresses: start, activities: start, tombstones: start };
    // Mark what the overlap window holds now as seen: it predates the daemon, and the first
    // scheduled sync covers it.
    await this.read();
  }

  /** The records changed since the last check (each reported once). Concurrent calls share one read. */
  check(): Promise<ChangedRecord[]> {
    this.checking ??= this.read().finally(() => (this.checking = undefined));
    return this.checking;
  }

  /**
   * Where a check starts reading: OVERLAP_MS before the watermark, but no earlier than OVERLAP_MS
   * before the last read began — what is older was committed then and read. Once the CRM's clock
   * is that far past the watermark, the check starts at the watermark itself: a quiet feed is one
   * probe again, and a bulk change is not read again and again after it (D108).
   */
  private back(c: CrmCursor | null): CrmCursor | null {
    if (!c) return null;
    const t = Date.parse(c.ts);
    if (Number.isNaN(t)) return c;
    const settled = this.lastRead === undefined ? -Infinity : this.lastRead - OVERLAP_MS;
    if (settled >= t) return c;
    return { ts: new Date(Math.max(t - OVERLAP_MS, settled)).toISOString(), id: '' };
  }

  private fresh(key: string, now: number): boolean {
    if (this.seen.has(key)) return false;
    this.seen.set(key, now);
    return true;
  }

  private async read(): Promise<ChangedRecord[]> {
    const now = Date.now();
    const out: ChangedRecord[] = [];
    // Most checks find nothing: one probe of the three feeds (the engine's quiet path) first,
    // the pages only when something is there — even inside the overlap (D98).
    const from = { addresses: this.back(this.cursors.addresses), activities: this.back(this.cursors.activities), tombstones: this.back(this.cursors.tombstones) };
    if (!(await this.crm.hasChangesSince(from))) {
      this.forget(now);
      return out;
    }
    // Taken before the pages are read: everything committed before it is in them.
    const readAt = Date.parse(await this.crm.now());
    const drain = async <T>(
      cursor: CrmCursor | null,
      fetch: (c: CrmCursor | null, n: number) => Promise<{ items: T[]; next: CrmCursor | null; more: boolean }>,
      take: (item: T) => void,
    ): Promise<CrmCursor | null> => {
      let c = this.back(cursor);
      let last = cursor;
      for (;;) {
        const page = await fetch(c, PAGE);
        page.items.forEach(take);
        if (page.next && (!last || page.next.ts > last.ts || (page.next.ts === last.ts && page.next.id > last.id))) last = page.next;
        if (!page.more || !page.next) return last;
        c = page.next;
      }
    };
    this.cursors.addresses = await drain(this.cursors.addresses, (c, n) => this.crm.addressChangesSince(c, n), (a) => {
      if (this.fresh(`address:${a.id}:${a.version}`, now)) out.push({ kind: 'address', id: a.id, record: a });
    });
    this.cursors.activities = await drain(this.cursors.activities, (c, n) => this.crm.activityChangesSince(c, n), (a) => {
      if (this.fresh(`activity:${a.id}:${a.version}`, now)) out.push({ kind: 'activity', id: a.id, record: a });
    });
    this.cursors.tombstones = await drain(this.cursors.tombstones, (c, n) => this.crm.tombstonesSince(c, n), (t) => {
      if (this.fresh(`tomb:${t.kind}:${t.id}:${t.deletedAt}`, now)) out.push({ kind: t.kind, id: t.id });
    });
    if (!Number.isNaN(readAt)) this.lastRead = readAt;
    this.forget(now);
    return out;
  }

  /** Forget keys older than twice the overlap: they cannot come back through the window. */
  private forget(now: number): void {
    for (const [k, t] of this.seen) if (now - t > 2 * OVERLAP_MS + 60_000) this.seen.delete(k);
  }
}
