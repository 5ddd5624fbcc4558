import { createHash } from 'node:crypto';
import { DomainError, isDomainError, toDomainError } from '../errors';
import { log, logContext, withLogScope } from '../log';
import type { PlayPurchases } from '../play/client';
import type { SignedEnvironment } from '../app-store/transaction';
import type { VoidedPurchase } from '../play/resources';
import type { AppleSweepResult } from './reconcile-apple';
import type { PurchaseEvent } from '../store/purchase-record';
import type { ReconcileStore } from '../store/reconcile-store';
import type { ApplyPlayNotificationDeps } from './apply-play-notification';
import { replayPlayNotification } from './apply-play-notification';
import { deliverUser, type DeliveryDeps } from './deliver-events';
import { finishAtPlay } from './finish-at-play';
import { applyPlayVoid, refreshFromPlay } from './play-refresh';

/**
 * reconcilePurchases' core: one sweep that catches what no notification said. Bounded in time and in
 * Play calls (what is left resumes next run from the checkpoints); leased, so overlapping runs never
 * double anything; each step reported, and a failing step does not stop the others.
 */
export interface ReconcileDeps extends ApplyPlayNotificationDeps {
  reconcile: ReconcileStore;
  maxPlayCalls: number;
  voidedPageSize?: number;
  /**
   * The App Store, when its Server API is configured: the history sweep, its environments, and the
   * re-read of one stored purchase (by the transaction id its record is keyed by).
   */
  apple?:
    | {
        sweep: AppleSweep;
        environments: readonly SignedEnvironment[];
        refresh: (transactionId: string, event: PurchaseEvent) => Promise<string>;
      }
    | undefined;
  /** Wall-clock bound of one run. */
  maxRunMs?: number;
  /** Entitlement events (when configured): what a crash or a Pub/Sub outage left pending is delivered. */
  delivery?: DeliveryDeps | null | undefined;
}

/** One window of App Store notification history for one environment (sweepAppleNotifications). */
export type AppleSweep = (input: { environment: SignedEnvironment; startDate: number; endDate: number; paginationToken: string | null }) => Promise<AppleSweepResult>;

export interface StepReport {
  examined: number;
  applied: number;
  duplicates: number;
  skipped: number;
  failed: number;
  /** false when the budget or the time ran out: the rest resumes next run. */
  done: boolean;
  errors: string[];
}

export interface ReconcileRun extends Record<string, unknown> {
  runId: string;
  status: 'completed' | 'skipped';
  startedAt: Date;
  finishedAt: Date;
  playCalls: number;
  counts: Record<string, StepReport>;
  /** Purchases a step changed (first 100). */
  changed: string[];
  errors: string[];
}

const DAY_MS = 86_400_000;
/** Play's voidedpurchases.list looks back 30 days at most; keep a margin for clock skew. */
const VOID_LOOKBACK_MS = 30 * DAY_MS - 60_000;
/** Voids Google records late still fall in the next window. */
const VOID_OVERLAP_MS = 10 * 60_000;
const APPLE_LOOKBACK_MS = 30 * DAY_MS;
/** Apple's history may show a send a little late (unconfirmed): windows overlap; repeats are duplicates. */
const APPLE_OVERLAP_MS = 10 * 60_000;
const PAGE = 100;
const MAX_REPLAYS = 10;
const DEFAULT_RUN_MS = 240_000;

/** Past the run's Play budget: the step stops, and what is left resumes next run. */
const budgetSpent = () =>
  new DomainError('upstream_unavailable', "This reconcile run's Play call budget is spent; the rest resumes next run.", {
    details: { budgetSpent: true },
  });
const isBudgetSpent = (e: unknown) => isDomainError(e) && (e.options.details as { budgetSpent?: boolean } | undefined)?.budgetSpent === true;
const isTransient = (e: unknown) => isDomainError(e) && e.code === 'upstream_unavailable';

