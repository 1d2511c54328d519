// `sync-cli doctor`: checks config, CRM, the credential stores, each mailbox (credential, auth,
// discovery, collections, sync-token support, clock skew) and the service; prints ✓/✗ with the
// fix for each. Exit 1 when a check failed (warnings and infos do not fail).
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import { promisify } from 'node:util';
import { homeProblems } from '../config/home.js';
import type { Paths } from '../config/paths.js';
import type { Config, MailboxConfig } from '../config/schema.js';
import { mailboxesOf, type Context } from '../context.js';
import { redactString } from '../log/redact.js';
import { collectionKinds, davConnector, type MailboxConnector } from '../assignments/connection.js';
import { diagnosisFindings } from '../providers/dav/quirks.js';
import type { CrmDirectory } from '../assignments/validate.js';
import { getMailboxPassword, openCredentialStore, type CredentialStoreKind } from '../secrets/index.js';

const execFileAsync = promisify(execFile);

export type CheckStatus = 'ok' | 'warn' | 'fail' | 'info';

export interface DoctorCheck {
  /** Stable id, e.g. `crm`, `mailbox.credential`. */
  id: string;
  status: CheckStatus;
  title: string;
  detail: string;
  fix?: string;
  /** CRM user id for mailbox checks. */
  user?: string;
}

export interface DoctorDeps {
  paths: Paths;
  config(): Config;
  /** The assigned mailboxes (mailboxesOf: config.json or the shared state); default config().mailboxes. */
  mailboxes?: () => Promise<MailboxConfig[]>;
  crm(): Promise<CrmDirectory>;
  connect: MailboxConnector;
  env?: NodeJS.ProcessEnv;
  /** systemd unit state; injectable because tests cannot install units. */
  serviceState?: () => Promise<DoctorCheck>;
}

/** Clock skew beyond this makes CRM change windows and "newest wins" unreliable. */
export const MAX_SKEW_MS = 60_000;

function errorText(err: unknown): { detail: string; fix?: string } {
  const e = err as { message?: string; remedy?: string };
  return { detail: redactString(e.message ?? String(err)), ...(e.remedy ? { fix: redactString(e.remedy) } : {}) };
}

