// The one rule of where the mailbox password may go (src/providers/dav/credential-scope.ts,
// docs/credentials.md), case by case.
import { describe, expect, it } from 'vitest';
import { credentialsFor, normalizeOrigin, sameOrigin } from '../../src/providers/dav/credential-scope.js';

const verdict = (target: string, configured: string, trusted?: string[]) => credentialsFor(new URL(target), { configured, trusted });

describe('credentialsFor', () => {
  it('sends to the configured origin, any path', () => {
    expect(verdict('https://dav.example.de/dav/principals/u/', 'https://dav.example.de/')).toEqual({ send: true });
    expect(verdict('https://dav.example.de:443/x', 'https://dav.example.de/')).toEqual({ send: true });
  });
  it('sends to the https upgrade of an http mailbox on the same host, not the reverse', () => {
    expect(verdict('https://dav.example.de/x', 'http://dav.example.de/')).toEqual({ send: true });
    expect(verdict('http://dav.example.de/x', 'https://dav.example.de/')).toEqual({ send: false, reason: 'plain-http' });
  });
  it('never over plain http for an https mailbox, even to a trusted origin', () => {
    expect(verdict('http://p07-contacts.icloud.com/x', 'https://contacts.icloud.com/', ['http://p07-contacts.icloud.com'])).toEqual({ send: false, reason: 'plain-http' });
  });
  it('another origin only when confirmed at assign (--trust-origin), with the same scheme, host and port', () => {
    expect(verdict('https://p07-contacts.icloud.com/123/carddavhome/', 'https://contacts.icloud.com/')).toEqual({ send: false, reason: 'other-origin' });
    expect(verdict('https://p07-contacts.icloud.com/123/carddavhome/', 'https://contacts.icloud.com/', ['https://p07-contacts.icloud.com'])).toEqual({ send: true });
    expect(verdict('https://p07-contacts.icloud.com:8443/x', 'https://contacts.icloud.com/', ['https://p07-contacts.icloud.com'])).toEqual({ send: false, reason: 'other-origin' });
    expect(verdict('https://dav.example.de.evil.example/x', 'https://dav.example.de/')).toEqual({ send: false, reason: 'other-origin' });
    expect(verdict('https://127.0.0.1:8081/x', 'https://127.0.0.1:8080/')).toEqual({ send: false, reason: 'other-origin' });
  });
  it('nothing to other schemes', () => {
    expect(verdict('ftp://dav.example.de/x', 'https://dav.example.de/')).toEqual({ send: false, reason: 'scheme' });
    expect(verdict('file:///etc/passwd', 'https://dav.example.de/')).toEqual({ send: false, reason: 'scheme' });
  });
});

describe('origins', () => {
  it('normalizes what an admin types and refuses what is not an origin', () => {
    expect(normalizeOrigin('https://P07-Contacts.iCloud.com:443/some/path')).toBe('https://p07-contacts.icloud.com');
    expect(normalizeOrigin('p07-contacts.icloud.com')).toBeUndefined();
    expect(normalizeOrigin('ftp://x')).toBeUndefined();
  });
  it('sameOrigin compares scheme, host and port', () => {
    expect(sameOrigin('https://a.example/x/1.vcf', 'https://a.example/x/')).toBe(true);
    expect(sameOrigin('https://a.example:444/x/1.vcf', 'https://a.example/x/')).toBe(false);
    expect(sameOrigin('http://a.example/x/1.vcf', 'https://a.example/x/')).toBe(false);
    expect(sameOrigin('not a url', 'https://a.example/x/')).toBe(false);
  });
});

describe('users assign --trust-origin', () => {
  it('stores the confirmed origins with the mailbox (normalized) and refuses what is not an https origin', async () => {
    const { runCli, tempHome } = await import('../helpers/cli.js');
    const fs = await import('node:fs');
    const path = await import('node:path');
    const home = tempHome('sync-cli-trust-');
    expect(runCli(['--home', home, 'crm', 'init', '--demo']).code).toBe(0);
    const base = ['--home', home, 'users', 'assign', 'mmueller', '--url', 'https://contacts.icloud.com/', '--username', 'm@icloud.com', '--password-stdin', '--no-verify', '--credential-store', 'file'];
    const bad = runCli([...base, '--trust-origin', 'http://p07-contacts.icloud.com'], { input: 'app-password' });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('plain http');
    const typo = runCli([...base, '--trust-origin', 'p07-contacts.icloud.com'], { input: 'app-password' });
    expect(typo.code).toBe(2);
    expect(typo.stderr).toContain('give it as https://host');
    const ok = runCli([...base, '--trust-origin', 'https://P07-contacts.icloud.com:443/', '--trust-origin', 'https://p07-caldav.icloud.com'], { input: 'app-password' });
    expect(ok.code, ok.stderr).toBe(0);
    const config = JSON.parse(fs.readFileSync(path.join(home, 'config.json'), 'utf8')) as { mailboxes: { trustedOrigins?: string[] }[] };
    expect(config.mailboxes[0]!.trustedOrigins).toEqual(['https://p07-contacts.icloud.com', 'https://p07-caldav.icloud.com']);
    fs.rmSync(home, { recursive: true, force: true });
  });
});
