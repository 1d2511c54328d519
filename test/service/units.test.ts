// The generated service files, checked by the tools that will read them: systemd-analyze verify
// for the units (warnings count as failures), a plist parser for launchd, and the plans for the
// non-root path (the exact sudo command, nothing written).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import plist from 'plist';
import { afterAll, describe, expect, it } from 'vitest';
import { planServiceInstall, planServiceUninstall, type PlanContext } from '../../src/service/install.js';
import { launchdPlist, systemdUnit, winswXml, type ServiceSpec } from '../../src/service/units.js';
import { cliPath, runCli, tempHome } from '../helpers/cli.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sync-cli-units-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const spec = (over: Partial<ServiceSpec> = {}): ServiceSpec => ({
  scope: 'system',
  nodePath: process.execPath,
  cliPath: fs.realpathSync(cliPath),
  account: 'sync-cli',
  credentialLines: [],
  stopTimeoutSeconds: 30,
  watchdogSeconds: 60,
  ...over,
});

function verify(unitText: string, user: boolean, name = 'sync-cli.service'): { code: number | null; stderr: string } {
  const dir = fs.mkdtempSync(path.join(tmp, 'unit-'));
  const file = path.join(dir, name);
  fs.writeFileSync(file, unitText);
  const runtime = fs.mkdtempSync(path.join(tmp, 'rt-'));
  const r = spawnSync('systemd-analyze', ['verify', ...(user ? ['--user'] : []), file], { encoding: 'utf8', env: { ...process.env, XDG_RUNTIME_DIR: runtime } });
  return { code: r.status, stderr: r.stderr };
}

describe('systemd', () => {
  it('the worker unit (a template, one instance per worker process) runs `sync-cli worker` and passes systemd-analyze verify', () => {
    const unit = systemdUnit(spec({ role: 'worker', concurrency: 8, home: '/srv/sync-cli' }));
    expect(unit).toMatch(/^ExecStart=.*"--home" "\/srv\/sync-cli" "--log-format" "json" "worker" "--concurrency" "8"$/m);
    expect(unit).toContain('Type=exec');
    expect(unit).not.toMatch(/Type=notify|WatchdogSec|ExecReload/);
    expect(verify(unit, false, 'sync-cli-worker@1.service')).toEqual({ code: 0, stderr: '' });
  });

  it('the system unit passes systemd-analyze verify without a warning', () => {
    const unit = systemdUnit(spec());
    expect(verify(unit, false)).toEqual({ code: 0, stderr: '' });
    expect(unit).toContain(`ExecStart="${process.execPath}" "${fs.realpathSync(cliPath)}" "--log-format" "json" "daemon"`);
    for (const line of ['Type=notify', 'User=sync-cli', 'StateDirectory=sync-cli', 'ConfigurationDirectory=sync-cli', 'Restart=on-failure', 'WatchdogSec=60s', 'ProtectSystem=strict', 'NoNewPrivileges=yes', 'LimitNOFILE=65536']) {
      expect(unit.split('\n')).toContain(line);
    }
  });

  it('keeps credential lines, --home, and a readable home folder when sync-cli lives under /home', () => {
    const unit = systemdUnit(
      spec({ home: '/srv/sync cli', cliPath: '/home/admin/.npm/bin/sync-cli', credentialLines: ['LoadCredentialEncrypted=sync-cli-mailbox-u1:/srv/sync cli/credentials/u1.cred'] }),
    );
    expect(unit).toContain('"--home" "/srv/sync cli"');
    expect(unit).toContain('LoadCredentialEncrypted=sync-cli-mailbox-u1:/srv/sync cli/credentials/u1.cred');
    expect(unit).toContain('ProtectHome=read-only');
    expect(unit).not.toContain('StateDirectory=');
    // A --home with a space must be quoted in ReadWritePaths= (verify warns otherwise).
    expect(verify(unit, false)).toEqual({ code: 0, stderr: '' });
  });

  it('the user unit passes systemd-analyze verify --user', () => {
    const unit = systemdUnit(spec({ scope: 'user' }));
    expect(verify(unit, true)).toEqual({ code: 0, stderr: '' });
    expect(unit).toContain('WantedBy=default.target');
    expect(unit).not.toContain('User=');
  });

  it('a unit with a typo would fail the same check (the check can fail)', () => {
    const r = verify(systemdUnit(spec()).replace('Type=notify', 'Type=notifyy'), false);
    expect(r.stderr).toContain('notifyy');
  });
});

