import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  addressFieldHashes,
  addressToVCard,
  crmIdFromUid,
  mergeDevicePhones,
  patchVCard,
  stableUid,
  vCardToAddress,
} from '../../src/mappers/index.js';
import { address, options, mappingError, unfoldedLines } from './helpers.js';

const fixture = (name: string) => readFileSync(new URL(`../fixtures/vcard/${name}`, import.meta.url));
const fixtureText = (name: string) => fixture(name).toString('utf8');
const opts = options();

describe('address → vCard (new contact)', () => {
  it('writes FN, N with salutation/title prefixes, ORG, work ADR, EMAIL, fax, NOTE, stable UID, one REV, one PRODID', () => {
    const lines = unfoldedLines(addressToVCard(address(), opts));
    expect(lines).toEqual([
      'BEGIN:VCARD',
      'VERSION:3.0',
      'PRODID:-//sync-cli//test//EN',
      'UID:sync-cli-address-a1',
      'FN:Dr. Erika Mustermann',
      'N:Mustermann;Erika;;Frau,Dr.;',
      'ORG:Muster Immobilien GmbH',
      'ADR;TYPE=work:;;Hauptstraße 5;München;;80331;Deutschland',
      'EMAIL;TYPE=INTERNET,WORK:e.mustermann@example.de',
      'TEL;TYPE=work,voice:+49 89 1234-0',
      'item1.TEL;TYPE=work,voice:+49 170 5550101',
      'item1.X-ABLabel:work 2',
      'TEL;TYPE=work,fax:+49 89 1234-99',
      'NOTE:Kundin seit 2019',
      'REV:20261120T081500Z',
      'END:VCARD',
    ]);
  });

  it('vCard 4.0 writes numbers as text, exactly as the CRM holds them', () => {
    const v = addressToVCard(address({ phones: [{ number: '+49 (89) 1234-0 ext. 5', remark: '' }] }), options({ vcardVersion: '4.0' }));
    expect(v).toContain('VERSION:4.0\r\n');
    expect(unfoldedLines(v)).toContain('TEL;TYPE=work,voice;VALUE=text:+49 (89) 1234-0 ext. 5');
    expect(vCardToAddress(v, opts).fields.phones[0]!.number).toBe('+49 (89) 1234-0 ext. 5');
  });

  it('escapes ; , \\ and line breaks and folds long lines at 75 octets without splitting UTF-8', () => {
    const note = `Zeile 1; mit, Sonderzeichen \\ und Umlauten äöü ${'ß'.repeat(60)}\nZeile 2`;
    const v = addressToVCard(address({ note }), opts);
    for (const physical of v.split('\r\n')) expect(Buffer.byteLength(physical)).toBeLessThanOrEqual(75);
    expect(vCardToAddress(v, opts).fields.note).toBe(note);
  });

  it('always writes FN, falling back to the company when there is no name (Nextcloud rejects cards without FN)', () => {
    const v = addressToVCard(address({ salutation: '', title: '', firstName: '', lastName: '' }), opts);
    expect(unfoldedLines(v)).toContain('FN:Muster Immobilien GmbH');
  });
});

describe('R10: the CRM address is the business address', () => {
  it('R10: reads the work ADR, not the home address the device keeps', () => {
    const c = vCardToAddress(fixture('ios-itemN-ablabel.vcf'), opts);
    expect([c.fields.street, c.fields.postalCode, c.fields.city, c.fields.country]).toEqual(['Hauptstraße 5', '80331', 'München', 'Deutschland']);
  });

  it('R10: patching changes the work ADR and leaves the home ADR and the region/P.O. box parts alone', () => {
    const before = fixtureText('ios-itemN-ablabel.vcf');
    const after = patchVCard(before, address({ street: 'Neue Straße 1', city: 'Augsburg', postalCode: '86150' }), opts);
    const lines = unfoldedLines(after);
    expect(lines).toContain('item2.ADR;type=WORK;type=pref:;;Neue Straße 1;Augsburg;;86150;Deutschland');
    expect(lines).toContain('item3.ADR;type=HOME:;;Gartenweg 1;Grünwald;;82031;Deutschland');
    expect(lines).toContain('item2.X-ABADR:de');
  });
});

