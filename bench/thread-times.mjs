// Preload (node --import bench/thread-times.mjs): at exit, writes the CPU time of each of the
// process's threads (from /proc/self/task/*/stat, Linux) as JSON to $THREAD_TIMES_FILE.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';

const out = process.env.THREAD_TIMES_FILE;
const tick = 100; // USER_HZ on Linux
if (out) {
  process.on('exit', () => {
    const threads = [];
    for (const tid of readdirSync('/proc/self/task')) {
      try {
        const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
        const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
        const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        threads.push({ tid: Number(tid), name, user: Number(f[11]) / tick, sys: Number(f[12]) / tick });
      } catch {
        // the thread ended meanwhile
      }
    }
    writeFileSync(out, JSON.stringify(threads));
  });
}
