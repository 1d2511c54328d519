// The server's floor as its own process (so its CPU is measured like sync-cli's and vdirsyncer's):
// PUT every item of a job file with If-None-Match: *, N at a time, over a keep-alive agent —
// the least any Node client must do to upload these items.
// node bench/put-floor.mjs JOBS.json → prints {"puts":N,"failures":F}
// JOBS.json: { concurrency, authorization, jobs: [{ url, file, type }] }
import http from 'node:http';
import { readFileSync } from 'node:fs';

const { concurrency, authorization, jobs } = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
let next = 0;
let failures = 0;

function put(job) {
  const body = readFileSync(job.file);
  return new Promise((resolve, reject) => {
    const req = http.request(job.url, { method: 'PUT', agent, headers: { Authorization: authorization, 'If-None-Match': '*', 'Content-Type': job.type, 'Content-Length': body.length } }, (res) => {
      res.resume();
      res.on('end', () => {
        if (res.statusCode !== 201 && res.statusCode !== 204) failures++;
        resolve();
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

await Promise.all(Array.from({ length: concurrency }, async () => {
  while (next < jobs.length) await put(jobs[next++]);
}));
agent.destroy();
console.log(JSON.stringify({ puts: jobs.length, failures }));
