// The redaction layer (R25): whatever is logged or printed passes through here. It removes
// URL userinfo, Authorization/Cookie header values, values of secret-looking keys and any
// secret registered at runtime (passwords read by `users assign`, loaded credentials).

const knownSecrets = new Set<string>();
/**
 * The registered secrets by their first three characters, longest first. A daemon holds one
 * password per mailbox: looking each one up in every logged string (as `includes` did) cost
 * O(mailboxes) per string, so O(mailboxes²) per sweep; a scan of the string with this index costs
 * O(length of the string) whatever their number.
 */
const byPrefix = new Map<string, string[]>();
const PREFIX = 3;

/** Registers a secret value so that it is masked wherever it would appear. */
export function registerSecret(value: string | undefined | null): void {
  if (!value || value.length < PREFIX || knownSecrets.has(value)) return;
  knownSecrets.add(value);
  const key = value.slice(0, PREFIX);
  const list = byPrefix.get(key) ?? [];
  list.push(value);
  list.sort((a, b) => b.length - a.length);
  byPrefix.set(key, list);
}

/** The longest registered secret that starts at `at` in `s`, or undefined. */
function secretAt(s: string, at: number): string | undefined {
  const list = byPrefix.get(s.slice(at, at + PREFIX));
  return list?.find((secret) => s.startsWith(secret, at));
}

/**
 * Every registered secret in `s` masked. Where secrets overlap, the mask covers all of them
 * (a secret that starts inside a masked one and reaches further extends the mask).
 */
function maskKnownSecrets(s: string): string {
  if (byPrefix.size === 0 || s.length < PREFIX) return s;
  let out = '';
  let copied = 0;
  for (let i = 0; i + PREFIX <= s.length; ) {
    const hit = secretAt(s, i);
    if (!hit) {
      i++;
      continue;
    }
    let end = i + hit.length;
    for (let j = i + 1; j < end && j + PREFIX <= s.length; j++) {
      const inner = secretAt(s, j);
      if (inner && j + inner.length > end) end = j + inner.length;
    }
    out += s.slice(copied, i) + MASK;
    copied = i = end;
  }
  return copied === 0 ? s : out + s.slice(copied);
}

const SECRET_KEY = /^(password|passwd|pass|secret|token|authorization|auth|cookie|apikey|api_key|credentials?|bearer)$/i;
const MASK = '***';
/** What a login name looks like (not a token): short, starts with a letter. */
const LOGIN = /^[a-z][a-z0-9._-]{0,23}$/i;

export function redactString(input: string): string {
  const out = input
    // scheme://user:pass@host → scheme://user:***@host; a login alone (postgres://sync@db) is no
    // secret and stays readable, a long token in its place (https://ghp_…@host) is masked.
    .replace(/\b([a-z][a-z0-9+.-]*:\/\/)([^/\s@:]+)(:[^/\s@]*)?@/gi, (_m, scheme: string, user: string, pass?: string) =>
      pass !== undefined ? `${scheme}${LOGIN.test(user) ? user : MASK}:${MASK}@` : `${scheme}${LOGIN.test(user) ? user : MASK}@`,
    )
    // Authorization: Basic xxx / Bearer xxx / Digest ..., also in JSON-ish dumps
    .replace(/(authorization["']?\s*[:=]\s*["']?)(basic|bearer|digest)?\s*[^"'\r\n,}]+/gi, (_m, p1: string, scheme?: string) => `${p1}${scheme ? scheme + ' ' : ''}${MASK}`)
    .replace(/\b(password|passwd|secret|token)=([^&\s"']+)/gi, `$1=${MASK}`);
  return maskKnownSecrets(out);
}

/** The value of one key/value pair, masked entirely when the key names a secret. */
export function redactEntry(key: string, value: unknown, depth = 0): unknown {
  return SECRET_KEY.test(key) && value != null && value !== '' ? MASK : redact(value, depth);
}

/** Deep copy with secrets masked; keys that name a secret lose their value entirely. */
export function redact<T>(value: T, depth = 0): T {
  if (depth > 8) return value;
  if (typeof value === 'string') return redactString(value) as T;
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1)) as T;
  if (value instanceof Error) {
    const e = new Error(redactString(value.message));
    e.name = value.name;
    return e as T;
  }
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) out[k] = redactEntry(k, v, depth + 1);
    return out as T;
  }
  return value;
}
