// Stable UIDs (R23): derived from the CRM id alone, so a sync with a lost state store finds the
// items it created by UID instead of creating them again. The id is kept readable and reversible;
// characters outside [A-Za-z0-9._-] are percent-encoded so the UID also works as a file name
// (Radicale and Nextcloud use it in the resource href).

const PREFIX = { address: 'sync-cli-address-', activity: 'sync-cli-activity-' } as const;

export function stableUid(kind: 'address' | 'activity', crmId: string): string {
  return PREFIX[kind] + encodeId(crmId);
}

export function crmIdFromUid(uid: string): { kind: 'address' | 'activity'; id: string } | null {
  let u = uid.trim();
  if (u.toLowerCase().startsWith('urn:uuid:')) return null;
  if (u.startsWith('urn:x-sync-cli:')) u = u.slice('urn:x-sync-cli:'.length);
  for (const kind of ['address', 'activity'] as const) {
    if (u.startsWith(PREFIX[kind])) {
      const enc = u.slice(PREFIX[kind].length);
      if (enc === '') return null;
      try {
        return { kind, id: decodeURIComponent(enc) };
      } catch {
        return null;
      }
    }
  }
  return null;
}

function encodeId(id: string): string {
  return encodeURIComponent(id).replace(/[!'()*~]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}
