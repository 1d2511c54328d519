// The body of `sync-cli service …`, loaded only when the command runs.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../config/load.js';
import { resolvePaths, type Paths } from '../config/paths.js';
import type { Context } from '../context.js';
import { UsageError } from '../errors.js';
import { systemdUnitCredentialLines } from '../secrets/index.js';
import { describeServicePlan, executeServicePlan, findWinsw, planServiceInstall, planServiceUninstall, serviceStatusCommand, sudoCommand, type PlanContext, type ServicePlatform } from './install.js';
import { launchdPlist, SYSTEM_CONFIG_DIR, SYSTEM_DATA_DIR, systemdUnit, winswXml, type ServiceSpec } from './units.js';

export interface ServiceFlags {
  user?: boolean;
  print?: boolean;
  dryRun?: boolean;
  platform?: string;
  account: string;
  /** The cluster worker's template unit instead of the daemon's (D92). */
  worker?: boolean;
  concurrency?: string;
  instances?: string;
}

/** `--NAME value` as a whole number within [min, max], or a usage error with an example. */
function wholeNumber(name: string, value: string | undefined, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < min || n > max) throw new UsageError(`--${name} ${value} is not a whole number from ${min} to ${max}`, `e.g. \`sync-cli service install --worker --${name} 2\``);
  return n;
}

/** The role flags: --concurrency and --instances belong to --worker, which is systemd only. */
function roleOf(flags: ServiceFlags, platform: ServicePlatform): Pick<ServiceSpec, 'role' | 'concurrency' | 'instances'> {
  const concurrency = wholeNumber('concurrency', flags.concurrency, 1, 256);
  const instances = wholeNumber('instances', flags.instances, 1, 64);
  if (!flags.worker) {
    if (concurrency !== undefined || instances !== undefined) throw new UsageError(`--${concurrency !== undefined ? 'concurrency' : 'instances'} is for the worker's service`, 'add --worker, e.g. `sync-cli service install --worker --instances 2`');
    return { role: 'daemon' };
  }
  if (platform !== 'linux') throw new UsageError(`--worker installs a systemd template unit (Linux); there is none for ${platform}`, 'run `sync-cli worker` under your service manager there (docs/scale-out.md)');
  return { role: 'worker', ...(concurrency !== undefined ? { concurrency } : {}), instances: instances ?? 1 };
}

/** The CLI entry (bin/sync-cli) of this installation, symlinks resolved. */
export function installedCliPath(): string {
  const bin = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bin/sync-cli');
  return fs.existsSync(bin) ? fs.realpathSync(bin) : bin;
}

function isAdmin(platform: ServicePlatform): boolean {
  if (platform === 'win32') return spawnSync('net', ['session'], { stdio: 'ignore' }).status === 0;
  return process.getuid?.() === 0;
}

/** Paths the installed service will use (for the credential file locations). */
function servicePaths(ctx: Context, scope: 'system' | 'user', home: string | undefined, platform: ServicePlatform): Paths {
  if (home || scope === 'user' || platform !== 'linux') return ctx.paths;
  const p = resolvePaths(SYSTEM_DATA_DIR);
  return { ...p, configDir: SYSTEM_CONFIG_DIR, configFile: path.join(SYSTEM_CONFIG_DIR, 'config.json') };
}

export function buildPlanContext(ctx: Context, flags: ServiceFlags): PlanContext {
  const platform = (flags.platform ?? process.platform) as ServicePlatform;
  if (!['linux', 'darwin', 'win32'].includes(platform)) throw new UsageError(`unsupported platform '${platform}'`, 'use --platform linux, darwin or win32');
  const scope = flags.user ? 'user' : 'system';
  const homeOpt = ctx.options.home ?? process.env.SYNC_CLI_HOME;
  const home = homeOpt ? path.resolve(homeOpt) : undefined;
  const paths = servicePaths(ctx, scope, home, platform);
  let mailboxes = ctx.config().mailboxes;
  if (paths.configFile !== ctx.paths.configFile) mailboxes = fs.existsSync(paths.configFile) ? loadConfig(paths.configFile).mailboxes : [];
  const spec: ServiceSpec = {
    scope,
    nodePath: process.execPath,
    cliPath: installedCliPath(),
    home,
    account: platform === 'darwin' ? '' : flags.account,
    credentialLines: platform === 'linux' ? systemdUnitCredentialLines(mailboxes, paths) : [],
    stopTimeoutSeconds: Math.max(30, ctx.config().daemon.shutdownGraceSeconds + 10),
    watchdogSeconds: 60,
    ...roleOf(flags, platform),
  };
  return {
    platform,
    scope,
    spec,
    isRoot: isAdmin(platform),
    userHome: os.homedir(),
    uid: process.getuid?.() ?? 0,
    winswExe: platform === 'win32' ? findWinsw() : undefined,
    windowsDir: platform === 'win32' ? path.join(paths.dataDir, 'service') : undefined,
  };
}

export function serviceFileText(c: PlanContext): string {
  if (c.platform === 'linux') return systemdUnit(c.spec);
  if (c.platform === 'darwin') return launchdPlist(c.spec, c.scope === 'system' ? '/Library/Logs/sync-cli' : path.join(c.userHome, 'Library/Logs/sync-cli'));
  return winswXml(c.spec, path.join(c.windowsDir ?? c.userHome, 'logs'));
}

export async function runServiceCommand(ctx: Context, action: 'install' | 'uninstall' | 'status', flags: ServiceFlags): Promise<number> {
  const c = buildPlanContext(ctx, flags);
  if (flags.print) {
    // Describe only: nothing is written or run (works for any --platform on any OS).
    process.stdout.write(serviceFileText(c));
    return 0;
  }
  if (flags.platform && flags.platform !== process.platform) {
    throw new UsageError(`--platform ${flags.platform} only works with --print on this ${process.platform} machine`, `add --print to see the ${flags.platform} service file`);
  }
  if (action === 'status') {
    const argv = serviceStatusCommand(c);
    const r = spawnSync(argv[0]!, argv.slice(1), { stdio: ['ignore', 'inherit', 'inherit'] });
    if (r.error) ctx.logger.error(`\`${argv.join(' ')}\` could not run: ${r.error.message}`);
    return r.status === 0 ? 0 : 1;
  }
  if (flags.dryRun) {
    // The plan as root would carry it out, so that an admin sees it before typing sudo.
    const asRoot = { ...c, isRoot: true };
    const plan = action === 'install' ? planServiceInstall(asRoot) : planServiceUninstall(asRoot);
    for (const l of describeServicePlan(plan, action)) ctx.out.line(l);
    if (plan.notes.length) ctx.out.line(['Then it would say:', ...plan.notes.map((n) => '  ' + n.replace(/\n/g, '\n  '))].join('\n'));
    if (!c.isRoot && !(c.platform === 'linux' && c.scope === 'user')) ctx.out.line(`This needs administrator rights: ${c.platform === 'win32' ? 'an elevated prompt' : sudoCommand(c.spec, action)}`);
    return 0;
  }
  const plan = action === 'install' ? planServiceInstall(c) : planServiceUninstall(c);
  if (plan.needsRoot) {
    ctx.out.line(`This needs administrator rights; nothing was changed. Run:\n  ${plan.needsRoot}`);
    return 2;
  }
  executeServicePlan(plan, (l) => ctx.out.line(l));
  for (const n of plan.notes) ctx.out.line(n);
  return 0;
}
