// `service install|uninstall|status`: a plan (files to write, commands to run, notes) built by
// pure functions per platform and scope, then carried out. A system service run by a non-root
// user gets the exact sudo command instead of a half-done install.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { SyncCliError } from '../errors.js';
import { launchdPlist, LAUNCHD_LABEL, SERVICE_NAME, SYSTEM_CONFIG_DIR, SYSTEM_DATA_DIR, systemdInstances, systemdUnit, systemdUnitName, winswXml, type ServiceScope, type ServiceSpec } from './units.js';

export type ServicePlatform = 'linux' | 'darwin' | 'win32';

export interface PlannedFile {
  path: string;
  content: string | { copyFrom: string };
  mode: number;
}

export interface PlannedCommand {
  argv: string[];
  /** What it is for, printed after the command (e.g. the folder's owner and mode). */
  why?: string;
  /** Skip this command when `unless` succeeds (e.g. the account exists already). */
  unless?: string[];
  /** A failure is reported but does not stop the plan (e.g. stopping a service that is not running). */
  mayFail?: boolean;
}

export interface ServicePlan {
  platform: ServicePlatform;
  scope: ServiceScope;
  /** Set when this needs root/Administrator and we are not: the exact command to run instead. */
  needsRoot?: string;
  files: PlannedFile[];
  /** Files removed (uninstall). */
  remove: string[];
  commands: PlannedCommand[];
  /** Folders the service manager creates at the first start (nothing to do here; listed). */
  managedDirs: { path: string; owner: string; mode: number; by: string }[];
  notes: string[];
}

export interface PlanContext {
  platform: ServicePlatform;
  scope: ServiceScope;
  spec: ServiceSpec;
  isRoot: boolean;
  /** The user's home folder (user services). */
  userHome: string;
  uid: number;
  /** winsw.exe shipped in node-windows (Windows only). */
  winswExe?: string;
  /** Data folder of a Windows install (service XML and logs). */
  windowsDir?: string;
}

