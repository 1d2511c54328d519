// D100: the token probe (one PROPFIND Depth 1 of the collections' parent for their sync-tokens)
// where a server's DAV:sync-token property is not the token its REPORT returns. Real Radicale
// behind a proxy that answers the probe as SOGo 5.8 does ("-1" for every collection): the sync
// must see every change, learn after one contradiction that the probe proves nothing there,
// remember it in the state, and send only the REPORTs from then on.
import { afterEach, expect, it } from 'vitest';
import { openMailbox, type CollectionKind } from '../../src/providers/dav/index.js';
import { startHostileProxy, type HostileProxy } from '../helpers/hostile-proxy.js';
import { startRadicale, type RadicaleServer } from '../helpers/servers.js';
import { Scenario } from '../helpers/scenario.js';

const NAMES: Record<CollectionKind, string> = { contacts: 'CRM Kontakte', appointments: 'CRM Termine', tasks: 'CRM Aufgaben' };
const KINDS = ['contacts', 'appointments', 'tasks'] as const;

let radicale: RadicaleServer | undefined;
let proxy: HostileProxy | undefined;
let sc: Scenario | undefined;
afterEach(async () => {
  await proxy?.stop();
  await radicale?.stop();
  await sc?.stop();
  proxy = radicale = sc = undefined;
});

/** Every sync-token in a Depth-1 PROPFIND answer replaced by SOGo's "-1". */
function answerProbesLikeSogo(p: HostileProxy) {
  p.rewrite((req, body) => (req.method === 'PROPFIND' && req.body.includes('sync-token') ? body.replace(/(<(?:\w+:)?sync-token>)[^<]*(<\/)/g, '$1-1$2') : undefined));
}

it('R6 D100: a server whose token property differs from its REPORT token: every change is seen, the probe is dropped after one contradiction and stays dropped', async () => {
  radicale = await startRadicale({ users: { anna: 'pw-anna' } });
  proxy = await startHostileProxy(radicale.url);
  answerProbesLikeSogo(proxy);
  const methods: string[] = [];
  const open = () => openMailbox({ url: proxy!.url + '/', username: 'anna', password: 'pw-anna', auth: 'basic' }, { timeoutMs: 10_000, retries: 0, concurrency: 2, onRequest: (m) => methods.push(m) });
  const provider = open();
  const cols = await provider.provision(NAMES);
  await provider.probeServerQuirks!(cols.contacts);
  const ask = (p: typeof provider, tokens: (string | null)[]) => p.deltas(KINDS.map((k, i) => ({ collection: cols[k], token: tokens[i]! })));
  const tokens = (await ask(provider, [null, null, null])).map((d) => d.token);

  methods.length = 0;
  const quiet = await ask(provider, tokens);
  expect(methods).toEqual(['PROPFIND', 'REPORT', 'REPORT', 'REPORT']);
  quiet.forEach((d, i) => expect(d).toEqual({ changed: [], deleted: [], full: false, token: tokens[i] }));
  expect(provider.serverQuirks!()).toMatchObject({ tokenProbeUseless: true });

  // Learned: no probe any more, and a change is still seen.
  const created = await provider.create(cols.tasks, 'after.ics', ['BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//t//EN', 'BEGIN:VTODO', 'UID:after', 'DTSTAMP:20260101T000000Z', 'SUMMARY:After', 'END:VTODO', 'END:VCALENDAR', ''].join('\r\n'), 'text/calendar; charset=utf-8');
  methods.length = 0;
  const seen = await ask(provider, tokens);
  expect(methods).toEqual(['REPORT', 'REPORT', 'REPORT']);
  expect(seen[2]!.changed.map((c) => c.href)).toEqual([created.href]);

  // A new process told the quirk by the state store does not probe either.
  const again = open();
  again.useServerQuirks!(provider.serverQuirks!()!);
  methods.length = 0;
  await ask(again, seen.map((d) => d.token));
  expect(methods).toEqual(['REPORT', 'REPORT', 'REPORT']);
  await again.close();
  await provider.close();
});

it('R6 D100: the engine stores the learned quirk, so later runs send only the REPORTs', async () => {
  sc = await Scenario.create({ logins: ['mmueller'] });
  proxy = await startHostileProxy(sc.server.url);
  sc.setConfig((c) => (c.mailboxes[0]!.url = proxy!.url + '/'));
  await sc.syncOk();
  await sc.syncOk();
  const user = await sc.userId('mmueller');
  answerProbesLikeSogo(proxy);
  proxy.seen.length = 0;
  await sc.syncOk();
  expect(proxy.seen.map((r) => r.method)).toEqual(['PROPFIND', 'REPORT', 'REPORT', 'REPORT']);
  const head = await sc.withState((s) => s.loadMailbox(user));
  expect(head.serverQuirks).toMatchObject({ tokenProbeUseless: true });
  proxy.seen.length = 0;
  await sc.syncOk();
  expect(proxy.seen.map((r) => r.method)).toEqual(['REPORT', 'REPORT', 'REPORT']);
});
