// The sync-collection REPORT (RFC 6578) without tsdav: the request body is a fixed text and the
// answer is read by a streaming parser (sax) straight into what the delta needs — hrefs, their
// status and etag, the new token. It is the request every no-change sync sends once per
// collection, and tsdav's path (an object tree built and serialised by xml-js, a WHATWG Response
// per answer, the answer parsed into a tree with its keys camel-cased) cost more CPU than the
// request itself (D98). The token probe (a PROPFIND of DAV:sync-token on the collections' parent,
// D100) is read by the same parser. Everything else (other PROPFINDs, multiget, MKCOL) stays on
// tsdav.
//
// Element names are matched by their local name, whatever the namespace, as tsdav did: a server
// that puts DAV: elements in another namespace keeps working. Texts are trimmed, not converted
// (tsdav turned a numeric token "0012" into 12).
import sax from 'sax';

/** The REPORT body for `token` ('' for the first, full listing). */
export function syncCollectionBody(token: string): string {
  // The same document tsdav sent (order, namespaces), so no server sees a different request.
  return (
    '<?xml version="1.0" encoding="utf-8"?>\n' +
    '<d:sync-collection xmlns:c="urn:ietf:params:xml:ns:caldav" xmlns:card="urn:ietf:params:xml:ns:carddav" xmlns:d="DAV:">' +
    '<d:sync-level>1</d:sync-level>' +
    (token ? `<d:sync-token>${escapeXml(token)}</d:sync-token>` : '<d:sync-token/>') +
    '<d:prop><d:getetag/></d:prop>' +
    '</d:sync-collection>'
  );
}

function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!);
}

/**
 * The PROPFIND body that asks only for DAV:sync-token (RFC 6578 §4): sent Depth 1 to the parent
 * of a mailbox's collections, it returns each child collection's current token (D100).
 */
export function syncTokenPropfindBody(): string {
  return '<?xml version="1.0" encoding="utf-8"?>\n<d:propfind xmlns:d="DAV:"><d:prop><d:sync-token/></d:prop></d:propfind>';
}

export interface SyncResponse {
  /** Every href of the response (RFC 4918 allows several with one status). */
  hrefs: string[];
  /** The response's own status line, else the HTTP status. */
  status: number;
  ok: boolean;
  /** getetag of the response's 2xx propstats (or of a propstat without a status). */
  etag?: string;
  /** The DAV:sync-token property of a 2xx propstat: a collection listed by a PROPFIND (D100). */
  syncToken?: string;
}

export interface SyncAnswer {
  syncToken?: string;
  responses: SyncResponse[];
}

const STATUS_LINE = /^\S+\s+(\d{3})(?:\s|$)/;

function statusOf(line: string | undefined): number | undefined {
  const m = STATUS_LINE.exec(line ?? '');
  return m ? Number(m[1]) : undefined;
}

/**
 * A multistatus answer read into hrefs, statuses and etags; undefined when the text is not
 * well-formed XML or its root is not a multistatus (the caller then looks at the HTTP answer).
 */
export function parseSyncMultistatus(xml: string, httpStatus: number): SyncAnswer | undefined {
  const parser = sax.parser(true, { trim: false, normalize: false, position: false });
  const answer: SyncAnswer = { responses: [] };
  // The path of local names from the root; text collects inside the current leaf.
  const path: string[] = [];
  let text = '';
  let isMultistatus = false;
  let failed = false;
  // The response being read, and the propstat inside it.
  let hrefs: string[] = [];
  let responseStatus: string | undefined;
  let propstatStatus: string | undefined;
  let propstatEtag: string | undefined;
  let propstatToken: string | undefined;
  let etag: string | undefined;
  let token: string | undefined;
  const local = (name: string) => name.slice(name.indexOf(':') + 1);
  parser.onerror = () => {
    failed = true;
  };
  parser.onopentag = (node) => {
    const name = local(node.name);
    if (path.length === 0) isMultistatus = name === 'multistatus';
    path.push(name);
    text = '';
    if (name === 'response' && path.length === 2) {
      hrefs = [];
      responseStatus = undefined;
      etag = undefined;
      token = undefined;
    } else if (name === 'propstat' && path.length === 3) {
      propstatStatus = undefined;
      propstatEtag = undefined;
      propstatToken = undefined;
    }
  };
  parser.ontext = (t) => {
    text += t;
  };
  parser.oncdata = (t) => {
    text += t;
  };
  parser.onclosetag = () => {
    const name = path.pop()!;
    const depth = path.length; // of the closed element's parent
    const parent = path[depth - 1];
    if (depth === 1 && name === 'sync-token') answer.syncToken = text.trim();
    else if (depth === 2 && parent === 'response' && name === 'href') hrefs.push(text.trim());
    else if (depth === 2 && parent === 'response' && name === 'status') responseStatus = text.trim();
    else if (depth === 3 && parent === 'propstat' && name === 'status') propstatStatus = text.trim();
    else if (depth === 4 && parent === 'prop' && name === 'getetag') propstatEtag = text.trim();
    else if (depth === 4 && parent === 'prop' && name === 'sync-token') propstatToken = text.trim();
    else if (depth === 2 && name === 'propstat') {
      const s = statusOf(propstatStatus);
      const ok = s === undefined || (s >= 200 && s < 300);
      if (propstatEtag !== undefined && ok) etag = propstatEtag;
      if (propstatToken && ok) token = propstatToken;
    } else if (depth === 1 && name === 'response') {
      const status = statusOf(responseStatus) ?? httpStatus;
      answer.responses.push({ hrefs, status, ok: status >= 200 && status < 300, ...(etag !== undefined ? { etag } : {}), ...(token !== undefined ? { syncToken: token } : {}) });
    }
    text = '';
  };
  try {
    parser.write(xml).close();
  } catch {
    return undefined;
  }
  return failed || !isMultistatus ? undefined : answer;
}
