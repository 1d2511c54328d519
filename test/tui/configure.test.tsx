// The configure screens and flows, rendered with ink-testing-library, with injected
// dependencies (CRM users/tags, config, test/save/unassign).
import { render } from 'ink-testing-library';
import { afterEach, describe, expect, it } from 'vitest';
import type { AssignmentDraft, ProvisionedCollections } from '../../src/assignments/index.js';
import { configSchema, type Config } from '../../src/config/schema.js';
import { ConfigureApp } from '../../src/tui/App.js';
import type { ConfigureDeps } from '../../src/tui/deps.js';
import { demoTags, demoUsers } from '../users/fake-crm.js';
import { KEY, expectFits80x24, nextField, press, waitForFrame } from './keys.js';

const collections: ProvisionedCollections = {
  contacts: { kind: 'contacts', url: 'https://dav.example.com/anna/crm-kontakte/', displayName: 'CRM Kontakte', supportsSyncToken: true },
  appointments: { kind: 'appointments', url: 'https://dav.example.com/anna/crm-termine/', displayName: 'CRM Termine', supportsSyncToken: true },
  tasks: { kind: 'tasks', url: 'https://dav.example.com/anna/crm-aufgaben/', displayName: 'CRM Aufgaben', supportsSyncToken: false },
};

interface Recorded {
  tests: AssignmentDraft[];
  saves: AssignmentDraft[];
  unassigned: string[];
}

function fakeDeps(opts: { testError?: Error; config?: Config; syncStates?: Record<string, string> } = {}): ConfigureDeps & { recorded: Recorded } {
  let config = opts.config ?? configSchema.parse({});
  const recorded: Recorded = { tests: [], saves: [], unassigned: [] };
  return {
    recorded,
    loadUsers: async () => demoUsers,
    loadTags: async () => demoTags,
    config: () => config,
    syncStates: () => opts.syncStates ?? {},
    async testConnection(draft) {
      recorded.tests.push(draft);
      if (opts.testError) throw opts.testError;
      return collections;
    },
    async save(draft) {
      recorded.saves.push(draft);
      const user = demoUsers.find((u) => u.id === draft.user)!;
      const mailbox = { user: user.id, url: draft.url, username: draft.username, auth: 'basic' as const, credentialStore: 'file' as const };
      config = { ...config, mailboxes: [...config.mailboxes.filter((m) => m.user !== user.id), mailbox] };
      return { crmUser: user, mailbox, replaced: false };
    },
    async unassign(userId) {
      recorded.unassigned.push(userId);
      config = { ...config, mailboxes: config.mailboxes.filter((m) => m.user !== userId) };
    },
  };
}

const withAnnaAssigned = () =>
  configSchema.parse({ mailboxes: [{ user: 'u1', url: 'https://dav.example.com/', username: 'anna', credentialStore: 'file' }] });

let app: ReturnType<typeof render> | undefined;
afterEach(() => {
  app?.unmount();
  app = undefined;
});

describe('user list', () => {
  it('R22: shows the last sync state of each assigned mailbox', async () => {
    const config = withAnnaAssigned();
    app = render(<ConfigureApp deps={fakeDeps({ config, syncStates: { [config.mailboxes[0]!.user]: 'failed' } })} />);
    const frame = await waitForFrame(app.lastFrame, (f) => f.includes('clara'), 'the user list');
    expect(frame).toMatch(/anna\s+Anna Schmidt\s+anna@dav\.example\.com\s+failed/);
  });

  it('shows every CRM user with mailbox and state, the keyboard help, and fits 80×24', async () => {
    app = render(<ConfigureApp deps={fakeDeps({ config: withAnnaAssigned() })} />);
    const frame = await waitForFrame(app.lastFrame, (f) => f.includes('clara'), 'the user list');
    expect(frame).toMatch(/anna\s+Anna Schmidt\s+anna@dav\.example\.com\s+not-started/);
    expect(frame).toMatch(/bernd\s+Bernd Müller\s+—\s+not assigned/);
    expect(frame).toContain('Enter assign/edit');
    expect(frame).toContain('q quit');
    expectFits80x24(frame);
  });

  it('shows why the CRM cannot be read', async () => {
    const deps = fakeDeps();
    deps.loadUsers = async () => {
      throw Object.assign(new Error('CRM database /x/crm.sqlite does not exist'), { remedy: 'Run sync-cli crm init' });
    };
    app = render(<ConfigureApp deps={deps} />);
    const frame = await waitForFrame(app.lastFrame, (f) => f.includes('Cannot read the CRM'), 'the CRM error');
    expect(frame).toContain('does not exist');
    expect(frame).toContain('fix: Run sync-cli crm init');
  });
});