async function mailboxChecks(deps: DoctorDeps, mailbox: MailboxConfig, label: string, config: Config): Promise<DoctorCheck[]> {
  const checks: DoctorCheck[] = [];
  const base = { user: mailbox.user };
  let password: string;
  try {
    password = await getMailboxPassword(mailbox, deps.paths, deps.env);
    checks.push({ ...base, id: 'mailbox.credential', status: 'ok', title: `${label}: password found`, detail: `in the ${mailbox.credentialStore} store` });
  } catch (err) {
    checks.push({ ...base, id: 'mailbox.credential', status: 'fail', title: `${label}: password`, ...errorText(err) });
    return checks;
  }
  let connection;
  try {
    connection = await deps.connect({ url: mailbox.url, username: mailbox.username, password, auth: mailbox.auth, trustedOrigins: mailbox.trustedOrigins }, config.dav);
    const probe = await connection.probe();
    checks.push({ ...base, id: 'mailbox.auth', status: 'ok', title: `${label}: login and discovery`, detail: `${mailbox.username} @ ${mailbox.url}, principal ${probe.principal}` });
    if (probe.skewMs !== undefined) {
      const seconds = Math.round(probe.skewMs / 1000);
      const ok = Math.abs(probe.skewMs) <= MAX_SKEW_MS;
      checks.push({
        ...base,
        id: 'mailbox.clock',
        status: ok ? 'ok' : 'warn',
        title: `${label}: clock skew`,
        detail: `${seconds >= 0 ? '+' : ''}${seconds} s against the server's Date header`,
        ...(ok ? {} : { fix: 'Synchronise the clocks (timedatectl set-ntp true on this machine; ask the server admin otherwise).' }),
      });
    }
    const collections = await connection.provision(config.sync.collectionNames, mailbox.collections);
    for (const kind of collectionKinds) {
      const c = collections[kind];
      const known = mailbox.collections?.[kind];
      const moved = known !== undefined && known !== c.url;
      checks.push({
        ...base,
        id: `mailbox.collection.${kind}`,
        status: moved ? 'warn' : 'ok',
        title: `${label}: ${kind} collection`,
        detail: `${c.displayName} → ${c.url}${moved ? ` (config has ${known})` : ''}`,
        ...(moved ? { fix: `Re-run sync-cli users assign for this user to store the current collection URLs.` } : {}),
      });
      if (!c.supportsSyncToken) {
        checks.push({ ...base, id: `mailbox.synctoken.${kind}`, status: 'warn', title: `${label}: ${kind} sync-token`, detail: 'the server does not offer sync-collection; changes are found by listing (slower)', fix: 'Nothing to do unless the mailbox is large; a server with RFC 6578 support is faster.' });
      }
      const wanted = config.sync.collectionNames[kind];
      if (c.displayName !== wanted) {
        checks.push({ ...base, id: `mailbox.name.${kind}`, status: 'warn', title: `${label}: ${kind} display name`, detail: `the collection shows "${c.displayName}", not "${wanted}": after a lost state it is not found again by name`, fix: `Rename it to "${wanted}" in the server's web interface.` });
      }
    }
    if (connection.diagnose) {
      const d = await connection.diagnose(collections);
      checks.push({ ...base, id: 'mailbox.server', status: 'info', title: `${label}: server`, detail: d.server ?? 'the server does not name itself' });
      const findings = diagnosisFindings(d, config.sync.fullEveryHours);
      const find = (id: string) => findings.find((f) => f.id === id);
      const conditional = find('conditional');
      checks.push(
        conditional
          ? { ...base, id: 'mailbox.conditional', status: 'warn', title: `${label}: conditional writes`, detail: conditional.detail, fix: conditional.fix }
          : { ...base, id: 'mailbox.conditional', status: 'ok', title: `${label}: conditional writes`, detail: 'If-None-Match and If-Match are honoured (probed on a scratch item)' },
      );
      const refusal = find('synctoken.refusal');
      if (d.acceptsUnknownToken !== undefined) {
        checks.push(
          refusal
            ? { ...base, id: 'mailbox.synctoken.refusal', status: 'warn', title: `${label}: unknown sync tokens`, detail: refusal.detail, fix: refusal.fix }
            : { ...base, id: 'mailbox.synctoken.refusal', status: 'ok', title: `${label}: unknown sync tokens`, detail: 'refused by the server, so a lost token means a full listing' },
        );
      }
    }
  } catch (err) {
    checks.push({ ...base, id: 'mailbox.auth', status: 'fail', title: `${label}: login and discovery`, ...errorText(err) });
  } finally {
    await Promise.resolve(connection?.close()).catch(() => undefined);
  }
  return checks;
}

/** systemd unit present/active; "not installed" (info) where there is no systemd. */
export async function systemdServiceState(): Promise<DoctorCheck> {
  const title = 'service';
  for (const scope of [[], ['--user']] as string[][]) {
    try {
      const { stdout } = await execFileAsync('systemctl', [...scope, 'show', 'sync-cli.service', '--property=LoadState,ActiveState,UnitFileState'], { timeout: 5000 });
      const props = Object.fromEntries(stdout.trim().split('\n').map((l) => l.split('=') as [string, string]));
      if (props.LoadState !== 'loaded') continue;
      const where = scope.length ? 'user unit' : 'system unit';
      if (props.ActiveState === 'active') return { id: 'service', status: 'ok', title, detail: `sync-cli.service (${where}) is active` };
      return { id: 'service', status: 'warn', title, detail: `sync-cli.service (${where}) is installed but ${props.ActiveState ?? 'not active'}`, fix: `systemctl ${scope.join(' ')} enable --now sync-cli.service; journalctl ${scope.length ? '--user ' : ''}-u sync-cli.service shows why it stopped.`.replace(/\s+/g, ' ') };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { id: 'service', status: 'info', title, detail: 'not installed (no systemd here)', fix: 'sync-cli service install sets up the daemon for this OS.' };
    }
  }
  return { id: 'service', status: 'info', title, detail: 'not installed', fix: 'sync-cli service install runs the daemon as a service.' };
}

