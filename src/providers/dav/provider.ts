// CardDAV/CalDAV mailbox. tsdav builds the XML request bodies and parses multistatus answers
// (davRequest, propfind, makeCollection, makeCalendar; the sync-collection REPORT is ours, see
// sync-report.ts); every byte goes through
// our DavTransport (passed to tsdav as its `fetch`), and the decisions tsdav gets wrong for us
// are made here: no href-extension filter (smartCollectionSync loses items), per-item 404s in
// multiget, no write without a precondition, invalid sync tokens → full listing.
import type { DAVResponse } from 'tsdav';
import type { ElementCompact } from 'xml-js';
import { ConfigError } from '../../errors.js';
import { sameOrigin } from './credential-scope.js';
import { DavProtocolError, displayUrl, ItemRejectedError, LimitExceededError, NetworkError, MissingEtagError, NotFoundError, PreconditionFailedError, ServerError, shorten, UidConflictError } from './errors.js';
import { canonicalHref, childHref, hrefPath, safeFileName, sameUrl, withTrailingSlash } from './href.js';
import { isCounterEtag, isSecondsToken, KNOWN_DAV_ROOTS, NO_QUIRKS, notMultistatus, uidConflict, type ServerDiagnosis, type ServerQuirks } from './quirks.js';
import { parseSyncMultistatus, syncCollectionBody, syncTokenPropfindBody } from './sync-report.js';
import { DavTransport, errorForStatus, expectOk, type HttpResult, type RequestOptions } from './transport.js';
import type {
  CollectionDelta,
  CollectionKind,
  CollectionRef,
  DavItem,
  FetchResult,
  ItemRef,
  MailboxAccount,
  MailboxProvider,
  ProbeResult,
  TransportOptions,
} from './types.js';
import { DEFAULT_LIMITS } from './types.js';

/** Hrefs per multiget REPORT: big enough to be cheap, small enough for 1 MB items. */
export const MULTIGET_BATCH = 50;
/** Upper bound of sync-collection pages followed in one delta (a server looping its token). */
const MAX_SYNC_PAGES = 1000;

const importTsdav = () => import('tsdav');
type Tsdav = Awaited<ReturnType<typeof importTsdav>>;
type TsdavFetch = NonNullable<Parameters<Tsdav['davRequest']>[0]['fetch']>;

/**
 * tsdav (and xml-js under it) is loaded on first use: a no-change sync sends only its own
 * sync-collection REPORTs (sync-report.ts) and never needs it, so `run --once` does not pay for
 * loading it (D98).
 */
let tsdavModule: Promise<Tsdav> | undefined;
const loadTsdav = (): Promise<Tsdav> => (tsdavModule ??= importTsdav());

interface Discovery {
  principal: string;
  addressbookHome: string;
  calendarHome: string;
}

interface CollectionProps {
  url: string;
  displayName: string;
  isAddressbook: boolean;
  isCalendar: boolean;
  components: string[] | undefined;
  supportsSyncToken: boolean;
  ctag: string | undefined;
}

const NULL_BODY_STATUSES = new Set([204, 205, 304]);

function asArray<T>(v: T | T[] | undefined | null): T[] {
  if (v === undefined || v === null) return [];
  return Array.isArray(v) ? v : [v];
}

/** Text of a parsed XML value (tsdav turns numeric text into numbers and may wrap in _cdata/_text). */
function text(v: unknown): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (typeof v === 'object') {
    const o = v as { _cdata?: unknown; _text?: unknown };
    if (o._cdata !== undefined) return asArray(o._cdata).map(String).join('');
    if (o._text !== undefined) return asArray(o._text).map(String).join('');
    if (Object.keys(o).length === 0) return '';
  }
  return undefined;
}

/** tsdav's XML parser trims text: put back the final line break a vCard/iCalendar ends with. */
function restoreFinalNewline(data: string): string {
  if (data === '' || data.endsWith('\n')) return data;
  return data + (data.includes('\r\n') ? '\r\n' : '\n');
}

const COMPONENT: Record<Exclude<CollectionKind, 'contacts'>, string> = { appointments: 'VEVENT', tasks: 'VTODO' };

const COLLECTION_PROPS: ElementCompact = {
  'd:displayname': {},
  'd:resourcetype': {},
  'd:supported-report-set': {},
  'd:sync-token': {},
  'cs:getctag': {},
  'c:supported-calendar-component-set': {},
};

/** Closing tags of hrefs in a multistatus, counted on the raw text before anything is parsed. */
const HREF_CLOSE = /<\/(?:[A-Za-z_][\w.-]*:)?href\s*>/g;

function countHrefs(xml: string): number {
  let n = 0;
  HREF_CLOSE.lastIndex = 0;
  while (HREF_CLOSE.exec(xml)) n++;
  return n;
}

/** The collection's parent ('https://h/u/contacts/' → 'https://h/u/'); the URL itself at the root. */
function parentOf(url: string): string {
  return new URL('../', url).href;
}

/** Longest per-item error message kept (a hostile server's page is not stored whole). */
const MAX_ITEM_MESSAGE = 500;

export class DavMailbox implements MailboxProvider {
  private readonly transport: DavTransport;
  private discovery: Discovery | undefined;
  /** Probed at provisioning (or given from the state store): preconditions the server ignores. */
  private quirks: ServerQuirks | undefined;
  /** D100: this server's DAV:sync-token property is not its REPORT's token (learned, or remembered). */
  private tokenProbeUseless = false;

