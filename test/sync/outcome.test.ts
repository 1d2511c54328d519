// D63: every typed error a mailbox run can stop with, classified into the outcome the scheduler,
// the exit code of `run --once` and status read; and which errors stop a mailbox mid-plan.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, CrmNotFoundError, CrmUnavailableError, CrmVersionConflictError, InputError, MassDeleteGuardError, SyncCliError, UsageError } from '../../src/errors.js';
import {
  AccessDeniedError,
  AuthError,
  CredentialScopeError,
  DavProtocolError,
  DeadlineExceededError,
  ItemRejectedError,
  LimitExceededError,
  MissingEtagError,
  NetworkError,
  NotFoundError,
  PreconditionFailedError,
  RateLimitedError,
  ServerError,
  UidConflictError,
} from '../../src/providers/dav/errors.js';
import { MailboxLockedError } from '../../src/sync/lock.js';
import { openSqliteStateStore } from '../../src/sync/state/sqlite.js';
import { startHostileProxy, type HostileProxy } from '../helpers/hostile-proxy.js';
import { Scenario } from '../helpers/scenario.js';
import { classifyMailboxError, exitCodeOf, finishedOutcome, outcomeJson, stopsTheMailbox, type MailboxOutcome } from '../../src/sync/outcome.js';

const url = 'https://alice:geheim@dav.example.com/dav/alice/contacts/?token=abc';
const kindOf = (err: unknown) => {
  const o = classifyMailboxError(err);
  return o.kind === 'hard' ? `hard:${o.reason}:${o.exitCode}` : o.kind;
};

describe('D63: classifyMailboxError', () => {
  it.each([
    ['R24: MailboxLockedError (another process syncs it)', new MailboxLockedError('mailbox-u1', 4242), 'busy'],
    ['RateLimitedError (429, 503 + Retry-After)', new RateLimitedError(url, 30_000), 'soft'],
    ['NetworkError (refused, reset, timeout after retries)', new NetworkError(url, 'connection refused'), 'soft'],
    ['ServerError 503 after retries', new ServerError(url, 503, 'PUT'), 'soft'],
    ['ServerError 500 after retries', new ServerError(url, 500, 'REPORT'), 'soft'],
    ['ServerError 408', new ServerError(url, 408, 'PROPFIND'), 'soft'],
    ['DeadlineExceededError (limits.mailboxRunSeconds)', new DeadlineExceededError(url, 'limits.mailboxRunSeconds', 600), 'soft'],
    ['DeadlineExceededError (limits.requestSeconds)', new DeadlineExceededError(url, 'limits.requestSeconds', 120), 'soft'],
    ['CrmUnavailableError (the CRM database is down)', new CrmUnavailableError('The CRM database refused the change'), 'soft'],
    ['CrmVersionConflictError', new CrmVersionConflictError('address', 'a1'), 'soft'],
    ['PreconditionFailedError', new PreconditionFailedError(url, 'PUT'), 'soft'],
    ['ItemRejectedError', new ItemRejectedError(url, 415, 'PUT'), 'soft'],
    ['UidConflictError', new UidConflictError(url, 'PUT'), 'soft'],
    ['MissingEtagError', new MissingEtagError(url), 'soft'],
    ['a plain SyncCliError', new SyncCliError('could not lock mailbox u1'), 'soft'],
    ['an unknown Error (a driver, a bug)', new Error('boom'), 'soft'],
    ['a thrown string', 'boom', 'soft'],
    ['AuthError (401)', new AuthError(url), 'hard:auth:2'],
    ['AccessDeniedError (403 on reading)', new AccessDeniedError(url, 'PROPFIND'), 'hard:auth:2'],
    ['CredentialScopeError (another origin)', new CredentialScopeError('https://evil.example/', url, 'other-origin'), 'hard:configuration:2'],
    ['NotFoundError (the server URL itself)', new NotFoundError(url), 'hard:configuration:2'],
    ['CrmNotFoundError of a user', new CrmNotFoundError('user', 'u9'), 'hard:configuration:2'],
    ['ConfigError', new ConfigError('config.json is invalid', ['sync.concurrency: must be ≥ 1']), 'hard:configuration:2'],
    ['UsageError', new UsageError('bad flag'), 'hard:configuration:2'],
    ['InputError', new InputError('bad file'), 'hard:configuration:2'],
    ['DavProtocolError (no home set, MKCOL refused)', new DavProtocolError('the server has no address book home', 'check the URL'), 'hard:refused:2'],
    ['ServerError 405 on a mailbox-level request', new ServerError(url, 405, 'PROPFIND'), 'hard:refused:1'],
    ['R21: MassDeleteGuardError', new MassDeleteGuardError('this sync would delete 9 of 10 contacts', 'run with --force-delete'), 'hard:mass-delete:1'],
    ['LimitExceededError (a hostile server)', new LimitExceededError(url, 'limits.maxResponseBytes', 1000, 'the answer is too large'), 'hard:limit:1'],
  ])('%s → %s', (_what, err, want) => {
    expect(kindOf(err)).toBe(want);
  });

  it("keeps the server's Retry-After and names no credential", () => {
    const o = classifyMailboxError(new RateLimitedError(url, 30_000));
    expect(o).toMatchObject({ kind: 'soft', retryAfterMs: 30_000 });
    expect(outcomeJson(o)).toEqual({ kind: 'soft', retryAfterSeconds: 30, remedy: 'sync less often or lower dav.concurrency' });
    for (const err of [new AuthError(url), new NetworkError(url, 'refused'), new RateLimitedError(url, 1000)]) {
      const text = JSON.stringify([classifyMailboxError(err), outcomeJson(classifyMailboxError(err))]);
      expect(text).not.toContain('geheim');
      expect(text).not.toContain('token=abc');
    }
  });

  it('a hard outcome carries the remedy a human needs', () => {
    const o = classifyMailboxError(new AuthError(url));
    expect(o.kind).toBe('hard');
    expect(outcomeJson(o)).toMatchObject({ kind: 'hard', reason: 'auth', remedy: expect.stringContaining('users passwd') });
  });
});

