// #14: the project documents itself. Every link in the README and docs/ points to a file of this
// repository that exists; nothing points outside it (a clone has no ../shared); the rules page
// names, for every rule, test files that really carry that rule's id.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../helpers/cli.js';

const docFiles = ['README.md', 'bench/README.md', ...fs.readdirSync(path.join(repoRoot, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];

function links(file: string): { target: string; line: number }[] {
  const text = fs.readFileSync(path.join(repoRoot, file), 'utf8');
  const out: { target: string; line: number }[] = [];
  text.split('\n').forEach((l, i) => {
    for (const m of l.matchAll(/\]\(([^)\s]+)\)/g)) out.push({ target: m[1]!, line: i + 1 });
  });
  return out;
}

/** The table row of each rule R1–R25 on a docs page (undefined where a rule has none). */
function ruleRows(page: string): [number, string | undefined][] {
  const text = fs.readFileSync(path.join(repoRoot, page), 'utf8').split('\n');
  return Array.from({ length: 25 }, (_, i) => [i + 1, text.find((l) => l.startsWith(`| R${i + 1} |`))]);
}

/** Why test/<name> does not prove rule n (missing, or not carrying the id), or null when it does. */
function testProblem(n: number, name: string): string | null {
  const file = ['.test.ts', '.test.tsx', '.ts'].map((ext) => path.join(repoRoot, 'test', name + ext)).find((f) => fs.existsSync(f));
  if (!file) return `R${n}: test/${name}.test.ts does not exist`;
  return new RegExp(`R${n}\\b`).test(fs.readFileSync(file, 'utf8')) ? null : `R${n}: test/${name} does not mention R${n}`;
}

describe('documentation links', () => {
  it('every relative link in README.md and docs/ resolves to an existing file inside the repository', () => {
    const broken: string[] = [];
    for (const file of docFiles) {
      for (const { target, line } of links(file)) {
        if (/^(https?:|mailto:|#)/.test(target)) continue;
        const resolved = path.resolve(repoRoot, path.dirname(file), target.split('#')[0]!);
        if (!resolved.startsWith(repoRoot + path.sep)) broken.push(`${file}:${line}: ${target} points outside the repository`);
        else if (!fs.existsSync(resolved)) broken.push(`${file}:${line}: ${target} does not exist`);
      }
    }
    expect(broken).toEqual([]);
  });

  it('no document, source file or message refers to the design folder outside the repository', () => {
    const hits: string[] = [];
    const walk = (dir: string): string[] => fs.readdirSync(path.join(repoRoot, dir), { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(`${dir}/${e.name}`) : [`${dir}/${e.name}`]));
    for (const file of [...docFiles, ...walk('src'), ...walk('scripts'), ...walk('config')]) {
      const text = fs.readFileSync(path.join(repoRoot, file), 'utf8');
      if (/\.\.\/shared\/|shared\/(spec|guide)\//.test(text)) hits.push(file);
    }
    expect(hits).toEqual([]);
  });

  it('docs/architecture.md indexes R1–R25: where each is decided (files that exist) and tested (files that carry its id)', () => {
    const problems: string[] = [];
    for (const [n, row] of ruleRows('docs/architecture.md')) {
      if (!row) {
        problems.push(`R${n}: no row in the index`);
        continue;
      }
      const [, decided = '', tested = ''] = row.split('|').slice(1).map((c) => c.trim());
      const files = decided.replace(/\(its arms\)/g, '').split(',').map((f) => f.trim()).filter(Boolean);
      if (!files.length) problems.push(`R${n}: no source file`);
      for (const f of files) if (!fs.existsSync(path.join(repoRoot, 'src', f))) problems.push(`R${n}: src/${f} does not exist`);
      for (const t of tested.split(',').map((x) => x.trim()).filter(Boolean)) {
        const p = testProblem(n, t);
        if (p) problems.push(p);
      }
    }
    expect(problems).toEqual([]);
  });

  it('docs/sync-rules.md lists R1–R25, and every test file it names for a rule carries that rule id', () => {
    const missing: string[] = [];
    for (const [n, row] of ruleRows('docs/sync-rules.md')) {
      if (!row) {
        missing.push(`R${n}: no row`);
        continue;
      }
      const tests = (row.split('·')[1] ?? '').split('|')[0]!.split(',').map((t) => t.trim()).filter(Boolean);
      expect(tests.length, `R${n}`).toBeGreaterThan(0);
      for (const t of tests) {
        const p = testProblem(n, t);
        if (p) missing.push(p);
      }
    }
    expect(missing).toEqual([]);
  });
});