export async function reconcilePurchases(deps: ReconcileDeps, runId: string): Promise<ReconcileRun> {
  const startedAt = deps.now();
  const deadline = startedAt.getTime() + (deps.maxRunMs ?? DEFAULT_RUN_MS);
  const run: ReconcileRun = { runId, status: 'completed', startedAt, finishedAt: startedAt, playCalls: 0, counts: {}, changed: [], errors: [] };
  if (!(await deps.reconcile.claimLease(runId, startedAt, (deps.maxRunMs ?? DEFAULT_RUN_MS) * 2))) {
    const skipped = { ...run, status: 'skipped' as const, errors: ['another run holds the lease'], finishedAt: deps.now() };
    await deps.reconcile.recordRun(runId, skipped);
    return skipped;
  }
  const budget = { used: 0, max: deps.maxPlayCalls };
  const d: ReconcileDeps = { ...deps, play: budgeted(deps.play, budget) };
  const ctx: StepContext = { deps: d, runId, deadline, run };
  try {
    for (const packageName of deps.packageNames) await step(ctx, `voided:${packageName}`, (r) => sweepVoided(ctx, packageName, r));
    await step(ctx, 'lapsed', (r) => sweepLapsed(ctx, r));
    await step(ctx, 'unfinished', (r) => sweepUnfinished(ctx, r));
    await step(ctx, 'deadLetters', (r) => replayDeadLetters(ctx, r));
    for (const env of deps.apple?.environments ?? []) await step(ctx, `appStore:${env}`, (r) => sweepApple(ctx, deps.apple!.sweep, env, r));
    const delivery = deps.delivery;
    if (delivery) await step(ctx, 'entitlementEvents', (r) => deliverPending(ctx, delivery, r));
  } finally {
    await deps.reconcile.releaseLease(runId).catch(() => undefined);
  }
  run.playCalls = budget.used;
  run.finishedAt = deps.now();
  await deps.reconcile.recordRun(runId, run);
  log('INFO', 'reconcile run', { runId, playCalls: run.playCalls, counts: run.counts, errors: run.errors.length });
  return run;
}

interface StepContext {
  deps: ReconcileDeps;
  runId: string;
  deadline: number;
  run: ReconcileRun;
}

/** Runs one step; its failure is reported and the run goes on. */
async function step(ctx: StepContext, name: string, body: (r: StepReport) => Promise<void>): Promise<void> {
  const r: StepReport = { examined: 0, applied: 0, duplicates: 0, skipped: 0, failed: 0, done: true, errors: [] };
  ctx.run.counts[name] = r;
  try {
    await body(r);
  } catch (e) {
    r.done = false;
    if (isBudgetSpent(e)) return;
    const err = toDomainError(e);
    const message = `${name}: ${explain(err)}`;
    r.errors.push(message);
    ctx.run.errors.push(message);
    log(err.code === 'internal' ? 'ERROR' : 'WARNING', 'reconcile step failed', { step: name, code: err.code, error: err.message });
  }
}

function explain(e: DomainError): string {
  const play = e.options.details as { playStatus?: number } | undefined;
  if (play?.playStatus === 401 || play?.playStatus === 403) {
    return `Google Play refused (${play.playStatus}): grant the service account "View financial data" (voided purchases) and "Manage orders and subscriptions" for this app in Play Console, Users and permissions`;
  }
  return `${e.code}: ${e.message}`;
}

function timeLeft(ctx: StepContext, r: StepReport): boolean {
  if (ctx.deps.now().getTime() < ctx.deadline) return true;
  r.done = false;
  return false;
}

function changed(ctx: StepContext, purchaseId: string): void {
  if (ctx.run.changed.length < 100 && !ctx.run.changed.includes(purchaseId)) ctx.run.changed.push(purchaseId);
}

/** Every Play call of the run counts against its budget; past it, the step stops and resumes next run. */
function budgeted(play: PlayPurchases, budget: { used: number; max: number }): PlayPurchases {
  const wrapped: Record<string, unknown> = {};
  for (const [name, fn] of Object.entries(play) as [string, (...a: unknown[]) => Promise<unknown>][]) {
    wrapped[name] = (...args: unknown[]) => {
      if (budget.used >= budget.max) return Promise.reject(budgetSpent());
      budget.used++;
      return fn(...args);
    };
  }
  return wrapped as unknown as PlayPurchases;
}

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

interface VoidCheckpoint extends Record<string, unknown> {
  windowStart: number;
  windowEnd: number;
  /** The page being worked on (resumed after a budget or time stop); null once the window is done. */
  pageToken: string | null;
}