describe('D63: stopsTheMailbox (an outage mid-plan stops the run with one error)', () => {
  const connLost = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
  it.each([
    [new NetworkError(url, 'connection reset'), true],
    [new RateLimitedError(url, undefined), true],
    [new DeadlineExceededError(url, 'limits.requestSeconds', 120), true],
    [new DeadlineExceededError(url, 'limits.mailboxRunSeconds', 600), true],
    [new ServerError(url, 502, 'PUT'), true],
    [new AuthError(url), true],
    [new CredentialScopeError('https://evil.example/', url, 'other-origin'), true],
    [new CrmUnavailableError('The CRM database refused the change', undefined, connLost), true],
    [connLost, true],
    [new CrmUnavailableError('The CRM database refused the change: a constraint', undefined, new Error('UNIQUE constraint failed')), false],
    [new ServerError(url, 404, 'PUT'), false],
    [new ItemRejectedError(url, 413, 'PUT'), false],
    [new UidConflictError(url, 'PUT'), false],
    [new PreconditionFailedError(url, 'PUT'), false],
    [new CrmVersionConflictError('address', 'a1'), false],
    [new MissingEtagError(url), false],
    [new Error('a bug in one item'), false],
  ])('%s → %s', (err, want) => {
    expect(stopsTheMailbox(err)).toBe(want);
  });
});

describe('D63: exit codes of run --once follow the outcomes', () => {
  const hard = (exitCode: 1 | 2): MailboxOutcome => ({ kind: 'hard', reason: exitCode === 2 ? 'auth' : 'mass-delete', message: 'm', remedy: 'r', exitCode });
  it.each([
    [[{ kind: 'ok' }], 0],
    [[], 0],
    [[{ kind: 'ok' }, finishedOutcome(2)], 1],
    [[{ kind: 'soft', message: 'down' }], 1],
    [[{ kind: 'busy', message: 'locked', pid: 1 }], 1],
    [[hard(1)], 1],
    [[{ kind: 'soft', message: 'down' }, hard(2), { kind: 'ok' }], 2],
  ] as [MailboxOutcome[], number][])('%j → %i', (outcomes, code) => {
    expect(exitCodeOf(outcomes)).toBe(code);
  });

  it('a finished run is ok or items-failed', () => {
    expect(finishedOutcome(0)).toEqual({ kind: 'ok' });
    expect(finishedOutcome(3)).toEqual({ kind: 'items-failed', items: 3 });
  });
});

