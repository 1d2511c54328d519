// Content lines of vCard (RFC 6350 §3.2, RFC 2426) and iCalendar (RFC 5545 §3.1).
// ical.js validates items and does the date/time work, but it re-serializes every value it
// parses (e.g. `BDAY:19800101` comes back as `BDAY:1980-01-01`), so patching a device item goes
// through this line model instead: untouched lines are written back with their original bytes
// (including their original folding), only CRM-owned lines are replaced.
import { MappingError } from './errors.js';

/** Largest item we accept; photos make cards of several MB, anything beyond this is not a contact. */
export const MAX_ITEM_BYTES = 20 * 1024 * 1024;

export interface Param {
  /** Upper case. */
  name: string;
  /** Unquoted values. */
  values: string[];
}

export interface ContentLine {
  /** Original physical text including folds (without the final line break); null for lines we built. */
  original: string | null;
  /** 1-based physical line number in the input (0 for built lines). */
  lineNo: number;
  group: string | null;
  /** Upper case. */
  name: string;
  params: Param[];
  /** Raw (still escaped) value. */
  value: string;
  /** Text before the value's colon as written (group, name, params); kept when only the value changes. */
  head: string | null;
}

export interface ComponentNode {
  /** Upper case, e.g. VCARD, VEVENT. */
  name: string;
  begin: ContentLine;
  end: ContentLine | null;
  children: Array<ContentLine | ComponentNode>;
  /** Set on the root when the input was a vCard 2.1 that parseItem converted to 3.0. */
  convertedFrom21?: boolean;
}

export function isComponent(x: ContentLine | ComponentNode): x is ComponentNode {
  return (x as ComponentNode).children !== undefined;
}

const utf8Strict = new TextDecoder('utf-8', { fatal: true });

// Legacy cards (vCard 2.1 exports, old Outlook) are mostly Windows-1252; it is a superset of the
// printable part of ISO-8859-1, so it is the better guess when the bytes are not UTF-8. Node
// builds without full ICU decode 'windows-1252' as plain latin1 (0x80 → U+0080, not €), so the
// 0x80–0x9F block is mapped here.
const CP1252_HIGH =
  '\u20ac\u0081\u201a\u0192\u201e\u2026\u2020\u2021\u02c6\u2030\u0160\u2039\u0152\u008d\u017d\u008f' +
  '\u0090\u2018\u2019\u201c\u201d\u2022\u2013\u2014\u02dc\u2122\u0161\u203a\u0153\u009d\u017e\u0178';
const cp1252 = {
  decode(bytes: Uint8Array): string {
    let out = '';
    for (let i = 0; i < bytes.length; i += 8192) {
      const chunk = bytes.subarray(i, i + 8192);
      out += String.fromCharCode(...Array.from(chunk, (b) => (b >= 0x80 && b <= 0x9f ? CP1252_HIGH.charCodeAt(b - 0x80) : b)));
    }
    return out;
  },
};

/** Bytes or text → text: UTF-8 when valid, Windows-1252 otherwise; BOM removed. */
export function decodeItem(raw: string | Buffer | Uint8Array): string {
  let text: string;
  if (typeof raw === 'string') text = raw;
  else {
    if (raw.byteLength > MAX_ITEM_BYTES) throw tooLarge(raw.byteLength);
    try {
      text = utf8Strict.decode(raw);
    } catch {
      text = cp1252.decode(raw);
    }
  }
  if (text.length > MAX_ITEM_BYTES) throw tooLarge(text.length);
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  return text;
}

function tooLarge(n: number): MappingError {
  return new MappingError(`item is ${(n / 1024 / 1024).toFixed(1)} MB, more than the ${MAX_ITEM_BYTES / 1024 / 1024} MB a contact or event may have`, {
    remedy: 'Shrink the item on the device (e.g. a smaller photo or fewer attachments); it stays on the device unsynced until then.',
  });
}

// Control characters other than TAB, CR, LF are not allowed in content lines (RFC 5545 §3.1,
// RFC 6350 §3.3); some exporters leave them in notes. They carry no meaning, so they are dropped.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\x00-\x08\x0B\x0C\x0E-\x1F\x7F]/g;
// eslint-disable-next-line no-control-regex
const HAS_CONTROL = /[\x00-\x08\x0B\x0C\x0E-\x1F\x7F]/;

export function stripControl(s: string): string {
  return HAS_CONTROL.test(s) ? s.replace(CONTROL, '') : s;
}

interface PhysicalLogicalLine {
  text: string;
  original: string;
  lineNo: number;
}

