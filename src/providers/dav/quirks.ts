// Server-specific answers the DAV provider must understand, measured on real servers in the test
// suite (docs/servers.md): kept out of provider.ts so that file stays about the protocol.
import { canonicalHref } from './href.js';

/** What a mailbox server does with preconditions and names, as probed or recognised. */
export interface ServerQuirks {
  /** A second PUT with `If-None-Match: *` overwrites instead of answering 412 (SOGo 5.8). */
  ignoresIfNoneMatch: boolean;
  /** A DELETE with a stale `If-Match` deletes instead of answering 412 (SOGo 5.8). */
  ignoresIfMatchOnDelete: boolean;
  /**
   * The DAV:sync-token property of a collection is not the token its sync-collection REPORT
   * returns (SOGo 5.8: "-1"), so the one-PROPFIND token probe (D100) proves nothing here. Learned
   * by a sync, not probed; absent means not seen.
   */
  tokenProbeUseless?: boolean;
}

export const NO_QUIRKS: ServerQuirks = { ignoresIfNoneMatch: false, ignoresIfMatchOnDelete: false };

/**
 * A PUT refused because another item has the same UID, and the other item's href when the server
 * names it:
 * - RFC 4791/6352 `no-uid-conflict` (Radicale: 409, with the href inside on some servers);
 * - Cyrus 3.6: 403 `<C:unique-scheduling-object-resource><D:href>…</D:href>` — user-wide, the other
 *   item may be in another calendar of the same user;
 * - SOGo 5.8: 409 `<D:error xmlns:D="DAV">Event UID already in use. (UID)</D:error>` (no href).
 */
export function uidConflict(status: number, body: string, base: string): { existingHref?: string } | undefined {
  if (status !== 403 && status !== 409) return undefined;
  const element = /<(?:[\w-]+:)?(no-uid-conflict|unique-scheduling-object-resource)\b[^>]*>([\s\S]*?)<\/(?:[\w-]+:)?\1>|<(?:[\w-]+:)?(no-uid-conflict|unique-scheduling-object-resource)\b[^>]*\/>/.exec(body);
  if (element) {
    const href = /<(?:[\w-]+:)?href>\s*([^<\s]+)\s*<\/(?:[\w-]+:)?href>/.exec(element[2] ?? '')?.[1];
    if (!href) return {};
    try {
      return { existingHref: canonicalHref(decodeXmlEntities(href), base) };
    } catch {
      return {};
    }
  }
  if (status === 409 && /UID already in use/i.test(body)) return {};
  return undefined;
}

function decodeXmlEntities(s: string): string {
  return s.replace(/&amp;/g, '&').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&apos;/g, "'");
}

/** A page where a DAV answer was expected (bare sogod answers PROPFIND on `/` with its login page). */
export function looksLikeHtml(contentType: string | null, body: string): boolean {
  return /text\/html|application\/xhtml/i.test(contentType ?? '') || /^\s*(<\?xml[^>]*>\s*)?<(!doctype html|html)\b/i.test(body);
}

/**
 * DAV roots of common servers, tried after the URL itself and /.well-known when a user typed only
 * the host: SOGo, Nextcloud/ownCloud (SabreDAV), Baïkal, DAViCal, Cyrus (and Fastmail).
 */
export const KNOWN_DAV_ROOTS = ['/SOGo/dav/', '/remote.php/dav/', '/dav.php/', '/caldav.php/', '/dav/'];

/**
 * A sync token that is a time in whole seconds (SOGo: Unix seconds, and a REPORT with it returns
 * its own second again). A change later in the same second leaves such a token as it was, so an
 * unchanged token proves nothing: the token probe (D100) never skips the REPORT for it.
 */
export function isSecondsToken(token: string): boolean {
  return /^\d{9,11}$/.test(token.trim());
}

/** ETags that are per-item version counters (SOGo: `"gcs00000000"` for every new item). */
export function isCounterEtag(etag: string): boolean {
  return /^(W\/)?"?gcs\d+"?$/.test(etag);
}

/** What `doctor` and `users assign` report about a mailbox server (measured, not assumed). */
export interface ServerDiagnosis extends ServerQuirks {
  /** Server name/version where it tells (Server header, X-DAViCal-Version). */
  server?: string;
  /** 207 to an unknown sync token instead of a refusal (DAViCal, SOGo): a lost token hides deletions. */
  acceptsUnknownToken?: boolean;
}

/** One finding per lowered guarantee, with what to do: for doctor's warnings and `users assign`. */
export function diagnosisFindings(d: ServerDiagnosis, fullEveryHours: number): Array<{ id: string; detail: string; fix: string }> {
  const out: Array<{ id: string; detail: string; fix: string }> = [];
  if (d.ignoresIfNoneMatch || d.ignoresIfMatchOnDelete) {
    const what = [d.ignoresIfNoneMatch ? 'If-None-Match: * on create' : '', d.ignoresIfMatchOnDelete ? 'If-Match on DELETE' : ''].filter(Boolean).join(' and ');
    out.push({
      id: 'conditional',
      detail: `the server ignores ${what}; sync-cli checks the item itself right before each such write, so only a change made in that same moment can be lost (R20)`,
      fix: 'Nothing to do for most setups; keep phones from editing while a sync runs for a strict guarantee, or ask the server admin for an update.',
    });
  }
  if (d.acceptsUnknownToken) {
    out.push({
      id: 'synctoken.refusal',
      detail: `the server accepts an unknown sync token (207 instead of a refusal): after a server restore, deletions made on the device can go unseen until the next full comparison (every ${fullEveryHours || 'never'} h, sync.fullEveryHours)`,
      fix: fullEveryHours > 0 && fullEveryHours <= 24 ? 'Nothing to do; run `sync-cli run --once --full` after restoring the server.' : 'Set sync.fullEveryHours to 24 or less, and run `sync-cli run --once --full` after restoring the server.',
    });
  }
  return out;
}

/**
 * What was wrong with an answer that should have been a WebDAV multistatus, in words a user can
 * act on (undefined: an ordinary HTTP error, mapped by status). The answer text is never quoted
 * at length (a 5 MB error page stays out of the message).
 */
export function notMultistatus(status: number, contentType: string | null, body: string, location: string | null): string | undefined {
  if (status >= 300 && status < 400 && location) return `still redirected after 5 redirects (to ${location.slice(0, 200)}): a redirect loop`;
  if (status >= 200 && status < 300) {
    if (looksLikeHtml(contentType, body.slice(0, 2000))) return 'an HTML page, not a WebDAV answer: this is not the DAV address';
    return `no readable WebDAV multistatus (${body.trim() === '' ? 'empty answer' : 'malformed XML'})`;
  }
  return undefined;
}
