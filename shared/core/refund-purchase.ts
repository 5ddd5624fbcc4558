import { createHash } from 'node:crypto';
import type { Catalog } from '../catalog';
import { DomainError, isDomainError, toDomainError } from '../errors';
import { playPurchaseId } from '../ids';
import { log, logContext } from '../log';
import type { CancellationType, PlayPurchases, PurchaseRef, RefundPreference } from '../play/client';
import { ProductPurchaseState, SubscriptionState } from '../play/resources';
import type { AuditEntry, LedgerRequest, PurchaseRecord, PurchaseStore } from '../store/purchase-record';
import { transferPurchase, type TransferRequest as TransferCore, type TransferResult } from './admin-transfer';
import { refreshFromPlay } from './play-refresh';
import { planRevoke } from './plan-revoke';

export interface RefundDeps {
  catalog: Catalog;
  packageNames: ReadonlySet<string>;
  play: PlayPurchases;
  store: PurchaseStore;
  now: () => Date;
  /** How long concurrent repeats wait for the first attempt's result. */
  waitForOtherAttemptMs?: number;
  /** RESTORE_TRANSFER_LIMIT: admins may pass it (audited as overLimit). */
  transferLimit?: number;
}

export type PurchaseAction = 'revoke' | 'refund' | 'cancel';
export type RefundAction = PurchaseAction | 'review_refund';

interface RequestBase {
  packageName: string;
  reason: string;
  idempotencyKey?: string | undefined;
}

export interface PurchaseActionRequest extends RequestBase {
  action: PurchaseAction;
  purchaseToken: string;
  refundType?: 'full' | 'prorated' | undefined;
  /** One line item (an add-on) of a subscription; revoke only. */
  productId?: string | undefined;
  cancellationType?: CancellationType | undefined;
}

/** An answer to Play's pendingRefundReviewNotification: the review by its notice, or by its raw token and order. */
export interface ReviewRefundRequest extends RequestBase {
  action: 'review_refund';
  noticeId?: string | undefined;
  orderId?: string | undefined;
  pendingRefundToken?: string | undefined;
  refundPreference: RefundPreference;
  sampleContentProvided?: boolean | undefined;
}

/** Moves a purchase (by its Play token, or by its purchases/{id} for either store) to `toUid`. */
export interface TransferRequest extends TransferCore {
  purchaseToken?: string | undefined;
  purchaseId?: string | undefined;
}

export type RefundRequest = PurchaseActionRequest | ReviewRefundRequest | TransferRequest;

/** What an action did; the result adds when and whether it repeats an earlier answer. */
interface Outcome {
  status: 'revoked' | 'refunded' | 'canceled' | 'answered';
  action: RefundAction;
  /** null for a refund review (it is about an order). */
  purchaseId: string | null;
  orderId: string | null;
  refundType: 'full' | 'prorated' | 'item' | null;
  productId: string | null;
  cancellationType: CancellationType | null;
  refundPreference: RefundPreference | null;
}

export interface RefundResult extends Outcome, Record<string, unknown> {
  completedAt: string;
  /** true when this answer repeats an earlier request's result (Play was not asked to do it again). */
  repeated: boolean;
}

/** One admin action, planned from the request and Play's state before its ledger entry is claimed. */
interface Op {
  ledgerId: string;
  request: LedgerRequest;
  outcome: Outcome;
  /** The one call that moves money; never repeated blindly. */
  atPlay: () => Promise<void>;
  /**
   * Whether Play's state (or its refusal, e.g. "already refunded") shows the action done. Asked only
   * after an attempt whose outcome we never learned, so a refusal is not mistaken for our own success.
   */
  doneAtPlay: (refusal: DomainError | null) => Promise<boolean>;
  /** What is left here once Play has done it (ending access); idempotent. */
  local: () => Promise<void>;
}