describe('R22 R23 D63: the mailbox server dies in the middle of a plan of ~50 writes', () => {
  let sc: Scenario;
  let proxy: HostileProxy;
  beforeAll(async () => {
    sc = await Scenario.create({ logins: ['mmueller'] });
    proxy = await startHostileProxy(sc.server.url);
    sc.setConfig((c) => {
      c.mailboxes[0]!.url = proxy.url + '/';
      c.dav.retries = 1;
      c.dav.timeoutMs = 3000;
    });
    await sc.syncOk();
  }, 60_000);
  afterAll(async () => {
    await proxy?.stop();
    await sc?.stop();
  });

  it('one mailbox error, no per-item retry rows, tokens and cursors unchanged; the next sync after the server is back writes everything once', async () => {
    const user = await sc.userId('mmueller');
    const { id: _id, version: _v, updatedAt: _u, ...base } = (await sc.crm.getAddresses(['a1']))[0]!;
    for (let i = 0; i < 50; i++) await sc.crm.createAddress({ ...base, company: `Ausfall ${i} GmbH`, lastName: `Ausfall${i}`, phones: [], tags: ['MM'] });
    const moved = async () => {
      const st = await openSqliteStateStore(sc.paths.stateDb);
      try {
        const head = await st.loadMailbox(user);
        return { tokens: head.collections, cursors: head.cursors };
      } finally {
        await st.close();
      }
    };
    const before = await moved();

    let puts = 0;
    let down = false;
    proxy.on((r) => {
      if (!down && r.method === 'PUT' && ++puts > 10) down = true; // ten writes went through
      return down ? { status: 200, body: (res) => res.socket?.destroy() } : undefined;
    });
    const [res] = await sc.sync();
    expect(res!.state).toBe('failed');
    expect(res!.outcome.kind).toBe('soft');
    expect(res!.error).toMatch(/cannot reach the mailbox server/);
    expect(res!.errors).toEqual([]); // one mailbox error, not one per item
    const st = await openSqliteStateStore(sc.paths.stateDb);
    try {
      const head = await st.loadMailbox(user);
      expect([...head.failedRecords.keys()], 'failed records').toEqual([]);
      expect([...head.failedItems.keys()], 'failed items').toEqual([]);
      expect([...head.pendingImports], 'pending imports').toEqual([]);
      expect((await st.getStatus(user)).lastError).toMatch(/cannot reach the mailbox server/);
    } finally {
      await st.close();
    }

    expect(await moved()).toEqual(before); // neither tokens nor CRM cursors move for a stopped run
    proxy.on(undefined); // the server is back
    const dev = await sc.device('mmueller');
    const written = (await dev.list('contacts')).filter((c) => c.data.includes('Ausfall')).length;
    expect(written).toBeGreaterThanOrEqual(1); // what was written before the outage is kept
    expect(written).toBeLessThan(50);
    const [again] = await sc.syncOk();
    expect(again!.created).toBe(50 - written);
    const contacts = await dev.list('contacts');
    const uids = contacts.map((c) => /^UID:(.*)$/m.exec(c.data)?.[1]?.trim());
    expect(new Set(uids).size).toBe(uids.length); // nothing duplicated
    expect(contacts.filter((c) => c.data.includes('Ausfall')).length).toBe(50); // nothing lost
    for (const r of await sc.syncOk({ full: true })) expect(r).toMatchObject({ created: 0, updated: 0, deleted: 0, crmUpdates: 0 });
  });
});

describe('D66 (#16): run --once reads the CRM user list once', () => {
  let sc: Scenario;
  beforeAll(async () => {
    sc = await Scenario.create();
  }, 60_000);
  afterAll(async () => {
    await sc?.stop();
  });

  it('two mailboxes, one read of the user list (not one to choose and one more per run)', async () => {
    let reads = 0;
    const crm = new Proxy(sc.crm, {
      get(target, prop, receiver) {
        if (prop === 'listUsers') return () => (reads++, target.listUsers());
        const v = Reflect.get(target, prop, receiver) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
    const results = await sc.sync({}, { crm });
    expect(results.map((r) => r.outcome)).toEqual([{ kind: 'ok' }, { kind: 'ok' }]);
    expect(reads).toBe(1);
  });
});
