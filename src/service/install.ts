// `service install|uninstall|status`: a plan (files to write, commands to run, notes) built by
// pure functions per platform and scope, then carried out. A system service run by a non-root
// user gets the exact sudo command instead of a half-done install.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { SyncCliError } from '../errors.js';
import { launchdPlist, LAUNCHD_LABEL, SERVICE_NAME, SYSTEM_CONFIG_DIR, SYSTEM_DATA_DIR, systemdUnit, winswXml, type ServiceScope, type ServiceSpec } from './units.js';

export type ServicePlatform = 'linux' | 'darwin' | 'win32';

export interface PlannedFile {
  path: string;
  content: string | { copyFrom: string };
  mode: number;
}

export interface PlannedCommand {
  argv: string[];
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

/** How this very invocation would look under sudo, with the absolute node and CLI paths. */
export function sudoCommand(spec: ServiceSpec, action: 'install' | 'uninstall'): string {
  const argv = ['sudo', spec.nodePath, spec.cliPath, ...(spec.home ? ['--home', spec.home] : []), 'service', action];
  return argv.map(shellQuote).join(' ');
}

export function systemdUnitPath(scope: ServiceScope, userHome: string): string {
  return scope === 'system' ? `/etc/systemd/system/${SERVICE_NAME}.service` : path.join(userHome, '.config/systemd/user', `${SERVICE_NAME}.service`);
}

export function launchdPlistPath(scope: ServiceScope, userHome: string): string {
  return scope === 'system' ? `/Library/LaunchDaemons/${LAUNCHD_LABEL}.plist` : path.join(userHome, 'Library/LaunchAgents', `${LAUNCHD_LABEL}.plist`);
}

function adminCommandHint(spec: ServiceSpec): string {
  const cli = `${shellQuote(spec.nodePath)} ${shellQuote(spec.cliPath)}`;
  return spec.home
    ? `sudo -u ${spec.account} ${cli} --home ${shellQuote(spec.home)} …`
    : `sudo -u ${spec.account} env XDG_CONFIG_HOME=/etc XDG_DATA_HOME=/var/lib ${cli} …`;
}

export function planServiceInstall(c: PlanContext): ServicePlan {
  const plan: ServicePlan = { platform: c.platform, scope: c.scope, files: [], remove: [], commands: [], notes: [] };
  const { spec } = c;
  if (c.platform === 'linux') {
    if (c.scope === 'system' && !c.isRoot) return { ...plan, needsRoot: sudoCommand(spec, 'install') };
    const unit = systemdUnitPath(c.scope, c.userHome);
    plan.files.push({ path: unit, content: systemdUnit(spec), mode: 0o644 });
    if (c.scope === 'system') {
      plan.commands.push({
        argv: ['useradd', '--system', '--user-group', '--home-dir', spec.home ?? SYSTEM_DATA_DIR, '--no-create-home', '--shell', '/usr/sbin/nologin', spec.account],
        unless: ['id', '-u', spec.account],
      });
      if (spec.home) plan.commands.push({ argv: ['install', '-d', '-m', '0700', '-o', spec.account, '-g', spec.account, spec.home] });
      plan.commands.push({ argv: ['systemctl', 'daemon-reload'] }, { argv: ['systemctl', 'enable', '--now', SERVICE_NAME] });
      plan.notes.push(
        spec.home
          ? `The service runs as ${spec.account} with everything in ${spec.home}.`
          : `The service runs as ${spec.account}: config ${SYSTEM_CONFIG_DIR}/config.json, state ${SYSTEM_DATA_DIR}.`,
        `Configure it as that account, e.g.: ${adminCommandHint(spec)} users assign LOGIN --url URL --username NAME --password-stdin`,
        'Passwords kept as systemd credentials (credentialStore "systemd") need `sync-cli service install` again after assigning, so the unit lists them.',
        'Logs: journalctl -u sync-cli -f; health: sync-cli status (as that account) or the /healthz endpoint when daemon.httpPort is set.',
      );
    } else {
      plan.commands.push({ argv: ['systemctl', '--user', 'daemon-reload'] }, { argv: ['systemctl', '--user', 'enable', '--now', SERVICE_NAME] });
      plan.notes.push(
        `A user service stops when you log out unless lingering is on: run \`loginctl enable-linger ${os.userInfo().username}\` (once).`,
        'Logs: journalctl --user -u sync-cli -f',
      );
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
  const plan: ServicePlan = { platform: c.platform, scope: c.scope, files: [], remove: [], commands: [], notes: [] };
  if (c.platform === 'linux') {
    if (c.scope === 'system' && !c.isRoot) return { ...plan, needsRoot: sudoCommand(c.spec, 'uninstall') };
    const user = c.scope === 'user' ? ['--user'] : [];
    plan.commands.push({ argv: ['systemctl', ...user, 'disable', '--now', SERVICE_NAME], mayFail: true });
    plan.remove.push(systemdUnitPath(c.scope, c.userHome));
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
  if (c.platform === 'linux') return ['systemctl', ...(c.scope === 'user' ? ['--user'] : []), 'status', '--no-pager', SERVICE_NAME];
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

/** Writes the files and runs the commands; stops at the first failing command. */
export function executeServicePlan(plan: ServicePlan, say: (line: string) => void): number {
  for (const f of plan.files) {
    fs.mkdirSync(path.dirname(f.path), { recursive: true });
    if (typeof f.content === 'string') fs.writeFileSync(f.path, f.content, { mode: f.mode });
    else fs.copyFileSync(f.content.copyFrom, f.path);
    fs.chmodSync(f.path, f.mode);
    say(`wrote ${f.path}`);
  }
  for (const cmd of plan.commands) {
    if (cmd.unless && spawnSync(cmd.unless[0]!, cmd.unless.slice(1), { stdio: 'ignore' }).status === 0) continue;
    say(`$ ${cmd.argv.map(shellQuote).join(' ')}`);
    const r = spawnSync(cmd.argv[0]!, cmd.argv.slice(1), { stdio: ['ignore', 'inherit', 'inherit'] });
    if (r.status !== 0 && !cmd.mayFail) {
      throw new SyncCliError(`\`${cmd.argv.join(' ')}\` failed (${r.error ? r.error.message : `exit ${r.status}`})`, {
        exitCode: 1,
        remedy: 'fix the cause shown above and run the same `sync-cli service` command again (it is safe to repeat)',
      });
    }
  }
  for (const f of plan.remove) {
    if (fs.existsSync(f)) {
      fs.rmSync(f);
      say(`removed ${f}`);
    }
  }
  return 0;
}
