// node --import ./bench/trace-imports.mjs bin/sync-cli … : prints to stderr, at exit, the npm
// packages a command loaded (ESM imports and CommonJS requires), to see what a start costs.
import Module, { register } from 'node:module';

const seen = new Set();
const note = (p) => {
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(p);
  if (m) seen.add(m[1]);
};
const { port1, port2 } = new MessageChannel();
port1.on('message', note);
port1.unref();
register('data:text/javascript,' + encodeURIComponent(`
let port; export function initialize(d){port=d.port}
export async function resolve(s,c,n){const r=await n(s,c); port.postMessage(r.url); return r}`), { data: { port: port2 }, transferList: [port2] });
const origResolve = Module._resolveFilename;
Module._resolveFilename = function (...args) {
  const r = origResolve.apply(this, args);
  note(r);
  return r;
};
process.on('exit', () => process.stderr.write(`[trace-imports] ${seen.size} packages: ${[...seen].sort().join(' ')}\n`));