describe('R11: synced fields both ways, everything else untouched', () => {
  it('R11: a patch changes only CRM-owned lines; photo, birthday, other e-mails, URLs, labels and X- properties stay byte for byte', () => {
    const before = fixtureText('ios-itemN-ablabel.vcf');
    const after = patchVCard(before, address({ note: 'Neue Notiz', email: 'neu@example.de', company: 'Neu GmbH' }), opts);
    const keep = [
      'EMAIL;type=INTERNET;type=HOME:erika@example.org',
      'item4.URL;type=pref:https://muster-immobilien.example',
      'item4.X-ABLabel:_$!<HomePage>!$_',
      'item5.X-ABRELATEDNAMES;type=pref:Hans Mustermann',
      'item5.X-ABLabel:_$!<Spouse>!$_',
      'BDAY;value=date:1980-01-01',
      'X-ABUID:5C7C9F2E-1D7B-4C63-9E0B-2B6E3C1A9F00:ABPerson',
      'UID:5C7C9F2E-1D7B-4C63-9E0B-2B6E3C1A9F00',
    ];
    for (const l of keep) expect(after).toContain(`${l}\r\n`);
    // The photo line is longer than 75 octets and kept exactly as the device wrote it.
    const photo = before.split('\r\n').find((l) => l.startsWith('PHOTO'))!;
    expect(after).toContain(photo);
    const lines = unfoldedLines(after);
    expect(lines).toContain('NOTE:Neue Notiz');
    expect(lines).toContain('EMAIL;type=INTERNET;type=WORK;type=pref:neu@example.de');
    expect(lines).toContain('ORG:Neu GmbH;Vertrieb');
    expect(lines.filter((l) => l.startsWith('REV')).length).toBe(1);
    expect(lines.filter((l) => l.startsWith('PRODID')).length).toBe(1);
  });

  it('R11: a patch with nothing to change returns the device item unchanged (no needless upload)', () => {
    const v = addressToVCard(address(), opts);
    expect(patchVCard(v, address(), opts)).toBe(v);
    const ios = fixtureText('ios-itemN-ablabel.vcf');
    const same = vCardToAddress(ios, opts).fields;
    expect(patchVCard(ios, { ...address(), ...same, phones: same.phones.map((p) => ({ ...p })) }, opts)).toBe(ios);
  });

  it('R12: patching a vCard 4.0 tel: URI writes the number as text, exactly as the CRM holds it', () => {
    const card = 'BEGIN:VCARD\r\nVERSION:4.0\r\nFN:x\r\nN:x;;;;\r\nitem1.TEL;VALUE=uri;TYPE="work,voice":tel:+49-89-1\r\nEND:VCARD\r\n';
    expect(vCardToAddress(card, opts).fields.phones[0]!.number).toBe('+49-89-1');
    const after = patchVCard(card, address({ phones: [{ number: '+49 89 2', remark: '' }] }), opts);
    expect(unfoldedLines(after)).toContain('item1.TEL;TYPE="work,voice";VALUE=text:+49 89 2');
    expect(vCardToAddress(after, opts).fields.phones[0]!.number).toBe('+49 89 2');
  });

  it('R11: reads every synced field from a DAVx5 vCard 4.0', () => {
    const c = vCardToAddress(fixture('davx5-v4.vcf'), opts);
    expect(c.version).toBe('4.0');
    expect(c.fields).toMatchObject({
      company: 'Beispiel Bau AG',
      salutation: 'Herr',
      title: '',
      firstName: 'Max',
      lastName: 'Beispiel',
      street: 'Friedrichstraße 1',
      postalCode: '10117',
      city: 'Berlin',
      country: 'Deutschland',
      email: 'max@beispiel-bau.example',
      note: 'Rückruf nach 14 Uhr',
      fax: '',
    });
  });

  it('R11: reads Thunderbird 4.0 (VALUE=TEXT, PREF=1 e-mail, plain TYPE=fax)', () => {
    const c = vCardToAddress(fixture('thunderbird-v4.vcf'), opts);
    expect(c.fields.email).toBe('anna.schmidt@example.com');
    expect(c.fields.fax).toBe('+49 40 123457');
    expect(c.fields.phones.map((p) => p.number)).toEqual(['+49 40 123456', '', '+49 151 1234567', '+49 40 654321', '', '', '+49 40 999']);
  });

  it('R11: reads a Google card (custom label via itemN, WORK e-mail chosen over a labelled one, escaped colon in URL kept)', () => {
    const text = fixtureText('google-v3.vcf');
    const c = vCardToAddress(text, opts);
    expect(c.fields.email).toBe('sophie@klein-partner.example');
    expect(c.fields.company).toBe('Klein & Partner');
    expect(c.fields.phones.map((p) => p.number)).toEqual(['+49 711 1010', '', '+49 172 3030303', '', '', '+49 711 2020']);
    const patched = patchVCard(text, { ...address(), ...c.fields, note: 'neu' }, opts);
    expect(patched).toContain('item3.URL:https\\://klein-partner.example\r\n');
    expect(patched).toContain('item2.X-ABLabel:Newsletter\r\n');
  });
});

