// The mailbox side as the sync engine sees it: one interface, two implementations
// (CardDAV/CalDAV in ./provider.ts, a vdir folder in ../vdir/).

import type { ServerQuirks } from './quirks.js';
export type CollectionKind = 'contacts' | 'appointments' | 'tasks';

export const COLLECTION_KINDS: readonly CollectionKind[] = ['contacts', 'appointments', 'tasks'];

export interface MailboxAccount {
  /** Server URL (no credentials in it): a root with /.well-known, a principal or a home set. */
  url: string;
  username: string;
  /** Password for basic/digest; the token itself for bearer. */
  password: string;
  auth: 'basic' | 'bearer' | 'digest';
  /** Origins besides the configured one that the admin confirmed at assign (docs/credentials.md). */
  trustedOrigins?: string[];
}

export interface TransportOptions {
  /** Timeout of one HTTP attempt, headers and body together. */
  timeoutMs: number;
  /** Retries after the first attempt for network errors, timeouts, 5xx and 429. */
  retries: number;
  /** Requests in flight at once for this mailbox. */
  concurrency: number;
  /** PEM file with extra CA certificates, trusted in addition to the system ones. */
  caFile?: string;
  /** Called once per HTTP exchange (every retry and auth round trip counts). */
  onRequest?: (method: string, url: string, status: number) => void;
  /** Base delay of the exponential retry backoff (default 500 ms). */
  retryBaseMs?: number;
  /** A Retry-After longer than this is not waited for: RateLimitedError is thrown at once (default 60 s). */
  maxRetryAfterMs?: number;
  /** Bytes of one answer, on the wire and after gzip/deflate/br decoding (limits.maxResponseBytes). */
  maxResponseBytes?: number;
  /** hrefs in one listing answer (PROPFIND Depth 1, sync-collection page) (limits.maxHrefsPerListing). */
  maxHrefsPerListing?: number;
  /** Items one collection may list (limits.maxItemsPerMailbox). */
  maxItems?: number;
  /** One request with all its retries and Retry-After waits, in seconds (limits.requestSeconds). */
  requestSeconds?: number;
  /** End of this mailbox's run (limits.mailboxRunSeconds): no request starts or waits past it. */
  deadline?: { at: number; seconds: number };
}

/** The defaults of the `limits` config section, for callers that build TransportOptions by hand. */
export const DEFAULT_LIMITS = {
  maxResponseBytes: 32 * 1024 * 1024,
  maxHrefsPerListing: 50_000,
  maxItemsPerMailbox: 100_000,
  requestSeconds: 300,
  mailboxRunSeconds: 1800,
} as const;

export interface CollectionRef {
  kind: CollectionKind;
  /** Absolute URL ending in '/'. */
  url: string;
  displayName: string;
  supportsSyncToken: boolean;
}

export interface ItemRef {
  /** Absolute URL of the item on the server (canonical percent-encoding); for a vdir, `<folder>/<file>`. */
  href: string;
  /** Opaque entity tag exactly as the server sent it (quotes included). */
  etag: string;
}

export interface DavItem extends ItemRef {
  data: string;
}

export interface FetchResult {
  items: DavItem[];
  missing: string[];
  failed?: { href: string; message: string }[];
}

export interface CollectionDelta {
  /** Items new or changed since the token (or all items when full). */
  changed: ItemRef[];
  /** Hrefs deleted since the token (empty when full). */
  deleted: string[];
  /** True when this is a complete listing (no token, invalid/expired token, or no sync-collection support): the caller diffs against its state. */
  full: boolean;
  /** Token to store after the caller has applied the delta; null if the server has none. Servers without sync-collection get `ctag:<ctag>`. */
  token: string | null;
  /** hrefs the server listed that sync-cli will not request (another origin, not http(s)): item errors. */
  refused?: { href: string; message: string }[];
  /**
   * True when an unchanged ETag does not prove unchanged content (SOGo: per-item counters, a
   * deleted and re-created item gets `"gcs00000000"` again): the caller fetches and compares.
   */
  etagsUnreliable?: boolean;
}

export interface ProbeResult {
  principal: string;
  serverDate?: string;
  /** Server clock minus local clock, in ms (positive: server ahead). */
  skewMs?: number;
}

export interface MailboxProvider {
  /** Finds principal + home sets, then finds or creates the three collections by display name, returns them. Idempotent. */
  provision(names: Record<CollectionKind, string>, known?: Partial<Record<CollectionKind, string>>): Promise<Record<CollectionKind, CollectionRef>>;
  /** Cheap delta: one sync-collection REPORT when nothing changed; full listing when the token is null, invalid or unsupported. */
  delta(collection: CollectionRef, token: string | null): Promise<CollectionDelta>;
  /** The deltas of several collections (a mailbox's), in order; may ask all their tokens at once first (D100). */
  deltas(requests: { collection: CollectionRef; token: string | null }[]): Promise<CollectionDelta[]>;
  /** Multiget in batches; items that vanished are returned in `missing`, items that could not be read in `failed` (one item's failure is its own). */
  fetch(collection: CollectionRef, hrefs: string[]): Promise<FetchResult>;
  /** PUT with If-None-Match: *. 412 → PreconditionFailedError (already exists). */
  create(collection: CollectionRef, name: string, data: string, contentType: string): Promise<ItemRef>;
  /** PUT with If-Match. Refuses an empty etag. 412 → PreconditionFailedError. */
  update(ref: ItemRef, data: string, contentType: string): Promise<ItemRef>;
  /** DELETE with If-Match. 404 = already gone = success. 412 → PreconditionFailedError. */
  remove(ref: ItemRef): Promise<void>;
  /** Principal and server clock skew, for `doctor`. */
  probe(): Promise<ProbeResult>;
  /** DAV only: what provisioning probed the server to ignore (SOGo: If-None-Match, If-Match on DELETE). */
  serverQuirks?(): ServerQuirks | undefined;
  /** DAV only: quirks remembered from an earlier probe (the state store), so no probe is sent. */
  useServerQuirks?(quirks: ServerQuirks): void;
  /** DAV only: probes now (a scratch item in `collection`, created and deleted) unless known. */
  probeServerQuirks?(collection: CollectionRef): Promise<ServerQuirks>;
  close(): Promise<void>;
}
