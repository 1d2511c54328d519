// One sync pass: for each chosen mailbox, lock (R24) → snapshot → plan → guard (R21) →
// execute → store tokens, watermark and status (R22). Emits typed progress events that the
// CLI renders (Ink or plain lines), the daemon logs and tests collect.
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import pLimit from 'p-limit';
import type { Paths } from '../config/paths.js';
import type { Config, MailboxConfig } from '../config/schema.js';
import { MassDeleteGuardError, SyncCliError, UsageError } from '../errors.js';
import { LeaseLostError } from './lock.js';
import { effectiveSettings as assignmentSettings } from '../assignments/assign.js';
import type { Logger } from '../log/logger.js';
import { redactString } from '../log/redact.js';
import { DEFAULT_PHONE_SLOTS_PATH, loadPhoneSlots, type MapperOptions } from '../mappers/index.js';
import type { CrmProvider, CrmUser } from '../providers/crm/model.js';
import { openMailbox, openVdirMailbox } from '../providers/dav/index.js';
import { NotFoundError, PreconditionFailedError, UidConflictError } from '../providers/dav/errors.js';
import { COLLECTION_KINDS, type CollectionKind, type CollectionRef, type MailboxProvider, type TransportOptions } from '../providers/dav/types.js';
import type { ServerQuirks } from '../providers/dav/quirks.js';
import { getMailboxPassword } from '../secrets/index.js';
import { emptyCounts, executePlan, type ExecuteCounts } from './execute.js';
import { classifyMailboxError, finishedOutcome, forLogin, type MailboxOutcome } from './outcome.js';
import { PART_SIZE, splitOffNewContacts } from './parts.js';
import { planMailboxSync, type Action, type MailboxPlan } from './plan.js';
import { readItemSnapshot, readMailboxSnapshot, readNewContactsPart, type SnapshotResult } from './snapshot.js';
import type { MailboxSnapshot, SyncSettings } from './snapshot-types.js';
import type { MailboxHead, MailboxLease, StateChange, StateStore } from './state/store.js';

export type SyncPhase = 'waiting' | 'connecting' | 'reading' | 'planning' | 'writing' | 'done' | 'failed';

export type SyncEvent =
  | { type: 'phase'; user: string; phase: SyncPhase }
  | { type: 'progress'; user: string; done: number; total: number }
  | { type: 'mailbox-done'; result: MailboxResult };

export interface MailboxResult extends ExecuteCounts {
  user: string;
  login: string;
  state: 'success' | 'failed';
  /** The whole mailbox failed (not a single item): why. */
  error?: string;
  /** What the scheduler, the exit code and status read: ok, items-failed, soft, hard, busy (D63). */
  outcome: MailboxOutcome;
  /** --dry-run: the plan in plain words; the counts are then what the plan would do. */
  plan?: string[];
  /** --dry-run: per entry of `plan`, the arm of the decision table that made it (D54). */
  arms?: string[];
  dryRun?: boolean;
  blocked?: MailboxPlan['blocked'];
  durationMs: number;
}

export interface RunOptions {
  users?: string[];
  dryRun?: boolean;
  full?: boolean;
  forceDelete?: boolean;
}

export interface EngineDeps {
  config: Config;
  paths: Paths;
  crm: CrmProvider;
  state: StateStore;
  /** Overridable for tests and the bench (request counting). */
  openMailbox?: (m: MailboxConfig, password: string) => MailboxProvider;
  onEvent?: (e: SyncEvent) => void;
  env?: NodeJS.ProcessEnv;
  logger?: Logger;
}

/** The phone-slot table, read and checked again only when its file changed (not per mailbox sync). */
const phoneSlotTables = new Map<string, { stamp: string; slots: MapperOptions['phoneSlots'] }>();
function phoneSlotsOf(file: string | undefined): MapperOptions['phoneSlots'] {
  const key = file ?? DEFAULT_PHONE_SLOTS_PATH;
  let stamp: string;
  try {
    const st = fs.statSync(key);
    stamp = `${st.mtimeMs} ${st.size} ${st.ino}`;
  } catch {
    return loadPhoneSlots(file); // its error names the file and the fix
  }
  const known = phoneSlotTables.get(key);
  if (known?.stamp === stamp) return known.slots;
  const slots = loadPhoneSlots(file);
  phoneSlotTables.set(key, { stamp, slots });
  return slots;
}

