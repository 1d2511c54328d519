// D104 (#15): on Node ≥ 22 a `run` that makes a first sync starts node again with 4 MB
// semi-spaces (the 20k initial sync's peak RSS: ~270 → ~140 MB on Node 24); a later run, and any
// run on Node 20, stays in one process. Which node processes ran with which flags is recorded by
// a module that NODE_OPTIONS preloads into each of them: what ran, not what we logged.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { relaunchHelps, SEMI_SPACE_MB } from '../../src/sync/young-generation.js';
import { repoRoot, runCli, tempHome } from '../helpers/cli.js';

const node = { nodeVersion: process.versions.node, execArgv: [] as string[], env: {} };
const major = Number(process.versions.node.split('.')[0]);
const homes: string[] = [];
afterAll(() => {
  for (const h of homes) fs.rmSync(h, { recursive: true, force: true });
});

describe('D104: which runs start node again with a smaller young generation', () => {
  it('only Node ≥ 22, and never when the semi-space size is already chosen', () => {
    expect(relaunchHelps({ ...node, nodeVersion: '20.19.0' })).toBe(false);
    expect(relaunchHelps({ ...node, nodeVersion: '24.1.0' })).toBe(true);
    expect(relaunchHelps({ ...node, nodeVersion: '22.12.0' })).toBe(true);
    // The operator's choice wins; the relaunched process has the flag itself (no loop).
    expect(relaunchHelps({ ...node, nodeVersion: '24.1.0', env: { NODE_OPTIONS: '--max-old-space-size=512 --max-semi-space-size=16' } })).toBe(false);
    expect(relaunchHelps({ ...node, nodeVersion: '24.1.0', execArgv: ['--max-semi-space-size=8'] })).toBe(false);
  });

  function recordingHome() {
    const home = tempHome('sync-cli-young-');
    homes.push(home);
    const rec = path.join(home, 'processes.jsonl');
    const preload = path.join(home, 'record.mjs');
    fs.writeFileSync(preload, `import { spawn } from 'node:child_process';
import fs from 'node:fs';\nfs.appendFileSync(${JSON.stringify(rec)}, JSON.stringify({ pid: process.pid, execArgv: process.execArgv }) + '\\n');\n`);
    const env = { NODE_OPTIONS: `--import=${pathToFileURL(preload).href}` };
    const processes = () => {
      const lines = fs.existsSync(rec) ? fs.readFileSync(rec, 'utf8').trim().split('\n') : [];
      fs.rmSync(rec, { force: true });
      return lines.map((l) => JSON.parse(l) as { pid: number; execArgv: string[] });
    };
    expect(runCli(['--home', home, 'crm', 'init', '--demo']).code).toBe(0);
    expect(runCli(['--home', home, 'users', 'assign', 'mmueller', '--url', `file://${home}/vdir`, '--username', 'm']).code).toBe(0);
    processes();
    return { home, env, processes };
  }

  it(`a first sync runs in a second node with --max-semi-space-size=${SEMI_SPACE_MB} on Node ≥ 22 (here Node ${major}); its --json, exit code and device data are the run's; the next run is one process`, () => {
    const { home, env, processes } = recordingHome();
    const first = runCli(['--home', home, '--json', 'run', '--once'], { env });
    expect(first.code, first.stderr).toBe(0);
    const doc = JSON.parse(first.stdout) as { mailboxes: { user: string; state: string; created: number }[] };
    expect(doc.mailboxes).toHaveLength(1); // one document: the parent printed nothing of its own
    expect(doc.mailboxes[0]).toMatchObject({ user: 'mmueller', state: 'success' });
    expect(doc.mailboxes[0]!.created).toBeGreaterThan(3);
    const ran = processes();
    if (major >= 22) {
      expect(ran).toHaveLength(2);
      expect(ran[0]!.execArgv).not.toContain(`--max-semi-space-size=${SEMI_SPACE_MB}`);
      expect(ran[1]!.execArgv).toContain(`--max-semi-space-size=${SEMI_SPACE_MB}`);
    } else {
      expect(ran).toHaveLength(1);
      expect(ran[0]!.execArgv.join(' ')).not.toMatch(/semi-space/);
    }
    const contacts = fs.readdirSync(path.join(home, 'vdir'), { recursive: true }).filter((f) => String(f).endsWith('.vcf'));
    expect(contacts.length).toBeGreaterThan(3);

    const again = runCli(['--home', home, '--json', 'run', '--once'], { env });
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout).mailboxes[0]).toMatchObject({ state: 'success', created: 0, updated: 0, deleted: 0 });
    expect(processes()).toHaveLength(1);
  });

  it('an operator\'s own --max-semi-space-size in NODE_OPTIONS means one process; a failing first sync\'s exit code and message come through once', () => {
    const { home, env, processes } = recordingHome();
    const own = runCli(['--home', home, 'run', '--once', '--dry-run'], { env: { NODE_OPTIONS: `${env.NODE_OPTIONS} --max-semi-space-size=16` } });
    expect(own.code, own.stderr).toBe(0);
    expect(processes()).toHaveLength(1);

    // The mailbox's folder cannot be made (a file is where it would be): the sync fails.
    fs.rmSync(path.join(home, 'vdir'), { recursive: true, force: true });
    fs.writeFileSync(path.join(home, 'vdir'), 'not a folder');
    const failed = runCli(['--home', home, 'run', '--once'], { env });
    expect(failed.code).toBe(1);
    expect(failed.stdout.match(/mmueller\s+failed/g)).toHaveLength(1);
    expect(processes()).toHaveLength(major >= 22 ? 2 : 1);
    // Still a first sync (none finished): the next run starts a second node again.
    fs.rmSync(path.join(home, 'vdir'));
    expect(runCli(['--home', home, 'run', '--once'], { env }).code).toBe(0);
    expect(processes()).toHaveLength(major >= 22 ? 2 : 1);
  });
});

