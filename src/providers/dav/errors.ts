// Mailbox failures, one class per thing the engine or the user does differently about it.
// Messages carry the URL with userinfo stripped and never a credential (R25).
import { SyncCliError } from '../../errors.js';
import { redactString } from '../../log/redact.js';

/** Longest URL quoted in a message: a hostile server's 100,000-character href stays readable. */
const MAX_URL_IN_MESSAGE = 200;

/** Cuts a text to `max` characters, saying how much was left out. */
export function shorten(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max)}… (${text.length - max} more characters)`;
}

/** URL for messages: no userinfo, no query (tokens sometimes travel there), at most 200 characters. */
export function displayUrl(url: string): string {
  try {
    const u = new URL(url);
    u.username = '';
    u.password = '';
    u.search = '';
    return shorten(redactString(u.href), MAX_URL_IN_MESSAGE);
  } catch {
    return shorten(redactString(url), MAX_URL_IN_MESSAGE);
  }
}

/** Credentials rejected (401) or access to the account refused: a human must fix the mailbox settings. */
export class AuthError extends SyncCliError {
  constructor(
    readonly url: string,
    detail = 'the server rejected the credentials',
    remedy = 'check the username and password of this mailbox (`sync-cli users passwd USER --password-stdin` replaces just the password) and the auth type',
  ) {
    super(`${detail} (${displayUrl(url)})`, { exitCode: 2, remedy });
  }
}

/** 403 on reading: the login may be fine, but this account may not read this address. */
export class AccessDeniedError extends AuthError {
  constructor(url: string, method: string) {
    super(
      url,
      `the server refused ${method} (HTTP 403)`,
      "the login was accepted but this address is not this account's: check the path of the mailbox URL (the server root or the principal, e.g. https://host/dav/), then the username",
    );
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
    remedy?: string,
  ) {
    super(`cannot reach the mailbox server ${displayUrl(url)}: ${redactString(reason)}`, {
      cause,
      remedy: remedy ?? 'check the server URL and the network; the next sync retries',
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

/** A configured limit was reached (answer size, hrefs, items): the URL and the limit are named. */
export class LimitExceededError extends SyncCliError {
  constructor(
    readonly url: string,
    readonly limit: string,
    readonly value: number,
    what: string,
  ) {
    super(`${what} (${displayUrl(url)}); the limit is ${limit} = ${value}; reading stopped, nothing of it was used`, {
      remedy: `if the server is yours and this is expected, raise ${limit} in config.json`,
    });
  }
}

/** The mailbox run (or one request with its retries) reached its time limit. */
export class DeadlineExceededError extends SyncCliError {
  constructor(
    readonly url: string,
    readonly limit: 'limits.mailboxRunSeconds' | 'limits.requestSeconds',
    readonly seconds: number,
  ) {
    const at = /^(https?|file):/.test(url) ? displayUrl(url) : url;
    const what = limit === 'limits.mailboxRunSeconds' ? `the sync of this mailbox (at ${at})` : `the request to ${displayUrl(url)}`;
    super(`${what} could not finish within its time limit of ${seconds} s (${limit}); what was written so far is kept`, {
      remedy: `the next sync continues where this one stopped; if the server is just slow, raise ${limit} in config.json`,
    });
  }
}

/**
 * The server named an address outside what the password may be sent to (docs/credentials.md):
 * nothing was sent there.
 */
export class CredentialScopeError extends SyncCliError {
  constructor(
    readonly url: string,
    readonly configured: string,
    readonly reason: 'scheme' | 'plain-http' | 'other-origin',
  ) {
    const target = displayUrl(url);
    const origin = (() => {
      try {
        return new URL(url).origin;
      } catch {
        return target;
      }
    })();
    const message =
      reason === 'plain-http'
        ? `the server named ${target}, a plain-http address, for a mailbox configured as https (${displayUrl(configured)}); refused, nothing was sent there`
        : reason === 'scheme'
          ? `the server named ${target}, which is not an http(s) address; refused, nothing was sent there`
          : `the server named ${target}, on another server than the configured ${displayUrl(configured)}; sync-cli sends the password and contact data only to the configured server, so nothing was sent there`;
    super(message, {
      exitCode: 2,
      remedy:
        reason === 'other-origin'
          ? `if ${origin} belongs to your mailbox provider (iCloud, for example, names pNN-contacts.icloud.com), confirm it: sync-cli users assign USER --url … --username … --password-stdin --trust-origin ${origin}`
          : 'ask the server admin to fix the server\'s https configuration; sync-cli never sends the password over plain http for an https mailbox',
    });
  }
}