describe('R12: phone slots', () => {
  it('R12: the first eight CRM numbers go to the eight slots in CRM order; 9+ are not sent; remarks never leave the CRM', () => {
    const phones = Array.from({ length: 10 }, (_, i) => ({ number: `+49 30 ${i + 1}`, remark: `Bemerkung ${i + 1}` }));
    const v = addressToVCard(address({ phones, fax: '' }), opts);
    const tels = unfoldedLines(v).filter((l) => /^(item\d+\.)?(TEL|X-ABLabel)/.test(l));
    expect(tels).toEqual([
      'TEL;TYPE=work,voice:+49 30 1',
      'item1.TEL;TYPE=work,voice:+49 30 2',
      'item1.X-ABLabel:work 2',
      'TEL;TYPE=cell,voice:+49 30 3',
      'TEL;TYPE=home,voice:+49 30 4',
      'item2.TEL;TYPE=home,voice:+49 30 5',
      'item2.X-ABLabel:home 2',
      'TEL;TYPE=car,voice:+49 30 6',
      'TEL;TYPE=pager:+49 30 7',
      'TEL;TYPE=other,voice:+49 30 8',
    ]);
    expect(v).not.toContain('Bemerkung');
    expect(vCardToAddress(v, opts).fields.phones.map((p) => p.number)).toEqual(phones.slice(0, 8).map((p) => p.number));
  });

  it('R12: positions are recovered when the device reorders lines (order only matters within the same type)', () => {
    const c = vCardToAddress(fixture('reordered-lines.vcf'), opts);
    expect(c.fields.phones.map((p) => p.number)).toEqual(['+49 30 1', '+49 30 2', '+49 30 3', '+49 30 4', '', '', '+49 30 7']);
    expect(crmIdFromUid(c.uid)).toEqual({ kind: 'address', id: 'a42' });
  });

  it('R12: TYPE case and spelling do not matter (type=Home, Type=CELL,Voice, TYPE=HOME;TYPE=VOICE, tel;type=pager)', () => {
    const c = vCardToAddress(fixture('type-case.vcf'), opts);
    expect(c.fields.phones.map((p) => p.number)).toEqual(['+49 30 2', '+49 30 5', '+49 30 3', '+49 30 1', '+49 30 4', '', '+49 30 6']);
  });

  it('R12: Apple itemN.X-ABLabel labels are recognized; a second mobile (no slot of its own) takes the first free position', () => {
    const c = vCardToAddress(fixture('ios-itemN-ablabel.vcf'), opts);
    expect(c.fields.phones.map((p) => p.number)).toEqual(['+49 89 1234-0', '+49 171 2223334', '+49 170 5550101', '', '', '+49 89 1234-55']);
    expect(c.unslottedPhones).toEqual([]);
    expect(c.fields.fax).toBe('+49 89 1234-99');
    expect(c.fields.phones.every((p) => p.remark === '')).toBe(true);
  });

  it('R12: Nextcloud (sabre/vobject) quoted TYPE lists: two work numbers, home and other', () => {
    const c = vCardToAddress(fixture('nextcloud-v3.vcf'), opts);
    expect(c.fields.phones.map((p) => p.number)).toEqual(['+49 221 12345', '+49 221 12346', '', '+49 221 77777', '', '', '', '+49 221 88888']);
    expect(c.unslottedPhones).toEqual([]);
  });

  it('R12: DAVx5 numbers: work, cell, car, home and an untyped one (DAVx5 writes "other" without TYPE)', () => {
    const c = vCardToAddress(fixture('davx5-v4.vcf'), opts);
    expect(c.fields.phones.map((p) => p.number)).toEqual(['+49 30 555-1000', '', '+49 160 5551234', '+49 30 555-2000', '', '+49 160 5559999', '', '+49 30 555-3000']);
  });

  it('R12: patching edits numbers in place (keeping the device params and Apple group), adds new ones in their slot and keeps the second mobile at its position', () => {
    const before = fixtureText('ios-itemN-ablabel.vcf');
    const phones = [
      { number: '+49 89 1234-1', remark: 'Zentrale' }, // edited work
      { number: '+49 171 2223334', remark: '' }, // the second mobile, at the first free position
      { number: '+49 170 5550101', remark: '' }, // unchanged mobile
      { number: '', remark: '' },
      { number: '+49 89 4444', remark: '' }, // new home 2
      { number: '+49 89 1234-56', remark: '' }, // edited car (Apple custom label)
    ];
    const after = patchVCard(before, address({ phones }), opts);
    const tels = unfoldedLines(after).filter((l) => /^(item\d+\.)?TEL/i.test(l));
    expect(tels).toEqual([
      'TEL;type=WORK;type=VOICE;type=pref:+49 89 1234-1',
      'TEL;type=CELL;type=VOICE:+49 170 5550101',
      'item1.TEL:+49 89 1234-56',
      'TEL;type=IPHONE;type=CELL;type=VOICE:+49 171 2223334',
      'TEL;type=WORK;type=FAX:+49 89 1234-99',
      'item6.TEL;TYPE=home,voice:+49 89 4444', // next free Apple group number, labelled "home 2"
    ]);
    expect(after).toContain('item6.X-ABLabel:home 2\r\n');
    expect(vCardToAddress(after, opts).fields.phones.map((p) => p.number)).toEqual(phones.map((p) => p.number));
  });

  it('R12: the labelled "work 2" number keeps position 2 while "work" is empty, and a new "work" number does not move it', () => {
    const v = addressToVCard(address({ phones: [{ number: '1', remark: '' }, { number: '2', remark: '' }] }), opts);
    const withoutFirst = patchVCard(v, address({ phones: [{ number: '', remark: '' }, { number: '2', remark: '' }] }), opts);
    expect(vCardToAddress(withoutFirst, opts).fields.phones.map((p) => p.number)).toEqual(['', '2']);
    // The CRM still has position 2 only; adding position 1 again must not move "2".
    const back = patchVCard(withoutFirst, address({ phones: [{ number: '9', remark: '' }, { number: '2', remark: '' }] }), opts);
    expect(vCardToAddress(back, opts).fields.phones.map((p) => p.number)).toEqual(['9', '2']);
  });

  it('R12: without labels (a client that drops X-ABLabel), two work numbers are told apart by their order', () => {
    const card = 'BEGIN:VCARD\r\nVERSION:3.0\r\nFN:x\r\nN:x;;;;\r\nTEL;TYPE=WORK:+49 1\r\nTEL;TYPE=HOME:+49 3\r\nTEL;TYPE=WORK:+49 2\r\nEND:VCARD\r\n';
    expect(vCardToAddress(card, opts).fields.phones.map((p) => p.number)).toEqual(['+49 1', '+49 2', '', '+49 3']);
  });

  it('R12: mergeDevicePhones — an edit updates the same position, remarks and numbers 9+ stay', () => {
    const crm = Array.from({ length: 10 }, (_, i) => ({ number: `n${i + 1}`, remark: `r${i + 1}` }));
    const device = crm.slice(0, 8).map((p) => ({ number: p.number, remark: '' }));
    device[2] = { number: 'edited', remark: '' };
    const merged = mergeDevicePhones(crm, device, 8);
    expect(merged.map((p) => p.number)).toEqual(['n1', 'n2', 'edited', 'n4', 'n5', 'n6', 'n7', 'n8', 'n9', 'n10']);
    expect(merged.map((p) => p.remark)).toEqual(crm.map((p) => p.remark));
  });

  it('R12: mergeDevicePhones — a number added on the device takes the first free position ≤ 8', () => {
    const crm = [{ number: 'a', remark: 'ra' }, { number: '', remark: '' }, { number: 'c', remark: 'rc' }];
    // Added into the empty work-2 slot:
    expect(mergeDevicePhones(crm, [{ number: 'a', remark: '' }, { number: 'new', remark: '' }, { number: 'c', remark: '' }], 8).map((p) => p.number)).toEqual(['a', 'new', 'c']);
    // Added into the mobile slot while the device moved "c" elsewhere: "c" keeps position 3, the new number the first free one.
    const merged = mergeDevicePhones(crm, [{ number: 'a', remark: '' }, { number: 'c', remark: '' }, { number: 'new', remark: '' }], 8);
    expect(merged.map((p) => p.number)).toEqual(['a', 'new', 'c']);
    expect(merged.map((p) => p.remark)).toEqual(['ra', '', 'rc']);
  });

  it('R12: mergeDevicePhones — a reorder on the device never moves CRM positions; a deleted number empties its position only', () => {
    const crm = [{ number: 'a', remark: 'ra' }, { number: 'b', remark: 'rb' }, { number: 'c', remark: 'rc' }];
    expect(mergeDevicePhones(crm, [{ number: 'b', remark: '' }, { number: 'a', remark: '' }, { number: 'c', remark: '' }], 8)).toEqual(crm);
    expect(mergeDevicePhones(crm, [{ number: 'a', remark: '' }, { number: '', remark: '' }, { number: 'c', remark: '' }], 8)).toEqual([
      { number: 'a', remark: 'ra' },
      { number: '', remark: 'rb' },
      { number: 'c', remark: 'rc' },
    ]);
  });

  it('R12: phone hashes are per position and ignore remarks', () => {
    const crm = addressFieldHashes(address());
    const dev = addressFieldHashes(vCardToAddress(addressToVCard(address(), opts), opts).fields);
    expect(dev).toEqual(crm);
    expect(Object.keys(crm)).toEqual(expect.arrayContaining(['phone1', 'phone8']));
  });
});

