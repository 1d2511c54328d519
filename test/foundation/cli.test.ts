import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';

const commands = [
  ['crm', 'init'], ['crm', 'import'], ['crm', 'export'], ['crm', 'connect'],
  ['users', 'list'], ['users', 'assign'], ['users', 'unassign'],
  ['configure'], ['run'], ['daemon'], ['status'],
  ['service', 'install'], ['service', 'uninstall'], ['service', 'status'], ['doctor'],
];

describe('CLI surface (cli.md)', () => {
  it.each(commands)('%s %s has --help with an example', (...cmd) => {
    const r = runCli([...cmd.filter(Boolean), '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Usage: sync-cli/);
    expect(r.stdout).toMatch(/Example/);
  });

  it('an unknown command is a usage error: exit 2, no stack trace', () => {
    const r = runCli(['frobnicate']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown command/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('an unknown option is a usage error: exit 2', () => {
    const r = runCli(['status', '--no-such-flag']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown option/);
  });
});