describe('assignment form', () => {
  it('assigns a mailbox: type server, login and masked password, test the connection, save', async () => {
    const deps = fakeDeps();
    app = render(<ConfigureApp deps={deps} />);
    await waitForFrame(app.lastFrame, (f) => f.includes('clara'), 'the user list');
    await press(app.stdin, KEY.down, KEY.down, KEY.enter);
    let frame = await waitForFrame(app.lastFrame, (f) => f.includes('Mailbox of clara'), 'the form for clara');
    expect(frame).toContain('new assignment');
    expectFits80x24(frame);
    await press(app.stdin, 'https://dav.example.com/');
    await nextField(app, 'Username');
    await press(app.stdin, 'clara');
    await nextField(app, 'Password');
    await press(app.stdin, 'geheim-123');
    frame = app.lastFrame()!;
    expect(frame).not.toContain('geheim-123');
    expect(frame).toContain('**********');
    // Down to the "Test connection" button (past tags, days, private, import types).
    await press(app.stdin, KEY.down, KEY.down, KEY.down, KEY.down, KEY.down, KEY.down, KEY.down, KEY.enter);
    frame = await waitForFrame(app.lastFrame, (f) => f.includes('Connection works'), 'the test result');
    expect(frame).toMatch(/contacts\s+CRM Kontakte → \/anna\/crm-kontakte\//);
    expect(frame).toContain('(no sync-token)');
    expectFits80x24(frame);
    expect(deps.recorded.tests).toEqual([{ user: 'u3', url: 'https://dav.example.com/', username: 'clara', password: 'geheim-123' }]);
    await press(app.stdin, KEY.right, KEY.enter);
    frame = await waitForFrame(app.lastFrame, (f) => f.includes('Saved:'), 'the list after saving');
    expect(frame).toMatch(/clara\s+Clara Weber\s+clara@dav\.example\.com\s+not-started/);
    expect(deps.recorded.saves).toHaveLength(1);
  });

  it('shows the exact error of a failed connection test and stays on the form', async () => {
    const err = Object.assign(new Error('Mailbox server rejected the login for https://dav.example.com/ (401)'), { remedy: 'check the username and password' });
    app = render(<ConfigureApp deps={fakeDeps({ testError: err })} />);
    await waitForFrame(app.lastFrame, (f) => f.includes('anna'), 'the user list');
    await press(app.stdin, KEY.enter);
    await waitForFrame(app.lastFrame, (f) => f.includes('Mailbox of anna'), 'the form');
    await press(app.stdin, 'https://dav.example.com/');
    await nextField(app, 'Username');
    await press(app.stdin, 'anna');
    await nextField(app, 'Password');
    await press(app.stdin, 'falsch');
    await press(app.stdin, KEY.tab, KEY.tab, KEY.tab, KEY.tab, KEY.tab, KEY.tab, KEY.tab, KEY.enter);
    const frame = await waitForFrame(app.lastFrame, (f) => f.includes('✗'), 'the error');
    expect(frame).toContain('rejected the login for https://dav.example.com/ (401)');
    expect(frame).toContain('fix: check the username and password');
    expect(frame).toContain('Mailbox of anna');
  });

  it('chooses address tags from the CRM tags; the user tag stays on', async () => {
    const deps = fakeDeps();
    app = render(<ConfigureApp deps={deps} />);
    await waitForFrame(app.lastFrame, (f) => f.includes('bernd'), 'the user list');
    await press(app.stdin, KEY.down, KEY.enter);
    await waitForFrame(app.lastFrame, (f) => f.includes('Mailbox of bernd'), 'the form');
    await press(app.stdin, 'https://dav.example.com/');
    await nextField(app, 'Username');
    await press(app.stdin, 'bernd');
    await nextField(app, 'Password');
    await press(app.stdin, 'pw-bernd');
    await nextField(app, 'Address tags');
    let frame = app.lastFrame()!;
    expect(frame).toMatch(/Address tags\s+CRM default: MA-Bernd/);
    await press(app.stdin, KEY.enter);
    frame = await waitForFrame(app.lastFrame, (f) => f.includes('[x] MA-Bernd'), 'the tag picker');
    expect(frame).toContain('(user tag, always on)');
    expectFits80x24(frame);
    // Tags are sorted: Kunde, Lieferant, MA-Anna, MA-Bernd, MA-Clara, Vertrieb, VIP. Space on
    // MA-Bernd (the user tag) does nothing.
    await press(app.stdin, KEY.space, KEY.down, KEY.down, KEY.down, KEY.space, KEY.down, KEY.down, KEY.down, KEY.space);
    frame = app.lastFrame()!;
    expect(frame).toContain('[x] Kunde');
    expect(frame).toContain('[x] MA-Bernd');
    expect(frame).toContain('[x] VIP');
    expect(frame).toContain('[ ] Vertrieb');
    await press(app.stdin, KEY.enter);
    frame = await waitForFrame(app.lastFrame, (f) => f.includes('Mailbox of bernd'), 'the form again');
    expect(frame).toMatch(/Address tags\s+MA-Bernd, Kunde, VIP/);
    // Past days, private toggle, then Save.
    await press(app.stdin, KEY.down, KEY.down, '14', KEY.down, KEY.space, KEY.down, KEY.down, KEY.down, KEY.down, KEY.enter);
    await waitForFrame(app.lastFrame, (f) => f.includes('Saved:'), 'the list after saving');
    expect(deps.recorded.saves[0]).toEqual({
      user: 'u2',
      url: 'https://dav.example.com/',
      username: 'bernd',
      password: 'pw-bernd',
      addressTags: ['Kunde', 'MA-Bernd', 'VIP'],
      pastDays: '14',
      syncPrivate: true,
    });
  });

  it('Esc leaves the form without saving', async () => {
    const deps = fakeDeps();
    app = render(<ConfigureApp deps={deps} />);
    await waitForFrame(app.lastFrame, (f) => f.includes('anna'), 'the user list');
    await press(app.stdin, KEY.enter);
    await waitForFrame(app.lastFrame, (f) => f.includes('Mailbox of anna'), 'the form');
    await press(app.stdin, 'https://x.example/', KEY.esc);
    await waitForFrame(app.lastFrame, (f) => f.includes('mailbox assignments'), 'the list');
    expect(deps.recorded.saves).toEqual([]);
  });
});

describe('unassign', () => {
  it('asks before removing an assignment; n keeps it, y removes it', async () => {
    const deps = fakeDeps({ config: withAnnaAssigned() });
    app = render(<ConfigureApp deps={deps} />);
    await waitForFrame(app.lastFrame, (f) => f.includes('anna'), 'the user list');
    await press(app.stdin, 'd');
    let frame = await waitForFrame(app.lastFrame, (f) => f.includes('Unassign the mailbox of anna?'), 'the confirmation');
    expect(frame).toContain('anna @ https://dav.example.com/');
    await press(app.stdin, 'n');
    await waitForFrame(app.lastFrame, (f) => f.includes('mailbox assignments'), 'the list');
    expect(deps.recorded.unassigned).toEqual([]);
    await press(app.stdin, 'd', 'y');
    frame = await waitForFrame(app.lastFrame, (f) => f.includes('Unassigned the mailbox of anna'), 'the list after unassigning');
    expect(frame).toMatch(/anna\s+Anna Schmidt\s+—\s+not assigned/);
    expect(deps.recorded.unassigned).toEqual(['u1']);
  });

  it('offers no unassign for a user without a mailbox', async () => {
    const deps = fakeDeps();
    app = render(<ConfigureApp deps={deps} />);
    await waitForFrame(app.lastFrame, (f) => f.includes('anna'), 'the user list');
    await press(app.stdin, 'd');
    expect(app.lastFrame()).not.toContain('Unassign the mailbox');
  });
});

describe('fast and dirty input (#14)', () => {
  const openForm = async (deps: ReturnType<typeof fakeDeps>) => {
    app = render(<ConfigureApp deps={deps} />);
    await waitForFrame(app.lastFrame, (f) => f.includes('clara'), 'the user list');
    await press(app.stdin, KEY.down, KEY.down, KEY.enter);
    await waitForFrame(app.lastFrame, (f) => f.includes('Mailbox of clara'), 'the form for clara');
    return app;
  };

  it('a whole form typed in one burst (Backspaces, Tabs, control characters in one chunk) stores exactly what the screen shows', async () => {
    const deps = fakeDeps();
    const a = await openForm(deps);
    // Everything in ONE write, as tmux send-keys or a paste delivers it: three Backspaces as
    // DEL characters, Tabs between the fields, and control characters that are no key.
    a.stdin.write('https://dav.example.com/abc\x7f\x7f\x7f\tcla\x00ra\x1f\tgeheim\x85-123\x07');
    const frame = await waitForFrame(a.lastFrame, (f) => f.includes('› Password'), 'the focus on Password');
    expect(frame).toMatch(/Server URL\s+https:\/\/dav\.example\.com\/\n/);
    expect(frame).toMatch(/Username\s+clara\n/);
    expect(frame).toMatch(/Password\s+\*{10}(?!\*)/);
    // Down to Save (7 items) and Enter, again in one chunk.
    a.stdin.write(KEY.down.repeat(8) + KEY.enter);
    await waitForFrame(a.lastFrame, (f) => f.includes('Saved:'), 'the list after saving');
    expect(deps.recorded.saves).toEqual([{ user: 'u3', url: 'https://dav.example.com/', username: 'clara', password: 'geheim-123' }]);
    // eslint-disable-next-line no-control-regex
    for (const v of Object.values(deps.recorded.saves[0]!)) expect(String(v)).not.toMatch(/[\u0000-\u001f\u007f-\u009f]/);
  });

  it('keys sent one by one without waiting land in the field that has the focus at that moment', async () => {
    const deps = fakeDeps();
    const a = await openForm(deps);
    // No pause between the writes: React has not re-rendered in between.
    for (const k of [...'https://x.example/', KEY.tab, ...'clara', KEY.enter, ...'pw', '\x7f', 'w!', KEY.tab]) a.stdin.write(k);
    await waitForFrame(a.lastFrame, (f) => f.includes('› Address tags'), 'the focus on Address tags');
    a.stdin.write(KEY.down.repeat(7));
    a.stdin.write(KEY.enter);
    await waitForFrame(a.lastFrame, (f) => f.includes('Saved:'), 'the list after saving');
    expect(deps.recorded.saves).toEqual([{ user: 'u3', url: 'https://x.example/', username: 'clara', password: 'pw!' }]);
  });

  it('Up on the server URL stays there (no wrap to Cancel); Down on Cancel stays on Cancel', async () => {
    const deps = fakeDeps();
    const a = await openForm(deps);
    await press(a.stdin, KEY.up, KEY.up, 'https://dav.example.com/');
    let frame = a.lastFrame()!;
    expect(frame).toMatch(/› Server URL\s+https:\/\/dav\.example\.com\//);
    await press(a.stdin, ...Array<string>(20).fill(KEY.down));
    // On Cancel (the last item): further Downs and Tabs stay; Enter there leaves without saving.
    await press(a.stdin, KEY.tab, KEY.down, KEY.enter);
    frame = await waitForFrame(a.lastFrame, (f) => f.includes('mailbox assignments'), 'the list');
    expect(deps.recorded.saves).toEqual([]);
    expect(deps.recorded.tests).toEqual([]);
  });

  it('edits in the middle of a value with ←/→, Home/End and Ctrl+U', async () => {
    const deps = fakeDeps();
    const a = await openForm(deps);
    await press(a.stdin, 'https://dav.exmple.com/');
    // Cursor back before "mple.com/" (9 characters), insert the missing "a".
    await press(a.stdin, ...Array<string>(9).fill(KEY.left), 'a');
    await press(a.stdin, '\u001B[F', '!', '\u001B[H', '>', '\x7f');
    expect(a.lastFrame()).toMatch(/Server URL\s+https:\/\/dav\.example\.com\/!/);
    await press(a.stdin, '\u001B[F', '\x7f');
    await nextField(a, 'Username');
    await press(a.stdin, 'wrong', '\x15', 'clara');
    await nextField(a, 'Password');
    await press(a.stdin, 'pw');
    a.stdin.write(KEY.down.repeat(8) + KEY.enter);
    await waitForFrame(a.lastFrame, (f) => f.includes('Saved:'), 'the list after saving');
    expect(deps.recorded.saves).toEqual([{ user: 'u3', url: 'https://dav.example.com/', username: 'clara', password: 'pw' }]);
  });

  it('the user list and the tag picker take keys typed together one by one; a key after Enter belongs to the form, not the list', async () => {
    const deps = fakeDeps();
    app = render(<ConfigureApp deps={deps} />);
    await waitForFrame(app.lastFrame, (f) => f.includes('clara'), 'the user list');
    // "jj" in one chunk is two moves down; then Enter and "q" together: q must not quit.
    app.stdin.write('jj');
    await waitForFrame(app.lastFrame, (f) => /› clara/.test(f), 'the selection on clara');
    app.stdin.write('\rq');
    await waitForFrame(app.lastFrame, (f) => f.includes('Mailbox of clara'), 'the form for clara');
    expect(app.lastFrame()).toContain('Mailbox of clara');
    await press(app.stdin, KEY.tab, KEY.tab, KEY.tab);
    await waitForFrame(app.lastFrame, (f) => f.includes('› Address tags'), 'the focus on Address tags');
    await press(app.stdin, KEY.enter);
    await waitForFrame(app.lastFrame, (f) => f.includes('[x] MA-Clara'), 'the tag picker');
    // Space, Down twice, Space in one chunk as keys; then Enter.
    app.stdin.write(' ');
    app.stdin.write(KEY.down + KEY.down);
    // Three spaces together toggle MA-Anna three times: on.
    app.stdin.write('   ');
    const frame = await waitForFrame(app.lastFrame, (f) => f.includes('[x] MA-Anna'), 'MA-Anna chosen');
    expect(frame).toContain('[x] Kunde');
    expect(frame).toContain('[ ] Lieferant');
  });
});