/** Unfolds (RFC 5545 §3.1) and, for vCard 2.1 quoted-printable values, joins soft line breaks. */
function unfold(input: string): PhysicalLogicalLine[] {
  // Lone CRs (old Mac exports) become line breaks; the common CRLF/LF case skips the regex.
  const text = input.indexOf('\r') >= 0 && /\r(?!\n)/.test(input) ? input.replace(/\r(?!\n)/g, '\n') : input;
  const out: PhysicalLogicalLine[] = [];
  let cur: PhysicalLogicalLine | null = null;
  let qpSoft = false;
  let pos = 0;
  let lineNo = 0;
  const n = text.length;
  while (pos <= n) {
    let nl = text.indexOf('\n', pos);
    if (nl < 0) nl = n;
    const end = nl > pos && text.charCodeAt(nl - 1) === 13 ? nl - 1 : nl;
    const line = text.slice(pos, end);
    pos = nl + 1;
    lineNo++;
    const first = line.charCodeAt(0);
    if (cur && (first === 32 || first === 9)) {
      cur.text += line.slice(1);
      cur.original += `\r\n${line}`;
      continue;
    }
    if (cur && qpSoft) {
      // vCard 2.1 quoted-printable: a value ending in '=' continues on the next line, unindented.
      cur.text = cur.text.slice(0, -1) + line;
      cur.original += `\r\n${line}`;
      qpSoft = line.endsWith('=');
      continue;
    }
    if (line === '') {
      cur = null;
      continue;
    }
    cur = { text: line, original: line, lineNo };
    out.push(cur);
    qpSoft = line.charCodeAt(line.length - 1) === 61 && /QUOTED-PRINTABLE/i.test(line.slice(0, line.indexOf(':') + 1 || undefined));
  }
  return out;
}

/** Splits one unfolded line into group, name, params and raw value; null when it is not a content line. */
export function parseLine(text: string): Omit<ContentLine, 'original' | 'lineNo'> | null {
  // name = [group "."] iana-token / x-name
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text.charCodeAt(i);
    // A-Z a-z 0-9 - . _ (underscore: some exporters use it in X- names)
    if ((c >= 65 && c <= 90) || (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 45 || c === 46 || c === 95) i++;
    else break;
  }
  if (i === 0 || i >= n) return null;
  const fullName = text.slice(0, i);
  const dot = fullName.indexOf('.');
  const group = dot > 0 ? fullName.slice(0, dot) : null;
  const name = (dot > 0 ? fullName.slice(dot + 1) : fullName).toUpperCase();
  if (name === '') return null;
  const params: Param[] = [];
  while (text[i] === ';') {
    i++;
    const start = i;
    while (i < n && text[i] !== '=' && text[i] !== ';' && text[i] !== ':') i++;
    const pname = text.slice(start, i).toUpperCase();
    if (pname === '') return null;
    if (text[i] !== '=') {
      // vCard 2.1 bare parameter (TEL;WORK;VOICE:…): means TYPE=…; kept as such, the 2.1
      // conversion turns it into TYPE.
      params.push({ name: '', values: [pname] });
      continue;
    }
    i++;
    const values: string[] = [];
    for (;;) {
      if (text[i] === '"') {
        const close = text.indexOf('"', i + 1);
        if (close < 0) return null;
        values.push(text.slice(i + 1, close));
        i = close + 1;
      } else {
        const start2 = i;
        while (i < n && text[i] !== ',' && text[i] !== ';' && text[i] !== ':') i++;
        values.push(text.slice(start2, i));
      }
      if (text[i] === ',') {
        i++;
        continue;
      }
      break;
    }
    const existing = params.find((p) => p.name === pname);
    if (existing) existing.values.push(...values);
    else params.push({ name: pname, values });
  }
  if (text[i] !== ':') return null;
  return { group, name, params, value: text.slice(i + 1), head: text.slice(0, i) };
}

/**
 * Parses an item into a component tree. Throws MappingError naming the first bad line.
 * Strips control characters and converts vCard 2.1 into 3.0 (decoding quoted-printable/charset).
 */
