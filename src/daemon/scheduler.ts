// When each mailbox syncs: every interval (per mailbox), staggered at start, at most
// `concurrency` mailboxes at once, and pushed changes (CRM trigger, webhook) as soon as a slot is
// free. What comes after a run follows its typed outcome (D63): soft failures are retried with
// capped exponential backoff, never sooner than the server's Retry-After; a hard failure is held
// — no retry, no push — until `rearm` says the configuration changed; busy is tried again soon.
// Pure timing logic: the sync itself is the injected `runMailbox`, so tests drive it with a fake.
import type { MailboxOutcome } from '../sync/outcome.js';
import { backoffSeconds, staggerOffsetSeconds } from './backoff.js';

export interface ScheduledMailbox {
  /** CRM user id (the state store key). */
  user: string;
  login: string;
  intervalSeconds: number;
}


export interface SchedulerOptions {
  concurrency: number;
  retrySeconds: number;
  maxBackoffSeconds: number;
  /** Window the first runs are spread over. */
  staggerSeconds: number;
  runMailbox(user: string, reason: string): Promise<MailboxOutcome>;
  /**
   * A cluster's leader (D95): every mailbox due at a tick is handed over in ONE call (one queue
   * insert) instead of one `runMailbox` each. They count as run ('ok') once it resolves; when it
   * rejects, each is retried like a soft failure. Pushes do not come here (they enqueue at once).
   */
  runBatch?(due: { user: string; reason: string }[]): Promise<void>;
  /**
   * A held mailbox (hard failure) came due for its cheap check: true when its settings or
   * password changed since, so it runs again. Without it, only `rearm` releases a hold.
   */
  changedSinceHold?(user: string): Promise<boolean>;
  /** Called whenever a mailbox's next run changes (persisted as status nextRun, R22); null: held. */
  onNextRun?(user: string, at: Date | null, failures: number): void;
  random?: () => number;
}

interface Entry {
  mailbox: ScheduledMailbox;
  dueAt: number;
  failures: number;
  running: boolean;
  /** A push arrived while running: run once more right after. */
  again: boolean;
  /** Due because of a push or a human (not its interval): in the push lane, ahead of overdue interval runs (D103). */
  pushed: boolean;
  reason: string;
  /** Held after a hard failure: runs again only when `rearm`ed or its settings changed. */
  held: boolean;
  /** The server's Retry-After: no run before this, not even for a push. */
  notBefore: number;
  /** Which of its nodes in the due-time heap is current (older ones are skipped). */
  version: number;
}

/** A due time in the heap: current while its entry's version is the same. */
interface DueNode {
  at: number;
  seq: number;
  e: Entry;
  version: number;
}

const earlier = (a: DueNode, b: DueNode) => a.at < b.at || (a.at === b.at && a.seq < b.seq);

/** A binary min-heap of due times: the next mailbox to run in O(log N), not a scan of all (#16). */
class DueHeap {
  private readonly nodes: DueNode[] = [];
  private seq = 0;

  get size(): number {
    return this.nodes.length;
  }

  push(e: Entry): void {
    const n = this.nodes;
    n.push({ at: e.dueAt, seq: this.seq++, e, version: e.version });
    for (let i = n.length - 1; i > 0; ) {
      const p = (i - 1) >> 1;
      if (!earlier(n[i]!, n[p]!)) break;
      [n[i], n[p]] = [n[p]!, n[i]!];
      i = p;
    }
  }

  top(): DueNode | undefined {
    return this.nodes[0];
  }

  pop(): void {
    const n = this.nodes;
    const last = n.pop();
    if (!n.length || !last) return;
    n[0] = last;
    for (let i = 0; ; ) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < n.length && earlier(n[l]!, n[m]!)) m = l;
      if (r < n.length && earlier(n[r]!, n[m]!)) m = r;
      if (m === i) break;
      [n[i], n[m]] = [n[m]!, n[i]!];
      i = m;
    }
  }

  clear(): void {
    this.nodes.length = 0;
  }
}

/** Pushes arriving within this window are coalesced into one sync. */
const PUSH_DEBOUNCE_MS = 150;
/** How early a due mailbox may start when a burst of syncs runs anyway (D101). */
const COALESCE_MS = 1000;
const BUSY_RETRY_MS = 5_000;
const STAGGER_STEP_SECONDS = 1;