export function mapperOptions(config: Config, hashKey?: string): MapperOptions {
  return {
    hashKey,
    phoneSlots: phoneSlotsOf(config.sync.phoneSlots),
    subjectFormat: config.sync.subjectFormat,
    vcardVersion: config.sync.vcardVersion,
    prodId: '-//sync-cli//CRM sync//DE',
  };
}

/** What `users list` shows as the effective settings, plus the identity and global policies. */
export function effectiveSettings(config: Config, m: MailboxConfig, u: CrmUser): SyncSettings {
  return {
    userId: u.id,
    login: u.login,
    userTag: u.userTag,
    ...assignmentSettings(u, m, config),
    conflict: config.sync.conflict,
    maxDeletePercent: config.sync.maxDeletePercent,
  };
}

/** Transport options of one mailbox run: the dav section plus the limits (docs/security.md). */
export function transportOptions(config: Config, deadlineAt?: number): TransportOptions {
  const l = config.limits;
  return {
    ...config.dav,
    maxResponseBytes: l.maxResponseBytes,
    maxHrefsPerListing: l.maxHrefsPerListing,
    maxItems: l.maxItemsPerMailbox,
    requestSeconds: l.requestSeconds,
    ...(deadlineAt !== undefined ? { deadline: { at: deadlineAt, seconds: l.mailboxRunSeconds } } : {}),
  };
}

function defaultOpenMailbox(config: Config, deadlineAt: number) {
  return (m: MailboxConfig, password: string): MailboxProvider => {
    if (m.url.startsWith('file:')) return openVdirMailbox(fileURLToPath(m.url), { maxItemBytes: config.limits.maxResponseBytes, maxItems: config.limits.maxItemsPerMailbox });
    return openMailbox({ url: m.url, username: m.username, password, auth: m.auth, trustedOrigins: m.trustedOrigins }, transportOptions(config, deadlineAt));
  };
}

/** Picks the mailboxes of this run; an unknown --user is a usage error. */
export function chooseMailboxes(config: Config, crmUsers: CrmUser[], users: string[] | undefined): { mailbox: MailboxConfig; user: CrmUser }[] {
  const byId = new Map(crmUsers.map((u) => [u.id, u]));
  const assigned = config.mailboxes.map((m) => ({ mailbox: m, user: byId.get(m.user) }));
  if (users?.length) {
    const out: { mailbox: MailboxConfig; user: CrmUser }[] = [];
    for (const want of users) {
      const u = crmUsers.find((x) => x.id === want || x.login === want);
      if (!u) throw new UsageError(`unknown CRM user '${want}'`, 'see `sync-cli users list` for the logins');
      const m = config.mailboxes.find((x) => x.user === u.id);
      if (!m) throw new UsageError(`CRM user '${want}' has no mailbox assigned`, `assign one with \`sync-cli users assign ${u.login} --url … --username … --password-stdin\``);
      out.push({ mailbox: m, user: u });
    }
    return out;
  }
  const missing = assigned.filter((a) => !a.user);
  if (missing.length) {
    throw new UsageError(
      `config.json assigns mailboxes to CRM users that do not exist: ${missing.map((m) => m.mailbox.user).join(', ')}`,
      `unassign them (\`sync-cli users unassign ${missing[0]!.mailbox.user}\`${missing.length > 1 ? ', and so on' : ''}) or fix the CRM`,
    );
  }
  return assigned as { mailbox: MailboxConfig; user: CrmUser }[];
}

export async function runOnce(deps: EngineDeps, opts: RunOptions): Promise<MailboxResult[]> {
  const users = await deps.crm.listUsers(); // once per run: the choice and every mailbox's scope (#16)
  const chosen = chooseMailboxes(deps.config, users, opts.users);
  const limit = pLimit(deps.config.sync.mailboxConcurrency);
  for (const c of chosen) deps.onEvent?.({ type: 'phase', user: c.user.login, phase: 'waiting' });
  return Promise.all(chosen.map((c) => limit(() => syncMailbox(deps, c.mailbox, c.user, users, opts))));
}

