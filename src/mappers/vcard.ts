// CRM address ↔ vCard 3.0/4.0 (R10–R13).
import ICAL from 'ical.js';
import type { Address, AddressFields, Phone } from '../providers/crm/model.js';
import {
  type ComponentNode,
  type ContentLine,
  builtLine,
  childLines,
  escapeText,
  fold,
  isComponent,
  parseItem,
  serializeRoot,
  splitRaw,
  stripControl,
  typesOf,
  unescapeText,
} from './content-lines.js';
import { MappingError } from './errors.js';
import { type TelLineInfo, assignSlots, faxLine, telLines, telNumber } from './phone-slots.js';
import type { DeviceContact, MapperOptions } from './types.js';
import { stableUid } from './uid.js';

const PRIVATE_CATEGORIES = new Set(['private', 'privat']);

// --- new contact: built as a string directly (no parse), it is the hot path of a first upload ---

export function addressToVCard(address: Address, opts: MapperOptions): string {
  const v4 = opts.vcardVersion === '4.0';
  let out = `BEGIN:VCARD\r\nVERSION:${v4 ? '4.0' : '3.0'}\r\n`;
  if (opts.prodId) out += `${fold(`PRODID:${escapeText(opts.prodId)}`)}\r\n`;
  out += `UID:${stableUid('address', address.id)}\r\n`;
  out += `${fold(`FN:${escapeText(displayName(address))}`)}\r\n`;
  out += `${fold(`N:${nValue(address, ['', ''])}`)}\r\n`;
  if (address.company) out += `${fold(`ORG:${escapeText(address.company)}`)}\r\n`;
  if (hasPostal(address)) out += `${fold(`ADR;TYPE=work:${adrValue(address, [])}`)}\r\n`;
  if (address.email) out += `${fold(`EMAIL;TYPE=${v4 ? 'work' : 'INTERNET,WORK'}:${escapeText(address.email)}`)}\r\n`;
  const slots = opts.phoneSlots;
  let item = 0;
  for (let i = 0; i < slots.length; i++) {
    const n = address.phones[i]?.number ?? '';
    if (n.trim() === '') continue;
    const label = slots[i]!.writeLabel;
    if (label) {
      item++;
      out += `${fold(`item${item}.${telText(slots[i]!.types, n, v4)}`)}\r\n${fold(`item${item}.X-ABLabel:${escapeText(label)}`)}\r\n`;
    } else out += `${fold(telText(slots[i]!.types, n, v4))}\r\n`;
  }
  if (address.fax) out += `${fold(telText(['work', 'fax'], address.fax, v4))}\r\n`;
  if (address.note) out += `${fold(`NOTE:${escapeText(address.note)}`)}\r\n`;
  if (address.private) out += 'CATEGORIES:private\r\n';
  const rev = revStamp(address.updatedAt);
  if (rev) out += `REV:${rev}\r\n`;
  return `${out}END:VCARD\r\n`;
}

function telText(types: string[], number: string, v4: boolean): string {
  // vCard 4.0 TEL defaults to a tel: URI; the number is written as text (VALUE=text) exactly as
  // the CRM holds it (R12), which a tel: URI could not carry (spaces, letters).
  return `TEL;TYPE=${types.join(',')}${v4 ? ';VALUE=text' : ''}:${escapeText(number)}`;
}

function displayName(a: AddressFields & { id?: string }): string {
  const name = [a.title, a.firstName, a.lastName].filter((s) => s.trim() !== '').join(' ');
  // FN is mandatory (Nextcloud rejects a card without it): fall back to what the user would recognize.
  return name || a.company || a.email || a.phones.find((p) => p.number)?.number || 'CRM contact';
}

const SALUTATIONS = /^(herr|frau|firma|familie|fam\.|eheleute|mr\.?|mrs\.?|ms\.?|miss|mx\.?|madame|monsieur|mme\.?|sir|dame)$/i;
const TITLE_LIKE = /\.|^(dr|prof|dipl|mag|ing|lic|phd|mba|msc|bsc)\b/i;

