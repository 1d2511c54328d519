// How far V8 lets the old generation grow past its live size before the next full collection,
// set for `run --once` only (D99). Left alone V8 picks a factor of up to 4× when collections are
// cheap, which they are here (~21 MB live): the 20,000-item initial sync's old generation then
// reaches ~75–80 MB, most of it garbage. A fixed 1.5× keeps it closer at the price of more,
// equally small, full collections. `--heap-growing-percent` is one of the V8 flags read each
// time the heap limit is recomputed (after every full collection), not only at start-up, so it
// can be set from inside the process; measured on Node 20 and 24 (bench/README.md, #15).
import { setFlagsFromString } from 'node:v8';

export const HEAP_GROWING_PERCENT = 50;

/** V8 majors on which the flag was measured to take effect (Node 20: 11, Node 24: 13). */
const KNOWN_V8_MAJORS = new Set([11, 13]);

/**
 * Sets V8's heap growing factor to 1 + HEAP_GROWING_PERCENT/100 unless the operator chose one
 * (NODE_OPTIONS or node's own arguments) or this is a V8 the flag was not checked on: an unknown
 * flag only prints a line on stderr, but the point is not to print anything at all. Never throws.
 * Returns whether it set the flag.
 */
export function limitHeapGrowth(env: NodeJS.ProcessEnv = process.env, execArgv: string[] = process.execArgv, v8Version: string = process.versions.v8): boolean {
  if (/heap-growing-percent/.test(`${env.NODE_OPTIONS ?? ''} ${execArgv.join(' ')}`)) return false;
  if (!KNOWN_V8_MAJORS.has(Number(v8Version.split('.')[0]))) return false;
  try {
    setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
    return true;
  } catch {
    return false;
  }
}
