#!/usr/bin/env node
// What a no-change check costs Radicale and the client: three sync-collection REPORTs with the
// current tokens (what a sync sends today) against one PROPFIND Depth 1 on the user's home asking
// each child collection's sync-token (or getctag). Collections of N items each, filled on disk.
//
//   node bench/token-probe-cost.mjs [--sizes 20,200,2000] [--rounds 200]
//
// Server CPU: utime+stime of the Radicale process (/proc/PID/stat) over `rounds` checks;
// client CPU: process.cpuUsage over the same loop. Radicale is started on a free loopback port
// and stopped by pid at the end.
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import http from 'node:http';
import net from 'node:net';

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const sizes = opt('sizes', '20,200,2000').split(',').map(Number);
const rounds = Number(opt('rounds', '200'));
const TICK = 100; // clock ticks per second on Linux

const freePort = () => new Promise((res) => {
  const s = net.createServer().listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => res(p)); });
});
const cpuOf = (pid) => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return ((Number(f[11]) + Number(f[12])) / TICK) * 1000; // ms
};
const agent = new http.Agent({ keepAlive: false });
const auth = 'Basic ' + Buffer.from('u:p').toString('base64');
function request(port, method, path, body, headers = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, agent, headers: { Authorization: auth, 'Content-Type': 'text/xml;charset=UTF-8', ...headers } }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, text: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end(body);
  });
}
const reportBody = (token) => `<?xml version="1.0" encoding="UTF-8"?><sync-collection xmlns="DAV:"><sync-token>${token}</sync-token><sync-level>1</sync-level><prop><getetag/></prop></sync-collection>`;
const propfindBody = (prop) => `<?xml version="1.0" encoding="UTF-8"?><d:propfind xmlns:d="DAV:" xmlns:cs="http://calendarserver.org/ns/"><d:prop>${prop}</d:prop></d:propfind>`;
const tokenOf = (text) => /<[^>]*sync-token>([^<]*)</.exec(text)?.[1];

function fill(root, n) {
  const home = join(root, 'collection-root', 'u');
  const kinds = [
    ['contacts', { tag: 'VADDRESSBOOK' }, (i) => `BEGIN:VCARD\r\nVERSION:3.0\r\nUID:c${i}\r\nFN:Person ${i}\r\nN:${i};Person;;;\r\nTEL:+49 30 ${1000000 + i}\r\nEND:VCARD\r\n`, 'vcf'],
    ['calendar', { tag: 'VCALENDAR', 'C:supported-calendar-component-set': 'VEVENT' }, (i) => `BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//bench//EN\r\nBEGIN:VEVENT\r\nUID:e${i}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260101T100000Z\r\nDTEND:20260101T110000Z\r\nSUMMARY:Event ${i}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n`, 'ics'],
    ['tasks', { tag: 'VCALENDAR', 'C:supported-calendar-component-set': 'VTODO' }, (i) => `BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//bench//EN\r\nBEGIN:VTODO\r\nUID:t${i}\r\nDTSTAMP:20260101T000000Z\r\nSUMMARY:Task ${i}\r\nEND:VTODO\r\nEND:VCALENDAR\r\n`, 'ics'],
  ];
  rmSync(home, { recursive: true, force: true });
  mkdirSync(home, { recursive: true });
  for (const [name, props, item, ext] of kinds) {
    const dir = join(home, name);
    mkdirSync(dir);
    writeFileSync(join(dir, '.Radicale.props'), JSON.stringify(props));
    for (let i = 0; i < n; i++) writeFileSync(join(dir, `${name}-${i}.${ext}`), item(i));
  }
  return kinds.map(([name]) => `/u/${name}/`);
}

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'sync-cli-probe-cost-'));
  const port = await freePort();
  writeFileSync(join(dir, 'users'), 'u:p\n');
  writeFileSync(join(dir, 'config'), ['[server]', `hosts = 127.0.0.1:${port}`, '[auth]', 'type = htpasswd', `htpasswd_filename = ${join(dir, 'users')}`, 'htpasswd_encryption = plain', 'delay = 0', '[rights]', 'type = owner_only', '[storage]', `filesystem_folder = ${join(dir, 'collections')}`, '[logging]', 'level = warning', ''].join('\n'));
  const rows = [];
  for (const n of sizes) {
    const paths = fill(join(dir, 'collections'), n);
    const server = spawn('radicale', ['--config', join(dir, 'config')], { stdio: 'ignore' });
    try {
      for (let i = 0; i < 100; i++) {
        try { await request(port, 'OPTIONS', '/'); break; } catch { await new Promise((r) => setTimeout(r, 100)); }
      }
      const tokens = [];
      for (const p of paths) tokens.push(tokenOf((await request(port, 'REPORT', p, reportBody(''))).text));
      // Warm caches on every path once.
      const variants = {
        'three REPORTs, current tokens': async () => {
          for (let k = 0; k < paths.length; k++) {
            const r = await request(port, 'REPORT', paths[k], reportBody(tokens[k]));
            if (r.status !== 207 || tokenOf(r.text) !== tokens[k]) throw new Error(`REPORT ${paths[k]}: ${r.status}`);
          }
        },
        'one PROPFIND Depth 1 of the home: sync-token': async () => {
          const r = await request(port, 'PROPFIND', '/u/', propfindBody('<d:sync-token/>'), { Depth: '1' });
          const got = [...r.text.matchAll(/<[^>]*sync-token>([^<]*)</g)].map((m) => m[1]);
          if (r.status !== 207 || tokens.some((t) => !got.includes(t))) throw new Error(`PROPFIND: ${r.status} ${r.text.slice(0, 300)}`);
        },
        'one PROPFIND Depth 1 of the home: getctag': async () => {
          const r = await request(port, 'PROPFIND', '/u/', propfindBody('<cs:getctag/>'), { Depth: '1' });
          if (r.status !== 207 || !/getctag>[^<]+</.test(r.text)) throw new Error(`PROPFIND ctag: ${r.status}`);
        },
      };
      for (const run of Object.values(variants)) await run();
      for (const [name, run] of Object.entries(variants)) {
        const s0 = cpuOf(server.pid);
        const c0 = process.cpuUsage();
        const t0 = performance.now();
        for (let i = 0; i < rounds; i++) await run();
        const wall = performance.now() - t0;
        const c = process.cpuUsage(c0);
        rows.push({ n, name, server: (cpuOf(server.pid) - s0) / rounds, client: (c.user + c.system) / 1000 / rounds, wall: wall / rounds });
      }
    } finally {
      server.kill('SIGTERM');
      await new Promise((r) => server.once('exit', r));
    }
  }
  rmSync(dir, { recursive: true, force: true });
  console.log(`| items per collection | check | Radicale CPU ms | client CPU ms | wall ms |`);
  console.log(`|---|---|---|---|---|`);
  for (const r of rows) console.log(`| ${r.n} | ${r.name} | ${r.server.toFixed(2)} | ${r.client.toFixed(3)} | ${r.wall.toFixed(2)} |`);
}
main().catch((e) => { console.error(e); process.exit(1); });