/** N = family;given;additional;prefixes;suffixes. Prefixes = salutation,title (a comma list). */
function nValue(a: AddressFields, keep: [string, string]): string {
  const prefixes = [a.salutation, a.title].filter((s) => s !== '').map(escapeText).join(',');
  return `${escapeText(a.lastName)};${escapeText(a.firstName)};${keep[0]};${prefixes};${keep[1]}`;
}

function readPrefixes(raw: string): { salutation: string; title: string } {
  const parts = splitRaw(raw, ',').map(unescapeText).filter((s) => s !== '');
  if (parts.length === 0) return { salutation: '', title: '' };
  if (parts.length === 1) {
    const p = parts[0]!;
    // One prefix: a salutation unless it looks like an academic title (see docs/mappers.md).
    return SALUTATIONS.test(p) || !TITLE_LIKE.test(p) ? { salutation: p, title: '' } : { salutation: '', title: p };
  }
  return { salutation: parts[0]!, title: parts.slice(1).join(' ') };
}

function hasPersonName(a: Pick<AddressFields, 'firstName' | 'lastName' | 'salutation' | 'title'>): boolean {
  return a.firstName !== '' || a.lastName !== '' || a.salutation !== '' || a.title !== '';
}

/**
 * M11: the name of a card without a (non-empty) N, taken from FN as a user reads it. A company
 * card (FN equal to ORG, `KIND:org`, Apple's `X-ABShowAs:COMPANY`) gives no person name (and the
 * company from FN when there is no ORG); an FN that only repeats the card's e-mail or a phone
 * number is no name either; otherwise the last word is the last name and the rest the first name
 * ("Test Kontakt" → Test / Kontakt, "Madonna" → last name), or "Last, First" when FN has one comma.
 */
function namesFromFn(fnRaw: string, lines: ContentLine[], fields: AddressFields): { firstName: string; lastName: string; company?: string } {
  const fn = fnRaw.trim().replace(/\s+/g, ' ');
  const none = { firstName: '', lastName: '' };
  if (fn === '') return none;
  const valueOf = (name: string) => unescapeText(lines.find((l) => l.name === name)?.value ?? '').trim().toLowerCase();
  const isCompany = valueOf('KIND') === 'org' || valueOf('X-ABSHOWAS') === 'company';
  if (fields.company !== '' && fn.toLowerCase() === fields.company.trim().toLowerCase()) return none;
  if (isCompany) return fields.company === '' ? { ...none, company: fn } : none;
  const lower = fn.toLowerCase();
  const emails = lines.filter((l) => l.name === 'EMAIL').map((l) => unescapeText(l.value).trim().toLowerCase());
  if (emails.includes(lower) || fields.phones.some((p) => p.number !== '' && p.number.trim() === fn)) return none;
  const comma = fn.split(',');
  if (comma.length === 2 && comma[0]!.trim() !== '' && comma[1]!.trim() !== '') return { firstName: comma[1]!.trim(), lastName: comma[0]!.trim() };
  const at = fn.lastIndexOf(' ');
  return at < 0 ? { firstName: '', lastName: fn } : { firstName: fn.slice(0, at), lastName: fn.slice(at + 1) };
}

function hasPostal(a: AddressFields): boolean {
  return a.street !== '' || a.postalCode !== '' || a.city !== '' || a.country !== '';
}

/** ADR = pobox;ext;street;locality;region;code;country — the CRM owns street, locality, code, country. */
function adrValue(a: AddressFields, existing: string[]): string {
  const c = [0, 1, 2, 3, 4, 5, 6].map((i) => existing[i] ?? '');
  c[2] = escapeText(a.street);
  c[3] = escapeText(a.city);
  c[5] = escapeText(a.postalCode);
  c[6] = escapeText(a.country);
  return [...c, ...existing.slice(7)].join(';');
}

function revStamp(iso: string): string | null {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return null;
  return new Date(t).toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
}

// --- reading ---

interface CardModel {
  root: ComponentNode;
  card: ComponentNode;
  version: '2.1' | '3.0' | '4.0';
}

function parseCard(raw: string | Buffer): CardModel {
  const root = parseItem(raw);
  const card = root.children.find((c): c is ComponentNode => isComponent(c) && c.name === 'VCARD');
  if (!card) throw new MappingError('no BEGIN:VCARD component', { line: 1 });
  const versionLine = childLines(card).find((l) => l.name === 'VERSION');
  const v = versionLine?.value.trim();
  const version = root.convertedFrom21 ? '2.1' : v === '4.0' ? '4.0' : '3.0';
  validateWithIcal(serializeRoot(root));
  return { root, card, version };
}

