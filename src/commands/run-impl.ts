// The body of `run --once`, loaded only when the command runs.
import { configWithMailboxes, type Context } from '../context.js';
import { runOnce, type MailboxResult, type RunOptions, type SyncEvent } from '../sync/engine.js';
import { exitCodeOf, outcomeJson } from '../sync/outcome.js';

export function resultJson(results: MailboxResult[]) {
  return {
    mailboxes: results.map((r) => ({
      user: r.login,
      userId: r.user,
      state: r.state,
      ...(r.dryRun ? { dryRun: true } : {}),
      created: r.created,
      updated: r.updated,
      deleted: r.deleted,
      crmUpdates: r.crmUpdates,
      conflicts: r.conflicts,
      errors: [...(r.error ? [{ item: 'mailbox', message: r.error }] : []), ...r.errors],
      outcome: outcomeJson(r.outcome),
      ...(r.attention?.length ? { attention: r.attention } : {}),
      durationMs: r.durationMs,
      ...(r.plan ? { plan: r.plan, arms: r.arms ?? r.plan.map(() => '') } : {}),
      ...(r.blocked?.length ? { blocked: r.blocked } : {}),
    })),
  };
}

function summaryTable(results: MailboxResult[]): string[] {
  const head = ['user', 'state', 'created', 'updated', 'deleted', 'crm', 'conflicts', 'errors', 'time'];
  // A dry run's counts are what the plan would do: the state column says so.
  const rows = results.map((r) => [r.login, r.dryRun && r.state === 'success' ? 'planned' : r.state, r.created, r.updated, r.deleted, r.crmUpdates, r.conflicts, r.errors.length + (r.error ? 1 : 0), `${(r.durationMs / 1000).toFixed(1)}s`].map(String));
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const fmt = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [fmt(head), fmt(widths.map((w) => '-'.repeat(w))), ...rows.map(fmt)];
}

/**
 * Whether this run makes a first sync: some chosen mailbox has never finished one (no state yet,
 * or only failed or unfinished runs). `users` are matched by CRM id, which the state knows; when
 * any is a login (known only to the CRM, not read here) every assigned mailbox counts.
 */
export async function makesFirstSync(ctx: Context, users: string[]): Promise<boolean> {
  const config = await configWithMailboxes(ctx);
  if (!config.mailboxes.length) return false;
  const state = await ctx.existingState();
  if (!state) return true;
  const synced = new Set((await state.listStatuses()).filter((s) => s.lastSuccess).map((s) => s.user));
  // Only when every --user named a mailbox by id is the choice known here; else count them all.
  const byId = users.length && users.every((u) => config.mailboxes.some((m) => m.user === u));
  return (byId ? config.mailboxes.filter((m) => users.includes(m.user)) : config.mailboxes).some((m) => !synced.has(m.user));
}

export async function runSyncCommand(ctx: Context, opts: RunOptions): Promise<number> {
  const config = await configWithMailboxes(ctx);
  const crm = await ctx.crm();
  const state = await ctx.state();
  const live = ctx.out.isTTY && !ctx.out.isJson && !process.env.CI;
  let render: { update(e: SyncEvent): void; stop(): void } | undefined;
  if (live) {
    const { startRunView } = await import('../tui/run-view.js');
    render = startRunView();
  }
  const jsonLogs = ctx.options.logFormat === 'json';
  const onEvent = (e: SyncEvent) => {
    if (render) return render.update(e);
    // --log-format json: the progress is JSON lines on stderr (as the daemon writes them), also with --json.
    if (jsonLogs) {
      if (e.type === 'phase' && e.phase !== 'waiting') ctx.logger.info(`${e.user}: ${e.phase}`, { user: e.user, phase: e.phase });
      else if (e.type === 'progress' && e.total > 0 && (e.done === e.total || e.done % 50 === 0)) ctx.logger.info(`${e.user}: ${e.done}/${e.total} written`, { user: e.user, done: e.done, total: e.total });
      else if (e.type === 'mailbox-done') {
        const r = e.result;
        ctx.logger.info(`${r.login}: ${r.dryRun ? 'planned' : r.state}`, { user: r.login, state: r.state, created: r.created, updated: r.updated, deleted: r.deleted, crmUpdates: r.crmUpdates, errors: r.errors.length + (r.error ? 1 : 0), durationMs: r.durationMs, ...(r.dryRun ? { dryRun: true } : {}) });
      }
      return;
    }
    if (ctx.out.isJson) return;
    // Plain lines when not a terminal: on stderr, so stdout stays the summary.
    if (e.type === 'phase' && e.phase !== 'waiting') process.stderr.write(`${e.user}: ${e.phase}\n`);
    if (e.type === 'progress' && e.total > 0 && (e.done === e.total || e.done % 50 === 0)) process.stderr.write(`${e.user}: ${e.done}/${e.total} written\n`);
  };
  try {
    const results = await runOnce({ config, paths: ctx.paths, crm, state, onEvent, logger: ctx.logger }, opts);
    render?.stop();
    if (ctx.out.isJson) ctx.out.json(resultJson(results));
    else {
      if (!results.length) ctx.out.line('No mailbox is assigned yet: see `sync-cli users assign --help`.');
      for (const r of results) {
        if (r.plan) {
          ctx.out.line(`Plan for ${r.login} (dry run, nothing written):`);
          for (const p of r.plan) ctx.out.line(`  - ${p}`);
          if (!r.plan.length) ctx.out.line('  nothing to do');
          for (const b of r.blocked ?? []) ctx.out.line(`  ! would delete ${b.deletes} of ${b.total} ${b.collection} (${b.side}): needs --force-delete (R21)`);
        }
      }
      if (results.length) for (const l of summaryTable(results)) ctx.out.line(l);
      for (const r of results) {
        if (r.error) ctx.out.line(`${r.login}: ${r.outcome.kind === 'hard' ? 'needs you: ' : ''}${r.error}`);
        for (const e of r.errors.slice(0, 20)) ctx.out.line(`${r.login}: ${e.item}: ${e.message}`);
        if (r.errors.length > 20) ctx.out.line(`${r.login}: … and ${r.errors.length - 20} more errors`);
        for (const a of (r.attention ?? []).slice(0, 20)) ctx.out.line(`${r.login}: needs attention: ${a.item}: ${a.message}`);
      }
    }
    // Exit codes follow the outcomes (docs/cli.md): 2 when a mailbox needs its settings fixed.
    return exitCodeOf(results.map((r) => r.outcome));
  } finally {
    render?.stop();
  }
}