  private readonly account: MailboxAccount;
  private readonly maxHrefs: number;
  private readonly maxItems: number;

  constructor(account: MailboxAccount, opts: TransportOptions) {
    this.maxHrefs = opts.maxHrefsPerListing ?? DEFAULT_LIMITS.maxHrefsPerListing;
    this.maxItems = opts.maxItems ?? DEFAULT_LIMITS.maxItemsPerMailbox;
    let url: URL;
    try {
      url = new URL(account.url);
    } catch {
      throw new ConfigError(`the mailbox URL ${displayUrl(account.url)} is not a valid URL`, [], 'use a full URL such as https://dav.example.com/');
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      throw new ConfigError(`the mailbox URL ${displayUrl(account.url)} must start with https:// or http://`);
    }
    // Credentials travel only in the Authorization header (R25), never in the URL.
    url.username = '';
    url.password = '';
    this.account = { ...account, url: url.href };
    this.transport = new DavTransport(this.account, opts);
  }

  // --- plumbing -------------------------------------------------------------------------

  /** A fetch for tsdav that goes through our transport. Non-2xx answers come back as answers. */
  private tsdavFetch(options: Pick<RequestOptions, 'retryServerErrors'> = {}, seen?: { last?: HttpResult }): TsdavFetch {
    return (async (input: string | URL | Request, init?: RequestInit) => {
      const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
      const headers: Record<string, string> = {};
      new Headers(init?.headers).forEach((value, key) => {
        headers[key] = value;
      });
      const body = typeof init?.body === 'string' ? init.body : init?.body == null ? undefined : String(init.body);
      const method = init?.method ?? 'GET';
      const result = this.screened(method, url, await this.transport.request(method, url, { headers, body, ...options }));
      if (seen) seen.last = result;
      return new Response(NULL_BODY_STATUSES.has(result.status) ? null : result.text, {
        status: result.status,
        statusText: result.statusText,
        headers: result.headers.toRecord(),
      });
    }) as TsdavFetch;
  }

  /** What every answer passes before a parser sees it. */
  private screened(method: string, url: string, result: HttpResult): HttpResult {
    // DAV answers never carry a DTD: entity declarations (a "billion laughs" bomb) are refused
    // before any parser sees them.
    if (/<!(DOCTYPE|ENTITY)/i.test(result.text) && /xml/i.test(result.headers.get('content-type') ?? 'xml')) {
      throw new DavProtocolError(`the answer to ${method} ${displayUrl(url)} declares a DTD or entities, which no CardDAV/CalDAV answer needs; refused`, 'ask the server admin; if a proxy rewrites answers, bypass it');
    }
    // A listing is parsed into objects only when its size is sane (the XML tree costs many
    // times the text): counted on the raw answer first.
    if ((method === 'PROPFIND' || method === 'REPORT') && result.text.length > 64 * 1024) {
      const hrefs = countHrefs(result.text);
      if (hrefs > this.maxHrefs) throw new LimitExceededError(url, 'limits.maxHrefsPerListing', this.maxHrefs, `the ${method} answer lists ${hrefs} hrefs`);
    }
    return result;
  }

  /** A multistatus parsed by tsdav, or the HTTP answer when the server did not send one. */
  private static isMultistatus(responses: DAVResponse[]): boolean {
    const first = responses[0];
    return first !== undefined && typeof first.raw === 'object' && first.raw !== null && 'multistatus' in first.raw;
  }

  private async propfind(url: string, props: ElementCompact, depth: '0' | '1'): Promise<{ responses: DAVResponse[]; http: HttpResult }> {
    const seen: { last?: HttpResult } = {};
    const { propfind } = await loadTsdav();
    const responses = await propfind({ url, props, depth, fetch: this.tsdavFetch({}, seen) });
    const http = seen.last!;
    if (!DavMailbox.isMultistatus(responses)) {
      const why = notMultistatus(http.status, http.headers.get('content-type'), http.text, http.headers.get('location'));
      throw why ? new ServerError(url, http.status, 'PROPFIND', why) : errorForStatus('PROPFIND', url, http);
    }
    return { responses, http };
  }

  private collectionProps(r: DAVResponse, base: string): CollectionProps {
    const props = (r.props ?? {}) as Record<string, unknown>;
    const resourcetype = Object.keys((props.resourcetype as object | undefined) ?? {});
    const reports = asArray((props.supportedReportSet as { supportedReport?: unknown } | undefined)?.supportedReport).flatMap((sr) =>
      Object.keys(((sr as { report?: object } | undefined)?.report as object | undefined) ?? {}),
    );
    const compSet = props.supportedCalendarComponentSet as { comp?: unknown } | undefined;
    const components = compSet
      ? asArray(compSet.comp)
          .map((c) => (c as { _attributes?: { name?: string } })._attributes?.name?.toUpperCase())
          .filter((n): n is string => Boolean(n))
      : undefined;
    return {
      url: withTrailingSlash(canonicalHref(String(asArray(r.href)[0] ?? ''), base)),
      displayName: text(props.displayname) ?? '',
      isAddressbook: resourcetype.includes('addressbook'),
      isCalendar: resourcetype.includes('calendar'),
      components: components && components.length > 0 ? components : undefined,
      supportsSyncToken: reports.includes('syncCollection') || text(props.syncToken) !== undefined,
      ctag: text(props.getctag),
    };
  }

  // --- discovery --------------------------------------------------------------------------