const STALE_ATTEMPT_MS = 120_000;
/** Play takes answers to a pending refund review for 24 hours after its notification. */
const REVIEW_WINDOW_MS = 24 * 3_600_000;
const REVIEW_NOTICE_PREFIX = 'play_pending_refund_review:';
/** Raw tokens are never audited: the purchase is named by its id, the review by its notice. */
const NOT_AUDITED = new Set(['purchaseToken', 'pendingRefundToken', 'reason', 'packageName']);
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

/**
 * refundPurchase's core: revoke, refund or cancel a purchase, or answer a refund review, at Play exactly
 * once per request, and finish what it means here (access ends at once for revocations); every attempt
 * audited. The ledger entry is two-phase: once Play has done it, any later attempt finishes the local
 * step without calling Play again; an attempt whose answer from Play was lost is resolved from Play's state.
 */
export async function refundPurchase(deps: RefundDeps, admin: AuditEntry['actor'], req: RefundRequest): Promise<RefundResult | TransferResult> {
  const purchaseId = req.action === 'review_refund' ? null : req.action === 'transfer' ? transferTarget(req) : playPurchaseId(req.purchaseToken);
  const audit = (outcome: AuditEntry['outcome'], extra: Pick<AuditEntry, 'result' | 'error'>) =>
    deps.store.recordAudit({
      actor: admin,
      action: req.action,
      reason: req.reason,
      purchaseId,
      packageName: req.packageName,
      request: Object.fromEntries(Object.entries(req).filter(([k, v]) => v !== undefined && !NOT_AUDITED.has(k))),
      outcome,
      ...extra,
    });
  try {
    if (req.action === 'transfer') {
      const result = await transferPurchase({ ...deps, limit: deps.transferLimit ?? 3 }, admin, purchaseId!, req);
      await audit(result.repeated ? 'repeated' : 'ok', { result });
      return result;
    }
    if (!deps.packageNames.has(req.packageName)) {
      throw new DomainError('package_not_allowed', `Package "${req.packageName}" is not served by this deployment.`);
    }
    const op = req.action === 'review_refund' ? await planReview(deps, admin, req) : await planOnPurchase(deps, req, purchaseId!);
    const result = await carryOut(deps, op);
    await audit(result.repeated ? 'repeated' : 'ok', { result });
    return result;
  } catch (e) {
    const err = toDomainError(e);
    const outcome = err.code === 'upstream_unavailable' || err.code === 'internal' ? 'failed' : 'refused';
    await audit(outcome, { error: { code: err.code, message: err.message } }).catch((auditError) =>
      log('ERROR', 'audit write failed', { error: String(auditError) }),
    );
    throw e;
  }
}

const transferTarget = (req: TransferRequest): string => req.purchaseId ?? playPurchaseId(req.purchaseToken ?? '');

async function carryOut(deps: RefundDeps, op: Op): Promise<RefundResult> {
  const claim = await deps.store.claimLedgerEntry(op.ledgerId, op.request, deps.now(), STALE_ATTEMPT_MS);
  if (claim.kind === 'conflict') {
    throw new DomainError('invalid_argument', 'This idempotencyKey was used for another purchase, action or item; use a new key for a new request.');
  }
  if (claim.kind === 'done') return { ...(claim.entry.result as RefundResult), repeated: true };
  if (claim.kind === 'busy') return waitForOtherAttempt(deps, op.ledgerId);
  if (claim.kind === 'resume') return finishHere(deps, op, claim.entry.result as RefundResult, true);

  const maybeDone = claim.entry.maybeAtStore === true;
  let repeated = false;
  try {
    repeated = maybeDone && (await op.doneAtPlay(null));
    if (!repeated) {
      await op.atPlay().catch(async (e: unknown) => {
        if (!(maybeDone && isDomainError(e) && e.code === 'failed_precondition' && (await op.doneAtPlay(e)))) throw e;
        repeated = true;
      });
    }
  } catch (e) {
    const err = toDomainError(e);
    // No answer (timeout, lost connection, 5xx) may mean Play did it: the next attempt asks Play's state.
    const unknown = err.code === 'upstream_unavailable' || err.code === 'internal';
    await deps.store
      .finishLedgerEntry(op.ledgerId, { error: { code: err.code, message: err.message }, maybeAtStore: maybeDone || unknown })
      .catch(() => undefined);
    throw e;
  }
  if (repeated) log('INFO', 'refund: an earlier attempt without an answer was done at Play; finishing it', { ledgerId: op.ledgerId });
  const result: RefundResult = { ...op.outcome, completedAt: deps.now().toISOString(), repeated: false };
  try {
    await deps.store.markLedgerAtStore(op.ledgerId, result, deps.now());
  } catch (e) {
    // Play did it but the ledger does not say so: the next attempt must ask Play rather than start over.
    await deps.store.finishLedgerEntry(op.ledgerId, { error: { code: 'upstream_unavailable', message: 'done at Play; not recorded' }, maybeAtStore: true }).catch(() => undefined);
    throw e;
  }
  return finishHere(deps, op, result, repeated);
}