/** ical.js is the strict reference parser: whatever it rejects is reported with the line it names. */
function validateWithIcal(text: string): void {
  try {
    ICAL.parse(text);
  } catch (e) {
    const msg = (e as Error).message;
    const quoted = /"([^"]*)"|'([^']*)'/.exec(msg);
    const needle = quoted ? (quoted[1] ?? quoted[2] ?? '') : '';
    const lines = text.split('\r\n');
    const idx = needle ? lines.findIndex((l) => l.includes(needle)) : -1;
    throw new MappingError(`rejected by the iCalendar/vCard parser: ${msg}`, idx >= 0 ? { line: idx + 1, lineText: lines[idx], cause: e } : { cause: e });
  }
}

interface OwnedLines {
  n?: ContentLine;
  fn?: ContentLine;
  org?: ContentLine;
  adr?: ContentLine;
  email?: ContentLine;
  note?: ContentLine;
  uid?: ContentLine;
  fax?: TelLineInfo;
  bySlot: Array<TelLineInfo | undefined>;
  unslotted: TelLineInfo[];
  categories: ContentLine[];
}

/** Which device line holds which CRM field; the reader and the patcher share this choice. */
function ownedLines(lines: ContentLine[], opts: MapperOptions): OwnedLines {
  const first = (name: string) => lines.find((l) => l.name === name);
  const adrs = lines.filter((l) => l.name === 'ADR');
  const emails = lines.filter((l) => l.name === 'EMAIL');
  // R10: the business address; a card without one gets its first untyped address used.
  const adr = adrs.find((l) => typesOf(l).includes('work')) ?? adrs.find((l) => typesOf(l).every((t) => t === 'pref' || t === 'postal' || t === 'parcel'));
  const email = emails.find((l) => typesOf(l).includes('work')) ?? emails.find((l) => typesOf(l).every((t) => t === 'pref' || t === 'internet'));
  const tels = telLines(lines, opts.phoneSlots);
  const { bySlot, unslotted } = assignSlots(tels, opts.phoneSlots);
  return {
    n: first('N'),
    fn: first('FN'),
    org: first('ORG'),
    adr,
    email,
    note: first('NOTE'),
    uid: first('UID'),
    fax: faxLine(tels),
    bySlot,
    unslotted,
    categories: lines.filter((l) => l.name === 'CATEGORIES'),
  };
}

function categoryTokens(lines: ContentLine[]): string[] {
  return lines.flatMap((l) => splitRaw(l.value, ',').map((t) => unescapeText(t).trim()));
}

export function vCardToAddress(raw: string | Buffer, opts: MapperOptions): DeviceContact {
  const { card, version } = parseCard(raw);
  const lines = childLines(card);
  const o = ownedLines(lines, opts);
  const nParts = o.n ? splitRaw(o.n.value, ';') : [];
  const { salutation, title } = readPrefixes(nParts[3] ?? '');
  const orgName = o.org ? unescapeText(splitRaw(o.org.value, ';')[0] ?? '') : '';
  const adrParts = o.adr ? splitRaw(o.adr.value, ';').map(unescapeText) : [];
  const phones: Phone[] = o.bySlot.map((t) => ({ number: t ? telNumber(t.line) : '', remark: '' }));
  while (phones.length && phones[phones.length - 1]!.number === '') phones.pop();
  const fields: AddressFields = {
    company: orgName,
    salutation,
    title,
    firstName: unescapeText(nParts[1] ?? ''),
    lastName: unescapeText(nParts[0] ?? ''),
    street: adrParts[2] ?? '',
    postalCode: adrParts[5] ?? '',
    city: adrParts[3] ?? '',
    country: adrParts[6] ?? '',
    fax: o.fax ? telNumber(o.fax.line) : '',
    email: o.email ? unescapeText(o.email.value).trim() : '',
    note: o.note ? unescapeText(o.note.value) : '',
    phones,
  };
  if (!o.n && !o.fn) throw new MappingError('the card has neither N nor FN', { remedy: 'Give the contact a name on the device.' });
  if (!o.n) {
    // M11: no N (vCard 4.0 from CardBook, Nextcloud): the name comes from FN. An empty N that
    // is present is the device's own choice (Apple's company cards) and gives no name.
    const named = namesFromFn(o.fn ? unescapeText(o.fn.value) : '', lines, fields);
    fields.firstName = named.firstName;
    fields.lastName = named.lastName;
    if (named.company !== undefined) fields.company = named.company;
  }
  return {
    uid: o.uid ? unescapeText(o.uid.value).trim() : '',
    fields,
    isPrivate: categoryTokens(o.categories).some((t) => PRIVATE_CATEGORIES.has(t.toLowerCase())),
    unslottedPhones: o.unslotted.map((t) => telNumber(t.line)),
    version,
  };
}