  private async findPrincipal(): Promise<string> {
    const origin = new URL(this.account.url).origin;
    // The URL itself, RFC 6764's well-known paths, then the DAV roots of common servers (bare
    // sogod answers PROPFIND on / and /.well-known with its HTML login page).
    const candidates = [
      ...new Set([this.account.url, `${origin}/.well-known/carddav`, `${origin}/.well-known/caldav`, ...KNOWN_DAV_ROOTS.map((p) => origin + p)]),
    ];
    let lastError: unknown;
    const answers = new Map<string, number>();
    for (const url of candidates) {
      try {
        const { responses, http } = await this.propfind(url, { 'd:current-user-principal': {} }, '0');
        for (const r of responses) {
          const href = text((r.props?.currentUserPrincipal as { href?: unknown } | undefined)?.href);
          if (href) return withTrailingSlash(canonicalHref(href, http.url || url));
        }
        const what = `HTTP ${http.status} without a current-user-principal (unreadable or incomplete XML, or no DAV login)`;
        answers.set(what, (answers.get(what) ?? 0) + 1);
      } catch (err) {
        // 404/405 on one candidate is normal (no well-known redirect); auth and network are not.
        if (!(err instanceof NotFoundError) && !(err instanceof ServerError) && !(err instanceof ItemRejectedError)) throw err;
        lastError = err;
        const what = err instanceof NotFoundError ? 'HTTP 404' : err.message.replace(/^PROPFIND \S+ failed with |^PROPFIND \S+ was refused by the server /, '').slice(0, 160);
        answers.set(what, (answers.get(what) ?? 0) + 1);
      }
    }
    throw new DavProtocolError(
      `no CardDAV/CalDAV principal found at ${origin}: expected a WebDAV multistatus naming the current-user-principal (tried ${candidates
        .map((c) => (c === this.account.url ? displayUrl(c) : new URL(c).pathname))
        .join(', ')}; answers: ${[...answers].map(([what, n]) => (n > 1 ? `${what} ×${n}` : what)).join('; ')})`,
      `set the mailbox URL to the server's DAV root or principal URL${lastError instanceof Error ? ` (last answer: ${lastError.message})` : ''}`,
    );
  }

  private async discover(): Promise<Discovery> {
    if (this.discovery) return this.discovery;
    const principal = await this.findPrincipal();
    const { responses } = await this.propfind(principal, { 'card:addressbook-home-set': {}, 'c:calendar-home-set': {} }, '0');
    const props = (responses.find((r) => r.ok)?.props ?? {}) as Record<string, unknown>;
    const home = (v: unknown) => {
      const href = text(asArray((v as { href?: unknown } | undefined)?.href)[0]);
      return href ? withTrailingSlash(canonicalHref(href, principal)) : undefined;
    };
    const addressbookHome = home(props.addressbookHomeSet);
    const calendarHome = home(props.calendarHomeSet);
    if (!addressbookHome || !calendarHome) {
      throw new DavProtocolError(
        `the principal ${principal} has no ${!addressbookHome ? 'addressbook-home-set (CardDAV)' : 'calendar-home-set (CalDAV)'}`,
        'the mailbox server must offer both CardDAV and CalDAV for this account',
      );
    }
    this.discovery = { principal, addressbookHome, calendarHome };
    return this.discovery;
  }

  private fits(kind: CollectionKind, c: CollectionProps): boolean {
    if (kind === 'contacts') return c.isAddressbook;
    return c.isCalendar && (c.components === undefined || c.components.includes(COMPONENT[kind]));
  }

  private toRef(kind: CollectionKind, c: CollectionProps): CollectionRef {
    return { kind, url: c.url, displayName: c.displayName, supportsSyncToken: c.supportsSyncToken };
  }

  private async createCollection(kind: CollectionKind, name: string, home: string): Promise<CollectionRef> {
    const url = `${home}sync-cli-${kind}-${crypto.randomUUID().slice(0, 8)}/`;
    await this.makeCollection(kind, name, url);
    let created = await this.readCollection(kind, url);
    if (created.displayName !== name) {
      // SOGo 5.8 ignores displayname in extended MKCOL, and after a PROPPATCH its listings of the
      // home may still leave the collection out (measured: a new session does not list it). So
      // such a collection is made again at a URL derived from the name, named by PROPPATCH and
      // verified; a lost state finds it again at that URL (provision looks there, D42).
      await this.transport.request('DELETE', url); // empty and ours; a failure leaves a spare
      const named = this.namedCollectionUrl(kind, name, home);
      await this.makeCollection(kind, name, named);
      await this.setDisplayName(named, name);
      created = await this.readCollection(kind, named);
      if (created.displayName !== name) {
        throw new DavProtocolError(
          `the server did not keep the name "${name}" of the new ${kind} collection ${named} (it shows "${created.displayName}")`,
          `rename it to "${name}" in the server's web interface, or set mailboxes[].collections.${kind} to ${named}`,
        );
      }
    }
    return created;
  }