// The two processes themselves, on every Node: a parent that relaunches a stand-in child (the
// built module, as the CLI uses it) and what a user or a service manager sees of them.
describe('D104: the first process and its child', () => {
  // A test that fails half-way must not leave its stand-in pair running: both are killed by pid.
  const started: number[] = [];
  afterEach(() => {
    for (const pid of started.splice(0)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  });
  const mod = pathToFileURL(path.join(repoRoot, 'dist/sync/young-generation.js')).href;
  function pair(childBody: string) {
    const dir = tempHome('sync-cli-relaunch-');
    homes.push(dir);
    const pidFile = path.join(dir, 'child.pid');
    const child = path.join(dir, 'child.mjs');
    fs.writeFileSync(child, `import fs from 'node:fs';\nimport { watchRelaunchParent } from ${JSON.stringify(mod)};\nwatchRelaunchParent();\nfs.writeFileSync(${JSON.stringify(pidFile)}, String(process.pid));\n${childBody}\n`);
    const parent = path.join(dir, 'parent.mjs');
    fs.writeFileSync(parent, `import { runRelaunched } from ${JSON.stringify(mod)};\nconst code = await runRelaunched([process.execPath, ${JSON.stringify(child)}]);\nprocess.exitCode = code ?? 99;\n`);
    const p = spawn(process.execPath, [parent], { stdio: 'ignore' });
    if (p.pid) started.push(p.pid);
    const ended = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => p.once('exit', (code, signal) => resolve({ code, signal })));
    // The file exists (empty) a moment before the child's pid is in it: wait for the number.
    const written = () => (fs.existsSync(pidFile) ? Number(fs.readFileSync(pidFile, 'utf8')) : 0);
    const childPid = async () => {
      for (let i = 0; i < 200 && !(written() > 0); i++) await new Promise((r) => setTimeout(r, 50));
      const pid = written();
      if (pid > 0) started.push(pid);
      if (!(pid > 0)) throw new Error(`the stand-in child wrote no pid into ${pidFile} within 10 s`);
      return pid;
    };
    return { p, ended, childPid };
  }
  const alive = (pid: number) => {
    try {
      process.kill(pid, 0);
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      return !/^\d+ \(.*\) Z/.test(stat);
    } catch {
      return false;
    }
  };
  async function gone(pid: number) {
    for (let i = 0; i < 100 && alive(pid); i++) await new Promise((r) => setTimeout(r, 50));
    return !alive(pid);
  }

  it(`the child runs with --max-semi-space-size=${SEMI_SPACE_MB} and its exit code is the parent's`, async () => {
    const { ended } = pair(`if (!process.execArgv.includes('--max-semi-space-size=${SEMI_SPACE_MB}')) process.exit(7);\nprocess.exitCode = 3;`);
    expect(await ended).toEqual({ code: 3, signal: null });
  });

  it('SIGTERM to the parent stops the child, and the parent then ends by SIGTERM itself (as systemd and shells expect)', async () => {
    const { p, ended, childPid } = pair('setInterval(() => {}, 1000);');
    const pid = await childPid();
    p.kill('SIGTERM');
    expect(await ended).toEqual({ code: null, signal: 'SIGTERM' });
    expect(await gone(pid)).toBe(true);
  });

  it('a parent killed outright (SIGKILL) leaves no child syncing on', async () => {
    const { p, ended, childPid } = pair('setInterval(() => {}, 1000);');
    const pid = await childPid();
    expect(alive(pid)).toBe(true);
    p.kill('SIGKILL');
    await ended;
    expect(await gone(pid)).toBe(true);
  });
});