// --- patching an existing device card (R10, R11): only CRM-owned lines change ---

/** The edits of one patch, collected on the card's children and applied at the end in one pass. */
class CardEdits {
  readonly replace = new Map<ContentLine, ContentLine | null>();
  /** Lines to insert before a child; null = before END. */
  readonly insertBefore = new Map<ContentLine | null, ContentLine[]>();

  constructor(private readonly card: ComponentNode) {}

  insert(anchor: ContentLine | null, l: ContentLine): void {
    const list = this.insertBefore.get(anchor) ?? [];
    list.push(l);
    this.insertBefore.set(anchor, list);
  }

  remove(line: ContentLine): void {
    this.replace.set(line, null);
  }

  setValue(line: ContentLine, value: string): void {
    if (line.value !== value) this.replace.set(line, { ...line, value, original: null });
  }

  /** A vCard 4.0 `tel:` URI cannot hold the number as the CRM writes it (spaces, letters), and
   *  re-encoding would read back differently; the line becomes VALUE=text, keeping group and TYPE. */
  setTel(line: ContentLine, number: string): void {
    if (!/^tel:/i.test(line.value.trim())) return this.setValue(line, escapeText(number));
    const params = line.params.filter((p) => p.name !== 'VALUE');
    params.push({ name: 'VALUE', values: ['text'] });
    this.replace.set(line, { ...line, params, value: escapeText(number), head: null, original: null });
  }

  /** Where to insert after the last line of that name: before the line that follows it. */
  afterLast(name: string): ContentLine | null {
    const children = this.card.children;
    let idx = -1;
    children.forEach((c, i) => {
      if (!isComponent(c) && c.name === name) idx = i;
    });
    for (let i = idx + 1; idx >= 0 && i < children.length; i++) {
      const c = children[i]!;
      if (!isComponent(c)) return c;
    }
    return null;
  }

  get any(): boolean {
    return this.replace.size > 0 || this.insertBefore.size > 0;
  }

  apply(): void {
    const children: Array<ContentLine | ComponentNode> = [];
    for (const c of this.card.children) {
      if (!isComponent(c)) {
        for (const l of this.insertBefore.get(c) ?? []) children.push(l);
        if (this.replace.has(c)) {
          const r = this.replace.get(c);
          if (r) children.push(r);
          continue;
        }
      }
      children.push(c);
    }
    for (const l of this.insertBefore.get(null) ?? []) children.push(l);
    this.card.children = children;
  }
}

interface CardPatch {
  edits: CardEdits;
  lines: ContentLine[];
  o: OwnedLines;
  address: Address;
  v4: boolean;
  opts: MapperOptions;
}

export function patchVCard(existing: string, address: Address, opts: MapperOptions): string {
  const { root, card, version } = parseCard(existing);
  const lines = childLines(card);
  const p: CardPatch = { edits: new CardEdits(card), lines, o: ownedLines(lines, opts), address, v4: version === '4.0', opts };
  patchNames(p);
  patchPostal(p);
  patchEmail(p);
  patchPhones(p);
  patchNote(p);
  patchPrivateCategory(p);
  if (!p.edits.any && version !== '2.1') return existing;
  patchBookkeeping(p);
  p.edits.apply();
  return serializeRoot(root);
}