/** One mailbox run once connected: the mailbox, what the state says of it, and how it is read. */
interface MailboxRun {
  mailbox: MailboxProvider;
  head: MailboxHead;
  identity: string;
  settings: SyncSettings;
  mapper: MapperOptions;
  collections: Record<CollectionKind, CollectionRef>;
  full: boolean;
  deadlineAt: number;
  /** The lease's `lost` signal (a shared store): the executor starts no action after it (D93). */
  lost?: AbortSignal;
}

export async function syncMailbox(deps: EngineDeps, m: MailboxConfig, u: CrmUser, users: CrmUser[], opts: RunOptions): Promise<MailboxResult> {
  const started = Date.now();
  const emit = (phase: SyncPhase) => deps.onEvent?.({ type: 'phase', user: u.login, phase });
  const result: MailboxResult = { user: u.id, login: u.login, state: 'success', outcome: { kind: 'ok' }, ...emptyCounts(), durationMs: 0 };
  const { state } = deps;
  let lease: MailboxLease | undefined;
  let lost: AbortSignal | undefined;
  const opened: { mailbox?: MailboxProvider } = {};
  try {
    // R24; the in-progress status is written with the lease (one round trip, D94).
    lease = await state.lease(u.id, opts.dryRun ? undefined : { state: 'in-progress', startedAt: new Date().toISOString() });
    lost = lease.lost;
    // D93: the lease gone with its session, another process may sync this mailbox now: the
    // mailbox connection is closed at once (requests in flight end, queued ones never go out).
    lost?.addEventListener('abort', () => void opened.mailbox?.close().catch(() => undefined), { once: true });
    emit('connecting');
    const run = { ...(await connectMailbox(deps, m, u, opts, started, opened)), lost };
    lost?.throwIfAborted();
    emit('reading');
    const snap = await readSnapshotOrReprovision(deps, run, m, u, users, opts);
    if (snap.unchanged && opts.dryRun) {
      Object.assign(result, { plan: [], dryRun: true });
      emit('done');
      return result;
    }

    emit('planning');
    // New contacts that touch nothing else are planned in parts right before they are written (D60).
    const parts = snap.unchanged || opts.dryRun ? { rest: snap.snapshot, newContacts: [] } : splitOffNewContacts(snap.snapshot, snap.unread);
    const plan: MailboxPlan = snap.unchanged ? { user: u.id, actions: [], blocked: [], conflicts: [] } : planMailboxSync(parts.rest, run.mapper, { forceDelete: opts.forceDelete });
    for (const a of plan.actions) deps.logger?.debug(`${u.login}: ${opts.dryRun ? 'would ' : ''}${a.summary}${a.arm ? ` [${a.arm}]` : ''}`, { user: u.login, action: a.type, arm: a.arm });
    if (opts.dryRun) {
      countPlanned(plan, result);
      emit('done');
      return result;
    }
    guardDeletes(plan, run.settings, u, result);

    emit('writing');
    const counts = await executeMailboxPlan(deps, run, plan, snap.snapshot, u, parts.newContacts, opts);
    Object.assign(result, counts, { conflicts: plan.conflicts.length });
    reportRun(deps, run, plan, snap.snapshot, counts, result, u);
    await finishMailbox(state, run, snap, counts, result);
    emit(result.state === 'failed' ? 'failed' : 'done');
  } catch (thrown) {
    result.state = 'failed';
    // Whatever the loss broke (a closed connection, a refused state write), it is one soft outcome (D93).
    const err = lost?.aborted ? new LeaseLostError(u.login, state.describe, 'the sync stopped at once, nothing more was sent to the mailbox server') : thrown;
    result.outcome = classifyMailboxError(err, u.login);
    result.error = redactString(forLogin(err instanceof SyncCliError && err.remedy ? `${err.message} (fix: ${err.remedy})` : (err as Error).message, u.login));
    // Busy or lost: another process holds the mailbox now; its status is that process's to write.
    if (!opts.dryRun && result.outcome.kind !== 'busy' && !lost?.aborted) {
      await state.setStatus(u.id, { state: 'failed', lastError: result.error, finishedAt: new Date().toISOString() }).catch(() => undefined);
    }
    emit('failed');
  } finally {
    await opened.mailbox?.close().catch(() => undefined);
    await lease?.release();
    result.durationMs = Date.now() - started;
    deps.onEvent?.({ type: 'mailbox-done', result });
  }
  return result;
}