/** 1. Revoked orders Play listed, applied as the voided notification would, once per void. */
async function sweepVoided(ctx: StepContext, packageName: string, r: StepReport): Promise<void> {
  const { deps } = ctx;
  const key = `voided:${packageName}`;
  const now = deps.now().getTime();
  const floor = now - VOID_LOOKBACK_MS;
  const cp = await deps.reconcile.getCheckpoint<VoidCheckpoint>(key);
  const resuming = cp?.pageToken != null && cp.windowStart >= floor;
  let window: VoidCheckpoint = resuming
    ? cp!
    : { windowStart: Math.max(cp ? cp.windowEnd - VOID_OVERLAP_MS : floor, floor), windowEnd: now, pageToken: null };
  for (;;) {
    await deps.reconcile.setCheckpoint(key, window);
    const page = await deps.play.listVoidedPurchases(packageName, {
      startTime: window.windowStart,
      endTime: window.windowEnd,
      pageToken: window.pageToken ?? undefined,
      ...(deps.voidedPageSize ? { pageSize: deps.voidedPageSize } : {}),
    });
    for (const v of page.voidedPurchases ?? []) {
      if (!timeLeft(ctx, r)) return;
      r.examined++;
      await applyListedVoid(ctx, packageName, v, r);
    }
    const next = page.tokenPagination?.nextPageToken;
    if (!next) break;
    window = { ...window, pageToken: next };
  }
  await deps.reconcile.setCheckpoint(key, { ...window, pageToken: null });
}

async function applyListedVoid(ctx: StepContext, packageName: string, v: VoidedPurchase, r: StepReport): Promise<void> {
  const { deps } = ctx;
  // The same void, whether the sweep lists it again or its notification came first, applies once:
  // a notification's re-read is idempotent (units and credits are taken back to a target, not by a delta).
  const id = `void:${sha256(`${packageName}|${v.orderId ?? v.purchaseToken}|${v.voidedTimeMillis ?? ''}|${v.voidedQuantity ?? 'all'}`)}`;
  if (await deps.store.hasEvent(id)) {
    r.duplicates++;
    return;
  }
  const event = {
    id,
    source: 'reconcile' as const,
    type: 'voided',
    eventTime: v.voidedTimeMillis ? new Date(Number(v.voidedTimeMillis)) : null,
    detail: { orderId: v.orderId ?? null, voidedQuantity: v.voidedQuantity ?? null, voidedReason: v.voidedReason ?? null },
  };
  try {
    const input = { packageName, purchaseToken: v.purchaseToken, orderId: v.orderId ?? null, kind: null, full: v.voidedQuantity === undefined };
    const outcome = await withLogScope(() => applyPlayVoid(deps, input, event)); // its owner's uidHash on its lines only
    if (outcome === 'duplicate') r.duplicates++;
    else r.applied++;
    changed(ctx, sha256(v.purchaseToken));
  } catch (e) {
    if (!isDomainError(e) || isTransient(e)) throw e;
    r.failed++;
    r.errors.push(`${e.code}: ${e.message}`);
  }
}

/** 2. Purchases stored as granting access although their expiry passed: a renewal or expiry nobody announced. */
async function sweepLapsed(ctx: StepContext, r: StepReport): Promise<void> {
  const { deps } = ctx;
  for (const p of await deps.reconcile.findLapsed(deps.now(), PAGE)) {
    if (!timeLeft(ctx, r)) return;
    r.examined++;
    const apple = p.platform === 'app_store' ? deps.apple : undefined;
    const token = p.platform === 'google_play' || apple ? await deps.reconcile.getToken(p.id) : null;
    if (!token) {
      r.skipped++; // App Store without the API key, or a purchase recorded before tokens were kept
      continue;
    }
    const event = { id: `reconcile:${ctx.runId}:${p.id}`, source: 'reconcile' as const, type: 'lapsed', eventTime: deps.now() };
    await perPurchase(r, async () => {
      const outcome = apple
        ? await apple.refresh(token, event)
        : await refreshFromPlay(deps, event, { packageName: p.packageName, productId: p.productId, token }, p.kind);
      if (outcome === 'applied') changed(ctx, p.id);
      return outcome;
    });
  }
}

