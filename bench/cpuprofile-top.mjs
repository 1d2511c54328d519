// Top functions by self time of a V8 .cpuprofile (node --cpu-prof). CLI: node bench/cpuprofile-top.mjs FILE [N]
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export function topFunctions(file, n = 15) {
  const prof = JSON.parse(readFileSync(file, 'utf8'));
  const byId = new Map(prof.nodes.map((node) => [node.id, node]));
  const self = new Map();
  // timeDeltas[i] is the time before samples[i]: attribute it to that sample's node.
  for (let i = 0; i < prof.samples.length; i++) {
    const id = prof.samples[i];
    self.set(id, (self.get(id) ?? 0) + (prof.timeDeltas[i] ?? 0));
  }
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const agg = new Map();
  for (const [id, us] of self) {
    const cf = byId.get(id).callFrame;
    const where = cf.url ? `${cf.url.replace(/^file:\/\/.*?\/(node_modules|dist)\//, '$1/')}:${cf.lineNumber + 1}` : '';
    const key = `${cf.functionName || '(anonymous)'}\t${where}`;
    agg.set(key, (agg.get(key) ?? 0) + us);
  }
  return [...agg.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([key, us]) => {
      const [name, where] = key.split('\t');
      return { name, where, selfMs: Math.round(us / 1000), pct: +((100 * us) / total).toFixed(1) };
    })
    .concat([{ name: '(total sampled)', where: '', selfMs: Math.round(total / 1000), pct: 100 }]);
}

/** Self time grouped by package (node_modules/X), dist/ file, or node: internals. */
export function byPackage(file, n = 15) {
  const prof = JSON.parse(readFileSync(file, 'utf8'));
  const byId = new Map(prof.nodes.map((node) => [node.id, node]));
  const agg = new Map();
  let total = 0;
  for (let i = 0; i < prof.samples.length; i++) {
    const cf = byId.get(prof.samples[i]).callFrame;
    const us = prof.timeDeltas[i] ?? 0;
    total += us;
    const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(cf.url) ?? /\/(dist\/.*)$/.exec(cf.url);
    const key = m ? m[1] : cf.url.startsWith('node:') ? 'node: internals' : cf.functionName || '(native)';
    agg.set(key, (agg.get(key) ?? 0) + us);
  }
  return [...agg.entries()].sort((a, b) => b[1] - a[1]).slice(0, n).map(([k, us]) => ({ group: k, selfMs: Math.round(us / 1000), pct: +((100 * us) / total).toFixed(1) }));
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv.includes('--by-package')) {
  for (const t of byPackage(process.argv[2], 25)) console.log(`${String(t.selfMs).padStart(7)} ms ${String(t.pct).padStart(5)} %  ${t.group}`);
} else if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const t of topFunctions(process.argv[2], Number(process.argv[3] ?? 25))) console.log(`${String(t.selfMs).padStart(7)} ms ${String(t.pct).padStart(5)} %  ${t.name}  ${t.where}`);
}