export async function runDoctorChecks(deps: DoctorDeps): Promise<DoctorCheck[]> {
  const checks: DoctorCheck[] = [];
  // A folder other users can change is not used at all: no CRM, no password, no mailbox.
  const home = homeProblems(deps.paths);
  if (home.length) {
    for (const p of home) checks.push({ id: 'home', status: 'fail', title: 'installation folder', detail: p.message, fix: p.fix });
    checks.push({ id: 'home.skipped', status: 'info', title: 'further checks', detail: 'skipped: nothing is read from an installation folder other users can change', fix: 'fix the lines above and run sync-cli doctor again' });
    return checks;
  }
  checks.push({ id: 'home', status: 'ok', title: 'installation folder', detail: `${[...new Set([deps.paths.configDir, deps.paths.dataDir])].join(', ')}: yours alone (no other user can write there, no links)` });
  let config: Config;
  try {
    config = deps.config();
    if (deps.mailboxes) config = { ...config, mailboxes: await deps.mailboxes() };
  } catch (err) {
    // Every problem of config.json (typos with "did you mean") is listed; nothing else is checked with a config that is not what the admin meant.
    const e = err as { message?: string; problems?: string[]; remedy?: string };
    for (const p of e.problems?.length ? e.problems : [e.message ?? String(err)]) checks.push({ id: 'config', status: 'fail', title: 'config', detail: redactString(p), fix: e.remedy ? redactString(e.remedy) : 'fix config.json' });
    return checks;
  }
  checks.push({
    id: 'config',
    status: 'ok',
    title: 'config',
    detail: fs.existsSync(deps.paths.configFile) ? `${deps.paths.configFile} is valid, ${config.mailboxes.length} mailbox(es)` : `no ${deps.paths.configFile} yet; defaults apply`,
  });
  if (!config.mailboxes.length) {
    checks.push({ id: 'config.mailboxes', status: 'warn', title: 'mailboxes', detail: 'no mailbox is assigned', fix: 'sync-cli configure, or sync-cli users assign USER --url URL --username NAME --password-stdin' });
  }

  let users: Awaited<ReturnType<CrmDirectory['listUsers']>> | undefined;
  try {
    const crm = await deps.crm();
    users = await crm.listUsers();
    checks.push({ id: 'crm', status: 'ok', title: 'CRM connection', detail: `${config.crm.dialect}, ${users.length} user(s)` });
  } catch (err) {
    checks.push({ id: 'crm', status: 'fail', title: 'CRM connection', ...errorText(err) });
  }

  const kinds = new Set<CredentialStoreKind>(config.mailboxes.map((m) => m.credentialStore));
  for (const kind of kinds) {
    const availability = await openCredentialStore(kind, deps.paths, deps.env).available();
    checks.push({
      id: `store.${kind}`,
      status: availability.ok ? 'ok' : 'fail',
      title: `credential store ${kind}`,
      detail: redactString(availability.detail),
      ...(availability.ok ? {} : { fix: availability.fix ? redactString(availability.fix) : 'Make the store usable, or re-assign the mailboxes with another --credential-store.' }),
    });
  }

  for (const mailbox of config.mailboxes) {
    const user = users?.find((u) => u.id === mailbox.user);
    const label = `mailbox of ${user?.login ?? mailbox.user}`;
    if (users && !user) {
      checks.push({ id: 'mailbox.user', user: mailbox.user, status: 'fail', title: label, detail: `CRM user id ${mailbox.user} does not exist in the CRM`, fix: `sync-cli users unassign ${mailbox.user}` });
    }
    checks.push(...(await mailboxChecks(deps, mailbox, label, config)));
  }

  checks.push(await (deps.serviceState ?? systemdServiceState)());
  return checks;
}

const mark: Record<CheckStatus, string> = { ok: '✓', fail: '✗', warn: '!', info: 'i' };

export async function doctor(ctx: Context): Promise<number> {
  const checks = await runDoctorChecks({ paths: ctx.paths, config: () => ctx.config(), mailboxes: () => mailboxesOf(ctx), crm: () => ctx.crm(), connect: davConnector });
  const failed = checks.some((c) => c.status === 'fail');
  if (ctx.out.isJson) {
    ctx.out.json({ ok: !failed, checks });
  } else {
    for (const c of checks) {
      ctx.out.line(`${mark[c.status]} ${c.title}: ${c.detail}`);
      if (c.fix && c.status !== 'ok') ctx.out.line(`    fix: ${c.fix}`);
    }
    ctx.out.line(failed ? `\n${checks.filter((c) => c.status === 'fail').length} check(s) failed.` : '\nAll checks passed.');
  }
  return failed ? 1 : 0;
}