describe('R13: category "private"', () => {
  it('R13: CATEGORIES containing private marks the device contact private', () => {
    expect(vCardToAddress(fixture('davx5-v4.vcf'), opts).isPrivate).toBe(true);
    expect(vCardToAddress(fixture('nextcloud-v3.vcf'), opts).isPrivate).toBe(false);
  });

  it('R13: patching mirrors the CRM private flag in CATEGORIES and keeps the other categories', () => {
    const nc = fixtureText('nextcloud-v3.vcf');
    const f = vCardToAddress(nc, opts).fields;
    const priv = patchVCard(nc, { ...address({ private: true }), ...f }, opts);
    expect(unfoldedLines(priv)).toContain('CATEGORIES:Lieferanten,private');
    const dav = fixtureText('davx5-v4.vcf');
    const pub = patchVCard(dav, { ...address({ private: false }), ...vCardToAddress(dav, opts).fields }, opts);
    expect(unfoldedLines(pub)).toContain('CATEGORIES:Kunden');
    expect(addressToVCard(address({ private: true }), opts)).toContain('CATEGORIES:private\r\n');
  });
});

describe('legacy and odd input', () => {
  it('vCard 2.1 with quoted-printable, CHARSET and bare TYPE params is read', () => {
    const c = vCardToAddress(fixture('outlook-v21-quoted-printable.vcf'), opts);
    expect(c.version).toBe('2.1');
    expect(c.fields).toMatchObject({
      lastName: 'Müller',
      firstName: 'Jürgen',
      salutation: 'Herr',
      company: 'Müller & Co',
      street: 'Große Bockenheimer Straße 10',
      city: 'Frankfurt',
      email: 'j.mueller@example.com',
      fax: '+49 69 4713',
      note: 'Erste Zeile\nZweite Zeile mit äöü',
    });
    expect(c.fields.phones.map((p) => p.number)).toEqual(['+49 69 4711', '', '+49 175 4712']);
  });

  it('a vCard 2.1 card is written back as 3.0 when patched', () => {
    const v = fixtureText('outlook-v21-quoted-printable.vcf');
    const after = patchVCard(v, { ...address(), ...vCardToAddress(v, opts).fields }, opts);
    expect(after).toContain('VERSION:3.0\r\n');
    expect(after).not.toContain('QUOTED-PRINTABLE');
    expect(vCardToAddress(after, opts).fields.note).toBe('Erste Zeile\nZweite Zeile mit äöü');
  });

  it('non-UTF-8 legacy bytes are decoded as Windows-1252', () => {
    const c = vCardToAddress(fixture('latin1-legacy.vcf'), opts);
    expect(c.fields).toMatchObject({ lastName: 'Jäger', firstName: 'Björn', company: 'Bäckerei Jäger', street: 'Straße 1', city: 'Nürnberg', note: 'Preis 10 €' });
  });

  it('folded lines (space and tab continuation, folds inside parameters) are unfolded', () => {
    const c = vCardToAddress(fixture('folded-lines.vcf'), opts);
    expect(c.fields.note).toBe('Dies ist eine sehr lange Notiz, die von einem Client nach 75 Oktetten umgebrochen wurde, mitten im Wort, und mit Tabulator fortgesetzt: hier geht es weiter.');
    expect(c.fields.phones[0]!.number).toBe('+49 89 1111');
    expect(c.fields.email).toBe('lena@example.org');
  });

  it('control characters are dropped, not rejected', () => {
    const v = addressToVCard(address({ note: 'a\u0000b\u0007c\td' }), opts);
    expect(vCardToAddress(v, opts).fields.note).toBe('abc\td');
    const raw = 'BEGIN:VCARD\r\nVERSION:3.0\r\nFN:X\u0001Y\r\nN:Y\u001b;X;;;\r\nEND:VCARD\r\n';
    expect(vCardToAddress(raw, opts).fields.lastName).toBe('Y');
  });

  it('a card with a photo of more than 1 MB is read and patched, the photo kept', () => {
    const photo = Buffer.alloc(1_500_000, 7).toString('base64');
    const card = `BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Big\r\nN:Big;;;;\r\nPHOTO;ENCODING=b;TYPE=JPEG:${photo}\r\nEND:VCARD\r\n`;
    expect(vCardToAddress(card, opts).fields.lastName).toBe('Big');
    const after = patchVCard(card, address(), opts);
    expect(after).toContain(photo);
  });
});