/** The local step of an action Play has done; a failure leaves the entry `at_store` for the next attempt. */
async function finishHere(deps: RefundDeps, op: Op, result: RefundResult, repeated: boolean): Promise<RefundResult> {
  try {
    await op.local();
  } catch (e) {
    log('ERROR', 'refund: done at Play, the local step failed', { ledgerId: op.ledgerId, error: String((e as Error).stack ?? e) });
    throw new DomainError('upstream_unavailable', 'Google Play has done it, but finishing it here failed; send the same request again to finish it (Play will not be asked again).', {
      retryAfterSeconds: 5,
      cause: e,
    });
  }
  await deps.store.finishLedgerEntry(op.ledgerId, { result });
  return { ...result, repeated };
}

function ledgerIdOf(req: RefundRequest, derived: string): string {
  return req.idempotencyKey ? sha256(`key:${req.packageName}:${req.idempotencyKey}`) : sha256(derived);
}

/** The purchase an action is about, as every plan for it needs it. */
interface Target {
  deps: RefundDeps;
  req: PurchaseActionRequest;
  ref: PurchaseRef;
  purchaseId: string;
  kind: 'one_time' | 'subscription';
  record: PurchaseRecord | null;
}

async function planOnPurchase(deps: RefundDeps, req: PurchaseActionRequest, purchaseId: string): Promise<Op> {
  const record = await deps.store.getPurchase(purchaseId);
  logContext.setUser(record?.uid);
  if (!record && (await deps.store.getPurchase(sha256(`app_store:${req.purchaseToken}`)))) throw appleRefusal();
  if (record?.platform === 'app_store') throw appleRefusal();

  const ref: PurchaseRef = { packageName: req.packageName, productId: record?.productId ?? '', token: req.purchaseToken };
  const kind = record?.kind ?? (await kindAtPlay(deps, ref));
  if (kind === 'one_time' && req.action === 'cancel') {
    throw new DomainError('failed_precondition', 'Only subscriptions can be canceled; refund or revoke a one-time purchase instead.');
  }
  if (kind === 'one_time' && req.productId) {
    throw new DomainError('invalid_argument', 'productId names a line item of a subscription; a one-time purchase is refunded as one order.');
  }
  if (req.refundType === 'prorated' && !(kind === 'subscription' && req.action === 'revoke')) {
    throw new DomainError('invalid_argument', 'refundType "prorated" applies only to revoking a subscription.');
  }
  const t: Target = { deps, req, ref, purchaseId, kind, record };
  if (kind === 'one_time') return planOneTime(t);
  if (req.action === 'cancel') return planCancel(t);
  if (req.action === 'revoke') return req.productId ? planItemRevoke(t, req.productId) : planSubscriptionRevoke(t);
  return planSubscriptionRefund(t);
}

const outcomeOf = (t: Target, o: Pick<Outcome, 'status' | 'orderId' | 'refundType'> & Partial<Outcome>): Outcome => ({
  action: t.req.action,
  purchaseId: t.purchaseId,
  productId: null,
  cancellationType: null,
  refundPreference: null,
  ...o,
});