/** UID, N, FN and ORG (R11, M11). */
function patchNames({ edits, lines, o, address }: CardPatch): void {
  if (!o.uid) edits.insert(edits.afterLast('VERSION'), builtLine('UID', stableUid('address', address.id)));
  // FN is derived (M11): it is rewritten only when this patch changes a CRM-owned name field —
  // N, or the company of a card whose FN shows the company — never to "normalize" the device's
  // own display name ("Mr. John Richter, James Doe Sr." stays).
  const devCompany = o.org ? unescapeText(splitRaw(o.org.value, ';')[0] ?? '') : '';
  const devFn = o.fn ? unescapeText(o.fn.value) : '';
  let nameChanged = false;
  if (o.n) {
    const parts = splitRaw(o.n.value, ';');
    const newN = nValue(address, [parts[2] ?? '', parts.slice(4).join(';')]);
    if (!sameN(o.n.value, newN)) {
      edits.setValue(o.n, newN);
      nameChanged = true;
    }
  } else {
    // No N: the device's name is what FN gives (M11); only a different CRM name writes N.
    const named = namesFromFn(devFn, lines, { ...emptyFields(), company: devCompany, phones: o.bySlot.map((t) => ({ number: t ? telNumber(t.line) : '', remark: '' })) });
    const crmHas = hasPersonName(address);
    const same = !crmHas ? named.firstName === '' && named.lastName === '' : address.salutation === '' && address.title === '' && named.firstName === norm(address.firstName) && named.lastName === norm(address.lastName);
    if (!same) {
      nameChanged = true;
      edits.insert(edits.afterLast('FN') ?? edits.afterLast('VERSION'), builtLine('N', nValue(address, ['', ''])));
    }
  }
  const companyChanged = devCompany !== norm(address.company);
  const fnShowsCompany = devCompany.trim() !== '' && devFn.trim() === devCompany.trim();
  const fn = escapeText(displayName(address));
  if (!o.fn) edits.insert(edits.afterLast('VERSION'), builtLine('FN', fn));
  else if ((nameChanged || (companyChanged && fnShowsCompany)) && devFn !== unescapeText(fn)) edits.setValue(o.fn, fn);

  if (o.org) {
    const parts = splitRaw(o.org.value, ';');
    if (unescapeText(parts[0] ?? '') !== norm(address.company)) {
      if (address.company === '' && parts.length === 1) edits.remove(o.org);
      else edits.setValue(o.org, [escapeText(address.company), ...parts.slice(1)].join(';'));
    }
  } else if (address.company) edits.insert(edits.afterLast('N'), builtLine('ORG', escapeText(address.company)));
}

/** The work address (R10): other addresses on the device are never touched. */
function patchPostal({ edits, o, address }: CardPatch): void {
  if (o.adr) {
    const parts = splitRaw(o.adr.value, ';');
    const cur = parts.map(unescapeText);
    if (cur[2] !== norm(address.street) || cur[3] !== norm(address.city) || cur[5] !== norm(address.postalCode) || cur[6] !== norm(address.country)) {
      const next = adrValue(address, parts);
      if (!hasPostal(address) && splitRaw(next, ';').every((x) => x === '')) edits.remove(o.adr);
      else edits.setValue(o.adr, next);
    }
  } else if (hasPostal(address)) edits.insert(edits.afterLast('ADR') ?? edits.afterLast('ORG'), builtLine('ADR', adrValue(address, []), [{ name: 'TYPE', values: ['work'] }]));
}

function patchEmail({ edits, o, address, v4 }: CardPatch): void {
  if (o.email) {
    if (unescapeText(o.email.value).trim() !== norm(address.email).trim()) {
      if (address.email === '') edits.remove(o.email);
      else edits.setValue(o.email, escapeText(address.email));
    }
  } else if (address.email) edits.insert(edits.afterLast('EMAIL') ?? edits.afterLast('ADR'), builtLine('EMAIL', escapeText(address.email), [{ name: 'TYPE', values: v4 ? ['work'] : ['INTERNET', 'WORK'] }]));
}