export function parseItem(raw: string | Buffer): ComponentNode {
  const text = stripControl(decodeItem(raw));
  const lines = unfold(text);
  const root: ComponentNode = { name: '#ROOT', begin: builtLine('BEGIN', '#ROOT'), end: null, children: [] };
  const stack: ComponentNode[] = [root];
  let is21 = false;
  for (const l of lines) {
    const parsed = parseLine(l.text);
    if (!parsed) {
      throw new MappingError('not a valid content line (expected NAME[;PARAM=VALUE]:VALUE)', { line: l.lineNo, lineText: l.text });
    }
    const line: ContentLine = {
      original: l.original,
      lineNo: l.lineNo,
      group: parsed.group,
      name: parsed.name,
      params: parsed.params,
      value: parsed.value,
      head: parsed.head,
    };
    const top = stack[stack.length - 1]!;
    if (line.name === 'BEGIN') {
      const comp: ComponentNode = { name: line.value.trim().toUpperCase(), begin: line, end: null, children: [] };
      top.children.push(comp);
      stack.push(comp);
    } else if (line.name === 'END') {
      const name = line.value.trim().toUpperCase();
      if (stack.length === 1 || top.name !== name) {
        throw new MappingError(`END:${name} does not close ${stack.length === 1 ? 'any component' : `BEGIN:${top.name}`}`, { line: l.lineNo, lineText: l.text });
      }
      top.end = line;
      stack.pop();
    } else {
      if (stack.length === 1) throw new MappingError('content outside BEGIN/END', { line: l.lineNo, lineText: l.text });
      if (line.name === 'VERSION' && line.value.trim() === '2.1') is21 = true;
      top.children.push(line);
    }
  }
  if (stack.length > 1) {
    const open = stack[stack.length - 1]!;
    throw new MappingError(`BEGIN:${open.name} is never closed (item cut off?)`, { line: open.begin.lineNo, lineText: `BEGIN:${open.name}` });
  }
  if (root.children.length === 0) throw new MappingError('empty item: no BEGIN line');
  if (is21) {
    convertV21(root);
    root.convertedFrom21 = true;
  }
  return root;
}

export function builtLine(name: string, value: string, params: Param[] = [], group: string | null = null): ContentLine {
  return { original: null, lineNo: 0, group, name, params, value, head: null };
}

// vCard 2.1 bare parameter values that are not types.
const V21_ENCODINGS = new Set(['QUOTED-PRINTABLE', 'BASE64', '8BIT', '7BIT']);

/** vCard 2.1 → 3.0 in place: bare params → TYPE, QUOTED-PRINTABLE + CHARSET decoded and re-escaped. */
function convertV21(root: ComponentNode): void {
  for (const node of root.children) {
    if (!isComponent(node)) continue;
    for (const child of node.children) {
      if (isComponent(child)) continue;
      const line = child;
      if (line.name === 'VERSION') {
        line.value = '3.0';
        line.original = null;
        line.head = null;
        continue;
      }
      let encoding = '';
      let charset = '';
      const types: string[] = [];
      const rest: Param[] = [];
      for (const p of line.params) {
        if (p.name === '') {
          const v = p.values[0]!.toUpperCase();
          if (V21_ENCODINGS.has(v)) encoding = v;
          else types.push(p.values[0]!);
        } else if (p.name === 'ENCODING') encoding = (p.values[0] ?? '').toUpperCase();
        else if (p.name === 'CHARSET') charset = p.values[0] ?? '';
        else if (p.name === 'TYPE') types.push(...p.values);
        else rest.push(p);
      }
      if (types.length) rest.unshift({ name: 'TYPE', values: types });
      if (encoding === 'BASE64') rest.push({ name: 'ENCODING', values: ['b'] });
      line.params = rest;
      line.head = null;
      if (encoding === 'QUOTED-PRINTABLE') {
        const decoded = decodeQuotedPrintable(line.value, charset);
        // 2.1 separates structured parts with ';' like 3.0, but has no ',' lists and raw line breaks.
        line.value = decoded.replace(/\r\n|\r|\n/g, '\\n').replace(/,/g, '\\,');
      } else if (line.name !== 'PHOTO' && line.name !== 'LOGO' && line.name !== 'SOUND' && line.name !== 'KEY') {
        line.value = line.value.replace(/,/g, '\\,');
      }
      line.original = null;
    }
  }
}