/** Identity check, password, the mailbox opened and its collections and server quirks known. */
async function connectMailbox(deps: EngineDeps, m: MailboxConfig, u: CrmUser, opts: RunOptions, started: number, opened: { mailbox?: MailboxProvider }): Promise<MailboxRun> {
  const { state, config } = deps;
  const dryRun = opts.dryRun ?? false;
  const identity = `${m.url} ${m.username}`;
  let head = await state.loadMailbox(u.id);
  if (head.identity !== identity && !dryRun) {
    // Another mailbox than last time: the old state means nothing there.
    await state.apply(u.id, [{ op: 'reset' }, { op: 'identity-put', identity }]);
    head = await state.loadMailbox(u.id);
  }
  const password = m.url.startsWith('file:') ? '' : await getMailboxPassword(m, deps.paths, deps.env);
  const deadlineAt = started + config.limits.mailboxRunSeconds * 1000;
  const mailbox = (opened.mailbox = (deps.openMailbox ?? defaultOpenMailbox(config, deadlineAt))(m, password));
  const mapper = mapperOptions(config, await state.fieldHashKey());
  // R20 on servers that ignore preconditions (SOGo): probed once per mailbox, then remembered.
  if (head.serverQuirks) mailbox.useServerQuirks?.(head.serverQuirks as unknown as ServerQuirks);
  const provisioned = await provisionCollections(mailbox, head, config, m);
  const changes = provisioned.changes;
  if (!head.serverQuirks && !dryRun && mailbox.probeServerQuirks) {
    const quirks = mailbox.serverQuirks?.() ?? (await mailbox.probeServerQuirks(provisioned.collections.contacts));
    changes.push({ op: 'quirks-put', quirks: quirks as unknown as Record<string, boolean> });
  }
  if (!dryRun) await state.apply(u.id, changes);
  // A periodic full comparison catches what a server forgot behind an accepted token (DAViCal
  // and SOGo answer an unknown token with a listing, not a refusal: deletions go unseen).
  const full = (opts.full ?? false) || isFullComparisonDue(head.lastFull, config.sync.fullEveryHours);
  return { mailbox, head: provisioned.head, identity, settings: effectiveSettings(config, m, u), mapper, collections: provisioned.collections, full, deadlineAt };
}

async function readSnapshotOrReprovision(deps: EngineDeps, run: MailboxRun, m: MailboxConfig, u: CrmUser, users: CrmUser[], opts: RunOptions): Promise<SnapshotResult> {
  const { crm, state, config } = deps;
  const read = () =>
    readMailboxSnapshot({
      crm,
      mailbox: run.mailbox,
      state,
      head: run.head,
      settings: run.settings,
      collections: run.collections,
      mapper: run.mapper,
      users,
      full: run.full,
      overlapSeconds: config.crm.overlapSeconds,
      maxItems: config.limits.maxItemsPerMailbox,
      partsApart: !opts.dryRun,
    });
  try {
    return await read();
  } catch (err) {
    if (!(err instanceof NotFoundError) || opts.dryRun) throw err;
    // A collection vanished on the server (deleted in a client, server reset): start this
    // mailbox afresh; items still there are re-adopted by UID (R23), nothing is untagged.
    deps.logger?.warn(`a collection of ${u.login}'s mailbox is gone (${err.url}); provisioning again`);
    await state.apply(u.id, [{ op: 'reset' }, { op: 'identity-put', identity: run.identity }]);
    const provisioned = await provisionCollections(run.mailbox, await state.loadMailbox(u.id), config, { ...m, collections: undefined });
    await state.apply(u.id, provisioned.changes);
    Object.assign(run, { head: provisioned.head, collections: provisioned.collections });
    return read();
  }
}

