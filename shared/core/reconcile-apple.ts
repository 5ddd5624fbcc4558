import type { SignedEnvironment } from '../app-store/transaction';
import { DomainError, isDomainError } from '../errors';
import { fingerprint, log } from '../log';
import { applyAppStoreNotification, type ApplyAppStoreNotificationDeps } from './apply-app-store-notification';

/**
 * The Apple step of reconcilePurchases: Get Notification History over a window, every notification
 * applied through appStoreNotifications' own path, so one that never reached us (or that we failed)
 * takes effect now, and one we already have is a duplicate (its notificationUUID event exists).
 *
 * Checkpoint rule (the caller's): a window [startDate, endDate] is finished when a call returns
 * `done` and no call for that window had `failed > 0`; only then does the checkpoint move to `endDate`.
 * While not `done`, call again with the same window and the returned `paginationToken`. A window with
 * failures is swept again next time (from the same checkpoint): what was applied comes back as
 * duplicates, what failed is retried. Skipped payloads never block the checkpoint: they can never apply.
 * Both ends are inclusive, so the next window may start at this `endDate` (a notification on the edge
 * comes twice: a duplicate).
 */
export interface AppleSweepInput {
  environment: SignedEnvironment;
  /** ms since the epoch, inclusive; raised to what Apple still keeps (see `errors`). */
  startDate: number;
  endDate: number;
  /** From the previous result of the same window. */
  paginationToken?: string | null;
  /** History calls this run may make (one per page of up to 20). */
  maxCalls: number;
}

export interface AppleSweepResult {
  /** History calls made (each one page). */
  calls: number;
  pages: number;
  /** Took effect, or was known to need none: applied, stale, notice, ignored, test. */
  applied: number;
  /** Already applied before (delivered, or an earlier sweep). */
  duplicates: number;
  /** Never applicable: refused by verification (another app, environment, not Apple's) or dead-lettered. */
  skipped: number;
  /** Transient (or unexpected) failures: retried when the window is swept again. */
  failed: number;
  /** One line per failed or skipped notification (at most MAX_ERRORS), and notes about the window. */
  errors: string[];
  /** The window is exhausted. */
  done: boolean;
  /** Where to resume when not done; null when done. */
  paginationToken: string | null;
}

const DAY = 86_400_000;
/** Apple keeps notification history 180 days in Production, 30 in Sandbox (Get Notification History docs). */
const RETENTION_MS: Record<SignedEnvironment, number> = { Production: 180 * DAY, Sandbox: 30 * DAY };
/** Kept inside the limit, for clock skew with Apple (an older startDate is refused, 4000012). */
const RETENTION_MARGIN_MS = 10 * 60_000;
const MAX_ERRORS = 20;

/**
 * Throws `apple_not_configured` without the App Store Server API key (the caller skips the step),
 * `upstream_unavailable` when the history call itself keeps failing (nothing of the page is lost:
 * the checkpoint has not moved), and `failed_precondition` when Apple refuses the query (a startDate
 * too old despite the margin, or a token refused again after the restart).
 */
export async function sweepAppleNotifications(deps: ApplyAppStoreNotificationDeps, input: AppleSweepInput): Promise<AppleSweepResult> {
  const apple = deps.appStore;
  if (!apple?.hasApiKey) {
    throw new DomainError('apple_not_configured', 'Sweeping Apple notifications needs App Store support with its API key (APPLE_BUNDLE_ID, APPLE_ISSUER_ID, APPLE_KEY_ID, APPLE_PRIVATE_KEY).');
  }
  if (!Number.isInteger(input.maxCalls) || input.maxCalls < 1) throw new DomainError('invalid_argument', 'maxCalls must be a positive integer.');
  const r: AppleSweepResult = { calls: 0, pages: 0, applied: 0, duplicates: 0, skipped: 0, failed: 0, errors: [], done: false, paginationToken: null };
  const note = (line: string) => {
    if (r.errors.length < MAX_ERRORS) r.errors.push(line);
  };

  // Apple refuses a startDate past its retention: what is older is gone anyway, so sweep what is left.
  const earliest = deps.now().getTime() - RETENTION_MS[input.environment] + RETENTION_MARGIN_MS;
  const startDate = Math.max(input.startDate, earliest);
  if (startDate > input.startDate) note(`history before ${iso(startDate)} is no longer kept by Apple; swept from there`);
  if (startDate >= input.endDate) return { ...r, done: true };

  let token = input.paginationToken ?? null;
  let restarted = false;
  while (r.calls < input.maxCalls) {
    r.calls += 1;
    let page;
    try {
      page = await apple.notificationHistory(input.environment, { startDate, endDate: input.endDate, paginationToken: token });
    } catch (e) {
      // An expired or unknown token: the window again from its start, once (replays are duplicates).
      if (token !== null && !restarted && isTokenRefusal(e)) {
        restarted = true;
        token = null;
        note('the pagination token was refused; the window was swept again from its start');
        continue;
      }
      throw e;
    }
    r.pages += 1;
    // One at a time, oldest first: the order Apple sent them in.
    for (const signedPayload of page.signedPayloads) await applyOne(deps, signedPayload, r, note);
    if (!page.hasMore) {
      r.done = true;
      return r;
    }
    // Without a token the rest is unreachable; done would move the checkpoint past it.
    if (!page.paginationToken) throw new DomainError('internal', 'Get Notification History said hasMore without a paginationToken.');
    token = page.paginationToken;
  }
  r.paginationToken = token;
  return r;
}

async function applyOne(deps: ApplyAppStoreNotificationDeps, signedPayload: string, r: AppleSweepResult, note: (line: string) => void) {
  const id = fingerprint(signedPayload);
  try {
    const { outcome, type } = await applyAppStoreNotification(deps, signedPayload);
    if (outcome === 'duplicate') r.duplicates += 1;
    else if (outcome === 'dead_letter') {
      r.skipped += 1; // recorded in deadLetters by the notification path
      note(`skipped ${type} (payload ${id}): dead-lettered`);
    } else r.applied += 1;
  } catch (e) {
    if (isDomainError(e) && e.code === 'invalid_signed_data') {
      r.skipped += 1;
      note(`skipped payload ${id}: ${e.message}`);
      return;
    }
    r.failed += 1;
    const code = isDomainError(e) ? e.code : 'internal';
    note(`failed payload ${id}: ${code}: ${(e as Error)?.message ?? String(e)}`);
    log('WARNING', 'Apple notification from history not applied; retried with the window', { payload: id, code });
  }
}

const isTokenRefusal = (e: unknown) =>
  isDomainError(e) && e.code === 'failed_precondition' && (e.options.details as { refused?: string } | undefined)?.refused === 'paginationToken';

const iso = (ms: number) => new Date(ms).toISOString();