function shellQuote(arg: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** The flags of the worker role (D92), as `service … --worker` was given them. */
function roleArgs(spec: ServiceSpec): string[] {
  if (spec.role !== 'worker') return [];
  return ['--worker', ...(spec.concurrency ? ['--concurrency', String(spec.concurrency)] : []), ...(spec.instances && spec.instances !== 1 ? ['--instances', String(spec.instances)] : [])];
}

/** How this very invocation would look under sudo, with the absolute node and CLI paths. */
export function sudoCommand(spec: ServiceSpec, action: 'install' | 'uninstall'): string {
  const argv = ['sudo', spec.nodePath, spec.cliPath, ...(spec.home ? ['--home', spec.home] : []), 'service', action, ...roleArgs(spec)];
  return argv.map(shellQuote).join(' ');
}

/** Where the unit goes: sync-cli.service, or the worker template sync-cli-worker@.service. */
export function systemdUnitPath(scope: ServiceScope, userHome: string, spec: Pick<ServiceSpec, 'role'> = {}): string {
  const name = systemdUnitName(spec);
  return scope === 'system' ? `/etc/systemd/system/${name}` : path.join(userHome, '.config/systemd/user', name);
}

/** The journalctl hint of a role. */
function logsHint(spec: ServiceSpec, user: boolean): string {
  const unit = spec.role === 'worker' ? `'${SERVICE_NAME}-worker@*'` : SERVICE_NAME;
  return `Logs: journalctl${user ? ' --user' : ''} -u ${unit} -f`;
}

export function launchdPlistPath(scope: ServiceScope, userHome: string): string {
  return scope === 'system' ? `/Library/LaunchDaemons/${LAUNCHD_LABEL}.plist` : path.join(userHome, 'Library/LaunchAgents', `${LAUNCHD_LABEL}.plist`);
}

/** A sync-cli command line run as the service account on the service's files. */
export function adminCommand(spec: ServiceSpec, args: string): string {
  const cli = `${shellQuote(spec.nodePath)} ${shellQuote(spec.cliPath)}`;
  return spec.home
    ? `sudo -u ${spec.account} ${cli} --home ${shellQuote(spec.home)} ${args}`
    : `sudo -u ${spec.account} env XDG_CONFIG_HOME=/etc XDG_DATA_HOME=/var/lib ${cli} ${args}`;
}

export function planServiceInstall(c: PlanContext): ServicePlan {
  const plan: ServicePlan = { platform: c.platform, scope: c.scope, files: [], remove: [], commands: [], managedDirs: [], notes: [] };
  const { spec } = c;
  if (c.platform === 'linux') {
    if (c.scope === 'system' && !c.isRoot) return { ...plan, needsRoot: sudoCommand(spec, 'install') };
    const unit = systemdUnitPath(c.scope, c.userHome, spec);
    const units = systemdInstances(spec);
    plan.files.push({ path: unit, content: systemdUnit(spec), mode: 0o644 });
    if (c.scope === 'system') {
      plan.commands.push({
        argv: ['useradd', '--system', '--user-group', '--home-dir', spec.home ?? SYSTEM_DATA_DIR, '--no-create-home', '--shell', '/usr/sbin/nologin', spec.account],
        unless: ['id', '-u', spec.account],
        why: `the service account ${spec.account}, unless it exists`,
      });
      if (spec.home) {
        plan.commands.push(
          { argv: ['install', '-d', '-m', '0700', '-o', spec.account, spec.home], why: `the home ${spec.home}: owner ${spec.account}, mode 0700` },
          // sync-cli refuses a home owned by another user than the one running it (docs/security.md):
          // everything in it goes to the account; -h: a link's own owner, never its target's.
          { argv: ['chown', '-R', '-h', `${spec.account}:`, spec.home], why: `every file in ${spec.home} to ${spec.account} (modes stay: 0600 files, 0700 folders)` },
        );
      } else {
        plan.managedDirs.push(
          { path: SYSTEM_CONFIG_DIR, owner: spec.account, mode: 0o700, by: 'systemd at the first start (ConfigurationDirectory=sync-cli)' },
          { path: SYSTEM_DATA_DIR, owner: spec.account, mode: 0o700, by: 'systemd at the first start (StateDirectory=sync-cli)' },
        );
      }
      plan.commands.push({ argv: ['systemctl', 'daemon-reload'] }, { argv: ['systemctl', 'enable', '--now', ...units], why: 'start now and at every boot' });
      plan.notes.push(
        spec.home
          ? `The service runs as ${spec.account} with everything in ${spec.home}.`
          : `The service runs as ${spec.account}: config ${SYSTEM_CONFIG_DIR}/config.json, state ${SYSTEM_DATA_DIR}.`,
        'Passwords kept as systemd credentials (credentialStore "systemd") need `sync-cli service install` again after assigning, so the unit lists them.',
        spec.role === 'worker'
          ? `${logsHint(spec, false)}; health: sync-cli status (as that account) lists the running syncs; a worker's own /healthz and /metrics: SYNC_CLI_WORKER_HTTP_PORT in a drop-in (docs/scale-out.md).`
          : `${logsHint(spec, false)}; health: sync-cli status (as that account) or the /healthz endpoint when daemon.httpPort is set.`,
        // Last, so that it is what the admin reads: the files now belong to the account, and
        // sync-cli refuses a home owned by another user (as root too).
        `From now on run every sync-cli command for this service as ${spec.account} (the files are ${spec.account}'s; sync-cli refuses a home owned by another user), e.g.:\n  ${adminCommand(spec, 'users assign LOGIN --url URL --username NAME --password-stdin')}\n  ${adminCommand(spec, 'status')}`,
      );
    } else {
      plan.commands.push({ argv: ['systemctl', '--user', 'daemon-reload'] }, { argv: ['systemctl', '--user', 'enable', '--now', ...units] });
      plan.notes.push(`A user service stops when you log out unless lingering is on: run \`loginctl enable-linger ${os.userInfo().username}\` (once).`, logsHint(spec, true));
    }
    return plan;
  }
  if (c.platform === 'darwin') {
    if (c.scope === 'system' && !c.isRoot) return { ...plan, needsRoot: sudoCommand(spec, 'install') };
    const file = launchdPlistPath(c.scope, c.userHome);
    const logDir = c.scope === 'system' ? '/Library/Logs/sync-cli' : path.join(c.userHome, 'Library/Logs/sync-cli');
    plan.files.push({ path: file, content: launchdPlist(spec, logDir), mode: 0o644 });
    plan.commands.push({ argv: ['mkdir', '-p', logDir] });
    const domain = c.scope === 'system' ? 'system' : `gui/${c.uid}`;
    plan.commands.push({ argv: ['launchctl', 'bootout', `${domain}/${LAUNCHD_LABEL}`], mayFail: true }, { argv: ['launchctl', 'bootstrap', domain, file] });
    plan.notes.push(`Logs: ${logDir}/sync-cli.log`);
    if (c.scope === 'system' && spec.account) plan.notes.push(`The LaunchDaemon runs as ${spec.account}; create that account first (dscl / sysadminctl) or remove UserName from ${file}.`);
    return plan;
  }
  // Windows: WinSW (shipped inside node-windows) wraps node as a service.
  if (!c.isRoot) return { ...plan, needsRoot: 'Run the same command in an elevated prompt ("Run as administrator").' };
  const dir = c.windowsDir ?? path.join(c.userHome, 'sync-cli-service');
  const exe = path.join(dir, `${SERVICE_NAME}.exe`);
  if (!c.winswExe) {
    throw new SyncCliError('the Windows service wrapper (WinSW, shipped in node-windows) is not installed', {
      exitCode: 2,
      remedy: 'run `npm install -g node-windows` and try again',
    });
  }
  plan.files.push({ path: exe, content: { copyFrom: c.winswExe }, mode: 0o755 }, { path: path.join(dir, `${SERVICE_NAME}.xml`), content: winswXml(spec, path.join(dir, 'logs')), mode: 0o644 });
  plan.commands.push({ argv: [exe, 'install'] }, { argv: [exe, 'start'] });
  plan.notes.push(`Logs: ${path.join(dir, 'logs')}`, 'Windows support is generated from the WinSW documentation and has not been tested on Windows.');
  return plan;
}

export function planServiceUninstall(c: PlanContext): ServicePlan {
  const plan: ServicePlan = { platform: c.platform, scope: c.scope, files: [], remove: [], commands: [], managedDirs: [], notes: [] };
  if (c.platform === 'linux') {
    if (c.scope === 'system' && !c.isRoot) return { ...plan, needsRoot: sudoCommand(c.spec, 'uninstall') };
    const user = c.scope === 'user' ? ['--user'] : [];
    plan.commands.push({ argv: ['systemctl', ...user, 'disable', '--now', ...systemdInstances(c.spec)], mayFail: true });
    // Instances enabled by hand beyond --instances stop too (a pattern matches the running ones).
    if (c.spec.role === 'worker') plan.commands.push({ argv: ['systemctl', ...user, 'stop', `${SERVICE_NAME}-worker@*`], mayFail: true, why: 'every other running worker instance' });
    plan.remove.push(systemdUnitPath(c.scope, c.userHome, c.spec));
    plan.commands.push({ argv: ['systemctl', ...user, 'daemon-reload'] });
    plan.notes.push(c.scope === 'system' ? `Kept: ${SYSTEM_CONFIG_DIR}, ${SYSTEM_DATA_DIR} and the ${c.spec.account} account (remove them by hand when no longer needed).` : 'Kept: your config and state.');
    return plan;
  }
  if (c.platform === 'darwin') {
    if (c.scope === 'system' && !c.isRoot) return { ...plan, needsRoot: sudoCommand(c.spec, 'uninstall') };
    const domain = c.scope === 'system' ? 'system' : `gui/${c.uid}`;
    plan.commands.push({ argv: ['launchctl', 'bootout', `${domain}/${LAUNCHD_LABEL}`], mayFail: true });
    plan.remove.push(launchdPlistPath(c.scope, c.userHome));
    return plan;
  }
  if (!c.isRoot) return { ...plan, needsRoot: 'Run the same command in an elevated prompt ("Run as administrator").' };
  const exe = path.join(c.windowsDir ?? path.join(c.userHome, 'sync-cli-service'), `${SERVICE_NAME}.exe`);
  plan.commands.push({ argv: [exe, 'stop'], mayFail: true }, { argv: [exe, 'uninstall'] });
  return plan;
}

export function serviceStatusCommand(c: PlanContext): string[] {
  if (c.platform === 'linux') return ['systemctl', ...(c.scope === 'user' ? ['--user'] : []), 'status', '--no-pager', c.spec.role === 'worker' ? `${SERVICE_NAME}-worker@*` : SERVICE_NAME];
  if (c.platform === 'darwin') return ['launchctl', 'print', `${c.scope === 'system' ? 'system' : `gui/${c.uid}`}/${LAUNCHD_LABEL}`];
  return [path.join(c.windowsDir ?? path.join(c.userHome, 'sync-cli-service'), `${SERVICE_NAME}.exe`), 'status'];
}

/** winsw.exe inside an installed node-windows package, if any. */
export function findWinsw(): string | undefined {
  try {
    const pkg = createRequire(import.meta.url).resolve('node-windows/package.json');
    const exe = path.join(path.dirname(pkg), 'bin', 'winsw', 'winsw.exe');
    return fs.existsSync(exe) ? exe : undefined;
  } catch {
    return undefined;
  }
}

/** What carrying out a plan touches; the real one, or a recorder in tests. */
export interface ServiceOps {
  writeFile(file: string, content: string | { copyFrom: string }, mode: number): void;
  /** Exit status of a command, its output going to our stdout/stderr. */
  run(argv: string[]): { status: number | null; error?: Error };
  /** Whether a check command (`unless`) succeeds, silently. */
  succeeds(argv: string[]): boolean;
  /** Removes a file; false when it was not there. */
  remove(file: string): boolean;
}

export const systemOps: ServiceOps = {
  writeFile(file, content, mode) {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    if (typeof content === 'string') fs.writeFileSync(file, content, { mode });
    else fs.copyFileSync(content.copyFrom, file);
    fs.chmodSync(file, mode);
  },
  run(argv) {
    const r = spawnSync(argv[0]!, argv.slice(1), { stdio: ['ignore', 'inherit', 'inherit'] });
    return { status: r.status, ...(r.error ? { error: r.error } : {}) };
  },
  succeeds: (argv) => spawnSync(argv[0]!, argv.slice(1), { stdio: 'ignore' }).status === 0,
  remove(file) {
    if (!fs.existsSync(file)) return false;
    fs.rmSync(file);
    return true;
  },
};

export type PlanStep =
  | { kind: 'file'; text: string; file: PlannedFile }
  | { kind: 'command'; text: string; command: PlannedCommand }
  | { kind: 'info'; text: string }
  | { kind: 'remove'; text: string; file: string };

const octal = (mode: number) => '0' + mode.toString(8);

/**
 * The plan as the ordered steps that `--dry-run` prints and `install`/`uninstall` carry out:
 * one list for both, so what a dry run shows is what the install does.
 */
export function planSteps(plan: ServicePlan): PlanStep[] {
  const steps: PlanStep[] = [];
  for (const f of plan.files) {
    const what = typeof f.content === 'string' ? '' : ` (a copy of ${f.content.copyFrom})`;
    steps.push({ kind: 'file', text: `write ${f.path}${what}, mode ${octal(f.mode)}`, file: f });
  }
  for (const d of plan.managedDirs) steps.push({ kind: 'info', text: `folder ${d.path}: owner ${d.owner}, mode ${octal(d.mode)}, created by ${d.by}` });
  for (const c of plan.commands) {
    const unless = c.unless ? ` (skipped when \`${c.unless.map(shellQuote).join(' ')}\` succeeds)` : '';
    const why = c.why ? `  # ${c.why}` : '';
    steps.push({ kind: 'command', text: `run ${c.argv.map(shellQuote).join(' ')}${unless}${c.mayFail ? ' (may fail)' : ''}${why}`, command: c });
  }
  for (const f of plan.remove) steps.push({ kind: 'remove', text: `remove ${f}`, file: f });
  return steps;
}

/** `--dry-run`: the steps, numbered; nothing is written or run. */
export function describeServicePlan(plan: ServicePlan, action: 'install' | 'uninstall'): string[] {
  return [`Dry run: nothing was changed. \`service ${action}\` would:`, ...planSteps(plan).map((s, i) => `${i + 1}. ${s.text}`)];
}

/**
 * Carries out the steps in the order `--dry-run` shows them, saying each (with its number) as
 * it starts; stops at the first failing command.
 */
export function executeServicePlan(plan: ServicePlan, say: (line: string) => void, ops: ServiceOps = systemOps): number {
  planSteps(plan).forEach((step, i) => {
    const n = `${i + 1}. `;
    if (step.kind === 'info') return say(n + step.text);
    if (step.kind === 'file') {
      say(n + step.text);
      return ops.writeFile(step.file.path, step.file.content, step.file.mode);
    }
    if (step.kind === 'remove') {
      say(n + step.text + (ops.remove(step.file) ? '' : ' (was not there)'));
      return;
    }
    const cmd = step.command;
    if (cmd.unless && ops.succeeds(cmd.unless)) return say(`${n}${step.text}: skipped, \`${cmd.unless.join(' ')}\` succeeded`);
    say(n + step.text);
    const r = ops.run(cmd.argv);
    if (r.status !== 0 && !cmd.mayFail) {
      throw new SyncCliError(`\`${cmd.argv.join(' ')}\` failed (${r.error ? r.error.message : `exit ${r.status}`})`, {
        exitCode: 1,
        remedy: 'fix the cause shown above and run the same `sync-cli service` command again (it is safe to repeat)',
      });
    }
  });
  return 0;
}