const ledgerRequestOf = (t: Target, orderId: string | null, options: Record<string, unknown> = {}): LedgerRequest => ({
  purchaseId: t.purchaseId,
  action: t.req.action,
  orderId,
  productId: t.req.productId ?? null,
  options,
});

function planSubscriptionRevoke(t: Target): Op {
  const refundType = t.req.refundType ?? 'full';
  const ledgerId = ledgerIdOf(t.req, `${t.purchaseId}:revoke:`);
  return {
    ledgerId,
    request: ledgerRequestOf(t, null, { refundType }),
    outcome: outcomeOf(t, { status: 'revoked', orderId: null, refundType }),
    atPlay: () => t.deps.play.revokeSubscription(t.ref, refundType),
    doneAtPlay: async () => {
      const sub = await t.deps.play.getSubscriptionPurchase(t.ref);
      return sub.subscriptionState === SubscriptionState.EXPIRED && canceledBy(sub, 'developerInitiatedCancellation');
    },
    local: () => endAccessNow(t, ledgerId, null),
  };
}

/** Refunds the latest successful order; access stays. */
async function planSubscriptionRefund(t: Target): Promise<Op> {
  const sub = await t.deps.play.getSubscriptionPurchase(t.ref);
  const orderId = needOrder(sub.lineItems?.find((i) => i.latestSuccessfulOrderId)?.latestSuccessfulOrderId ?? sub.latestOrderId);
  return {
    ledgerId: ledgerIdOf(t.req, `${t.purchaseId}:refund:${orderId}`),
    request: ledgerRequestOf(t, orderId),
    outcome: outcomeOf(t, { status: 'refunded', orderId, refundType: 'full' }),
    atPlay: () => t.deps.play.refundOrder(t.ref, orderId, false),
    // A subscription's state does not show a refund without revoke: only Play's refusal says it was made.
    doneAtPlay: async (refusal) => playReason(refusal) === 'orderAlreadyRefunded',
    local: async () => undefined,
  };
}

/** orders.refund of a one-time purchase's order; with revoke (action revoke) access ends and credits are taken back. */
async function planOneTime(t: Target): Promise<Op> {
  const orderId = needOrder(t.record?.orderId ?? (await t.deps.play.getProductPurchase(t.ref)).orderId);
  const revoke = t.req.action === 'revoke';
  const ledgerId = ledgerIdOf(t.req, `${t.purchaseId}:${t.req.action}:${orderId}`);
  return {
    ledgerId,
    request: ledgerRequestOf(t, orderId),
    outcome: outcomeOf(t, { status: revoke ? 'revoked' : 'refunded', orderId, refundType: 'full' }),
    atPlay: () => t.deps.play.refundOrder(t.ref, orderId, revoke),
    doneAtPlay: async (refusal) => {
      const p = await t.deps.play.getProductPurchase(t.ref);
      if (revoke) return p.purchaseStateContext?.purchaseState === ProductPurchaseState.CANCELLED;
      const lines = p.productLineItem ?? [];
      const nothingLeft = lines.length > 0 && lines.every((l) => l.productOfferDetails?.refundableQuantity === 0);
      return nothingLeft || playReason(refusal) === 'orderAlreadyRefunded';
    },
    local: revoke ? () => endAccessNow(t, ledgerId, orderId) : async () => undefined,
  };
}

function planCancel(t: Target): Op {
  const type = t.req.cancellationType ?? 'user_requested_stop_renewals';
  const context = type === 'user_requested_stop_renewals' ? 'userInitiatedCancellation' : 'developerInitiatedCancellation';
  return {
    // Each type is its own request: a user-requested cancel may be followed by one that stops payments.
    ledgerId: ledgerIdOf(t.req, `${t.purchaseId}:cancel:${type}`),
    request: ledgerRequestOf(t, null, { cancellationType: type }),
    outcome: outcomeOf(t, { status: 'canceled', orderId: null, refundType: null, cancellationType: type }),
    atPlay: () => t.deps.play.cancelSubscription(t.ref, type),
    doneAtPlay: async () => {
      const sub = await t.deps.play.getSubscriptionPurchase(t.ref);
      const ended = sub.subscriptionState === SubscriptionState.CANCELED || sub.subscriptionState === SubscriptionState.EXPIRED;
      return ended && canceledBy(sub, context);
    },
    // Access stays until the paid period ends; Play's notification brings the record up to date.
    local: async () => undefined,
  };
}

