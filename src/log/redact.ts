// The redaction layer (R25): whatever is logged or printed passes through here. It removes
// URL userinfo, Authorization/Cookie header values, values of secret-looking keys and any
// secret registered at runtime (passwords read by `users assign`, loaded credentials).

const knownSecrets = new Set<string>();

/** Registers a secret value so that it is masked wherever it would appear. */
export function registerSecret(value: string | undefined | null): void {
  if (value && value.length >= 3) knownSecrets.add(value);
}

const SECRET_KEY = /^(password|passwd|pass|secret|token|authorization|auth|cookie|apikey|api_key|credentials?|bearer)$/i;
const MASK = '***';
/** What a login name looks like (not a token): short, starts with a letter. */
const LOGIN = /^[a-z][a-z0-9._-]{0,23}$/i;

export function redactString(input: string): string {
  let out = input
    // scheme://user:pass@host → scheme://user:***@host; a login alone (postgres://sync@db) is no
    // secret and stays readable, a long token in its place (https://ghp_…@host) is masked.
    .replace(/\b([a-z][a-z0-9+.-]*:\/\/)([^/\s@:]+)(:[^/\s@]*)?@/gi, (_m, scheme: string, user: string, pass?: string) =>
      pass !== undefined ? `${scheme}${LOGIN.test(user) ? user : MASK}:${MASK}@` : `${scheme}${LOGIN.test(user) ? user : MASK}@`,
    )
    // Authorization: Basic xxx / Bearer xxx / Digest ..., also in JSON-ish dumps
    .replace(/(authorization["']?\s*[:=]\s*["']?)(basic|bearer|digest)?\s*[^"'\r\n,}]+/gi, (_m, p1: string, scheme?: string) => `${p1}${scheme ? scheme + ' ' : ''}${MASK}`)
    .replace(/\b(password|passwd|secret|token)=([^&\s"']+)/gi, `$1=${MASK}`);
  for (const secret of knownSecrets) {
    if (out.includes(secret)) out = out.split(secret).join(MASK);
  }
  return out;
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
