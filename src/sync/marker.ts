// A device item imported into the CRM (R13, R19) keeps its own UID — clients and invitations
// depend on it — so the link to its CRM record is written into the item as a property that
// clients keep (unknown X- properties survive in DAVx5, iOS and Thunderbird, and our mappers
// keep them too, R11). With the state store lost, the next sync re-adopts the item by this
// marker instead of importing it a second time (R23).
import type { RecordKind } from '../providers/crm/model.js';

const NAME = 'X-SYNC-CLI-ID';
const LINE = /^X-SYNC-CLI-ID(?:;[^:\r\n]*)?:(address|activity):([^\r\n]+)\r?$/im;

export function syncMarkerOf(raw: string): { kind: RecordKind; id: string } | null {
  const m = LINE.exec(raw);
  return m ? { kind: m[1]!.toLowerCase() as RecordKind, id: m[2]!.trim() } : null;
}

/** Adds (or replaces) the marker in the item's first VCARD/VEVENT/VTODO. */
export function withSyncMarker(raw: string, kind: RecordKind, id: string): string {
  const line = `${NAME}:${kind}:${id}`;
  if (LINE.test(raw)) return raw.replace(LINE, line);
  const end = /^END:(VCARD|VEVENT|VTODO)\r?$/m.exec(raw);
  if (!end) return raw;
  const eol = raw.includes('\r\n') ? '\r\n' : '\n';
  return raw.slice(0, end.index) + line + eol + raw.slice(end.index);
}

/** Crash-test hook: `SYNC_CLI_FAILPOINT=<name>` kills the process at that point (tests only). */
export function failpoint(name: string): void {
  if (process.env.SYNC_CLI_FAILPOINT === name) process.kill(process.pid, 'SIGKILL');
}