/** What the plan would do, counted as a run would count it (--dry-run). */
function countPlanned(plan: MailboxPlan, result: MailboxResult): void {
  result.plan = plan.actions.map((a) => a.summary);
  result.arms = plan.actions.map((a) => a.arm ?? '');
  result.dryRun = true;
  result.blocked = plan.blocked;
  result.conflicts = plan.conflicts.length;
  for (const a of plan.actions) {
    if (a.type === 'device-create') result.created++;
    else if (a.type === 'device-update') result.updated++;
    else if (a.type === 'device-delete') result.deleted++;
    else if (a.type === 'crm-update' || a.type === 'crm-untag') result.crmUpdates++;
    else if (a.type === 'crm-create') {
      result.crmUpdates++;
      result.updated++; // the imported item is rewritten on the device (type prefix, [FFDATA], marker)
    } else if (a.type === 'item-error') result.errors.push({ item: a.key, message: a.message });
  }
}

/** R21: stop before deleting anything; nothing of this plan is carried out. */
function guardDeletes(plan: MailboxPlan, settings: SyncSettings, u: CrmUser, result: MailboxResult): void {
  if (!plan.blocked.length) return;
  const what = plan.blocked.map((b) => `${b.deletes} of ${b.total} ${b.collection} on the ${b.side === 'crm' ? 'CRM side (tag removals)' : 'device'}`).join(', ');
  result.blocked = plan.blocked;
  throw new MassDeleteGuardError(
    `this sync would delete ${what} — more than ${settings.maxDeletePercent} %; nothing was changed`,
    `if that is intended, run \`sync-cli run --once --user ${u.login} --force-delete\``,
  );
}

const STATE_ONLY: ReadonlySet<Action['type']> = new Set(['state-update', 'foreign', 'foreign-forget', 'state-forget', 'attention', 'attention-clear', 'exclusion-end']);

/** The plan, then the new contacts planned apart, part by part (D60); one count for all. */
async function executeMailboxPlan(deps: EngineDeps, run: MailboxRun, plan: MailboxPlan, snapshot: MailboxSnapshot, u: CrmUser, newContacts: string[], opts: RunOptions): Promise<ExecuteCounts> {
  const { crm, state, config } = deps;
  const { mailbox, collections, mapper } = run;
  const writes = plan.actions.filter((a) => !STATE_ONLY.has(a.type)).length;
  const total = plan.actions.length + newContacts.length;
  let offset = 0;
  deps.onEvent?.({ type: 'progress', user: u.login, done: 0, total: writes + newContacts.length });
  const execute = async (actions: Action[]) => {
    const counts = await executePlan(actions, {
      crm,
      mailbox,
      state,
      collections,
      mapper,
      snapshot,
      concurrency: config.sync.concurrency,
      deadline: { at: run.deadlineAt, seconds: config.limits.mailboxRunSeconds },
      stop: run.lost,
      replan: (a, err) => replanItem(a, err, { crm, mailbox, snapshot, collections, mapper, state }),
      onProgress: (done) => deps.onEvent?.({ type: 'progress', user: u.login, done: offset + done, total }),
    });
    offset += actions.length;
    return counts;
  };
  const counts = await execute(plan.actions);
  // Carried out: the actions and their rendered items are not read again (only the conflicts
  // are, by reportRun); released before the parts, so they do not stay alive through them (D76).
  plan.actions.length = 0;
  for (let i = 0; i < newContacts.length; i += PART_SIZE) {
    const part = planMailboxSync(await readNewContactsPart(crm, snapshot, newContacts.slice(i, i + PART_SIZE)), mapper, { forceDelete: opts.forceDelete });
    addCounts(counts, await execute(part.actions));
  }
  return counts;
}

function addCounts(into: ExecuteCounts, more: ExecuteCounts): void {
  into.created += more.created;
  into.updated += more.updated;
  into.deleted += more.deleted;
  into.crmUpdates += more.crmUpdates;
  into.conflicts += more.conflicts;
  into.errors.push(...more.errors);
  into.attention.push(...more.attention);
}