describe('bad input → MappingError with the line, never a crash', () => {
  it('a line without a colon names the line number and text', () => {
    const e = mappingError(() => vCardToAddress(fixture('malformed-no-colon.vcf'), opts));
    expect(e.line).toBe(5);
    expect(e.lineText).toBe('THIS LINE HAS NO COLON');
    expect(e.exitCode).toBe(1);
    expect(e.message).toContain('line 5');
  });

  it('a card cut off before END:VCARD says so', () => {
    const e = mappingError(() => vCardToAddress(fixture('malformed-cut-off.vcf'), opts));
    expect(e.message).toMatch(/BEGIN:VCARD is never closed/);
    expect(e.line).toBe(1);
  });

  it('patching a malformed device card throws and returns nothing half-written', () => {
    mappingError(() => patchVCard(fixtureText('malformed-no-colon.vcf'), address(), opts));
  });

  it('an item over 20 MB is refused with a typed error', () => {
    const huge = Buffer.alloc(21 * 1024 * 1024, 65);
    expect(mappingError(() => vCardToAddress(huge, opts)).message).toMatch(/MB/);
  });

  it('garbage, an empty string and a calendar are rejected', () => {
    mappingError(() => vCardToAddress('', opts));
    mappingError(() => vCardToAddress('hello world', opts));
    mappingError(() => vCardToAddress('BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n', opts));
  });
});

