// The sync-collection REPORT read without tsdav (D98): the shapes servers answer in. The servers
// themselves are exercised end to end in contract.test.ts and quirks.test.ts (Radicale,
// Xandikos, Cyrus, DAViCal, SOGo); these are the corner cases a hostile or unusual server sends.
import { describe, expect, it } from 'vitest';
import sax from 'sax';
import { parseSyncMultistatus, syncCollectionBody, syncTokenPropfindBody } from '../../src/providers/dav/sync-report.js';

describe('the sync-collection REPORT body', () => {
  it('carries the token escaped, and an empty token as an empty element (first listing)', () => {
    const body = syncCollectionBody('http://x/ns/sync/1?a=1&b=<2>');
    expect(body).toContain('<d:sync-token>http://x/ns/sync/1?a=1&amp;b=&lt;2&gt;</d:sync-token>');
    expect(syncCollectionBody('')).toContain('<d:sync-token/>');
    // Well-formed, and the token reads back as sent.
    const parser = sax.parser(true);
    let token = '';
    let inToken = false;
    parser.onopentag = (n) => (inToken = n.name === 'd:sync-token');
    parser.ontext = (t) => {
      if (inToken) token += t;
    };
    parser.onclosetag = () => (inToken = false);
    parser.write(body).close();
    expect(token).toBe('http://x/ns/sync/1?a=1&b=<2>');
  });
});

describe('R6: reading a sync-collection answer (the device delta since the stored token)', () => {
  it('no change (Radicale: default namespace, only the token)', () => {
    const xml = `<?xml version='1.0' encoding='utf-8'?>\n<multistatus xmlns="DAV:"><sync-token>http://radicale.org/ns/sync/8ec5</sync-token></multistatus>`;
    expect(parseSyncMultistatus(xml, 207)).toEqual({ syncToken: 'http://radicale.org/ns/sync/8ec5', responses: [] });
  });

  it('changed and deleted items with prefixes, CDATA and whitespace (Cyrus D:, SabreDAV d:)', () => {
    const xml = `<?xml version="1.0" encoding="UTF-8"?>
<D:multistatus xmlns:D="DAV:">
  <D:response>
    <D:href>/dav/addressbooks/user/a/Default/1.vcf</D:href>
    <D:propstat><D:prop><D:getetag>"e1"</D:getetag></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat>
  </D:response>
  <D:response>
    <D:href>
      /dav/addressbooks/user/a/Default/2.vcf
    </D:href>
    <D:propstat><D:prop><D:getetag><![CDATA["e&2"]]></D:getetag></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat>
  </D:response>
  <D:response><D:href>/dav/addressbooks/user/a/Default/3.vcf</D:href><D:status>HTTP/1.1 404 Not Found</D:status></D:response>
  <D:sync-token>0012</D:sync-token>
</D:multistatus>`;
    const a = parseSyncMultistatus(xml, 207)!;
    // The token stays text: tsdav made the number 12 of "0012".
    expect(a.syncToken).toBe('0012');
    expect(a.responses).toEqual([
      { hrefs: ['/dav/addressbooks/user/a/Default/1.vcf'], status: 207, ok: true, etag: '"e1"' },
      { hrefs: ['/dav/addressbooks/user/a/Default/2.vcf'], status: 207, ok: true, etag: '"e&2"' },
      { hrefs: ['/dav/addressbooks/user/a/Default/3.vcf'], status: 404, ok: false },
    ]);
  });

  it('a truncated answer (507 on the collection), several hrefs in one response, a 404 propstat ignored', () => {
    const xml = `<d:multistatus xmlns:d="DAV:" xmlns:x="http://example.com/other">
  <d:response><d:href>/c/</d:href><d:status>HTTP/1.1 507 Insufficient Storage</d:status></d:response>
  <d:response><d:href>/c/a.ics</d:href><d:href>/c/b.ics</d:href><d:status>HTTP/1.1 404 Not Found</d:status></d:response>
  <d:response><d:href>/c/c.ics</d:href>
    <d:propstat><d:prop><d:getetag>"bad"</d:getetag></d:prop><d:status>HTTP/1.1 404 Not Found</d:status></d:propstat>
    <d:propstat><d:prop><d:getetag>"good"</d:getetag><x:other>ignored</x:other></d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat>
  </d:response>
  <d:sync-token>t2</d:sync-token>
</d:multistatus>`;
    const a = parseSyncMultistatus(xml, 207)!;
    expect(a.syncToken).toBe('t2');
    expect(a.responses).toEqual([
      { hrefs: ['/c/'], status: 507, ok: false },
      { hrefs: ['/c/a.ics', '/c/b.ics'], status: 404, ok: false },
      { hrefs: ['/c/c.ics'], status: 207, ok: true, etag: '"good"' },
    ]);
  });

  it('an href or etag nested deeper is not taken for the response’s own', () => {
    const xml = `<multistatus xmlns="DAV:"><response><href>/c/1.vcf</href><propstat><prop><getetag>"1"</getetag><x xmlns="urn:x"><href>/elsewhere</href><getetag>"no"</getetag></x></prop><status>HTTP/1.1 200 OK</status></propstat></response><response><error><href>/c/nested</href></error><href>/c/2.vcf</href><status>HTTP/1.1 200 OK</status></response></multistatus>`;
    expect(parseSyncMultistatus(xml, 207)!.responses).toEqual([
      { hrefs: ['/c/1.vcf'], status: 207, ok: true, etag: '"1"' },
      { hrefs: ['/c/2.vcf'], status: 200, ok: true },
    ]);
  });

  it('D100: a PROPFIND of the collections\' sync-token: each response\'s token, only from a 2xx propstat', () => {
    const xml = `<?xml version="1.0"?><d:multistatus xmlns:d="DAV:">
      <d:response><d:href>/u/</d:href><d:propstat><d:prop><d:sync-token/></d:prop><d:status>HTTP/1.1 404 Not Found</d:status></d:propstat></d:response>
      <d:response><d:href>/u/contacts/</d:href><d:propstat><d:prop><d:sync-token> http://radicale.org/ns/sync/aa </d:sync-token></d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>
      <d:response><d:href>/u/tasks/</d:href><d:propstat><d:prop><d:sync-token><![CDATA[data:,7]]></d:sync-token></d:prop></d:propstat></d:response>
    </d:multistatus>`;
    const answer = parseSyncMultistatus(xml, 207)!;
    expect(answer.syncToken).toBeUndefined();
    expect(answer.responses.map((r) => [r.hrefs[0], r.syncToken])).toEqual([
      ['/u/', undefined],
      ['/u/contacts/', 'http://radicale.org/ns/sync/aa'],
      ['/u/tasks/', 'data:,7'],
    ]);
    expect(syncTokenPropfindBody()).toContain('<d:prop><d:sync-token/></d:prop>');
  });

  it('not a multistatus, or not well-formed: undefined (the caller reads the HTTP status)', () => {
    expect(parseSyncMultistatus('<html><body>login</body></html>', 207)).toBeUndefined();
    expect(parseSyncMultistatus('<d:multistatus xmlns:d="DAV:"><d:response><d:href>/a', 207)).toBeUndefined();
    expect(parseSyncMultistatus('not xml at all', 207)).toBeUndefined();
    expect(parseSyncMultistatus('<multistatus xmlns="DAV:"><sync-token>&undefined;</sync-token></multistatus>', 207)).toBeUndefined();
    expect(parseSyncMultistatus('', 207)).toBeUndefined();
  });
});