describe('launchd', () => {
  it('the LaunchDaemon plist parses and runs node with absolute paths as the service account', () => {
    const doc = plist.parse(launchdPlist(spec(), '/Library/Logs/sync-cli')) as Record<string, unknown>;
    expect(doc).toMatchObject({
      Label: 'de.sync-cli.daemon',
      ProgramArguments: [process.execPath, fs.realpathSync(cliPath), '--log-format', 'json', 'daemon'],
      RunAtLoad: true,
      KeepAlive: { SuccessfulExit: false },
      SoftResourceLimits: { NumberOfFiles: 65536 },
      UserName: 'sync-cli',
      StandardErrorPath: '/Library/Logs/sync-cli/sync-cli.log',
    });
  });

  it('the LaunchAgent plist has no UserName', () => {
    const doc = plist.parse(launchdPlist(spec({ scope: 'user', account: '' }), '/Users/a/Library/Logs/sync-cli')) as Record<string, unknown>;
    expect(doc.UserName).toBeUndefined();
    expect(doc.Label).toBe('de.sync-cli.daemon');
  });
});

describe('Windows (generated only; untested on Windows)', () => {
  it('the WinSW XML names node, the CLI and a restart on failure', () => {
    const xml = winswXml(spec({ nodePath: 'C:\\Program Files\\nodejs\\node.exe', cliPath: 'C:\\sync-cli\\bin\\sync-cli' }), 'C:\\ProgramData\\sync-cli\\logs');
    expect(xml).toContain('<executable>C:\\Program Files\\nodejs\\node.exe</executable>');
    expect(xml).toContain('<arguments>C:\\sync-cli\\bin\\sync-cli --log-format json daemon</arguments>');
    expect(xml).toContain('<onfailure action="restart" delay="10 sec"/>');
  });
});

describe('install plans', () => {
  const ctx = (over: Partial<PlanContext>): PlanContext => ({ platform: 'linux', scope: 'system', spec: spec(), isRoot: false, userHome: '/home/admin', uid: 1000, ...over });

  it('not root: a system install is the exact sudo command and writes nothing', () => {
    const plan = planServiceInstall(ctx({}));
    expect(plan.needsRoot).toBe(`sudo ${process.execPath} ${fs.realpathSync(cliPath)} service install`);
    expect(plan.files).toEqual([]);
    expect(plan.commands).toEqual([]);
    expect(planServiceUninstall(ctx({ spec: spec({ home: '/srv/my home' }) })).needsRoot).toBe(`sudo ${process.execPath} ${fs.realpathSync(cliPath)} --home '/srv/my home' service uninstall`);
    expect(planServiceInstall(ctx({ platform: 'darwin' })).needsRoot).toContain('sudo ');
  });

  it('root: the unit, the dedicated account, daemon-reload and enable --now', () => {
    const plan = planServiceInstall(ctx({ isRoot: true }));
    expect(plan.files.map((f) => f.path)).toEqual(['/etc/systemd/system/sync-cli.service']);
    expect(plan.commands.map((c) => c.argv.join(' '))).toEqual([
      'useradd --system --user-group --home-dir /var/lib/sync-cli --no-create-home --shell /usr/sbin/nologin sync-cli',
      'systemctl daemon-reload',
      'systemctl enable --now sync-cli',
    ]);
    expect(plan.commands[0]!.unless).toEqual(['id', '-u', 'sync-cli']);
  });

  it('--user needs no root, goes to ~/.config/systemd/user and hints at lingering', () => {
    const plan = planServiceInstall(ctx({ scope: 'user', spec: spec({ scope: 'user' }) }));
    expect(plan.needsRoot).toBeUndefined();
    expect(plan.files[0]!.path).toBe('/home/admin/.config/systemd/user/sync-cli.service');
    expect(plan.commands.map((c) => c.argv.join(' '))).toContain('systemctl --user enable --now sync-cli');
    expect(plan.notes.join('\n')).toMatch(/loginctl enable-linger \S+/);
  });
});

describe('service CLI', () => {
  it('service install --print prints a unit with this node and CLI and changes nothing', () => {
    const home = tempHome();
    const r = runCli(['--home', home, 'service', 'install', '--print']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`ExecStart="${process.execPath}"`);
    expect(r.stdout).toContain(`"--home" "${home}"`);
    expect(fs.readdirSync(home)).toEqual([]);
    const mac = runCli(['--home', home, 'service', 'install', '--print', '--platform', 'darwin']);
    expect((plist.parse(mac.stdout) as { Label: string }).Label).toBe('de.sync-cli.daemon');
    const wrong = runCli(['--home', home, 'service', 'install', '--platform', 'darwin']);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain('--print');
    fs.rmSync(home, { recursive: true, force: true });
  });
});