describe('R23: stable UIDs', () => {
  it('R23: stableUid is deterministic and crmIdFromUid inverts it, also for ids with odd characters', () => {
    for (const id of ['a1', '42', 'x/y z', 'ä@ö:ü', '%20', '']) {
      if (id === '') continue;
      const uid = stableUid('address', id);
      expect(uid).toBe(stableUid('address', id));
      expect(uid).toMatch(/^[A-Za-z0-9._%-]+$/);
      expect(crmIdFromUid(uid)).toEqual({ kind: 'address', id });
      expect(crmIdFromUid(stableUid('activity', id))).toEqual({ kind: 'activity', id });
    }
    expect(crmIdFromUid('urn:uuid:8f0e7a4e-4b7f-4a53-9f1f-0c8d7b1e2a33')).toBeNull();
    expect(crmIdFromUid('5C7C9F2E-1D7B-4C63-9E0B-2B6E3C1A9F00')).toBeNull();
  });
});

// Issue #12: what real clients write survives; the CRM gets what a user would expect.
describe('R11/M11: the device display name (FN) is the user\'s', () => {
  const card = (lines: string[]) => ['BEGIN:VCARD', 'VERSION:3.0', ...lines, 'UID:dev-1', 'END:VCARD', ''].join('\r\n');
  const asCrm = (raw: string) => {
    const f = vCardToAddress(raw, opts).fields;
    return address({ ...f, id: 'a1', fax: f.fax, phones: f.phones.map((p) => ({ ...p })) });
  };

  it('R11/M11: importing a device contact leaves its FN as written, even when it is not "first last"', () => {
    const raw = card(['FN:Mr. John Richter\\, James Doe Sr.', 'N:Doe;John;Richter,James;Mr.;Sr.', 'ORG:ACME']);
    expect(patchVCard(raw, asCrm(raw), opts)).toBe(raw);
  });

  it('R11/M11: a CRM change of a field that is not a name (note, company of a person card) keeps the device FN', () => {
    const raw = card(['FN:Test Kontakt (Büro)', 'N:Kontakt;Test;;;', 'ORG:Alt GmbH']);
    const after = patchVCard(raw, { ...asCrm(raw), note: 'neu', company: 'Neu GmbH' }, opts);
    expect(unfoldedLines(after)).toContain('FN:Test Kontakt (Büro)');
    expect(unfoldedLines(after)).toContain('ORG:Neu GmbH');
  });

  it('R11/M11: a CRM change of a name field rewrites FN from the CRM name', () => {
    const raw = card(['FN:Test Kontakt', 'N:Kontakt;Test;;;']);
    const after = patchVCard(raw, { ...asCrm(raw), lastName: 'Neumann' }, opts);
    expect(unfoldedLines(after)).toContain('FN:Test Neumann');
  });

  it('R11/M11: a company card (FN = ORG) follows a CRM company change; an e-mail FN stays on other changes', () => {
    const company = card(['FN:Muster GmbH', 'N:;;;;', 'ORG:Muster GmbH']);
    expect(unfoldedLines(patchVCard(company, { ...asCrm(company), company: 'Muster AG' }, opts))).toContain('FN:Muster AG');
    const mail = card(['FN:info@example.com', 'EMAIL:info@example.com']);
    const crm = asCrm(mail);
    expect(crm.firstName + crm.lastName).toBe('');
    expect(unfoldedLines(patchVCard(mail, { ...crm, note: 'x' }, opts))).toContain('FN:info@example.com');
  });

  it('M11: a contact with FN but no N (vCard 4.0, CardBook/Nextcloud) reaches the CRM with its name; nothing is added to the card', () => {
    const raw = ['BEGIN:VCARD', 'VERSION:4.0', 'FN:Erika Mustermann', 'UID:urn:uuid:1', 'END:VCARD', ''].join('\r\n');
    const f = vCardToAddress(raw, opts).fields;
    expect([f.firstName, f.lastName, f.company]).toEqual(['Erika', 'Mustermann', '']);
    expect(patchVCard(raw, asCrm(raw), opts)).toBe(raw);
    const org = ['BEGIN:VCARD', 'VERSION:4.0', 'KIND:org', 'FN:Muster GmbH', 'UID:urn:uuid:2', 'END:VCARD', ''].join('\r\n');
    const g = vCardToAddress(org, opts).fields;
    expect([g.firstName, g.lastName, g.company]).toEqual(['', '', 'Muster GmbH']);
    const one = vCardToAddress(card(['FN:Madonna']), opts).fields;
    expect([one.firstName, one.lastName]).toEqual(['', 'Madonna']);
  });
});

