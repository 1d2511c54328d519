// `sync-cli status`: the R22 status of every assigned mailbox, read from the state store (WAL:
// safe to read while the daemon writes). Mailboxes never synced are `not-started`.
import type { Config } from '../config/schema.js';
import type { CrmUser } from '../providers/crm/model.js';
import type { MailboxState, StateStore } from '../sync/state/store.js';

export interface MailboxStatusLine {
  user: string;
  state: MailboxState;
  lastSuccess: string | null;
  lastError: string | null;
  pending: number;
  nextRun: string | null;
  /** D30: device items left untouched that need the user (href, etag, message). */
  attention: { href: string; message: string }[];
}

export interface StatusDocument {
  mailboxes: MailboxStatusLine[];
  /** State on PostgreSQL only: who syncs what now, across the cluster, and the jobs waiting. */
  cluster?: ClusterStatus;
}

export interface ClusterStatus {
  queueDepth: number;
  /** Mailboxes whose sync runs right now, with the host and pid of the process running it. */
  running: { user: string; host: string; pid: number }[];
}

/** `users` (from the CRM) turns ids into logins; without it the id is shown. */
export async function buildStatus(config: Config, state: StateStore | null, users: CrmUser[] | null, opts: { daemonRunning?: boolean } = {}): Promise<StatusDocument> {
  const login = (id: string) => users?.find((u) => u.id === id)?.login ?? id;
  const daemonRunning = opts.daemonRunning ?? true;
  const statuses = new Map((state ? await state.listStatuses() : []).map((s) => [s.user, s]));
  const mailboxes: MailboxStatusLine[] = [];
  for (const m of config.mailboxes) {
    const s = statuses.get(m.user) ?? { state: 'not-started' as const, lastSuccess: null, lastError: null, pending: 0, nextRun: null };
    const attention = (state ? await state.listAttention(m.user) : []).map((a) => ({ href: a.href, message: a.message }));
    // Only a running daemon runs anything next: a stored time of a stopped one means nothing.
    mailboxes.push({ user: login(m.user), state: s.state, lastSuccess: s.lastSuccess, lastError: s.lastError, pending: s.pending, nextRun: daemonRunning ? s.nextRun : null, attention });
  }
  return { mailboxes };
}

/** Relative time: a past moment reads "… ago", a future one "in …" (`past` decides for ~now). */
function ago(iso: string | null, now: number, past = false): string {
  if (!iso) return '-';
  let s = Math.round((Date.parse(iso) - now) / 1000);
  if (past) s = Math.min(s, -0);
  const abs = Math.abs(s);
  const text = abs < 90 ? `${abs}s` : abs < 5400 ? `${Math.round(abs / 60)}m` : abs < 129_600 ? `${Math.round(abs / 3600)}h` : `${Math.round(abs / 86_400)}d`;
  return s < 0 || Object.is(s, -0) ? `${text} ago` : `in ${text}`;
}

export function statusTable(doc: StatusDocument, now = Date.now(), daemonRunning = true): string[] {
  const head = ['user', 'state', 'last success', 'pending', 'next run'];
  const next = (iso: string | null) => (!daemonRunning ? 'no daemon' : iso && Date.parse(iso) <= now ? 'due now' : ago(iso, now));
  const rows = doc.mailboxes.map((m) => [m.user, m.state, ago(m.lastSuccess, now, true), String(m.pending), next(m.nextRun)]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const fmt = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  const lines = [fmt(head), fmt(widths.map((w) => '-'.repeat(w))), ...rows.map(fmt)];
  if (doc.cluster) {
    lines.push(`cluster: ${doc.cluster.queueDepth} job(s) waiting, ${doc.cluster.running.length} sync(s) running`);
    for (const r of doc.cluster.running) lines.push(`  ${r.user}: running on ${r.host} (pid ${r.pid})`);
  }
  for (const m of doc.mailboxes) if (m.lastError && m.state === 'failed') lines.push(`${m.user}: ${m.lastError}`);
  for (const m of doc.mailboxes) for (const a of m.attention ?? []) lines.push(`${m.user}: needs attention: ${a.href}: ${a.message}`);
  return lines;
}
