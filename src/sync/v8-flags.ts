// Two V8 flags `run` sets from inside the process, before the sync starts (D99, D106). Both are
// plain numbers V8 reads again each time it uses them — not only at start-up — so they can be set
// after node has started; measured on Node 20 (V8 11) and Node 24 (V8 13) before being taken.
// Node documents flags set after start as undefined behaviour in general: flags that shape the
// heap or its threads (`--single-threaded-gc`, `--max-semi-space-size`) are not among them — the
// first aborts V8 when set late, the second is ignored (bench/README.md).
import { setFlagsFromString } from 'node:v8';

/**
 * D99: how far V8 lets the old generation grow past its live size before the next full
 * collection. Left alone V8 picks a factor of up to 4× when collections are cheap, which they are
 * here (~21 MB live): the 20,000-item initial sync's old generation then reaches ~75–80 MB, most
 * of it garbage. A fixed 1.5× keeps it closer at the price of more, equally small, full
 * collections. Read each time the heap limit is recomputed (after every full collection).
 */
export const HEAP_GROWING_PERCENT = 50;

/**
 * D106: how much bytecode a function runs before V8 considers optimizing it (TurboFan). V8's own
 * budget (67,584) suits long-lived programs; a `run` is one pass in which ~170 of our and node's
 * functions reach it, and their optimizing compiles (on V8's helper threads) cost more than the
 * faster code saves before the process ends. ×4: only the hottest ~55 (the HTTP path, the
 * serializers) are optimized. Read each time a function's budget is reset.
 */
export const INTERRUPT_BUDGET = 4 * 67_584;

/** V8 majors on which the flags were measured to take effect (Node 20: 11, Node 24: 13). */
const KNOWN_V8_MAJORS: Record<string, Set<number>> = {
  'heap-growing-percent': new Set([11, 13]),
  'interrupt-budget': new Set([11]),
};

/**
 * Sets `--NAME=VALUE` unless the operator chose a value (NODE_OPTIONS or node's own arguments) or
 * this is a V8 the flag was not checked on: an unknown flag only prints a line on stderr, but the
 * point is not to print anything at all. Never throws. Returns whether it set the flag.
 */
function setMeasuredFlag(name: string, value: number, env: NodeJS.ProcessEnv, execArgv: string[], v8Version: string): boolean {
  if (`${env.NODE_OPTIONS ?? ''} ${execArgv.join(' ')}`.includes(`--${name}`)) return false;
  if (!KNOWN_V8_MAJORS[name]?.has(Number(v8Version.split('.')[0]))) return false;
  try {
    setFlagsFromString(`--${name}=${value}`);
    return true;
  } catch {
    return false;
  }
}

/** D99: V8's heap growing factor at 1 + HEAP_GROWING_PERCENT/100 (see setMeasuredFlag). */
export function limitHeapGrowth(env: NodeJS.ProcessEnv = process.env, execArgv: string[] = process.execArgv, v8Version: string = process.versions.v8): boolean {
  return setMeasuredFlag('heap-growing-percent', HEAP_GROWING_PERCENT, env, execArgv, v8Version);
}

/** D106: V8's interrupt budget at INTERRUPT_BUDGET (see setMeasuredFlag). */
export function delayOptimization(env: NodeJS.ProcessEnv = process.env, execArgv: string[] = process.execArgv, v8Version: string = process.versions.v8): boolean {
  return setMeasuredFlag('interrupt-budget', INTERRUPT_BUDGET, env, execArgv, v8Version);
}