/** Phones (R12): slot i holds CRM position i+1; numbers past the slot table are never written; device-only lines stay. Then the fax. */
function patchPhones({ edits, lines, o, address, v4, opts }: CardPatch): void {
  const telAnchor = () => edits.afterLast('TEL') ?? edits.afterLast('EMAIL') ?? edits.afterLast('N');
  const pendingTel: Array<{ slot: number; line: ContentLine }> = [];
  opts.phoneSlots.forEach((slot, i) => {
    const want = address.phones[i]?.number ?? '';
    const have = o.bySlot[i];
    if (have) {
      if (want.trim() === '') removeTel(have, lines, edits.replace);
      else if (telNumber(have.line) !== norm(want).trim()) edits.setTel(have.line, want);
    } else if (want.trim() !== '') {
      pendingTel.push({ slot: i, line: telLine(slot.types, want, v4) });
    }
  });
  let nextItem = 1 + Math.max(0, ...lines.map((l) => Number(/^item(\d+)$/i.exec(l.group ?? '')?.[1] ?? 0)));
  for (const p of pendingTel) {
    // Keep the n-th-of-a-type order that assignSlots relies on: a new number goes before any
    // existing line that holds a later slot of the same types.
    const key = opts.phoneSlots[p.slot]!.types.join(',');
    let anchor: ContentLine | null = null;
    for (let j = p.slot + 1; j < opts.phoneSlots.length; j++) {
      const later = o.bySlot[j];
      if (later && opts.phoneSlots[j]!.types.join(',') === key) {
        anchor = later.line;
        break;
      }
    }
    const at = anchor ?? telAnchor();
    const label = opts.phoneSlots[p.slot]!.writeLabel;
    if (label) {
      const group = `item${nextItem++}`;
      edits.insert(at, { ...p.line, group });
      edits.insert(at, builtLine('X-ABLabel', escapeText(label), [], group));
    } else edits.insert(at, p.line);
  }

  if (o.fax) {
    if (telNumber(o.fax.line) !== norm(address.fax).trim()) {
      if (address.fax === '') removeTel(o.fax, lines, edits.replace);
      else edits.setTel(o.fax.line, address.fax);
    }
  } else if (address.fax) edits.insert(telAnchor(), telLine(['work', 'fax'], address.fax, v4));
}

function patchNote({ edits, o, address }: CardPatch): void {
  if (o.note) {
    if (unescapeText(o.note.value) !== stripControl(address.note).replace(/\r\n?/g, '\n')) {
      if (address.note === '') edits.remove(o.note);
      else edits.setValue(o.note, escapeText(address.note));
    }
  } else if (address.note) edits.insert(null, builtLine('NOTE', escapeText(address.note)));
}

/** Category "private" mirrors the CRM flag (R13); the device's other categories are kept. */
function patchPrivateCategory({ edits, o, address }: CardPatch): void {
  const tokens = categoryTokens(o.categories);
  const hasPrivate = tokens.some((t) => PRIVATE_CATEGORIES.has(t.toLowerCase()));
  if (address.private && !hasPrivate) {
    const first = o.categories[0];
    if (first) edits.setValue(first, first.value === '' ? 'private' : `${first.value},private`);
    else edits.insert(null, builtLine('CATEGORIES', 'private'));
  } else if (!address.private && hasPrivate) {
    for (const l of o.categories) {
      const kept = splitRaw(l.value, ',').filter((t) => !PRIVATE_CATEGORIES.has(unescapeText(t).trim().toLowerCase()));
      if (kept.length === 0) edits.remove(l);
      else edits.setValue(l, kept.join(','));
    }
  }
}

/** Only when something changed: one REV, one PRODID (never duplicated). */
function patchBookkeeping({ edits, lines, address, opts }: CardPatch): void {
  const rev = revStamp(address.updatedAt);
  const revLines = lines.filter((l) => l.name === 'REV');
  revLines.forEach((l, i) => edits.replace.set(l, i === 0 && rev ? { ...l, value: rev, params: [], head: null, original: null } : null));
  if (revLines.length === 0 && rev) edits.insert(null, builtLine('REV', rev));
  if (opts.prodId) {
    const prodLines = lines.filter((l) => l.name === 'PRODID');
    prodLines.forEach((l, i) => edits.replace.set(l, i === 0 ? { ...l, value: escapeText(opts.prodId!), original: null } : null));
    if (prodLines.length === 0) edits.insert(edits.afterLast('VERSION'), builtLine('PRODID', escapeText(opts.prodId)));
  }
}