function decodeQuotedPrintable(value: string, charset: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < value.length; i++) {
    const c = value[i]!;
    if (c === '=' && /^[0-9A-Fa-f]{2}$/.test(value.slice(i + 1, i + 3))) {
      bytes.push(parseInt(value.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      const code = value.charCodeAt(i);
      if (code < 0x80) bytes.push(code);
      else bytes.push(...Buffer.from(c, 'utf8'));
    }
  }
  const buf = Uint8Array.from(bytes);
  const label = charset.toLowerCase() || 'utf-8';
  if (label === 'iso-8859-1' || label === 'latin1' || label === 'windows-1252' || label === 'cp1252') return cp1252.decode(buf);
  try {
    return new TextDecoder(label, { fatal: true }).decode(buf);
  } catch {
    try {
      return utf8Strict.decode(buf);
    } catch {
      return cp1252.decode(buf);
    }
  }
}

// --- text values (RFC 6350 §3.4, RFC 5545 §3.3.11) ---

const NEEDS_ESCAPE = /[\\;,\n\r]/;
export function escapeText(s: string): string {
  const t = stripControl(s);
  if (!NEEDS_ESCAPE.test(t)) return t;
  return t.replace(/[\\;,\n]|\r\n?/g, (m) => (m === '\\' ? '\\\\' : m === ';' ? '\\;' : m === ',' ? '\\,' : '\\n'));
}

export function unescapeText(s: string): string {
  if (s.indexOf('\\') < 0) return s;
  return s.replace(/\\(.)/g, (_m, c: string) => (c === 'n' || c === 'N' ? '\n' : c));
}

/** Splits a raw value at unescaped `sep` (';' for structured parts, ',' for lists); parts stay escaped. */
export function splitRaw(value: string, sep: ';' | ','): string[] {
  const parts: string[] = [];
  let start = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (c === '\\') i++;
    else if (c === sep) {
      parts.push(value.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(value.slice(start));
  return parts;
}

// --- writing ---

function paramValue(v: string): string {
  return /[;:,"]/.test(v) ? `"${v.replace(/"/g, "'")}"` : v;
}

export function formatLine(line: ContentLine): string {
  if (line.original !== null) return line.original;
  if (line.head !== null) return fold(`${line.head}:${line.value}`);
  let s = line.group ? `${line.group}.${line.name}` : line.name;
  for (const p of line.params) s += `;${p.name}=${p.values.map(paramValue).join(',')}`;
  return fold(`${s}:${line.value}`);
}

/** Folds at 75 octets (RFC 5545 §3.1) without splitting a UTF-8 sequence. */
export function fold(line: string): string {
  if (line.length <= 25) return line; // ≤ 3 bytes per UTF-16 unit: cannot exceed 75 octets
  let ascii = true;
  for (let i = 0; i < line.length; i++) {
    if (line.charCodeAt(i) > 0x7f) {
      ascii = false;
      break;
    }
  }
  if (ascii) {
    if (line.length <= 75) return line;
    let out = line.slice(0, 75);
    for (let i = 75; i < line.length; i += 74) out += `\r\n ${line.slice(i, i + 74)}`;
    return out;
  }
  // Slices joined once: appending per character would leave a rope of one node per character
  // in every rendered item the plan holds (measured: 88 rope nodes per contact, 56 MB at 20k).
  const parts: string[] = [];
  let start = 0;
  let bytes = 0;
  for (let i = 0; i < line.length; ) {
    const cp = line.codePointAt(i)!;
    const units = cp > 0xffff ? 2 : 1;
    const b = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    if (bytes + b > 75) {
      parts.push(line.slice(start, i));
      start = i;
      bytes = 1; // the leading space of the continuation line
    }
    bytes += b;
    i += units;
  }
  parts.push(line.slice(start));
  return parts.join('\r\n ');
}

function collectComponent(node: ComponentNode, out: string[]): void {
  out.push(formatLine(node.begin));
  for (const c of node.children) {
    if (isComponent(c)) collectComponent(c, out);
    else out.push(formatLine(c));
  }
  out.push(node.end ? formatLine(node.end) : `END:${node.name}`);
}

/** One flat string per item (joined, not appended): the plan holds thousands of these at once. */
export function serializeComponent(node: ComponentNode): string {
  const lines: string[] = [];
  collectComponent(node, lines);
  return lines.join('\r\n') + '\r\n';
}

export function serializeRoot(root: ComponentNode): string {
  const lines: string[] = [];
  for (const c of root.children) if (isComponent(c)) collectComponent(c, lines);
  return lines.length ? lines.join('\r\n') + '\r\n' : '';
}

export function paramValues(line: ContentLine, name: string): string[] {
  const out: string[] = [];
  for (const p of line.params) if (p.name === name) out.push(...p.values);
  return out;
}

/** Lower-cased TYPE values, also split when a client packs them as `TYPE="work,voice"`. */
export function typesOf(line: ContentLine): string[] {
  const out: string[] = [];
  for (const p of line.params) {
    if (p.name !== 'TYPE') continue;
    for (const v of p.values) for (const t of v.split(',')) if (t) out.push(t.trim().toLowerCase());
  }
  return out;
}

export function childLines(node: ComponentNode): ContentLine[] {
  return node.children.filter((c): c is ContentLine => !isComponent(c));
}

export function childComponents(node: ComponentNode, name?: string): ComponentNode[] {
  return node.children.filter((c): c is ComponentNode => isComponent(c) && (name === undefined || c.name === name));
}
