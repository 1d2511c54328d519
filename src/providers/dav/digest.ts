// HTTP Digest authentication (RFC 7616, compatible with RFC 2617), client side. tsdav can only
// send a precomputed Authorization header, which Digest cannot be: the response depends on a
// server nonce, the method, the URI and a request counter. No well-kept npm package does only
// this (the candidates wrap a whole HTTP client), and it is short.
import { createHash, randomBytes } from 'node:crypto';

export interface DigestChallenge {
  realm: string;
  nonce: string;
  qop?: string;
  opaque?: string;
  algorithm: string;
  stale: boolean;
}

const HASHES: Record<string, string> = { MD5: 'md5', 'SHA-256': 'sha256', 'SHA-512-256': 'sha512-256' };

/** Splits a WWW-Authenticate value into challenges and picks the strongest Digest one we support. */
export function parseDigestChallenge(header: string): DigestChallenge | undefined {
  const challenges: Array<{ scheme: string; params: Record<string, string> }> = [];
  // token68-free tokenizer: scheme, then comma-separated name=value or name="quoted" pairs.
  const re = /\s*(?:([A-Za-z][\w-]*)\s+)?([\w-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^,\s]*)\s*,?|\s*([A-Za-z][\w-]*)\s*,?/gy;
  let m: RegExpExecArray | null;
  let current: { scheme: string; params: Record<string, string> } | undefined;
  while (re.lastIndex < header.length && (m = re.exec(header)) !== null) {
    if (m[0] === '') break;
    if (m[4]) {
      current = { scheme: m[4], params: {} };
      challenges.push(current);
      continue;
    }
    if (m[1]) {
      current = { scheme: m[1], params: {} };
      challenges.push(current);
    }
    if (current && m[2] !== undefined && m[3] !== undefined) {
      const raw = m[3];
      current.params[m[2].toLowerCase()] = raw.startsWith('"') ? raw.slice(1, -1).replace(/\\(.)/g, '$1') : raw;
    }
  }
  const digests = challenges
    .filter((c) => c.scheme.toLowerCase() === 'digest' && c.params.nonce !== undefined)
    .map((c) => ({
      realm: c.params.realm ?? '',
      nonce: c.params.nonce ?? '',
      qop: c.params.qop,
      opaque: c.params.opaque,
      algorithm: (c.params.algorithm ?? 'MD5').toUpperCase(),
      stale: (c.params.stale ?? '').toLowerCase() === 'true',
    }))
    .filter((c) => HASHES[c.algorithm.replace(/-SESS$/, '')] !== undefined);
  const rank = (a: string) => (a.startsWith('SHA-512-256') ? 3 : a.startsWith('SHA-256') ? 2 : 1);
  return digests.sort((a, b) => rank(b.algorithm) - rank(a.algorithm))[0];
}

/** The Authorization header value for one request. `nc` counts requests made with this nonce (1, 2, …). */
export function digestAuthorization(
  challenge: DigestChallenge,
  creds: { username: string; password: string },
  method: string,
  uri: string,
  nc: number,
  cnonce: string = randomBytes(12).toString('hex'),
): string {
  const base = challenge.algorithm.replace(/-SESS$/, '');
  const algo = HASHES[base] ?? 'md5';
  const h = (s: string) => createHash(algo).update(s, 'utf8').digest('hex');
  let ha1 = h(`${creds.username}:${challenge.realm}:${creds.password}`);
  if (challenge.algorithm.endsWith('-SESS')) ha1 = h(`${ha1}:${challenge.nonce}:${cnonce}`);
  const ha2 = h(`${method}:${uri}`);
  // We never do qop=auth-int (it would hash the body); servers offer auth alongside it.
  const qop = challenge.qop
    ?.split(',')
    .map((q) => q.trim())
    .find((q) => q === 'auth');
  const ncHex = nc.toString(16).padStart(8, '0');
  const response = qop ? h(`${ha1}:${challenge.nonce}:${ncHex}:${cnonce}:${qop}:${ha2}`) : h(`${ha1}:${challenge.nonce}:${ha2}`);
  const q = (s: string) => `"${s.replace(/(["\\])/g, '\\$1')}"`;
  const parts = [
    `username=${q(creds.username)}`,
    `realm=${q(challenge.realm)}`,
    `nonce=${q(challenge.nonce)}`,
    `uri=${q(uri)}`,
    `algorithm=${challenge.algorithm}`,
    `response=${q(response)}`,
  ];
  if (qop) parts.push(`qop=${qop}`, `nc=${ncHex}`, `cnonce=${q(cnonce)}`);
  if (challenge.opaque !== undefined) parts.push(`opaque=${q(challenge.opaque)}`);
  return `Digest ${parts.join(', ')}`;
}