describe('R12: device numbers that fit no slot type take the first free position', () => {
  it('R12: an assistant number, a custom label and TYPE=voice,home,pref,x-useless reach the CRM; the card stays as written', () => {
    const raw = [
      'BEGIN:VCARD', 'VERSION:3.0', 'FN:A B', 'N:B;A;;;', 'UID:dev-2',
      'TEL;TYPE=voice,home,pref,x-useless:+49 30 1', 'item1.TEL:+49 30 2', 'item1.X-ABLabel:Zweitwohnung',
      'TEL;TYPE=X-ASSISTANT:+49 30 3', 'END:VCARD', '',
    ].join('\r\n');
    const c = vCardToAddress(raw, opts);
    expect(c.fields.phones.map((p) => p.number)).toEqual(['+49 30 2', '+49 30 3', '', '+49 30 1']);
    expect(c.unslottedPhones).toEqual([]);
    expect(patchVCard(raw, address({ ...c.fields, id: 'a1' }), opts)).toBe(raw);
  });

  it('R12: only what does not fit into the eight positions stays device-only', () => {
    const tels = Array.from({ length: 10 }, (_, i) => `TEL;TYPE=cell:+49 170 ${i}`);
    const raw = ['BEGIN:VCARD', 'VERSION:3.0', 'FN:A', 'N:A;;;;', ...tels, 'END:VCARD', ''].join('\r\n');
    const c = vCardToAddress(raw, opts);
    expect(c.fields.phones.filter((p) => p.number !== '')).toHaveLength(8);
    expect(c.unslottedPhones).toEqual(['+49 170 8', '+49 170 9']);
  });
});