function emptyFields(): AddressFields {
  return { company: '', salutation: '', title: '', firstName: '', lastName: '', street: '', postalCode: '', city: '', country: '', fax: '', email: '', note: '', phones: [] };
}

function sameN(a: string, b: string): boolean {
  const pa = splitRaw(a, ';').map(unescapeText);
  const pb = splitRaw(b, ';').map(unescapeText);
  const prefA = splitRaw(splitRaw(a, ';')[3] ?? '', ',').map(unescapeText).filter(Boolean).join('\u0000');
  const prefB = splitRaw(splitRaw(b, ';')[3] ?? '', ',').map(unescapeText).filter(Boolean).join('\u0000');
  return pa[0] === pb[0] && pa[1] === pb[1] && prefA === prefB;
}

function telLine(types: string[], number: string, v4: boolean): ContentLine {
  const params = [{ name: 'TYPE', values: [...types] }];
  if (v4) params.push({ name: 'VALUE', values: ['text'] });
  return builtLine('TEL', escapeText(number), params);
}

/** CRM text as a device holds it after a round trip: CR LF as LF, control characters dropped. */
function norm(s: string): string {
  const t = stripControl(s);
  return t.indexOf('\r') >= 0 ? t.replace(/\r\n?/g, '\n') : t;
}

/** Removes a TEL line and, when nothing else uses its Apple group, the group's X-ABLabel. */
function removeTel(t: TelLineInfo, lines: ContentLine[], replace: Map<ContentLine, ContentLine | null>): void {
  replace.set(t.line, null);
  const g = t.line.group?.toLowerCase();
  if (!g) return;
  const others = lines.filter((l) => l.group?.toLowerCase() === g && l !== t.line);
  if (others.every((l) => l.name.startsWith('X-AB'))) for (const l of others) replace.set(l, null);
}

/**
 * Merges device phone edits into the CRM list (R12). `devicePhones` are slot-positioned
 * (DeviceContact.fields.phones). A device number equal to a CRM number keeps that CRM position
 * (so reordering on the device never moves numbers); an edited number updates its own position;
 * a number whose position is taken goes to the first free position ≤ slotCount; a position whose
 * number disappeared from the device is emptied (its remark stays). Numbers 9+ and every remark
 * are kept as the CRM has them.
 */
export function mergeDevicePhones(crmPhones: Phone[], devicePhones: Phone[], slotCount: number): Phone[] {
  const result: Phone[] = crmPhones.map((p) => ({ ...p }));
  while (result.length < slotCount) result.push({ number: '', remark: '' });
  const crmNumbers = result.slice(0, slotCount).map((p) => p.number);
  const device = devicePhones.slice(0, slotCount).map((p, i) => ({ pos: i, number: p.number }));
  const matched = new Set<number>(); // CRM positions whose number is still on the device
  const pending: Array<{ pos: number; number: string }> = [];
  for (const d of device) {
    if (d.number.trim() === '') continue;
    // Prefer the device's own position, then any other CRM position holding the same number.
    let q = crmNumbers[d.pos] === d.number && !matched.has(d.pos) ? d.pos : -1;
    if (q < 0) q = crmNumbers.findIndex((n, i) => n === d.number && !matched.has(i));
    if (q >= 0) matched.add(q);
    else pending.push(d);
  }
  const taken = new Set<number>(matched);
  const next = crmNumbers.map((n, i) => (matched.has(i) ? n : ''));
  const leftovers: string[] = [];
  for (const d of pending) {
    if (!taken.has(d.pos)) {
      next[d.pos] = d.number; // edited in place, or added into an empty slot
      taken.add(d.pos);
    } else leftovers.push(d.number);
  }
  for (const n of leftovers) {
    const free = next.findIndex((x, i) => x === '' && !taken.has(i));
    if (free >= 0) {
      next[free] = n;
      taken.add(free);
    }
  }
  for (let i = 0; i < slotCount; i++) result[i] = { number: next[i]!, remark: result[i]!.remark };
  // Trailing empty positions without a remark are not CRM data; positions 9+ are untouched.
  let end = result.length;
  while (end > crmPhones.length && end > 0 && result[end - 1]!.number === '' && result[end - 1]!.remark === '') end--;
  return result.slice(0, end);
}