  private async makeCollection(kind: CollectionKind, name: string, url: string): Promise<void> {
    const seen: { last?: HttpResult } = {};
    const { DAVNamespace, davRequest, getDAVAttribute, makeCalendar } = await loadTsdav();
    if (kind === 'contacts') {
      // Extended MKCOL (RFC 5689) sets the type and the name in one request.
      // (tsdav's makeCollection does this but is not exported by its package entry.)
      await davRequest({
        url,
        init: {
          method: 'MKCOL',
          namespace: 'd',
          body: {
            mkcol: {
              _attributes: getDAVAttribute([DAVNamespace.DAV, DAVNamespace.CARDDAV]),
              set: { prop: { 'd:resourcetype': { 'd:collection': {}, 'card:addressbook': {} }, 'd:displayname': name } },
            },
          },
        },
        fetch: this.tsdavFetch({}, seen),
      });
    } else {
      await makeCalendar({
        url,
        props: { 'd:displayname': name, 'c:supported-calendar-component-set': { 'c:comp': { _attributes: { name: COMPONENT[kind] } } } },
        fetch: this.tsdavFetch({}, seen),
      });
    }
    const http = seen.last!;
    if (http.status !== 201 && http.status !== 200) {
      throw new DavProtocolError(
        `cannot create the ${kind} collection "${name}" at ${url}: HTTP ${http.status}`,
        'create it by hand with that display name, or give the account the right to create collections',
      );
    }
  }

