import { errors } from './google-errors';
import {
  DAY_MS,
  SubEvent,
  SubState,
  VoidedReason,
  VoidedSource,
  type Cancellation,
  type Ledger,
  type SubscriptionRecord,
  type SubscriptionState,
} from './model';
import { answerRefundReview, openRefundReview, type ReviewAnswer } from './refund-reviews';
import type { StepArgs } from './schemas';
import {
  addOn,
  addRenewalOrder,
  autoRenewing,
  endItemsAccess,
  items,
  openInitialOrder,
  orderOf,
  renewItem,
  revokeOrder,
} from './subscription-items';

const DEFAULT_GRACE_MS = 7 * DAY_MS;
const DEFAULT_HOLD_MS = 30 * DAY_MS;
const DEFAULT_PAUSE_MS = 30 * DAY_MS;

const { PENDING, ACTIVE, PAUSED, IN_GRACE_PERIOD, ON_HOLD, CANCELED, EXPIRED, PENDING_PURCHASE_CANCELED } = SubState;
/** States in which the user had access at some point and the token is not finished. */
export const LIVE: SubscriptionState[] = [ACTIVE, IN_GRACE_PERIOD, ON_HOLD, PAUSED, CANCELED];
const DEVELOPER_VOID = { source: VoidedSource.DEVELOPER, reason: VoidedReason.OTHER };

function allow(rec: SubscriptionRecord, allowed: SubscriptionState[], action: string): void {
  if (!allowed.includes(rec.state)) {
    throw errors.invalidState(`cannot ${action} a subscription in ${rec.state}; allowed from ${allowed.join(', ')}`);
  }
}

function autoRenewingOnly(rec: SubscriptionRecord, action: string): void {
  if (rec.prepaid) throw errors.invalidState(`cannot ${action} a prepaid plan (it does not auto-renew)`);
}

/** Access ends now: what revoke, refund-with-revoke and the unacknowledged auto-refund share. */
export function endAccess(rec: SubscriptionRecord, l: Ledger, cancellation: Cancellation | undefined): void {
  rec.state = EXPIRED;
  endItemsAccess(rec, l.now, true);
  rec.cancellation = cancellation;
  rec.autoResumeTime = undefined;
  rec.holdEndTime = undefined;
}

/** After a failed renewal or a pause, every item still renewing starts a new period with a new order. */
function restartPeriods(rec: SubscriptionRecord, l: Ledger): void {
  for (const i of autoRenewing(rec)) {
    i.expiryTime = l.now + i.periodMs;
    addRenewalOrder(rec, i, l);
  }
}

/** subscriptionsv2.revoke itemBasedRefund: that add-on's access ends now and its latest order is refunded. */
function revokeItem(rec: SubscriptionRecord, l: Ledger, productId: string): void {
  const item = addOn(rec, productId);
  const latest = item.orderIds.at(-1);
  if (!latest || l.isVoided(latest)) throw errors.invalidState(`add-on ${productId} was already revoked`);
  item.expiryTime = Math.min(item.expiryTime ?? l.now, l.now);
  item.autoRenewEnabled = false;
  item.ended = true;
  l.emitSubscription(rec, SubEvent.ITEMS_CHANGED);
  revokeOrder(l, latest, DEVELOPER_VOID);
}

/**
 * Subscription transitions. Each checks the state Play would require, mutates the record and emits
 * the RTDN Play sends. Timed events (renewal at expiry, grace → hold, ...) reuse them with the ledger's
 * `now` set to the moment they fell due.
 */