export class Scheduler {
  private readonly entries = new Map<string, Entry>();
  private timer: NodeJS.Timeout | undefined;
  private active = 0;
  private stopped = false;
  private readonly inflight = new Set<Promise<void>>();
  /** Interval runs and retries, by due time. */
  private readonly due = new DueHeap();
  /** Pushed changes and human requests, by due time: taken before any interval run (D103). */
  private readonly pushedDue = new DueHeap();

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
      const e: Entry = { mailbox: m, dueAt, failures: 0, running: false, again: false, pushed: false, reason: 'start', held: false, notBefore: 0, version: 0 };
      this.entries.set(m.user, e);
      this.due.push(e);
      this.opts.onNextRun?.(m.user, new Date(dueAt), 0);
    });
    for (const m of list) {
      const e = this.entries.get(m.user)!;
      if (e.mailbox.intervalSeconds !== m.intervalSeconds && !e.failures && !e.held) {
        this.setDue(e, Math.min(e.dueAt, now + m.intervalSeconds * 1000));
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
      if (!e || e.held) continue; // a held mailbox waits for a human, not for CRM changes
      hit.push(user);
      e.reason = reason;
      if (e.running) e.again = true;
      else {
        e.pushed = true;
        this.setDue(e, Math.max(e.notBefore, Math.min(e.dueAt, now + PUSH_DEBOUNCE_MS)));
      }
    }
    this.wake();
    return hit;
  }

  /**
   * A human acted (config reload, SIGHUP, "Sync now"): held mailboxes among `users` (default:
   * all) are checked right away; with `force`, they run whether or not their settings changed.
   */
  rearm(users: Iterable<string> | undefined, reason: string, opts: { force?: boolean; now?: number } = {}): string[] {
    const now = opts.now ?? Date.now();
    const hit: string[] = [];
    for (const user of users ?? this.entries.keys()) {
      const e = this.entries.get(user);
      if (!e?.held) continue;
      if (opts.force) e.held = false;
      e.reason = reason;
      e.pushed = true;
      this.setDue(e, Math.min(e.dueAt, now + PUSH_DEBOUNCE_MS));
      hit.push(user);
    }
    this.wake();
    return hit;
  }

  snapshot(): { user: string; login: string; dueAt: Date; failures: number; running: boolean; held: boolean }[] {
    return [...this.entries.values()].map((e) => ({ user: e.mailbox.user, login: e.mailbox.login, dueAt: new Date(e.dueAt), failures: e.failures, running: e.running, held: e.held }));
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
    const next = this.nextDue()?.n.at ?? Infinity;
    if (next === Infinity || this.active >= this.opts.concurrency) return; // a finishing sync wakes us
    // Clamp: setTimeout overflows past ~24.8 days, and a shorter wait costs nothing.
    this.timer = setTimeout(() => this.wake(), Math.min(Math.max(0, next - now), 3_600_000));
  }

  /** A new due time of a waiting mailbox (its older heap node goes stale). */
  private setDue(e: Entry, at: number): void {
    e.dueAt = at;
    e.version++;
    (e.pushed ? this.pushedDue : this.due).push(e);
  }

  /** The current top of one heap; stale nodes (changed, moved, running, removed) are dropped. */
  private live(heap: DueHeap): DueNode | undefined {
    for (let top = heap.top(); top; top = heap.top()) {
      if (top.version === top.e.version && !top.e.running && this.entries.get(top.e.mailbox.user) === top.e) return top;
      heap.pop();
    }
    return undefined;
  }

  /** The earliest due mailbox of both lanes, and its heap. */
  private nextDue(): { n: DueNode; heap: DueHeap } | undefined {
    // Stale nodes pile up only with due-time changes; rebuilt when they outnumber the entries.
    if (this.due.size + this.pushedDue.size > 2 * this.entries.size + 64) {
      this.due.clear();
      this.pushedDue.clear();
      for (const e of this.entries.values()) if (!e.running) (e.pushed ? this.pushedDue : this.due).push(e);
    }
    const p = this.live(this.pushedDue);
    const d = this.live(this.due);
    if (p && (!d || p.at <= d.at)) return { n: p, heap: this.pushedDue };
    return d ? { n: d, heap: this.due } : undefined;
  }

  /**
   * The next mailbox to start, taken out of its heap: a pushed one due by `now` first — before
   * interval runs that are overdue, so a CRM edit does not wait for a backlogged sweep (D103) —
   * else the earliest due by `now` (or, in a burst, within its coalescing window).
   */
  private takeDue(now: number, inBurst = false): Entry | undefined {
    const pushed = this.live(this.pushedDue);
    if (pushed && pushed.at <= now) {
      this.pushedDue.pop();
      return pushed.e;
    }
    const next = this.nextDue();
    if (!next) return undefined;
    const early = inBurst ? Math.min(COALESCE_MS, (next.n.e.mailbox.intervalSeconds * 1000) / 10) : 0;
    if (next.n.at > now + early) return undefined;
    next.heap.pop();
    return next.n.e;
  }

  private pump(now: number): void {
    if (this.opts.runBatch) {
      // A cluster leader's tick: what is due now, and with it what comes due within the
      // coalescing window (D101) — one queue insert, and one wake of the leader, per window
      // instead of per mailbox; the workers then fetch those jobs together.
      const due: Entry[] = [];
      for (let e = this.takeDue(now); e; e = this.takeDue(now, true)) due.push(e);
      if (due.length) this.launchBatch(due);
      return;
    }
    // While the daemon is busy anyway (a sync runs or just started), mailboxes due within the
    // next moment start now too: syncs run in small bursts instead of one at a time spread over
    // the interval, which costs less CPU per sync (measured: bench/README.md, D101). A mailbox
    // runs at most COALESCE_MS (or a tenth of its interval) early, never late.
    let launched = false;
    while (this.active < this.opts.concurrency) {
      const pick = this.takeDue(now, launched || this.active > 0);
      if (!pick) return;
      this.launch(pick);
      launched = true;
    }
  }

  /** A held mailbox's check: still unchanged → stays held (nothing is sent anywhere). */
  private async runUnlessHeld(e: Entry, reason: string): Promise<MailboxOutcome | 'still-held'> {
    if (e.held) {
      if (!(await (this.opts.changedSinceHold?.(e.mailbox.user) ?? Promise.resolve(false)))) return 'still-held';
      e.held = false;
    }
    return this.opts.runMailbox(e.mailbox.user, reason);
  }

  /** When the mailbox runs next, from the outcome of the run that just ended. */
  private reschedule(e: Entry, outcome: MailboxOutcome | 'still-held', now: number): void {
    const interval = e.mailbox.intervalSeconds * 1000;
    const backoff = () => backoffSeconds(e.failures, this.opts.retrySeconds, this.opts.maxBackoffSeconds, this.opts.random) * 1000;
    switch (outcome === 'still-held' ? outcome : outcome.kind) {
      case 'still-held':
        this.setDue(e, now + interval); // the next cheap check; status keeps showing no next run
        return;
      case 'ok':
        e.failures = 0;
        e.dueAt = e.again ? now : now + interval;
        break;
      case 'busy':
        e.dueAt = e.again ? now : now + BUSY_RETRY_MS;
        break;
      case 'items-failed':
        e.failures++;
        e.dueAt = e.again ? now : now + backoff();
        break;
      case 'soft': {
        e.failures++;
        // Never sooner than the server asked, not even for a push that arrived meanwhile.
        e.notBefore = now + ((outcome as Extract<MailboxOutcome, { kind: 'soft' }>).retryAfterMs ?? 0);
        e.dueAt = Math.max(e.notBefore, e.again ? now : now + backoff());
        break;
      }
      case 'hard':
        e.failures++;
        e.held = true;
        e.dueAt = now + interval;
        break;
    }
    e.pushed = e.again; // a push while it ran: its re-run is in the push lane
    this.setDue(e, e.dueAt);
    if (this.entries.get(e.mailbox.user) === e) this.opts.onNextRun?.(e.mailbox.user, e.held ? null : new Date(e.dueAt), e.failures);
  }

  /** All due mailboxes in one call of runBatch; each rescheduled from its outcome as one run is. */
  private launchBatch(due: Entry[]): void {
    const items = due.map((e) => {
      e.running = true;
      e.again = false;
      e.pushed = false;
      const reason = e.reason;
      e.reason = 'interval';
      return { user: e.mailbox.user, reason };
    });
    this.active++;
    const p = this.opts.runBatch!(items)
      .then(
        (): MailboxOutcome => ({ kind: 'ok' }),
        (err: unknown): MailboxOutcome => ({ kind: 'soft', message: (err as Error).message }),
      )
      .then((outcome) => {
        this.active--;
        const now = Date.now();
        for (const e of due) {
          e.running = false;
          this.reschedule(e, outcome, now);
        }
      })
      .finally(() => {
        this.inflight.delete(p);
        this.wake();
      });
    this.inflight.add(p);
  }

  private launch(e: Entry): void {
    e.running = true;
    e.again = false;
    e.pushed = false;
    this.active++;
    const reason = e.reason;
    e.reason = 'interval';
    const p = this.runUnlessHeld(e, reason)
      .catch((err: unknown): MailboxOutcome => ({ kind: 'soft', message: (err as Error).message }))
      .then((outcome) => {
        this.active--;
        e.running = false;
        this.reschedule(e, outcome, Date.now());
      })
      .finally(() => {
        this.inflight.delete(p);
        this.wake();
      });
    this.inflight.add(p);
  }
}
