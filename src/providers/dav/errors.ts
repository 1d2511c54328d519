// Mailbox failures, one class per thing the engine or the user does differently about it.
// Messages carry the URL with userinfo stripped and never a credential (R25).
import { SyncCliError } from '../../errors.js';
import { redactString } from '../../log/redact.js';

/** URL for messages: no userinfo, no query (tokens sometimes travel there). */
export function displayUrl(url: string): string {
  try {
    const u = new URL(url);
    u.username = '';
    u.password = '';
    u.search = '';
    return redactString(u.href);
  } catch {
    return redactString(url);
  }
}

/** Credentials rejected (401) or access to the account refused: a human must fix the mailbox settings. */
export class AuthError extends SyncCliError {
  constructor(
    readonly url: string,
    detail = 'the server rejected the credentials',
  ) {
    super(`${detail} (${displayUrl(url)})`, {
      exitCode: 2,
      remedy: 'check the username and password of this mailbox (sync-cli users assign …) and the auth type',
    });
  }
}

/** The URL does not exist (a collection deleted on the server, a wrong server URL). */
export class NotFoundError extends SyncCliError {
  constructor(readonly url: string) {
    super(`not found on the mailbox server: ${displayUrl(url)}`);
  }
}

/** The item changed (or already exists) since it was read: re-read and plan again (R20). */
export class PreconditionFailedError extends SyncCliError {
  constructor(
    readonly url: string,
    readonly method: string,
  ) {
    super(`${method} ${displayUrl(url)}: the item was changed on the server since it was read (412)`, {
      remedy: 'the next sync re-reads the item and retries',
    });
  }
}

/** 429 (or 503 with a long Retry-After) after all retries. */
export class RateLimitedError extends SyncCliError {
  constructor(
    readonly url: string,
    readonly retryAfterMs: number | undefined,
  ) {
    super(
      `the mailbox server is rate limiting requests (${displayUrl(url)})` +
        (retryAfterMs === undefined ? '' : `; retry after ${Math.ceil(retryAfterMs / 1000)} s`),
      { remedy: 'sync less often or lower dav.concurrency' },
    );
  }
}

/** 5xx after all retries, or another unexpected status. */
export class ServerError extends SyncCliError {
  constructor(
    readonly url: string,
    readonly status: number,
    readonly method: string,
    detail?: string,
  ) {
    super(`${method} ${displayUrl(url)} failed with HTTP ${status}${detail ? `: ${redactString(detail)}` : ''}`, {
      remedy: status >= 500 ? 'the mailbox server has a problem; the next sync retries' : undefined,
    });
  }
}

/** The server refused this one item's content (400, 403, 409, 413, 415, 422…): retrying the same data will not help. */
export class ItemRejectedError extends SyncCliError {
  constructor(
    readonly url: string,
    readonly status: number,
    readonly method: string,
    detail?: string,
  ) {
    super(`${method} ${displayUrl(url)} was refused by the server (HTTP ${status})${detail ? `: ${redactString(detail)}` : ''}`, {
      remedy: status === 415 ? 'the server rejects this content (Nextcloud refuses vCards without FN, for example)' : undefined,
    });
  }
}

/**
 * Another item in the collection already has this UID (Radicale: 409 with CARDDAV/CALDAV
 * no-uid-conflict). The engine re-adopts the existing item by UID instead of creating (R23).
 */
export class UidConflictError extends ItemRejectedError {
  constructor(
    url: string,
    method: string,
    /** The item that has the UID, when the server names it (Cyrus: user-wide, maybe another calendar). */
    readonly existingHref?: string,
    status = 409,
  ) {
    super(url, status, method, existingHref ? `the item ${displayUrl(existingHref)} has the same UID` : 'another item in this collection has the same UID');
  }
}

/** Connection refused/reset/dropped, DNS failure, TLS failure or timeout, after all retries. */
export class NetworkError extends SyncCliError {
  constructor(
    readonly url: string,
    reason: string,
    cause?: unknown,
  ) {
    super(`cannot reach the mailbox server ${displayUrl(url)}: ${redactString(reason)}`, {
      cause,
      remedy: 'check the server URL and the network; the next sync retries',
    });
  }
}

/** A write without an ETag would overwrite blindly (R20): refused before anything is sent. */
export class MissingEtagError extends SyncCliError {
  constructor(readonly url: string) {
    super(`refusing to write ${displayUrl(url)} without an ETag (the write would be unconditional)`);
  }
}

/** The server does not speak CardDAV/CalDAV the way sync-cli needs (no home set, MKCOL refused…). */
export class DavProtocolError extends SyncCliError {
  constructor(message: string, remedy?: string) {
    super(message, { exitCode: 2, remedy });
  }
}
