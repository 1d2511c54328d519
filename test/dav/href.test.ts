// Item hrefs of a create: childHref (the collection's canonical form kept, one segment appended)
// must give exactly the href canonicalHref gives, or an item written before the change would be
// stored under another href than the same item found by the next listing.
import { describe, expect, it } from 'vitest';
import { canonicalHref, childHref, safeFileName } from '../../src/providers/dav/href.js';

const bases = [
  'http://127.0.0.1:5232/anna/contacts/',
  'http://127.0.0.1:5232/anna/contacts', // no trailing slash
  'https://dav.example.com/dav/addressbooks/user/j%c3%bcrgen%40example.com/Default/', // lower-case escapes
  'https://dav.example.com/dav/addressbooks/user/jürgen@example.com/Default/', // raw ä and @
  'https://dav.example.com/cal/Meine%20Termine/', // an escaped space
  'https://dav.example.com/cal/(privat)!/', // sub-delims
  'https://dav.example.com/cal/x/?token=1', // a query: the general path
  'https://dav.example.com:8443/remote.php/dav/calendars/a/b%2Fc/', // an escaped slash kept
];
const names = [
  'f81d4fae-7dec-11d0-a765-00a0c91e6bf6.vcf',
  'ffcrm-address-00042.vcf',
  'Jürgen Müller.vcf',
  'a/b.ics',
  'über?#.ics',
  "o'neil(1)!*.vcf",
  '..',
  '.',
  '%41.vcf',
  '040000008200E00074C5B7101A82E00800000000.ics',
];

describe('childHref', () => {
  it('gives the same href as canonicalHref for every collection URL and item name', () => {
    for (const base of bases) {
      for (const name of names) {
        for (const n of [name, safeFileName(name)]) {
          const slashed = base.endsWith('/') || base.includes('?') ? base : `${base}/`;
          expect(childHref(base, n), `${base} + ${n}`).toBe(canonicalHref(encodeURIComponent(n), slashed));
        }
      }
    }
  });

  it('gives the same href the second time, from its kept collection form', () => {
    const base = 'https://dav.example.com/dav/j%c3%bcrgen/Default/';
    const first = childHref(base, 'x.vcf');
    expect(childHref(base, 'x.vcf')).toBe(first);
    expect(first).toBe('https://dav.example.com/dav/j%C3%BCrgen/Default/x.vcf');
  });
});
