// `sync-cli service … --worker` (D92): the cluster worker's template unit sync-cli-worker@.service
// as an admin installs it — printed, dry-run (nothing changes), the instances enabled and
// stopped, the sudo hint with the same flags, and the flags refused where they mean nothing.
import fs from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { planServiceInstall, serviceStatusCommand, type PlanContext } from '../../src/service/install.js';
import type { ServiceSpec } from '../../src/service/units.js';
import { cliPath, runCli, tempHome } from '../helpers/cli.js';

const UNIT = '/etc/systemd/system/sync-cli-worker@.service';
const home = tempHome('sync-cli-worker-service-');
afterAll(() => fs.rmSync(home, { recursive: true, force: true }));
const steps = (out: string) => out.split('\n').filter((l) => /^\d+\. /.test(l));

describe('service --worker', () => {
  it('install --worker --print: the template unit runs `sync-cli worker --concurrency 8` with this node, Type=exec, no watchdog; nothing written', () => {
    const r = runCli(['--home', home, 'service', 'install', '--worker', '--concurrency', '8', '--print']);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines).toContain(`ExecStart="${process.execPath}" "${fs.realpathSync(cliPath)}" "--home" "${home}" "--log-format" "json" "worker" "--concurrency" "8"`);
    expect(lines).toContain('Type=exec');
    expect(lines).toContain("Description=sync-cli worker %i: runs the cluster's mailbox sync jobs (docs/scale-out.md)");
    expect(r.stdout).not.toMatch(/WatchdogSec|Type=notify/);
    expect(fs.readdirSync(home)).toEqual([]);
  });

  it('install --worker --instances 2 --dry-run: the template unit and both instances enabled; uninstall --dry-run stops them; nothing changes', () => {
    const before = fs.existsSync(UNIT);
    const r = runCli(['--home', home, 'service', 'install', '--worker', '--instances', '2', '--dry-run']);
    expect(r.code, r.stderr).toBe(0);
    const s = steps(r.stdout);
    expect(s[0]).toBe(`1. write ${UNIT}, mode 0644`);
    expect(s.at(-2)).toBe('5. run systemctl daemon-reload');
    expect(s.at(-1)).toBe('6. run systemctl enable --now sync-cli-worker@1 sync-cli-worker@2  # start now and at every boot');
    expect(r.stdout).toContain("Logs: journalctl -u 'sync-cli-worker@*' -f");
    const u = runCli(['--home', home, 'service', 'uninstall', '--worker', '--instances', '2', '--dry-run']);
    expect(u.code, u.stderr).toBe(0);
    expect(steps(u.stdout)).toEqual([
      '1. run systemctl disable --now sync-cli-worker@1 sync-cli-worker@2 (may fail)',
      "2. run systemctl stop 'sync-cli-worker@*' (may fail)  # every other running worker instance",
      '3. run systemctl daemon-reload',
      `4. remove ${UNIT}`,
    ]);
    expect(fs.existsSync(UNIT)).toBe(before);
    expect(fs.readdirSync(home)).toEqual([]);
  });

  it('not root: the sudo hint repeats --worker and its flags; status shows every instance', () => {
    const spec: ServiceSpec = { scope: 'system', nodePath: process.execPath, cliPath: '/opt/sync-cli/bin/sync-cli', account: 'sync-cli', credentialLines: [], stopTimeoutSeconds: 30, watchdogSeconds: 60, role: 'worker', concurrency: 8, instances: 2 };
    const c: PlanContext = { platform: 'linux', scope: 'system', spec, isRoot: false, userHome: '/home/admin', uid: 1000 };
    expect(planServiceInstall(c).needsRoot).toBe(`sudo ${process.execPath} /opt/sync-cli/bin/sync-cli service install --worker --concurrency 8 --instances 2`);
    expect(serviceStatusCommand(c)).toEqual(['systemctl', 'status', '--no-pager', 'sync-cli-worker@*']);
    expect(serviceStatusCommand({ ...c, scope: 'user' })).toEqual(['systemctl', '--user', 'status', '--no-pager', 'sync-cli-worker@*']);
  });

  it('--instances without --worker, --worker outside Linux and a bad count are usage errors (exit 2) with the fix; --help shows an example', () => {
    const alone = runCli(['--home', home, 'service', 'install', '--instances', '2', '--dry-run']);
    expect(alone.code).toBe(2);
    expect(alone.stderr).toContain('--instances is for the worker\'s service');
    expect(alone.stderr).toContain('sync-cli service install --worker --instances 2');
    const mac = runCli(['--home', home, 'service', 'install', '--worker', '--print', '--platform', 'darwin']);
    expect(mac.code).toBe(2);
    expect(mac.stderr).toContain('--worker installs a systemd template unit (Linux); there is none for darwin');
    const zero = runCli(['--home', home, 'service', 'install', '--worker', '--instances', '0', '--dry-run']);
    expect(zero.code).toBe(2);
    expect(zero.stderr).toContain('--instances 0 is not a whole number from 1 to 64');
    expect(zero.stderr).not.toMatch(/\bat .*\.js:\d+/);
    const help = runCli(['service', 'install', '--help']);
    expect(help.stdout).toContain('sudo sync-cli service install --worker --instances 2 --concurrency 8');
    expect(help.stdout).toContain('--worker');
  });
});
