// Child of bench/mailbox-cpu.mjs, mode (w): no-change sweeps of every mailbox of HOME inside one
// process, so that process start and JIT warm-up are out of the numbers: K sweeps, the CPU of each
// (process.cpuUsage, user + system) over the mailboxes it synced; the median of the second half.
//   node bench/warm-sweep-child.mjs sync DIST_ROOT HOME K   — the engine of the build at DIST_ROOT
//   node bench/warm-sweep-child.mjs floor DIST_ROOT HOME K  — the same REPORTs (stored tokens) from
//        a bare http.request loop, 4 at a time: the floor of the same requests, warm as well
//   node bench/warm-sweep-child.mjs probe DIST_ROOT HOME K  — one PROPFIND Depth 1 of DAV:sync-token
//        per mailbox, of its collections' parent (what a no-change sync sends since D100), the same way
//   GAP_MS=G node bench/warm-sweep-child.mjs spaced DIST_ROOT HOME K — the engine, one mailbox at a
//        time with G ms of idle between two syncs (a daemon's life): what idling costs each sync
//   GAP_MS=G node bench/warm-sweep-child.mjs probe …       — the probe floor spaced the same way
import http from 'node:http';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const [mode, distRoot, home, k] = process.argv.slice(2);
const K = Number(k ?? 10);
const imp = (p) => import(pathToFileURL(join(distRoot, 'dist', p)).href);
const per = [];
const measure = async (fn) => {
  for (let r = 0; r < K; r++) {
    const c0 = process.cpuUsage();
    const n = await fn();
    const c = process.cpuUsage(c0);
    per.push((c.user + c.system) / 1000 / n);
  }
};
if (mode === 'spaced') {
  const { createContext, configWithMailboxes } = await imp('context.js');
  const { syncMailbox } = await imp('sync/engine.js');
  const ctx = createContext({ home, logLevel: 'warn' });
  const config = await configWithMailboxes(ctx);
  const crm = await ctx.crm();
  const deps = { config, paths: ctx.paths, crm, state: await ctx.state(), logger: ctx.logger };
  const users = await crm.listUsers();
  const byId = new Map(users.map((u) => [u.id, u]));
  const gap = Number(process.env.GAP_MS ?? 0);
  await measure(async () => {
    for (const m of config.mailboxes) {
      const r = await syncMailbox(deps, m, byId.get(m.user), users, {});
      if (r.state !== 'success' || r.created || r.updated || r.deleted) throw new Error(`the no-change sync changed or failed something: ${JSON.stringify(r)}`);
      if (gap) await new Promise((resolve) => setTimeout(resolve, gap));
    }
    return config.mailboxes.length;
  });
  await ctx.close();
} else if (mode === 'sync') {
  const { createContext, configWithMailboxes } = await imp('context.js');
  const { runOnce } = await imp('sync/engine.js');
  const ctx = createContext({ home, logLevel: 'warn' });
  const config = await configWithMailboxes(ctx);
  const deps = { config, paths: ctx.paths, crm: await ctx.crm(), state: await ctx.state(), logger: ctx.logger };
  await measure(async () => {
    const results = await runOnce(deps, {});
    const bad = results.filter((x) => x.state !== 'success' || x.created || x.updated || x.deleted);
    if (bad.length) throw new Error(`the no-change sweep changed or failed something: ${JSON.stringify(bad[0])}`);
    return results.length;
  });
  await ctx.close();
} else {
  // The tokens and logins as the state and the config hold them (passwords: the bench's own).
  const { default: Database } = await import(pathToFileURL(join(distRoot, 'node_modules', 'better-sqlite3', 'lib', 'index.js')).href);
  const { readFileSync } = await import('node:fs');
  const db = new Database(join(home, 'state.sqlite'), { readonly: true });
  const config = JSON.parse(readFileSync(join(home, 'config.json'), 'utf8'));
  const loginOf = new Map(config.mailboxes.map((m) => [m.user, m.username]));
  const all = db.prepare('SELECT user, url, sync_token AS token FROM collection').all();
  db.close();
  // probe: one request per user, to the parent its collections share.
  const jobs = mode === 'probe' ? [...new Map(all.map((j) => [j.user, { user: j.user, url: new URL('../', j.url).href, probe: true }])).values()] : all;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
  const body = (t) => `<?xml version="1.0" encoding="utf-8"?>\n<d:sync-collection xmlns:d="DAV:"><d:sync-level>1</d:sync-level><d:sync-token>${t}</d:sync-token><d:prop><d:getetag/></d:prop></d:sync-collection>`;
  const probeBody = '<?xml version="1.0" encoding="utf-8"?>\n<d:propfind xmlns:d="DAV:"><d:prop><d:sync-token/></d:prop></d:propfind>';
  const report = (j) =>
    new Promise((resolve, reject) => {
      const u = new URL(j.url);
      const b = j.probe ? probeBody : body(j.token ?? '');
      const req = http.request({ host: u.hostname, port: u.port, path: u.pathname, method: j.probe ? 'PROPFIND' : 'REPORT', agent, headers: { ...(j.probe ? { Depth: '1' } : {}), Authorization: 'Basic ' + Buffer.from(`${loginOf.get(j.user)}:${process.env.BENCH_PASSWORD}`).toString('base64'), 'Content-Type': 'text/xml;charset=UTF-8', 'Accept-Encoding': 'gzip, deflate, br', 'Content-Length': Buffer.byteLength(b) } }, (res) => {
        let d = '';
        res.setEncoding('utf8');
        res.on('data', (x) => (d += x));
        res.on('end', () => (res.statusCode === 207 ? resolve() : reject(new Error(`floor ${j.probe ? 'PROPFIND' : 'REPORT'} ${j.url}: HTTP ${res.statusCode}`))));
      });
      req.on('error', reject);
      req.end(b);
    });
  const mailboxes = new Set(jobs.map((j) => j.user)).size;
  // GAP_MS set: one request at a time with that much idle between (the floor of mode spaced).
  const gap = process.env.GAP_MS === undefined ? undefined : Number(process.env.GAP_MS);
  await measure(async () => {
    let next = 0;
    await Promise.all(Array.from({ length: gap === undefined ? 4 : 1 }, async () => {
      while (next < jobs.length) {
        await report(jobs[next++]);
        if (gap) await new Promise((resolve) => setTimeout(resolve, gap));
      }
    }));
    return mailboxes;
  });
  agent.destroy();
}
const warm = per.slice(Math.floor(K / 2)).sort((a, b) => a - b);
console.log(JSON.stringify({ msPerMailbox: +warm[Math.floor(warm.length / 2)].toFixed(3), sweeps: per.map((x) => +x.toFixed(2)) }));