/** Refused hrefs, attention items and conflicts: into the result and the log. */
function reportRun(deps: EngineDeps, run: MailboxRun, plan: MailboxPlan, snapshot: MailboxSnapshot, counts: ExecuteCounts, result: MailboxResult, u: CrmUser): void {
  // hrefs the server listed outside the collection's origin: reported every time they are listed.
  for (const kind of COLLECTION_KINDS) for (const r of snapshot.device[kind].refused ?? []) result.errors.push({ item: r.href, message: r.message });
  for (const a of counts.attention) deps.logger?.warn(`${u.login}: needs attention: ${a.item}: ${a.message}`);
  for (const c of plan.conflicts) {
    // R20: every conflict is logged with the record id and the fields involved.
    deps.logger?.warn(`conflict on ${c.key} for ${u.login}: ${c.fields.join(', ')} changed on both sides; decided ${run.settings.conflict}`);
  }
}

/** Tokens and watermark move on only now (items that failed are remembered, R22); then the status. */
async function finishMailbox(state: StateStore, run: MailboxRun, snap: SnapshotResult, counts: ExecuteCounts, result: MailboxResult): Promise<void> {
  const user = result.user;
  const failed = result.errors.length > 0;
  const now = new Date().toISOString();
  // Only what moved is written: a no-change sync's tokens are the stored ones (D98).
  const changes: StateChange[] = COLLECTION_KINDS.filter((kind) => run.head.collections[kind]?.url !== run.collections[kind].url || run.head.collections[kind]?.token !== snap.nextTokens[kind]).map(
    (kind) => ({ op: 'collection-put', kind, url: run.collections[kind].url, token: snap.nextTokens[kind] }),
  );
  changes.push({ op: 'cursors-put', cursors: snap.nextCursors });
  // After a sync without a single error every create of this plan is settled and any device
  // item an older, cut-short create made has been adopted: pending creates left now belong to
  // records that left the scope before their create ran. Kept, they would make every later
  // sync take the full path.
  if (counts.errors.length === 0 && !(snap.unchanged && run.head.pendingCreates.size === 0)) changes.push({ op: 'creates-settled' });
  if (run.full && !failed) changes.push({ op: 'last-full-put', at: now });
  // A quirk learned by this sync (D100: the server's token property is not its REPORT's token).
  const quirks = run.mailbox.serverQuirks?.();
  if (quirks?.tokenProbeUseless && !run.head.serverQuirks?.tokenProbeUseless) changes.push({ op: 'quirks-put', quirks: quirks as unknown as Record<string, boolean> });
  // The status goes with the last write group, in its transaction (D94).
  await state.apply(user, changes, {
    state: failed ? 'failed' : 'success',
    ...(failed ? {} : { lastSuccess: now }),
    lastError: failed ? `${result.errors.length} item(s) failed; first: ${result.errors[0]!.item}: ${result.errors[0]!.message}` : null,
    pending: result.errors.length,
    finishedAt: now,
  });
  result.state = failed ? 'failed' : 'success';
  result.outcome = finishedOutcome(result.errors.length);
}

/** sync.fullEveryHours: true when the last full comparison is older (0 = never due). */
export function isFullComparisonDue(lastFull: string | null, everyHours: number, now = Date.now()): boolean {
  if (everyHours <= 0) return false;
  if (!lastFull) return true;
  const at = Date.parse(lastFull);
  return Number.isNaN(at) || now - at >= everyHours * 3_600_000;
}


/** The mailbox's collections, and the state changes that record new ones (a new URL starts without a token). */
async function provisionCollections(
  mailbox: MailboxProvider,
  head: MailboxHead,
  config: Config,
  m: MailboxConfig,
): Promise<{ collections: Record<CollectionKind, CollectionRef>; head: MailboxHead; changes: StateChange[] }> {
  const stored = head.collections;
  // Known from an earlier sync (a token proves it worked): go straight to the delta — no
  // discovery requests. A collection gone since then answers 404 and is provisioned again.
  if (COLLECTION_KINDS.every((k) => stored[k]?.token)) {
    const collections = Object.fromEntries(
      COLLECTION_KINDS.map((k) => {
        const { url, token } = stored[k]!;
        return [k, { kind: k, url, displayName: config.sync.collectionNames[k], supportsSyncToken: !/^(ctag|vdir):/.test(token!) }];
      }),
    ) as Record<CollectionKind, CollectionRef>;
    return { collections, head, changes: [] };
  }
  const known: Partial<Record<CollectionKind, string>> = { ...m.collections };
  for (const k of COLLECTION_KINDS) if (stored[k]) known[k] = stored[k]!.url;
  const refs = await mailbox.provision(config.sync.collectionNames, known);
  const changes: StateChange[] = [];
  const next = { ...stored };
  for (const k of COLLECTION_KINDS) {
    const prev = stored[k];
    if (prev && prev.url === refs[k].url) continue;
    changes.push({ op: 'collection-put', kind: k, url: refs[k].url, token: null });
    next[k] = { url: refs[k].url, token: null };
  }
  return { collections: refs, head: { ...head, collections: next }, changes };
}

