import { createHash } from 'node:crypto';
import { DomainError, toDomainError } from '../errors';
import { playPurchaseId } from '../ids';
import { log } from '../log';
import type { PlayPurchases, PurchaseRef } from '../play/client';
import type { AuditEntry, PurchaseRecord, PurchaseStore } from '../store/purchase-record';
import { planRevoke } from './plan-revoke';

export interface RefundDeps {
  packageNames: ReadonlySet<string>;
  play: PlayPurchases;
  store: PurchaseStore;
  now: () => Date;
  /** How long concurrent repeats wait for the first attempt's result. */
  waitForOtherAttemptMs?: number;
}

export type RefundAction = 'revoke' | 'refund' | 'cancel';

export interface RefundRequest {
  packageName: string;
  purchaseToken: string;
  action: RefundAction;
  reason: string;
  refundType?: 'full' | 'prorated' | undefined;
  idempotencyKey?: string | undefined;
}

export interface RefundResult extends Record<string, unknown> {
  status: 'revoked' | 'refunded' | 'canceled';
  action: RefundAction;
  purchaseId: string;
  orderId: string | null;
  refundType: 'full' | 'prorated' | null;
  completedAt: string;
  /** true when this answer repeats an earlier request's result (nothing was done again). */
  repeated: boolean;
}

const STALE_ATTEMPT_MS = 120_000;
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

/**
 * refundPurchase's core: revoke, refund or cancel at Play, exactly once per request (ledger first,
 * then Play, then the result), ending access locally at once for revocations; every attempt audited.
 */
export async function refundPurchase(deps: RefundDeps, admin: AuditEntry['actor'], req: RefundRequest): Promise<RefundResult> {
  const purchaseId = playPurchaseId(req.purchaseToken);
  const audit = (outcome: AuditEntry['outcome'], extra: Pick<AuditEntry, 'result' | 'error'>) =>
    deps.store.recordAudit({
      actor: admin,
      action: req.action,
      reason: req.reason,
      purchaseId,
      packageName: req.packageName,
      request: { action: req.action, refundType: req.refundType ?? null, idempotencyKey: req.idempotencyKey ?? null },
      outcome,
      ...extra,
    });
  try {
    const result = await perform(deps, req, purchaseId);
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

async function perform(deps: RefundDeps, req: RefundRequest, purchaseId: string): Promise<RefundResult> {
  if (!deps.packageNames.has(req.packageName)) {
    throw new DomainError('package_not_allowed', `Package "${req.packageName}" is not served by this deployment.`);
  }
  const record = await deps.store.getPurchase(purchaseId);
  if (!record && (await deps.store.getPurchase(sha256(`app_store:${req.purchaseToken}`)))) throw appleRefusal();
  if (record?.platform === 'app_store') throw appleRefusal();

  const ref: PurchaseRef = { packageName: req.packageName, productId: record?.productId ?? '', token: req.purchaseToken };
  const kind = record?.kind ?? (await kindAtPlay(deps, ref));
  if (kind === 'one_time' && req.action === 'cancel') {
    throw new DomainError('failed_precondition', 'Only subscriptions can be canceled; refund or revoke a one-time purchase instead.');
  }
  if (req.refundType === 'prorated' && !(kind === 'subscription' && req.action === 'revoke')) {
    throw new DomainError('invalid_argument', 'refundType "prorated" applies only to revoking a subscription.');
  }
  const orderId = req.action === 'cancel' || (kind === 'subscription' && req.action === 'revoke') ? null : await orderToRefund(deps, ref, kind, record);
  const ledgerId = req.idempotencyKey
    ? sha256(`key:${req.packageName}:${req.idempotencyKey}`)
    : sha256(`${purchaseId}:${req.action}:${orderId ?? ''}`);

  const claim = await deps.store.claimLedgerEntry(ledgerId, { purchaseId, action: req.action, orderId }, deps.now(), STALE_ATTEMPT_MS);
  if (claim.kind === 'done') return { ...(claim.entry.result as RefundResult), repeated: true };
  if (claim.kind === 'busy') return waitForOtherAttempt(deps, ledgerId);

  try {
    const refundType = req.action === 'revoke' && kind === 'subscription' ? (req.refundType ?? 'full') : req.action === 'cancel' ? null : 'full';
    if (req.action === 'cancel') await deps.play.cancelSubscription(ref);
    else if (kind === 'subscription' && req.action === 'revoke') await deps.play.revokeSubscription(ref, refundType === 'prorated' ? 'prorated' : 'full');
    else await deps.play.refundOrder(ref, orderId!, req.action === 'revoke');

    if (req.action === 'revoke') await endAccessNow(deps, ledgerId, req, purchaseId, kind, orderId);
    const result: RefundResult = {
      status: req.action === 'revoke' ? 'revoked' : req.action === 'refund' ? 'refunded' : 'canceled',
      action: req.action,
      purchaseId,
      orderId,
      refundType,
      completedAt: deps.now().toISOString(),
      repeated: false,
    };
    await deps.store.finishLedgerEntry(ledgerId, { result });
    return result;
  } catch (e) {
    const err = toDomainError(e);
    await deps.store.finishLedgerEntry(ledgerId, { error: { code: err.code, message: err.message } }).catch(() => undefined);
    throw e;
  }
}

const appleRefusal = () =>
  new DomainError(
    'failed_precondition',
    'This is an App Store purchase: Apple lets only the customer ask for a refund (reportaproblem.apple.com); Apple\'s REFUND/REVOKE notifications then end the entitlement.',
  );

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

/** The order a refund applies to: a one-time purchase's order, or a subscription's latest successful one. */
async function orderToRefund(deps: RefundDeps, ref: PurchaseRef, kind: 'one_time' | 'subscription', record: PurchaseRecord | null): Promise<string> {
  let orderId: string | undefined;
  if (kind === 'subscription') {
    const sub = await deps.play.getSubscriptionPurchase(ref);
    orderId = sub.lineItems?.find((i) => i.latestSuccessfulOrderId)?.latestSuccessfulOrderId ?? sub.latestOrderId;
  } else {
    orderId = record?.orderId ?? (await deps.play.getProductPurchase(ref)).orderId;
  }
  if (!orderId) throw new DomainError('failed_precondition', 'Google Play has no order for this purchase (pending or a test without an order), so there is nothing to refund.');
  return orderId;
}

async function endAccessNow(
  deps: RefundDeps,
  ledgerId: string,
  req: RefundRequest,
  purchaseId: string,
  kind: 'one_time' | 'subscription',
  orderId: string | null,
): Promise<void> {
  const now = deps.now();
  await deps.store.applyPurchaseEvent(
    { id: `admin:${ledgerId}`, source: 'admin', type: req.action, eventTime: now },
    { purchaseId },
    (current) => planRevoke({ purchaseId, platform: 'google_play', packageName: req.packageName, kind, orderId, now, current }),
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

function isKnownCode(code: string): code is 'failed_precondition' | 'purchase_not_found' | 'upstream_unavailable' {
  return code === 'failed_precondition' || code === 'purchase_not_found' || code === 'upstream_unavailable';
}