/** 3. Granted but not acknowledged (consumed) at Play: finished, oldest first, before Play refunds them. */
async function sweepUnfinished(ctx: StepContext, r: StepReport): Promise<void> {
  const { deps } = ctx;
  for (const p of await deps.reconcile.findUnfinished(PAGE)) {
    if (!timeLeft(ctx, r)) return;
    r.examined++;
    const token = await deps.reconcile.getToken(p.id);
    if (!token) {
      r.skipped++;
      continue;
    }
    await perPurchase(r, async () => {
      logContext.setUser(p.uid);
      const finished = await finishAtPlay(deps, token, p, p);
      if (finished.error !== undefined) throw finished.error;
      changed(ctx, p.id);
      return 'applied';
    });
  }
}

/** 4. Dead letters whose failure may be fixed by now, replayed once per run, oldest first. */
async function replayDeadLetters(ctx: StepContext, r: StepReport): Promise<void> {
  const { deps } = ctx;
  for (const letter of await deps.reconcile.findReplayableDeadLetters(PAGE)) {
    if (!timeLeft(ctx, r)) return;
    r.examined++;
    const at = deps.now();
    try {
      const outcome = await withLogScope(() => replayPlayNotification(deps, letter.replay));
      await deps.reconcile.markReplayed(letter.id, { resolved: true, result: outcome, at });
      r.applied++;
    } catch (e) {
      if (isTransient(e)) throw e;
      const err = toDomainError(e);
      const giveUp = ((letter as { replays?: number }).replays ?? 0) + 1 >= MAX_REPLAYS;
      await deps.reconcile.markReplayed(letter.id, { resolved: false, result: `${err.code}: ${err.message}`, at, giveUp });
      r.failed++;
    }
  }
}

interface AppleCheckpoint extends Record<string, unknown> {
  startDate: number;
  endDate: number;
  paginationToken: string | null;
  /** Failures seen in this window so far (over resumed runs): a window with any is swept again. */
  failed: number;
  complete: boolean;
}

/** 5. App Store notifications Apple sent that never reached us (or that we failed): history since the checkpoint. */
async function sweepApple(ctx: StepContext, sweep: AppleSweep, environment: SignedEnvironment, r: StepReport): Promise<void> {
  const { deps } = ctx;
  const key = `appStore:${environment}`;
  const now = deps.now().getTime();
  const cp = await deps.reconcile.getCheckpoint<AppleCheckpoint>(key);
  // a window is resumed at its token, swept again from its start after failures, or follows a complete one
  const window: AppleCheckpoint =
    cp && !cp.complete
      ? cp.paginationToken
        ? cp
        : { ...cp, endDate: now, failed: 0 }
      : { startDate: cp ? cp.endDate - APPLE_OVERLAP_MS : now - APPLE_LOOKBACK_MS, endDate: now, paginationToken: null, failed: 0, complete: false };
  const result = await sweep({ environment, startDate: window.startDate, endDate: window.endDate, paginationToken: window.paginationToken });
  Object.assign(r, {
    examined: result.applied + result.duplicates + result.skipped + result.failed,
    applied: result.applied,
    duplicates: result.duplicates,
    skipped: result.skipped,
    failed: result.failed,
    done: result.done,
  });
  r.errors.push(...result.errors);
  const failed = window.failed + result.failed;
  await deps.reconcile.setCheckpoint(key, { ...window, paginationToken: result.paginationToken, failed, complete: result.done && failed === 0 });
}

/** One purchase of a step: a permanent failure is counted and the step goes on; a transient one stops it. */
async function perPurchase(r: StepReport, work: () => Promise<string>): Promise<void> {
  try {
    const outcome = await withLogScope(work); // the purchase owner's uidHash stays on its own lines
    if (outcome === 'duplicate') r.duplicates++;
    else if (outcome === 'applied') r.applied++;
    else r.skipped++;
  } catch (e) {
    if (isTransient(e)) throw e;
    const err = toDomainError(e);
    r.failed++;
    r.errors.push(`${err.code}: ${err.message}`);
  }
}

/** Last: the pending outbox events (older ones first per user, as deliverUser keeps them). */
async function deliverPending(ctx: StepContext, delivery: DeliveryDeps, r: StepReport): Promise<void> {
  for (const uid of await delivery.outbox.pendingUsers(PAGE)) {
    if (!timeLeft(ctx, r)) return;
    r.examined++;
    const report = await deliverUser(delivery, uid);
    if (report.published > 0) r.applied++;
    if (report.left > 0) r.failed++;
  }
}