  /** Where a collection named `name` lives on a server that ignores displayname at creation. */
  private namedCollectionUrl(kind: CollectionKind, name: string, home: string): string {
    const slug = name.normalize('NFKD').replace(/[\u0300-\u036f]/g, '').replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^-+|-+$/g, '').toLowerCase();
    return `${home}sync-cli-${kind}-${slug || 'collection'}/`;
  }

  /** A collection made by namedCollectionUrl (SOGo), found by URL when listings leave it out. */
  private async findNamed(kind: CollectionKind, name: string, home: string): Promise<CollectionProps | undefined> {
    const url = this.namedCollectionUrl(kind, name, home);
    try {
      const { responses } = await this.propfind(url, COLLECTION_PROPS, '0');
      const r = responses.find((x) => x.ok);
      const c = r && { ...this.collectionProps(r, url), url };
      return c && c.displayName === name && this.fits(kind, c) ? c : undefined;
    } catch (err) {
      if (err instanceof NotFoundError || err instanceof ItemRejectedError || err instanceof ServerError) return undefined;
      throw err;
    }
  }

  private async readCollection(kind: CollectionKind, url: string): Promise<CollectionRef> {
    const { responses } = await this.propfind(url, COLLECTION_PROPS, '0');
    const r = responses.find((x) => x.ok);
    if (!r) throw new DavProtocolError(`the new ${kind} collection ${url} cannot be read back`);
    return this.toRef(kind, { ...this.collectionProps(r, url), url });
  }

  private async setDisplayName(url: string, name: string): Promise<void> {
    const esc = name.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
    const body = `<?xml version="1.0" encoding="utf-8"?><d:propertyupdate xmlns:d="DAV:"><d:set><d:prop><d:displayname>${esc}</d:displayname></d:prop></d:set></d:propertyupdate>`;
    const res = await this.transport.request('PROPPATCH', url, { body, headers: { 'Content-Type': 'application/xml; charset=utf-8' } });
    expectOk('PROPPATCH', url, res);
  }

  async provision(names: Record<CollectionKind, string>, known: Partial<Record<CollectionKind, string>> = {}): Promise<Record<CollectionKind, CollectionRef>> {
    const d = await this.discover();
    const out: Partial<Record<CollectionKind, CollectionRef>> = {};
    const listings = new Map<string, CollectionProps[]>();
    const list = async (home: string) => {
      let found = listings.get(home);
      if (!found) {
        const { responses } = await this.propfind(home, COLLECTION_PROPS, '1');
        found = responses.filter((r) => r.ok && r.href).map((r) => this.collectionProps(r, home));
        listings.set(home, found);
      }
      return found;
    };
    for (const kind of ['contacts', 'appointments', 'tasks'] as const) {
      const knownUrl = known[kind];
      if (knownUrl) {
        try {
          const { responses } = await this.propfind(knownUrl, COLLECTION_PROPS, '0');
          const r = responses.find((x) => x.ok);
          const c = r && this.collectionProps(r, knownUrl);
          if (c && this.fits(kind, c)) {
            out[kind] = this.toRef(kind, { ...c, url: withTrailingSlash(canonicalHref(knownUrl, knownUrl)) });
            continue;
          }
        } catch (err) {
          if (!(err instanceof NotFoundError)) throw err; // deleted on the server: find or create again
        }
      }
      const home = kind === 'contacts' ? d.addressbookHome : d.calendarHome;
      const existing =
        (await list(home)).find((c) => c.displayName === names[kind] && this.fits(kind, c) && !sameUrl(c.url, home)) ?? (await this.findNamed(kind, names[kind], home));
      out[kind] = existing ? this.toRef(kind, existing) : await this.createCollection(kind, names[kind], home);
      if (!existing) listings.delete(home);
    }
    this.quirks ??= await this.probeConditionals(out.contacts!);
    return out as Record<CollectionKind, CollectionRef>;
  }

  // --- quirks (src/providers/dav/quirks.ts, docs/servers.md) ----------------------------------

  /** What the last probe found (undefined before provisioning). */
  serverQuirks(): ServerQuirks | undefined {
    return this.quirks && this.tokenProbeUseless ? { ...this.quirks, tokenProbeUseless: true } : this.quirks;
  }

  /** For doctor and `users assign`: preconditions, token refusal, server name (after provision). */
  async diagnose(collections: Record<CollectionKind, CollectionRef>): Promise<ServerDiagnosis> {
    const quirks = await this.probeServerQuirks(collections.contacts);
    const d = await this.discover();
    const options = await this.transport.request('OPTIONS', d.principal);
    const davical = options.headers.get('x-davical-version');
    const server = davical ? `DAViCal ${davical}` : (options.headers.get('server') ?? undefined);
    let acceptsUnknownToken: boolean | undefined;
    if (collections.tasks.supportsSyncToken) {
      acceptsUnknownToken = typeof (await this.syncReport(collections.tasks, 'http://sync-cli.invalid/doctor/unknown-token')) === 'object';
    }
    return { ...quirks, ...(server ? { server } : {}), ...(acceptsUnknownToken !== undefined ? { acceptsUnknownToken } : {}) };
  }

  async probeServerQuirks(collection: CollectionRef): Promise<ServerQuirks> {
    this.quirks ??= await this.probeConditionals(collection);
    return this.quirks;
  }

  /** Quirks remembered from an earlier probe of this mailbox: provisioning does not probe again. */
  useServerQuirks(quirks: ServerQuirks): void {
    this.quirks = { ...NO_QUIRKS, ...quirks };
    this.tokenProbeUseless = quirks.tokenProbeUseless === true;
  }

  /**
   * R20 needs the server to honour If-None-Match: * and If-Match. SOGo 5.8 ignores both on some
   * methods, so probe once on a scratch item: create it twice, then delete it with a stale ETag.
   */
  private async probeConditionals(collection: CollectionRef): Promise<ServerQuirks> {
    const url = canonicalHref(`sync-cli-probe-${crypto.randomUUID()}.vcf`, collection.url);
    const card = (n: string) => `BEGIN:VCARD\r\nVERSION:3.0\r\nUID:${url}\r\nFN:sync-cli probe ${n}\r\nN:probe;sync-cli;;;\r\nEND:VCARD\r\n`;
    const put = (n: string, headers: Record<string, string>) =>
      this.transport.request('PUT', url, { body: card(n), headers: { 'Content-Type': 'text/vcard; charset=utf-8', ...headers } });
    const first = await put('1', { 'If-None-Match': '*' });
    if (first.status < 200 || first.status >= 300) return { ...NO_QUIRKS }; // cannot probe: assume the standard
    const quirks = { ...NO_QUIRKS };
    const second = await put('2', { 'If-None-Match': '*' });
    quirks.ignoresIfNoneMatch = second.status >= 200 && second.status < 300;
    const stale = '"sync-cli-stale-etag"';
    const del = await this.transport.request('DELETE', url, { headers: { 'If-Match': stale } });
    quirks.ignoresIfMatchOnDelete = del.status >= 200 && del.status < 300;
    if (!quirks.ignoresIfMatchOnDelete) {
      const etag = first.headers.get('etag') ?? (await this.etagOf(url));
      const current = quirks.ignoresIfNoneMatch ? await this.etagOf(url) : etag;
      const res = await this.transport.request('DELETE', url, current ? { headers: { 'If-Match': current } } : {});
      if (res.status >= 300 && res.status !== 404) expectOk('DELETE', url, res);
    }
    return quirks;
  }

  /** Where the server ignores a precondition, check it ourselves right before the write (D41). */
  private async checkPrecondition(url: string, expected: string | null, method: string): Promise<void> {
    const current = await this.etagOf(url).catch((err: unknown) => {
      if (err instanceof NotFoundError) return null;
      throw err;
    });
    if (expected === null ? current !== null && current !== undefined : current !== expected) {
      if (expected !== null && (current === null || current === undefined)) return; // gone already: nothing to protect
      throw new PreconditionFailedError(url, method);
    }
  }

  // --- delta --------------------------------------------------------------------------------

  /**
   * An href of a listing as an absolute URL, or undefined when sync-cli will not request it:
   * unparsable, not http(s), or on another origin than its collection (docs/credentials.md).
   * Such hrefs are remembered in `refused` and become item errors.
   */
  private itemHref(raw: string, collection: CollectionRef, refused: Map<string, string>): string | undefined {
    let href: string;
    try {
      href = canonicalHref(raw, collection.url);
    } catch {
      refused.set(shorten(raw, 200), `the server listed an href that is not a URL: ${shorten(JSON.stringify(raw), 200)}`);
      return undefined;
    }
    if (!sameOrigin(href, collection.url)) {
      refused.set(href, `the server listed ${displayUrl(href)} in ${displayUrl(collection.url)}, outside the collection's server; sync-cli does not request it (no password, no data is sent there)`);
      return undefined;
    }
    return href;
  }

  /** One sync-collection run (following truncation). 'invalid' when the server refuses the token. */
  private async syncReport(collection: CollectionRef, token: string | null): Promise<CollectionDelta | 'invalid' | 'unsupported'> {
    const changed = new Map<string, string>();
    const deleted = new Set<string>();
    const refused = new Map<string, string>();
    let current = token;
    for (let page = 0; page < MAX_SYNC_PAGES; page++) {
      const http = this.screened(
        'REPORT',
        collection.url,
        await this.transport.request('REPORT', collection.url, {
          headers: { 'Content-Type': 'text/xml;charset=UTF-8' },
          body: syncCollectionBody(current ?? ''),
          // Xandikos answers 500 to an unknown token: that is an answer, not an outage, when we sent one.
          retryServerErrors: current === null,
        }),
      );
      const answer = http.status >= 200 && http.status < 300 && /xml/i.test(http.headers.get('content-type') ?? '') ? parseSyncMultistatus(http.text, http.status) : undefined;
      if (!answer) {
        if (http.status === 404 || http.status === 410) throw new NotFoundError(collection.url);
        // RFC 6578 says 403 + valid-sync-token; Radicale sends that, Xandikos 500, others 409/412/400.
        if (current !== null && [400, 403, 409, 410, 412, 422, 500, 507].includes(http.status)) return 'invalid';
        // A whole-request 507 (number-of-matches-within-limits: Nextcloud with a limit, Yandex on big
        // calendars) means the server will not list it this way: use PROPFIND instead.
        if (current === null && [400, 403, 405, 415, 501, 507].includes(http.status)) return 'unsupported';
        throw errorForStatus('REPORT', collection.url, http);
      }
      const nextToken = answer.syncToken || null;
      let truncated = false;
      for (const r of answer.responses) {
        for (const rawHref of r.hrefs) {
          const href = this.itemHref(rawHref, collection, refused);
          if (href === undefined) continue;
          if (sameUrl(href, collection.url)) {
            if (r.status === 507) truncated = true;
            continue;
          }
          if (r.status === 404 || r.status === 410) {
            changed.delete(href);
            if (token !== null) deleted.add(href);
          } else if (r.ok) {
            deleted.delete(href);
            changed.set(href, r.etag ?? '');
          }
        }
      }
      if (changed.size > this.maxItems) throw new LimitExceededError(collection.url, 'limits.maxItemsPerMailbox', this.maxItems, `the collection lists ${changed.size} items`);
      if (!truncated || nextToken === null || nextToken === current) {
        return {
          changed: [...changed].map(([href, etag]) => ({ href, etag })),
          deleted: [...deleted],
          full: token === null,
          token: nextToken,
          ...(refused.size ? { refused: [...refused].map(([href, message]) => ({ href, message })) } : {}),
        };
      }
      current = nextToken;
    }
    throw new DavProtocolError(`the server kept truncating the sync report of ${collection.url} (${MAX_SYNC_PAGES} pages)`);
  }

  /** For servers without sync-collection: ctag short-circuit, then a Depth 1 listing of etags. */
  private async listingDelta(collection: CollectionRef, token: string | null): Promise<CollectionDelta> {
    const { responses: self } = await this.propfind(collection.url, { 'cs:getctag': {}, 'd:sync-token': {} }, '0');
    const props = self.find((r) => r.ok)?.props ?? {};
    const ctag = text(props.getctag) ?? text(props.syncToken);
    const newToken = ctag ? `ctag:${ctag}` : null;
    if (newToken !== null && token === newToken) return { changed: [], deleted: [], full: false, token };
    const { responses } = await this.propfind(collection.url, { 'd:getetag': {}, 'd:resourcetype': {} }, '1');
    const changed: ItemRef[] = [];
    const refused = new Map<string, string>();
    for (const r of responses) {
      const href = this.itemHref(String(asArray(r.href)[0] ?? ''), collection, refused);
      if (href === undefined || !r.ok || sameUrl(href, collection.url)) continue;
      if (Object.keys((r.props?.resourcetype as object | undefined) ?? {}).includes('collection')) continue;
      changed.push({ href, etag: text(r.props?.getetag) ?? '' });
    }
    if (changed.length > this.maxItems) throw new LimitExceededError(collection.url, 'limits.maxItemsPerMailbox', this.maxItems, `the collection lists ${changed.length} items`);
    return { changed, deleted: [], full: true, token: newToken, ...(refused.size ? { refused: [...refused].map(([href, message]) => ({ href, message })) } : {}) };
  }

  async delta(collection: CollectionRef, token: string | null): Promise<CollectionDelta> {
    const delta = await this.plainDelta(collection, token);
    // A full listing is diffed by ETag; counters (SOGo) repeat after delete + re-create.
    if (delta.full && delta.changed.some((c) => isCounterEtag(c.etag))) delta.etagsUnreliable = true;
    return delta;
  }

  /**
   * D100: the deltas of a mailbox's collections. Where two or more of them with a stored token
   * share a parent (Radicale, Xandikos, DAViCal: the user's home), one PROPFIND Depth 1 of that
   * parent asks each one's current DAV:sync-token; a collection whose token has not moved needs
   * no REPORT. On Radicale that one request costs the server no more than the REPORTs it replaces
   * (less for small collections) and the client a third (bench/token-probe-cost.mjs). Anything
   * but a clean answer naming the collection with the same token means: ask by REPORT as before.
   */
  async deltas(requests: { collection: CollectionRef; token: string | null }[]): Promise<CollectionDelta[]> {
    const probed = await this.probeTokens(requests);
    const out: CollectionDelta[] = [];
    for (const { collection, token } of requests) {
      const current = probed.get(collection.url);
      if (current !== undefined && current === token) {
        out.push({ changed: [], deleted: [], full: false, token });
        continue;
      }
      const delta = await this.delta(collection, token);
      // The probe said the token moved, the REPORT says nothing changed at the stored token: this
      // server's property is not the REPORT's token (SOGo 5.8 answers "-1"). The probe would only
      // add a request: this mailbox stops sending it, and the state remembers (a quirk).
      if (current !== undefined && token !== null && delta.token === token && !delta.full && !delta.changed.length && !delta.deleted.length) this.tokenProbeUseless = true;
      out.push(delta);
    }
    return out;
  }

  /** Current sync tokens by collection URL, for the collections the probe may answer for. */
  private async probeTokens(requests: { collection: CollectionRef; token: string | null }[]): Promise<Map<string, string>> {
    const byParent = new Map<string, CollectionRef[]>();
    for (const { collection, token } of requests) {
      if (this.tokenProbeUseless || !collection.supportsSyncToken || token === null || token.startsWith('ctag:') || isSecondsToken(token)) continue;
      const parent = parentOf(collection.url);
      if (parent === collection.url) continue;
      byParent.set(parent, [...(byParent.get(parent) ?? []), collection]);
    }
    const found = new Map<string, string>();
    for (const [parent, collections] of byParent) {
      if (collections.length < 2) continue;
      const http = this.screened(
        'PROPFIND',
        parent,
        await this.transport.request('PROPFIND', parent, { headers: { 'Content-Type': 'text/xml;charset=UTF-8', Depth: '1' }, body: syncTokenPropfindBody() }),
      );
      const answer = http.status === 207 && /xml/i.test(http.headers.get('content-type') ?? '') ? parseSyncMultistatus(http.text, http.status) : undefined;
      if (!answer) continue;
      for (const r of answer.responses) {
        if (!r.ok || r.syncToken === undefined || r.hrefs.length !== 1) continue;
        const raw = r.hrefs[0]!;
        let href: string;
        try {
          href = canonicalHref(raw, parent);
        } catch {
          continue;
        }
        const collection = collections.find((c) => sameUrl(c.url, href));
        if (collection) found.set(collection.url, r.syncToken);
      }
    }
    return found;
  }

  private async plainDelta(collection: CollectionRef, token: string | null): Promise<CollectionDelta> {
    if (collection.supportsSyncToken) {
      const usable = token !== null && !token.startsWith('ctag:') ? token : null;
      if (usable !== null) {
        const incremental = await this.syncReport(collection, usable);
        if (typeof incremental === 'object') return incremental;
      }
      const full = await this.syncReport(collection, null);
      if (typeof full === 'object') return full;
    }
    return this.listingDelta(collection, token);
  }

  // --- fetch --------------------------------------------------------------------------------

  private async multiget(collection: CollectionRef, hrefs: string[]): Promise<{ items: DavItem[]; missing: string[] } | undefined> {
    const card = collection.kind === 'contacts';
    const seen: { last?: HttpResult } = {};
    const ns = card ? 'card' : 'c';
    const { DAVNamespace, davRequest, getDAVAttribute } = await loadTsdav();
    let responses: DAVResponse[];
    try {
      responses = await davRequest({
        url: collection.url,
        init: {
          method: 'REPORT',
          headers: { depth: '1' },
          namespace: ns,
          body: {
            [card ? 'addressbook-multiget' : 'calendar-multiget']: {
              _attributes: getDAVAttribute(card ? [DAVNamespace.DAV, DAVNamespace.CARDDAV] : [DAVNamespace.DAV, DAVNamespace.CALDAV]),
              'd:prop': { 'd:getetag': {}, [card ? 'card:address-data' : 'c:calendar-data']: {} },
              'd:href': hrefs.map(hrefPath),
            },
          },
        },
        fetch: this.tsdavFetch({}, seen),
      });
    } catch (err) {
      // A batch too large for one answer (big photos): read its items one by one, each capped alone.
      if (err instanceof LimitExceededError && hrefs.length > 1) return undefined;
      throw err;
    }
    if (!DavMailbox.isMultistatus(responses)) {
      const status = seen.last!.status;
      if (status >= 500 || status === 429) throw errorForStatus('REPORT', collection.url, seen.last!);
      return undefined; // the whole batch failed (one bad href on some servers): fetch one by one
    }
    const wanted = new Set(hrefs);
    const items: DavItem[] = [];
    for (const r of responses) {
      for (const rawHref of asArray(r.href)) {
        let href: string;
        try {
          href = canonicalHref(String(rawHref), collection.url);
        } catch {
          continue;
        }
        if (!wanted.has(href) || !r.ok) continue;
        const data = text(card ? r.props?.addressData : r.props?.calendarData);
        if (data === undefined) continue;
        items.push({ href, etag: text(r.props?.getetag) ?? '', data: restoreFinalNewline(data) });
        wanted.delete(href);
      }
    }
    return { items, missing: [...wanted] };
  }

  private async getOne(href: string): Promise<DavItem | undefined> {
    const res = await this.transport.request('GET', href);
    if (res.status === 404 || res.status === 410) return undefined;
    expectOk('GET', href, res);
    let etag = res.headers.get('etag') ?? '';
    if (!etag) etag = (await this.etagOf(href)) ?? '';
    return { href, etag, data: res.text };
  }

  private async etagOf(href: string): Promise<string | undefined> {
    const { responses } = await this.propfind(href, { 'd:getetag': {} }, '0');
    return text(responses.find((r) => r.ok)?.props?.getetag);
  }

  /**
   * One item read on its own (the multiget fallback): its failure is its own item error, never
   * the batch's or the mailbox's — except what concerns the whole mailbox (login, deadline,
   * rate limit, an outage), which is thrown.
   */
  private async fetchOne(href: string): Promise<{ href: string; item?: DavItem; error?: string; network?: unknown }> {
    try {
      return { href, item: await this.getOne(href) };
    } catch (err) {
      if (err instanceof ItemRejectedError || err instanceof LimitExceededError || err instanceof ServerError || err instanceof NetworkError) {
        return { href, error: shorten((err as Error).message, MAX_ITEM_MESSAGE), ...(err instanceof NetworkError ? { network: err } : {}) };
      }
      throw err;
    }
  }

  async fetch(collection: CollectionRef, hrefs: string[]): Promise<FetchResult> {
    const failed: { href: string; message: string }[] = [];
    const canonical: string[] = [];
    for (const h of new Set(hrefs)) {
      let href: string;
      try {
        href = canonicalHref(h, collection.url);
      } catch {
        failed.push({ href: h, message: `not a URL: ${shorten(JSON.stringify(h), 200)}` });
        continue;
      }
      if (sameOrigin(href, collection.url)) canonical.push(href);
      else failed.push({ href, message: `${displayUrl(href)} is outside the collection's server ${displayUrl(collection.url)}; not requested` });
    }
    const batches: string[][] = [];
    for (let i = 0; i < canonical.length; i += MULTIGET_BATCH) batches.push(canonical.slice(i, i + MULTIGET_BATCH));
    const results = await Promise.all(
      batches.map(async (batch) => {
        const got = await this.multiget(collection, batch);
        if (got) return { ...got, failed: [] as { href: string; message: string }[] };
        const one = await Promise.all(batch.map((href) => this.fetchOne(href)));
        // Every item unreachable: that is an outage of the server, not of these items.
        if (one.length > 1 && one.every((o) => o.network)) throw one[0]!.network;
        return {
          items: one.flatMap((o) => (o.item ? [o.item] : [])),
          missing: one.filter((o) => !o.item && !o.error).map((o) => o.href),
          failed: one.flatMap((o) => (o.error ? [{ href: o.href, message: o.error }] : [])),
        };
      }),
    );
    // Items whose etag the server did not include get one (rare; keeps ItemRef complete).
    const items = results.flatMap((r) => r.items);
    for (const item of items) if (!item.etag) item.etag = (await this.etagOf(item.href)) ?? '';
    failed.push(...results.flatMap((r) => r.failed));
    return { items, missing: results.flatMap((r) => r.missing), ...(failed.length ? { failed } : {}) };
  }

  // --- writes -------------------------------------------------------------------------------

  private async put(method: 'create' | 'update', url: string, data: string, contentType: string, precondition: Record<string, string>): Promise<ItemRef> {
    const res = await this.transport.request('PUT', url, { body: data, headers: { 'Content-Type': contentType, ...precondition } });
    if (res.status === 412) throw new PreconditionFailedError(url, method === 'create' ? 'PUT (create)' : 'PUT');
    const conflict = uidConflict(res.status, res.text, url);
    if (conflict) throw new UidConflictError(url, 'PUT', conflict.existingHref, res.status);
    if (res.status === 207) {
      // Xandikos refuses invalid content with a multistatus (412 + valid-calendar-data) instead of
      // a 4xx: that is a refusal of the content, not a lost race — never report it as 412.
      const inner = Number(/HTTP\/1\.[01] (\d{3})/.exec(res.text)?.[1] ?? 0);
      if (inner < 200 || inner >= 300) {
        const why = /responsedescription>([^<]*)</.exec(res.text)?.[1];
        throw new ItemRejectedError(url, inner || 207, 'PUT', why);
      }
    }
    expectOk('PUT', url, res);
    // A server that changed the data on the way in may withhold the ETag: read it.
    const etag = res.headers.get('etag') ?? (await this.etagOf(url));
    if (!etag) throw new ServerError(url, res.status, 'PUT', 'the server gave no ETag for the written item');
    return { href: url, etag };
  }

  async create(collection: CollectionRef, name: string, data: string, contentType: string): Promise<ItemRef> {
    const url = childHref(collection.url, safeFileName(name));
    if (this.quirks?.ignoresIfNoneMatch) await this.checkPrecondition(url, null, 'PUT (create)');
    return this.put('create', url, data, contentType, { 'If-None-Match': '*' });
  }

  async update(ref: ItemRef, data: string, contentType: string): Promise<ItemRef> {
    // tsdav drops If-Match for an empty etag, turning the write unconditional: never send that.
    if (!ref.etag) throw new MissingEtagError(ref.href);
    return this.put('update', ref.href, data, contentType, { 'If-Match': ref.etag });
  }

  async remove(ref: ItemRef): Promise<void> {
    if (!ref.etag) throw new MissingEtagError(ref.href);
    if (this.quirks?.ignoresIfMatchOnDelete) await this.checkPrecondition(ref.href, ref.etag, 'DELETE');
    const res = await this.transport.request('DELETE', ref.href, { headers: { 'If-Match': ref.etag } });
    if (res.status === 404 || res.status === 410) return; // already gone
    if (res.status === 412) throw new PreconditionFailedError(ref.href, 'DELETE');
    expectOk('DELETE', ref.href, res);
  }

  // --- misc ---------------------------------------------------------------------------------

  async probe(): Promise<ProbeResult> {
    this.discovery = undefined;
    const { principal } = await this.discover();
    const last = this.transport.lastServerDate;
    if (!last) return { principal };
    const serverTime = Date.parse(last.header);
    return Number.isNaN(serverTime) ? { principal, serverDate: last.header } : { principal, serverDate: last.header, skewMs: serverTime - last.receivedAt };
  }

  async close(): Promise<void> {
    await this.transport.close();
  }
}