/** R20: after a lost race, re-read the one item on both sides and plan it again. */
async function replanItem(
  a: Action,
  err: Error,
  deps: { crm: CrmProvider; mailbox: MailboxProvider; snapshot: MailboxSnapshot; collections: Record<CollectionKind, CollectionRef>; mapper: MapperOptions; state: StateStore },
): Promise<Action[]> {
  if (!('crmId' in a) || !('kind' in a)) return [];
  const user = deps.snapshot.settings.userId;
  const record = { kind: a.kind, crmId: a.crmId };
  let st = (await deps.state.lookup(user, { records: [record] })).items[0];
  let href = st?.href;
  let collection = st?.collection;
  if (a.type === 'device-create' && err instanceof PreconditionFailedError) {
    // The item exists already (a create whose answer was lost, or a crash before the state
    // was written): adopt it by UID (R23) instead of failing.
    href = err.url;
    collection = a.collection;
    st = undefined;
  }
  if (a.type === 'device-create' && err instanceof UidConflictError && err.existingHref) {
    // The server names the item holding this UID (Cyrus: user-wide, possibly in our other
    // calendar): adopt it there (R23). One outside our collections stays an item error (D40).
    const owner = COLLECTION_KINDS.find((k) => err.existingHref!.startsWith(deps.collections[k].url));
    const home = (u: string) => new URL('..', u).href;
    if (!owner && !COLLECTION_KINDS.some((k) => err.existingHref!.startsWith(home(deps.collections[k].url)))) {
      // Another account's item (measured on Cyrus 3.6.1 when a UID first appears in two accounts
      // syncing at once): not this mailbox's conflict; an item error the next sync retries (D40).
      const message = `${err.message}, which belongs to another account: the server mixed up two accounts' UIDs; the next sync tries again`;
      return [{ type: 'item-error', key: err.url, side: 'device', message, summary: `retry ${err.url} next sync` }];
    }
    if (!owner) {
      // In another calendar of this account (an earlier provisioning's, Cyrus keeps a UID once per
      // account): move it — delete it there with its current ETag, then create it here (D40).
      const where: CollectionRef = { ...deps.collections[a.collection], url: new URL('.', err.existingHref).href };
      const found = (await deps.mailbox.fetch(where, [err.existingHref])).items[0];
      const uid = /^UID:(.*)$/m.exec(a.data)?.[1]?.trim();
      if (found && uid && new RegExp(`^UID:${uid.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\r?$`, 'm').test(found.data)) {
        return [{ type: 'device-delete', kind: a.kind, crmId: a.crmId, ref: { href: found.href, etag: found.etag }, summary: `move ${found.href} into ${deps.collections[a.collection].url}` }, a];
      }
      const message = `${err.message}, outside the collections sync-cli keeps (the server keeps UIDs unique per account): delete that item, then sync again`;
      return [{ type: 'item-error', key: err.url, side: 'device', message, summary: `skip ${err.url}: UID held by ${err.existingHref}` }];
    }
    href = err.existingHref;
    collection = owner;
    st = undefined;
  }
  if (!href || !collection) return [];
  const mini = await readItemSnapshot(deps.snapshot, deps, record, { href, collection }, st, a.type === 'device-create' ? a.item.fieldHashes : undefined);
  // Only this item is planned; a linked-only contact (R5) is not judged without its appointments.
  return planMailboxSync(mini, deps.mapper, { forceDelete: true }).actions.filter(
    (x) => 'crmId' in x && x.crmId === a.crmId && !(st?.reason === 'linked' && x.type === 'device-delete'),
  );
}