export const subscriptionSteps = {
  complete(rec: SubscriptionRecord, l: Ledger): void {
    allow(rec, [PENDING], 'complete');
    rec.state = ACTIVE;
    rec.startTime = l.now;
    rec.expiryTime = Math.max(rec.expiryTime ?? l.now, l.now) + rec.periodMs;
    rec.autoRenewEnabled = !rec.prepaid;
    openInitialOrder(rec, rec, l);
    for (const a of rec.addOns) {
      a.expiryTime = l.now + a.periodMs;
      a.autoRenewEnabled = true;
      openInitialOrder(rec, a, l);
    }
    l.emitSubscription(rec, SubEvent.PURCHASED);
  },
  /** The purchase (or plan change) waiting for payment was canceled; a linked subscription is untouched. */
  cancelPending(rec: SubscriptionRecord, l: Ledger): void {
    allow(rec, [PENDING], 'cancel the pending purchase of');
    rec.state = PENDING_PURCHASE_CANCELED;
    l.emitSubscription(rec, SubEvent.PENDING_PURCHASE_CANCELED);
  },
  /** Renews every item that auto-renews. */
  renew(rec: SubscriptionRecord, l: Ledger): void {
    allow(rec, [ACTIVE], 'renew');
    autoRenewingOnly(rec, 'renew');
    for (const i of autoRenewing(rec)) renewItem(rec, i, l);
    l.emitSubscription(rec, SubEvent.RENEWED);
  },
  /** The renewal payment failed now; access continues until the grace period ends. */
  grace(rec: SubscriptionRecord, l: Ledger, args: StepArgs<'grace'> = {}): void {
    allow(rec, [ACTIVE], 'start a grace period for');
    autoRenewingOnly(rec, 'start a grace period for');
    rec.state = IN_GRACE_PERIOD;
    for (const i of autoRenewing(rec)) i.expiryTime = l.now + (args.durationMs ?? DEFAULT_GRACE_MS);
    l.emitSubscription(rec, SubEvent.IN_GRACE_PERIOD);
  },
  /** Account hold: no access (expiry in the past) until recovered or the hold ends. */
  hold(rec: SubscriptionRecord, l: Ledger, args: StepArgs<'hold'> = {}): void {
    allow(rec, [ACTIVE, IN_GRACE_PERIOD], 'put on hold');
    autoRenewingOnly(rec, 'put on hold');
    rec.state = ON_HOLD;
    endItemsAccess(rec, l.now, false);
    rec.holdEndTime = l.now + (args.durationMs ?? DEFAULT_HOLD_MS);
    l.emitSubscription(rec, SubEvent.ON_HOLD);
  },
  recover(rec: SubscriptionRecord, l: Ledger): void {
    allow(rec, [IN_GRACE_PERIOD, ON_HOLD], 'recover');
    rec.state = ACTIVE;
    rec.holdEndTime = undefined;
    restartPeriods(rec, l);
    l.emitSubscription(rec, SubEvent.RECOVERED);
  },
  /** Simplified: the pause starts now rather than at the end of the paid period. */
  pause(rec: SubscriptionRecord, l: Ledger, args: StepArgs<'pause'> = {}): void {
    allow(rec, [ACTIVE], 'pause');
    autoRenewingOnly(rec, 'pause');
    rec.state = PAUSED;
    rec.autoResumeTime = l.now + (args.durationMs ?? DEFAULT_PAUSE_MS);
    endItemsAccess(rec, l.now, false);
    l.emitSubscription(rec, SubEvent.PAUSED);
  },
  resume(rec: SubscriptionRecord, l: Ledger): void {
    allow(rec, [PAUSED], 'resume');
    rec.state = ACTIVE;
    rec.autoResumeTime = undefined;
    restartPeriods(rec, l);
    l.emitSubscription(rec, SubEvent.RECOVERED);
  },
  /** Stops renewals of every item; access continues until the last expiry, then the subscription reads as EXPIRED. */
  cancel(rec: SubscriptionRecord, l: Ledger, args: StepArgs<'cancel'> = {}): void {
    allow(rec, [ACTIVE, IN_GRACE_PERIOD, ON_HOLD, PAUSED], 'cancel');
    autoRenewingOnly(rec, 'cancel');
    const by = args.by ?? 'user';
    rec.state = CANCELED;
    for (const i of items(rec)) i.autoRenewEnabled = false;
    rec.autoResumeTime = undefined;
    rec.holdEndTime = undefined;
    rec.cancellation =
      by === 'user'
        ? { by, time: l.now, surveyReason: args.surveyReason, reasonUserInput: args.reasonUserInput }
        : { by };
    l.emitSubscription(rec, SubEvent.CANCELED);
  },
  /** One add-on stops renewing; it stays listed and lapses at its own expiry, the rest renews on. */
  cancelAddOn(rec: SubscriptionRecord, l: Ledger, args: StepArgs<'cancelAddOn'>): void {
    allow(rec, [ACTIVE, IN_GRACE_PERIOD, ON_HOLD, PAUSED], 'cancel an add-on of');
    const item = addOn(rec, args.productId);
    if (item.ended) throw errors.invalidState(`add-on ${args.productId} no longer renews`);
    item.ended = true;
    item.autoRenewEnabled = false;
    // Unconfirmed: which RTDN Play sends when one item stops renewing; ITEMS_CHANGED is our best guess.
    l.emitSubscription(rec, SubEvent.ITEMS_CHANGED);
  },
  /** The user restored the subscription before it expired: every item not ended on its own renews again. */
  restart(rec: SubscriptionRecord, l: Ledger): void {
    allow(rec, [CANCELED], 'restart');
    // DEVELOPER_REQUESTED_STOP_PAYMENTS: "the user cannot restore" it (USER_REQUESTED_STOP_RENEWALS they can).
    if (rec.cancellation?.by === 'developer') throw errors.invalidState('a subscription the developer canceled with DEVELOPER_REQUESTED_STOP_PAYMENTS cannot be restored');
    rec.state = ACTIVE;
    rec.autoRenewEnabled = true;
    for (const a of rec.addOns) a.autoRenewEnabled = !a.ended && (a.expiryTime ?? 0) > l.now;
    rec.cancellation = undefined;
    l.emitSubscription(rec, SubEvent.RESTARTED);
  },
  expire(rec: SubscriptionRecord, l: Ledger): void {
    allow(rec, LIVE, 'expire');
    endAccess(rec, l, rec.cancellation ?? (rec.prepaid ? undefined : { by: 'system' }));
    l.emitSubscription(rec, SubEvent.EXPIRED);
  },
  /** subscriptionsv2.revoke: refund the latest charge of each item and end access now; or one add-on (`item`). */
  revoke(rec: SubscriptionRecord, l: Ledger, args: StepArgs<'revoke'> = {}): void {
    if (rec.state === EXPIRED) throw errors.subscriptionExpired();
    allow(rec, LIVE, 'revoke');
    if (args.refund === 'item') return revokeItem(rec, l, args.productId ?? '');
    endAccess(rec, l, { by: 'developer' });
    l.emitSubscription(rec, SubEvent.REVOKED);
    for (const i of items(rec)) {
      const latest = i.orderIds.at(-1);
      if (latest) revokeOrder(l, latest, DEVELOPER_VOID);
    }
  },
  /**
   * orders.refund on one of this subscription's orders. Without revoke access continues and the order is
   * not listed as voided; with revoke the whole subscription ends (also for an add-on's order: simplified).
   */
  refund(rec: SubscriptionRecord, l: Ledger, args: StepArgs<'refund'> = {}): void {
    if (args.quantity !== undefined) throw errors.badRequest('Quantity-based refunds apply to one-time products only.');
    const orderId = orderOf(rec, args.orderId);
    l.refundOrder(orderId);
    if (!args.revoke) return;
    if (LIVE.includes(rec.state)) {
      endAccess(rec, l, { by: 'developer' });
      l.emitSubscription(rec, SubEvent.REVOKED);
    }
    l.voidOrder(orderId, { source: args.voidedSource ?? VoidedSource.DEVELOPER, reason: args.voidedReason ?? VoidedReason.OTHER, recordDelayMs: args.recordDelayMs });
  },
  /** The payment of one order was charged back: that order is voided, the subscription goes on as it was. */
  chargeback(rec: SubscriptionRecord, l: Ledger, args: StepArgs<'chargeback'> = {}): void {
    const orderId = orderOf(rec, args.orderId);
    l.refundOrder(orderId);
    l.voidOrder(orderId, { source: VoidedSource.GOOGLE, reason: VoidedReason.CHARGEBACK, recordDelayMs: args.recordDelayMs });
  },
  defer(rec: SubscriptionRecord, l: Ledger, args: StepArgs<'defer'>): void {
    allow(rec, [ACTIVE, IN_GRACE_PERIOD], 'defer');
    for (const i of autoRenewing(rec)) i.expiryTime = (i.expiryTime ?? l.now) + args.durationMs;
    l.emitSubscription(rec, SubEvent.DEFERRED);
  },
  openRefundReview(rec: SubscriptionRecord, l: Ledger, args: StepArgs<'openRefundReview'>): void {
    openRefundReview(rec, l, items(rec).flatMap((i) => i.orderIds), args);
  },
  /** orders.reviewrefund (the API only). Approving refunds the order with revoke: the whole subscription ends (as `refund`). */
  answerRefundReview(rec: SubscriptionRecord, l: Ledger, a: ReviewAnswer): void {
    const spec = { orderId: a.orderId, revoke: true, voidedSource: VoidedSource.USER, voidedReason: VoidedReason.OTHER };
    answerRefundReview(rec, l, a, () => subscriptionSteps.refund(rec, l, spec));
  },
  /** purchases.subscriptions.acknowledge (or the app acknowledging): no RTDN. */
  acknowledge(rec: SubscriptionRecord, _l: Ledger, args: StepArgs<'acknowledge'> = {}): void {
    if (rec.state === PENDING || rec.state === PENDING_PURCHASE_CANCELED) throw errors.invalidState('pending');
    if (rec.acknowledged) return;
    rec.acknowledged = true;
    if (args.developerPayload !== undefined) rec.developerPayload = args.developerPayload;
  },
};

export type SubscriptionStep = keyof typeof subscriptionSteps;

/**
 * A new subscription with linkedPurchaseToken (upgrade, re-signup, top-up) replaces the old one if it
 * still runs. Simplification: no RTDN is sent for the old token.
 */
export function replaceLinked(old: SubscriptionRecord, rec: SubscriptionRecord, now: number): void {
  const finished: SubscriptionState[] = [EXPIRED, PENDING, PENDING_PURCHASE_CANCELED];
  if (finished.includes(old.state)) return;
  // A prepaid top-up keeps the time left on the old token.
  if (rec.prepaid && old.prepaid && rec.expiryTime !== undefined && (old.expiryTime ?? 0) > now) {
    rec.expiryTime += (old.expiryTime ?? now) - now;
  }
  old.state = EXPIRED;
  endItemsAccess(old, now, true);
  old.cancellation = { by: 'replacement' };
  old.version++;
}
