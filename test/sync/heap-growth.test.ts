// D99: `run --once` sets V8's heap growing factor from inside the process, and only where that
// was checked; an operator's own choice wins.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { HEAP_GROWING_PERCENT, limitHeapGrowth } from '../../src/sync/heap-growth.js';

describe('limitHeapGrowth (D99)', () => {
  it('leaves an operator\'s --heap-growing-percent (NODE_OPTIONS or node\'s arguments) alone', () => {
    expect(limitHeapGrowth({ NODE_OPTIONS: '--heap-growing-percent=200' }, [], '11.3.244.8-node.38')).toBe(false);
    expect(limitHeapGrowth({}, ['--heap-growing-percent=200'], '13.6.233.17-node.63')).toBe(false);
  });

  it('does nothing on a V8 it was not measured on (Node 20: V8 11, Node 24: V8 13)', () => {
    expect(limitHeapGrowth({}, [], '14.0.1')).toBe(false);
    expect(limitHeapGrowth({}, [], '10.2.154.26-node.30')).toBe(false);
  });

  it('sets it on the Node this runs on (20 or 24, package.json engines), without throwing', () => {
    // This file's worker only; the next test checks in a child process that V8 then uses it.
    expect(limitHeapGrowth({}, [], process.versions.v8)).toBe(true);
  });

  it('sets the flag on this Node, which knows it and uses it: nothing on stderr, V8 reports the factor', () => {
    // A child process, so that this test's own V8 keeps its defaults. After a full collection V8
    // recomputes the old generation's limit; --trace-gc-verbose names the growing factor it took
    // (Node 20: "Limit: … (1.5)", Node 24: "factor 1.5 based on …"). Without the flag it is V8's
    // own (4.0 here: collections are cheap).
    const factor = (1 + HEAP_GROWING_PERCENT / 100).toFixed(1);
    const program = (set: boolean) => `
      import { setFlagsFromString } from 'node:v8';
      if (${set}) setFlagsFromString('--heap-growing-percent=${HEAP_GROWING_PERCENT}');
      const keep = [];
      for (let i = 0; i < 300000; i++) keep.push({ a: 'x' + i });
      globalThis.gc();`;
    const run = (set: boolean) => spawnSync(process.execPath, ['--trace-gc-verbose', '--expose-gc', '--input-type=module', '-e', program(set)], { encoding: 'utf8' });
    const taken = new RegExp(`\\[HeapController\\] (factor ${factor.replace('.', '\\.')} |Limit: .*\\(${factor.replace('.', '\\.')}\\))`);
    const plain = run(false);
    const limited = run(true);
    expect(limited.status).toBe(0);
    expect(limited.stderr).toBe('');
    expect(limited.stdout).toMatch(taken);
    expect(plain.stdout).toMatch(/\[HeapController\]/);
    expect(plain.stdout).not.toMatch(taken);
  });
});
