// Client CPU of one PUT per connection, the pattern Radicale 3.1 forces (it answers HTTP/1.0 and
// closes every connection): Node's built-in fetch (undici) vs node:http with a keep-alive agent,
// 4 requests in flight, against a loopback server in a child process that closes each connection.
// Decision D20 (docs/decisions.md) rests on this. node bench/http-clients.mjs [N=2500] [runs=3]
import { spawn } from 'node:child_process';
import http from 'node:http';
import { fileURLToPath } from 'node:url';

const SERVER = `
const http = require('node:http');
const s = http.createServer((req, res) => { req.resume(); req.on('end', () => { res.writeHead(201, { 'Content-Length': 0, ETag: '"x"', Connection: 'close' }); res.end(); }); });
s.listen(0, '127.0.0.1', () => console.log(s.address().port));`;
const BODY = 'BEGIN:VCARD\r\nVERSION:3.0\r\nUID:x\r\nFN:Bench Person\r\nN:Person;Bench;;;\r\nTEL;TYPE=CELL:+49 170 0000000\r\nEND:VCARD\r\n'.repeat(3);

async function client(mode, base, n) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
  const headers = { 'Content-Type': 'text/vcard; charset=utf-8', 'If-None-Match': '*', Authorization: 'Basic YmVuY2g6YmVuY2g=' };
  const one = async (i) => {
    const url = `${base}/c/${i}.vcf`;
    if (mode === 'fetch') {
      const r = await fetch(url, { method: 'PUT', headers, body: BODY, signal: AbortSignal.timeout(30_000) });
      await r.text();
      return;
    }
    await new Promise((resolve, reject) => {
      const req = http.request(url, { method: 'PUT', agent, headers: { ...headers, 'Content-Length': Buffer.byteLength(BODY) } }, (res) => {
        res.resume();
        res.on('end', resolve);
      });
      req.on('error', reject);
      req.end(BODY);
    });
  };
  let next = 0;
  const before = process.cpuUsage();
  await Promise.all([0, 1, 2, 3].map(async () => {
    while (next < n) await one(next++);
  }));
  const used = process.cpuUsage(before);
  agent.destroy();
  return (used.user + used.system) / 1e6;
}

if (process.argv[2] === '--child') {
  const [, , , mode, base, n] = process.argv;
  console.log(await client(mode, base, Number(n)));
} else if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const n = Number(process.argv[2] ?? 2500);
  const runs = Number(process.argv[3] ?? 3);
  const server = spawn(process.execPath, ['-e', SERVER], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise((r) => server.stdout.once('data', (d) => r(String(d).trim())));
  const base = `http://127.0.0.1:${port}`;
  const run = (mode) => new Promise((resolve) => {
    const c = spawn(process.execPath, [fileURLToPath(import.meta.url), '--child', mode, base, String(n)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    c.stdout.on('data', (d) => (out += d));
    c.on('close', () => resolve(Number(out.trim())));
  });
  for (const mode of ['fetch', 'node:http']) {
    const cpu = [];
    for (let i = 0; i < runs; i++) cpu.push(await run(mode));
    cpu.sort((a, b) => a - b);
    console.log(`${mode.padEnd(10)} ${n} PUTs, one connection each: client CPU median ${cpu[Math.floor(runs / 2)].toFixed(2)} s (runs: ${cpu.map((c) => c.toFixed(2)).join(', ')})`);
  }
  server.kill();
}
