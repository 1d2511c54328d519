// When each mailbox syncs: every interval (per mailbox), staggered at start, at most
// `concurrency` mailboxes at once, failed ones retried with capped exponential backoff, and
// pushed changes (CRM trigger, webhook) run as soon as a slot is free. Pure timing logic: the
// sync itself is the injected `runMailbox`, so tests drive it with a fake clock-free runner.
import { backoffSeconds, staggerOffsetSeconds } from './backoff.js';

export interface ScheduledMailbox {
  /** CRM user id (the state store key). */
  user: string;
  login: string;
  intervalSeconds: number;
}

export type RunOutcome = 'success' | 'failed' | 'busy';

export interface SchedulerOptions {
  concurrency: number;
  retrySeconds: number;
  maxBackoffSeconds: number;
  /** Window the first runs are spread over. */
  staggerSeconds: number;
  /** 'busy': another process holds the mailbox (R24) — try again soon, not a failure. */
  runMailbox(user: string, reason: string): Promise<RunOutcome>;
  /** Called whenever a mailbox's next run changes (persisted as status nextRun, R22). */
  onNextRun?(user: string, at: Date, failures: number): void;
  random?: () => number;
}

interface Entry {
  mailbox: ScheduledMailbox;
  dueAt: number;
  failures: number;
  running: boolean;
  /** A push arrived while running: run once more right after. */
  again: boolean;
  reason: string;
}

/** Pushes arriving within this window are coalesced into one sync. */
const PUSH_DEBOUNCE_MS = 150;
const BUSY_RETRY_MS = 5_000;
const STAGGER_STEP_SECONDS = 1;

export class Scheduler {
  private readonly entries = new Map<string, Entry>();
  private timer: NodeJS.Timeout | undefined;
  private active = 0;
  private stopped = false;
  private readonly inflight = new Set<Promise<void>>();

  constructor(private readonly opts: SchedulerOptions) {}

  /** Adds new mailboxes (staggered), drops unassigned ones, updates intervals. */
  setMailboxes(list: ScheduledMailbox[], now = Date.now()): { added: string[]; removed: string[] } {
    const wanted = new Map(list.map((m) => [m.user, m]));
    const removed: string[] = [];
    for (const user of [...this.entries.keys()]) {
      if (!wanted.has(user)) {
        this.entries.delete(user); // a running sync finishes; it is not rescheduled
        removed.push(user);
      }
    }
    const fresh = list.filter((m) => !this.entries.has(m.user));
    fresh.forEach((m, i) => {
      // About one second apart, at most over the stagger window (or the interval, if shorter).
      const window = Math.min(this.opts.staggerSeconds, m.intervalSeconds, fresh.length * STAGGER_STEP_SECONDS);
      const dueAt = now + staggerOffsetSeconds(i, fresh.length, window) * 1000;
      this.entries.set(m.user, { mailbox: m, dueAt, failures: 0, running: false, again: false, reason: 'start' });
      this.opts.onNextRun?.(m.user, new Date(dueAt), 0);
    });
    for (const m of list) {
      const e = this.entries.get(m.user)!;
      if (e.mailbox.intervalSeconds !== m.intervalSeconds && !e.failures) {
        e.dueAt = Math.min(e.dueAt, now + m.intervalSeconds * 1000);
      }
      e.mailbox = m;
    }
    this.wake();
    return { added: fresh.map((m) => m.user), removed };
  }

  /** Pushed change: sync these mailboxes as soon as possible (unknown ids are ignored). */
  trigger(users: Iterable<string>, reason: string, now = Date.now()): string[] {
    const hit: string[] = [];
    for (const user of users) {
      const e = this.entries.get(user);
      if (!e) continue;
      hit.push(user);
      e.reason = reason;
      if (e.running) e.again = true;
      else e.dueAt = Math.min(e.dueAt, now + PUSH_DEBOUNCE_MS);
    }
    this.wake();
    return hit;
  }

  snapshot(): { user: string; login: string; dueAt: Date; failures: number; running: boolean }[] {
    return [...this.entries.values()].map((e) => ({ user: e.mailbox.user, login: e.mailbox.login, dueAt: new Date(e.dueAt), failures: e.failures, running: e.running }));
  }

  get runningCount(): number {
    return this.active;
  }

  start(): void {
    this.stopped = false;
    this.wake();
  }

  /** Stops starting syncs; resolves when running ones finished or `graceMs` passed (→ false). */
  async stop(graceMs: number): Promise<boolean> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (!this.inflight.size) return true;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), graceMs)));
    const done = Promise.all([...this.inflight]).then(() => true as const);
    const finished = await Promise.race([done, timeout]);
    clearTimeout(timer);
    return finished;
  }

  private wake(): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const now = Date.now();
    this.pump(now);
    let next = Infinity;
    for (const e of this.entries.values()) if (!e.running) next = Math.min(next, e.dueAt);
    if (next === Infinity || this.active >= this.opts.concurrency) return; // a finishing sync wakes us
    // Clamp: setTimeout overflows past ~24.8 days, and a shorter wait costs nothing.
    this.timer = setTimeout(() => this.wake(), Math.min(Math.max(0, next - now), 3_600_000));
  }

  private pump(now: number): void {
    while (this.active < this.opts.concurrency) {
      let pick: Entry | undefined;
      for (const e of this.entries.values()) {
        if (!e.running && e.dueAt <= now && (!pick || e.dueAt < pick.dueAt)) pick = e;
      }
      if (!pick) return;
      this.launch(pick);
    }
  }

  private launch(e: Entry): void {
    e.running = true;
    e.again = false;
    this.active++;
    const reason = e.reason;
    e.reason = 'interval';
    const p = this.opts
      .runMailbox(e.mailbox.user, reason)
      .catch((): RunOutcome => 'failed')
      .then((outcome) => {
        this.active--;
        e.running = false;
        const now = Date.now();
        if (outcome === 'success') e.failures = 0;
        else if (outcome === 'failed') e.failures++;
        if (e.again) e.dueAt = now;
        else if (outcome === 'success') e.dueAt = now + e.mailbox.intervalSeconds * 1000;
        else if (outcome === 'busy') e.dueAt = now + BUSY_RETRY_MS;
        else e.dueAt = now + backoffSeconds(e.failures, this.opts.retrySeconds, this.opts.maxBackoffSeconds, this.opts.random) * 1000;
        if (this.entries.get(e.mailbox.user) === e) this.opts.onNextRun?.(e.mailbox.user, new Date(e.dueAt), e.failures);
      })
      .finally(() => {
        this.inflight.delete(p);
        this.wake();
      });
    this.inflight.add(p);
  }
}
