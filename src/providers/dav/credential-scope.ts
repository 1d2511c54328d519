// Where the mailbox password may go: ONE rule, used for every request the DAV transport sends
// (docs/credentials.md, "Where credentials go"). Nothing else in the code decides it.
//
//   1. Only http: and https: addresses.
//   2. Never over plain http when the mailbox is configured as https (any host, any path).
//   3. The configured origin (scheme, host, port), or its https upgrade on the same host.
//   4. An origin the server named during discovery (iCloud's principal on pNN-contacts…) only
//      when the admin confirmed it at `users assign --trust-origin ORIGIN` (stored with the mailbox).
//   5. Everything else: nothing is sent there at all — not the password, not the contact data.
// Item hrefs are held to their collection's origin by the provider (an href elsewhere is an item
// error, never requested), so even a confirmed origin cannot be used by a listing to move items.

export interface CredentialScope {
  /** The mailbox URL as configured. */
  configured: string;
  /** Origins confirmed at assign (`https://host[:port]`). */
  trusted?: readonly string[];
}

export type CredentialVerdict = { send: true } | { send: false; reason: 'scheme' | 'plain-http' | 'other-origin' };

/** Normalizes what a user types as an origin (`https://Host:443/path` → `https://host`); undefined when it is not one. */
export function normalizeOrigin(text: string): string | undefined {
  try {
    const u = new URL(text);
    if (u.protocol !== 'https:' && u.protocol !== 'http:') return undefined;
    return u.origin;
  } catch {
    return undefined;
  }
}

export function credentialsFor(target: URL, scope: CredentialScope): CredentialVerdict {
  if (target.protocol !== 'https:' && target.protocol !== 'http:') return { send: false, reason: 'scheme' };
  const configured = new URL(scope.configured);
  if (configured.protocol === 'https:' && target.protocol === 'http:') return { send: false, reason: 'plain-http' };
  if (target.origin === configured.origin) return { send: true };
  if (target.protocol === 'https:' && target.hostname === configured.hostname && configured.protocol === 'http:') return { send: true };
  if ((scope.trusted ?? []).some((o) => normalizeOrigin(o) === target.origin)) return { send: true };
  return { send: false, reason: 'other-origin' };
}

/** Same scheme, host and port (the collection's origin rule for item hrefs). */
export function sameOrigin(a: string, b: string): boolean {
  try {
    return new URL(a).origin === new URL(b).origin;
  } catch {
    return false;
  }
}