/**
 * Revokes one add-on: Play ends that item and refunds its latest charge. The local step re-reads the
 * subscription and writes it through the notification path, so exactly the item Play ended stops granting.
 */
async function planItemRevoke(t: Target, productId: string): Promise<Op> {
  const items = (await t.deps.play.getSubscriptionPurchase(t.ref)).lineItems ?? [];
  const item = items.find((i) => i.productId === productId);
  const ledgerId = ledgerIdOf(t.req, `${t.purchaseId}:revoke:item:${productId}`);
  // An item Play has ended may leave the token: a request already under way is still answered.
  if ((!item || items.length < 2) && !(await t.deps.store.getLedgerEntry(ledgerId))) {
    const on = items.map((i) => i.productId).join(', ') || 'none';
    throw new DomainError('invalid_argument', `"${productId}" is not one of several line items of this subscription (its items: ${on}); revoke the whole purchase without productId.`);
  }
  return {
    ledgerId,
    request: ledgerRequestOf(t, null, { refundType: 'item' }),
    outcome: outcomeOf(t, { status: 'revoked', orderId: item?.latestSuccessfulOrderId ?? null, refundType: 'item', productId }),
    atPlay: () => t.deps.play.revokeSubscription(t.ref, { productId }),
    doneAtPlay: async () => {
      const now = (await t.deps.play.getSubscriptionPurchase(t.ref)).lineItems?.find((i) => i.productId === productId);
      const ended = now?.expiryTime !== undefined && Date.parse(now.expiryTime) <= t.deps.now().getTime();
      return ended && now?.autoRenewingPlan?.autoRenewEnabled !== true;
    },
    local: async () => {
      const event = { id: `admin:${ledgerId}`, source: 'admin' as const, type: 'revoke_item', eventTime: t.deps.now(), detail: { productId } };
      await refreshFromPlay(t.deps, event, t.ref, 'subscription');
    },
  };
}

/** A review found by its notice (the raw token kept server-only) or by the raw token and order. */
async function planReview(deps: RefundDeps, admin: AuditEntry['actor'], req: ReviewRefundRequest): Promise<Op> {
  const noticeId = req.noticeId ?? `${REVIEW_NOTICE_PREFIX}${sha256(req.pendingRefundToken ?? '')}`;
  const { token: kept, notice } = await deps.store.getRefundReview(noticeId);
  const pendingRefundToken = req.pendingRefundToken ?? kept?.token;
  if (!pendingRefundToken) {
    throw new DomainError('purchase_not_found', `No pending refund review "${noticeId}" with its token is recorded (reviews notified before tokens were kept hold only a fingerprint: answer those in Play Console).`);
  }
  if (kept && kept.packageName !== req.packageName) throw new DomainError('invalid_argument', `This refund review is for package "${kept.packageName}".`);
  if (req.orderId && kept?.orderId && req.orderId !== kept.orderId) {
    throw new DomainError('invalid_argument', `This refund review is for order ${kept.orderId}, not ${req.orderId}.`);
  }
  const orderId = kept?.orderId ?? req.orderId;
  if (!orderId) throw new DomainError('invalid_argument', 'orderId is needed: the notification named no order.');

  const ledgerId = ledgerIdOf(req, `review:${req.packageName}:${noticeId}`);
  // A repeat of an answered request gets its result; anything else must still be answerable.
  if ((await deps.store.getLedgerEntry(ledgerId))?.status !== 'done') {
    if (notice?.status === 'answered') throw new DomainError('failed_precondition', `This refund review was already answered (${notice.answer ?? 'see the notice'}).`);
    if (kept?.notifiedAt && deps.now().getTime() - kept.notifiedAt.getTime() > REVIEW_WINDOW_MS) {
      throw new DomainError('failed_precondition', 'Google Play takes answers to a refund review for 24 hours after its notification; this one has passed, and Play decides without it.');
    }
  }
  const preference = req.refundPreference;
  const answer = { pendingRefundToken, preference, sampleContentProvided: req.sampleContentProvided ?? false };
  return {
    ledgerId,
    request: { purchaseId: null, action: 'review_refund', orderId, options: { noticeId, refundPreference: preference } },
    outcome: { action: 'review_refund', status: 'answered', purchaseId: null, orderId, refundType: null, productId: null, cancellationType: null, refundPreference: preference },
    atPlay: () => deps.play.reviewRefund(req.packageName, orderId, answer),
    // Play shows no review state to read back: after a lost answer, its refusal stays a refusal.
    doneAtPlay: async () => false,
    local: () => deps.store.answerNotice(noticeId, { answer: preference, answeredAt: deps.now(), answeredBy: admin }),
  };
}

