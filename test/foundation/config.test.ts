import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig, saveConfig } from '../../src/config/load.js';
import { configSchema } from '../../src/config/schema.js';
import { ConfigError } from '../../src/errors.js';
import { runCli, tempHome } from '../helpers/cli.js';

describe('config', () => {
  it('a missing config.json means every default', () => {
    const home = tempHome();
    const cfg = loadConfig(path.join(home, 'config.json'));
    expect(cfg.sync.conflict).toBe('crm-wins');
    expect(cfg.sync.maxDeletePercent).toBe(50);
    expect(cfg.sync.pastDays).toBe(30);
    expect(cfg.crm.dialect).toBe('sqlite');
    expect(cfg.mailboxes).toEqual([]);
  });

  it('lists every problem as path: message', () => {
    const home = tempHome();
    const file = path.join(home, 'config.json');
    fs.writeFileSync(file, JSON.stringify({ sync: { conflict: 'loudest-wins', maxDeletePercent: 500 }, mailboxes: [{ user: 'u1', url: 'not a url' }], bogus: 1 }));
    let err: unknown;
    try {
      loadConfig(file);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const problems = (err as ConfigError).problems.join('\n');
    expect(problems).toMatch(/^sync\.conflict: /m);
    expect(problems).toMatch(/^sync\.maxDeletePercent: /m);
    expect(problems).toMatch(/^mailboxes\.0\.url: /m);
    expect(problems).toMatch(/^mailboxes\.0\.username: /m);
    expect(problems).toMatch(/bogus/);
  });

  it('is written with mode 0600', () => {
    const home = tempHome();
    const file = path.join(home, 'sub', 'config.json');
    saveConfig(file, configSchema.parse({}));
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(loadConfig(file).sync.conflict).toBe('crm-wins');
  });

  it('every key of the schema has a description (config/schema.json is generated from it)', () => {
    const schema = JSON.parse(fs.readFileSync(path.resolve(import.meta.dirname, '../../config/schema.json'), 'utf8'));
    const missing: string[] = [];
    const walk = (node: Record<string, unknown>, at: string) => {
      const props = node.properties as Record<string, Record<string, unknown>> | undefined;
      for (const [k, v] of Object.entries(props ?? {})) {
        if (k !== '$schema' && !v.description) missing.push(`${at}${k}`);
        walk(v, `${at}${k}.`);
        if (v.items) walk(v.items as Record<string, unknown>, `${at}${k}[].`);
      }
    };
    walk(schema, '');
    expect(missing).toEqual([]);
  });

  it('bad config stops a command with exit 2, the file, the path and the fix — no stack trace', () => {
    const home = tempHome();
    fs.writeFileSync(path.join(home, 'config.json'), JSON.stringify({ sync: { pastDays: -3 } }));
    const r = runCli(['--home', home, 'users', 'list']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(path.join(home, 'config.json'));
    expect(r.stderr).toMatch(/sync\.pastDays: /);
    expect(r.stderr).toMatch(/fix: /);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('broken JSON in config.json is named as such', () => {
    const home = tempHome();
    fs.writeFileSync(path.join(home, 'config.json'), '{ "sync": ');
    const r = runCli(['--home', home, 'users', 'list']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/not valid JSON/);
  });
});
