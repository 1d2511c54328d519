// Hrefs as the engine stores them: absolute URLs with one canonical percent-encoding, so that
// the same item reads the same whether the server sent it relative (iCloud), absolute, with
// %C3%A4 or %c3%a4 or a raw 'ä'. Item names come from UIDs and must be safe as one path segment.
import { createHash } from 'node:crypto';

// Characters RFC 3986 allows unencoded in a path segment besides unreserved ones.
const SEGMENT_SAFE = /%(21|24|26|27|28|29|2A|2B|2C|3B|3D|3A|40)/gi;

function canonicalSegment(segment: string): string {
  let decoded: string;
  try {
    decoded = decodeURIComponent(segment);
  } catch {
    return segment; // not valid percent-encoding: keep it as the server sent it
  }
  return encodeURIComponent(decoded).replace(SEGMENT_SAFE, (m) => decodeURIComponent(m));
}

/** Absolute, canonically encoded URL for an href resolved against a base URL. */
export function canonicalHref(href: string, base: string): string {
  const u = new URL(href.trim(), base);
  const path = u.pathname.split('/').map(canonicalSegment).join('/');
  return `${u.origin}${path}${u.search}`;
}

// Canonical forms of collection URLs already seen (bounded: a daemon serves many mailboxes).
const canonicalBases = new Map<string, string | null>();
const CANONICAL_BASES_MAX = 4096;

/**
 * `canonicalHref(encodeURIComponent(name), collectionUrl)` for a file name in a collection,
 * without parsing the collection's URL again for every item of a first upload: the collection's
 * canonical form is kept, and one encoded segment appended. A collection URL with a query or a
 * fragment takes the general path.
 */
export function childHref(collectionUrl: string, name: string): string {
  const base = withTrailingSlash(collectionUrl);
  let canonical = canonicalBases.get(base);
  if (canonical === undefined) {
    const c = canonicalHref(base, base);
    canonical = c.includes('?') || c.includes('#') || !c.endsWith('/') ? null : c;
    if (canonicalBases.size >= CANONICAL_BASES_MAX) canonicalBases.clear();
    canonicalBases.set(base, canonical);
  }
  const segment = encodeURIComponent(name);
  return canonical === null || segment === '.' || segment === '..' ? canonicalHref(segment, base) : `${canonical}${canonicalSegment(segment)}`;
}

/** The href as sent in a DAV request body (absolute path). */
export function hrefPath(url: string): string {
  const u = new URL(url);
  return `${u.pathname}${u.search}`;
}

export function withTrailingSlash(url: string): string {
  return url.endsWith('/') ? url : `${url}/`;
}

/** Same resource, ignoring a trailing slash. */
export function sameUrl(a: string, b: string): boolean {
  return withTrailingSlash(a) === withTrailingSlash(b);
}

const SAFE_NAME = /^[\p{L}\p{N}][\p{L}\p{N}._@+-]{0,150}$/u;

/**
 * A file name safe as one path segment on every server: kept when it is letters, digits and
 * `._@+-` (unicode letters included); otherwise the stem is replaced by a hash, keeping the
 * extension, so that UIDs with '/', spaces or control characters still get a stable name.
 */
export function safeFileName(name: string): string {
  const normalized = name.normalize('NFC');
  if (SAFE_NAME.test(normalized) && !normalized.includes('..')) return normalized;
  const ext = /\.(vcf|ics)$/i.exec(normalized)?.[0] ?? '';
  const stem = ext ? normalized.slice(0, -ext.length) : normalized;
  return `${createHash('sha256').update(stem, 'utf8').digest('hex').slice(0, 32)}${ext.toLowerCase()}`;
}