const appleRefusal = () =>
  new DomainError(
    'failed_precondition',
    'This is an App Store purchase: Apple lets only the customer ask for a refund (reportaproblem.apple.com); Apple\'s REFUND/REVOKE notifications then end the entitlement.',
  );

const needOrder = (orderId: string | undefined): string => {
  if (!orderId) throw new DomainError('failed_precondition', 'Google Play has no order for this purchase (pending or a test without an order), so there is nothing to refund.');
  return orderId;
};

const canceledBy = (sub: { canceledStateContext?: object | undefined }, context: string) => Object.hasOwn(sub.canceledStateContext ?? {}, context);

const playReason = (e: DomainError | null): string | undefined => (e?.options.details as { playReason?: string } | undefined)?.playReason;

/** A purchase we never recorded: Play says whether the token is a subscription or a one-time purchase. */
async function kindAtPlay(deps: RefundDeps, ref: PurchaseRef): Promise<'one_time' | 'subscription'> {
  try {
    await deps.play.getSubscriptionPurchase(ref);
    return 'subscription';
  } catch (e) {
    if (!(e instanceof DomainError) || e.code !== 'purchase_not_found') throw e;
    await deps.play.getProductPurchase(ref);
    return 'one_time';
  }
}

/** The whole purchase's access ends now (and its credits are taken back), once per ledger entry. */
async function endAccessNow(t: Target, ledgerId: string, orderId: string | null): Promise<void> {
  const now = t.deps.now();
  const { purchaseId, kind } = t;
  await t.deps.store.applyPurchaseEvent({ id: `admin:${ledgerId}`, source: 'admin', type: t.req.action, eventTime: now }, { purchaseId }, (current) =>
    planRevoke({ purchaseId, platform: 'google_play', packageName: t.req.packageName, kind, orderId, now, current }),
  );
}

async function waitForOtherAttempt(deps: RefundDeps, ledgerId: string): Promise<RefundResult> {
  const deadline = Date.now() + (deps.waitForOtherAttemptMs ?? 15_000);
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 250));
    const entry = await deps.store.getLedgerEntry(ledgerId);
    if (entry?.status === 'done') return { ...(entry.result as RefundResult), repeated: true };
    if (entry?.status === 'failed' && entry.error) {
      throw new DomainError(isKnownCode(entry.error.code) ? entry.error.code : 'upstream_unavailable', entry.error.message);
    }
  }
  throw new DomainError('upstream_unavailable', 'The same request is already being carried out; retry shortly for its result.', {
    retryAfterSeconds: 5,
  });
}

function isKnownCode(code: string): code is 'failed_precondition' | 'purchase_not_found' | 'upstream_unavailable' | 'invalid_argument' {
  return code === 'failed_precondition' || code === 'purchase_not_found' || code === 'upstream_unavailable' || code === 'invalid_argument';
}
