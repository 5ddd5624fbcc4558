import { errors } from './google-errors';
import { newOrderId, renewalOrderId } from './ids';
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

const DEFAULT_GRACE_MS = 7 * DAY_MS;
const DEFAULT_HOLD_MS = 30 * DAY_MS;
const DEFAULT_PAUSE_MS = 30 * DAY_MS;
/** Play refunds and revokes a purchase not acknowledged within 3 days. */
export const ACK_WINDOW_MS = 3 * DAY_MS;

const { PENDING, ACTIVE, PAUSED, IN_GRACE_PERIOD, ON_HOLD, CANCELED, EXPIRED, PENDING_PURCHASE_CANCELED } = SubState;
/** States in which the user had access at some point and the token is not finished. */
const LIVE: SubscriptionState[] = [ACTIVE, IN_GRACE_PERIOD, ON_HOLD, PAUSED, CANCELED];

function allow(rec: SubscriptionRecord, allowed: SubscriptionState[], action: string): void {
  if (!allowed.includes(rec.state)) {
    throw errors.invalidState(`cannot ${action} a subscription in ${rec.state}; allowed from ${allowed.join(', ')}`);
  }
}

function autoRenewingOnly(rec: SubscriptionRecord, action: string): void {
  if (rec.prepaid) throw errors.invalidState(`cannot ${action} a prepaid plan (it does not auto-renew)`);
}

function addRenewalOrder(rec: SubscriptionRecord, l: Ledger): void {
  const first = rec.orderIds[0];
  if (!first) throw new Error(`subscription ${rec.token} has no initial order`);
  l.openOrder(rec, renewalOrderId(first, rec.orderIds.length - 1));
}

/** Access ends now: what revoke, refund-with-revoke and the unacknowledged auto-refund share. */
function endAccess(rec: SubscriptionRecord, l: Ledger, cancellation: Cancellation): void {
  rec.state = EXPIRED;
  rec.expiryTime = Math.min(rec.expiryTime ?? l.now, l.now);
  rec.autoRenewEnabled = false;
  rec.cancellation = cancellation;
  rec.autoResumeTime = undefined;
  rec.holdEndTime = undefined;
}

export interface DurationArgs {
  durationMs?: number;
}
export interface CancelArgs {
  by?: 'user' | 'system' | 'developer';
  surveyReason?: string;
  reasonUserInput?: string;
}
export interface RefundArgs {
  orderId?: string;
  revoke?: boolean;
  voidedSource?: number;
  voidedReason?: number;
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
    l.openOrder(rec, newOrderId());
    l.emitSubscription(rec, SubEvent.PURCHASED);
  },
  cancelPending(rec: SubscriptionRecord, l: Ledger): void {
    allow(rec, [PENDING], 'cancel the pending purchase of');
    rec.state = PENDING_PURCHASE_CANCELED;
    l.emitSubscription(rec, SubEvent.PENDING_PURCHASE_CANCELED);
  },
  renew(rec: SubscriptionRecord, l: Ledger): void {
    allow(rec, [ACTIVE], 'renew');
    autoRenewingOnly(rec, 'renew');
    rec.expiryTime = Math.max(rec.expiryTime ?? l.now, l.now) + rec.periodMs;
    addRenewalOrder(rec, l);
    l.emitSubscription(rec, SubEvent.RENEWED);
  },
  /** The renewal payment failed now; access continues until the grace period ends. */
  grace(rec: SubscriptionRecord, l: Ledger, args: DurationArgs = {}): void {
    allow(rec, [ACTIVE], 'start a grace period for');
    autoRenewingOnly(rec, 'start a grace period for');
    rec.state = IN_GRACE_PERIOD;
    rec.expiryTime = l.now + (args.durationMs ?? DEFAULT_GRACE_MS);
    l.emitSubscription(rec, SubEvent.IN_GRACE_PERIOD);
  },
  /** Account hold: no access (expiry in the past) until recovered or the hold ends. */
  hold(rec: SubscriptionRecord, l: Ledger, args: DurationArgs = {}): void {
    allow(rec, [ACTIVE, IN_GRACE_PERIOD], 'put on hold');
    autoRenewingOnly(rec, 'put on hold');
    rec.state = ON_HOLD;
    rec.expiryTime = Math.min(rec.expiryTime ?? l.now, l.now);
    rec.holdEndTime = l.now + (args.durationMs ?? DEFAULT_HOLD_MS);
    l.emitSubscription(rec, SubEvent.ON_HOLD);
  },
  recover(rec: SubscriptionRecord, l: Ledger): void {
    allow(rec, [IN_GRACE_PERIOD, ON_HOLD], 'recover');
    rec.state = ACTIVE;
    rec.expiryTime = l.now + rec.periodMs;
    rec.holdEndTime = undefined;
    addRenewalOrder(rec, l);
    l.emitSubscription(rec, SubEvent.RECOVERED);
  },
  /** Simplified: the pause starts now rather than at the end of the paid period. */
  pause(rec: SubscriptionRecord, l: Ledger, args: DurationArgs = {}): void {
    allow(rec, [ACTIVE], 'pause');
    autoRenewingOnly(rec, 'pause');
    rec.state = PAUSED;
    rec.autoResumeTime = l.now + (args.durationMs ?? DEFAULT_PAUSE_MS);
    rec.expiryTime = Math.min(rec.expiryTime ?? l.now, l.now);
    l.emitSubscription(rec, SubEvent.PAUSED);
  },
  resume(rec: SubscriptionRecord, l: Ledger): void {
    allow(rec, [PAUSED], 'resume');
    rec.state = ACTIVE;
    rec.autoResumeTime = undefined;
    rec.expiryTime = l.now + rec.periodMs;
    addRenewalOrder(rec, l);
    l.emitSubscription(rec, SubEvent.RECOVERED);
  },
  /** Stops renewals; access continues until expiryTime, then the subscription reads as EXPIRED. */
  cancel(rec: SubscriptionRecord, l: Ledger, args: CancelArgs = {}): void {
    allow(rec, [ACTIVE, IN_GRACE_PERIOD, ON_HOLD, PAUSED], 'cancel');
    autoRenewingOnly(rec, 'cancel');
    const by = args.by ?? 'user';
    rec.state = CANCELED;
    rec.autoRenewEnabled = false;
    rec.autoResumeTime = undefined;
    rec.holdEndTime = undefined;
    rec.cancellation =
      by === 'user'
        ? { by, time: l.now, surveyReason: args.surveyReason, reasonUserInput: args.reasonUserInput }
        : { by };
    l.emitSubscription(rec, SubEvent.CANCELED);
  },
  /** The user restored the subscription before it expired. */
  restart(rec: SubscriptionRecord, l: Ledger): void {
    allow(rec, [CANCELED], 'restart');
    rec.state = ACTIVE;
    rec.autoRenewEnabled = true;
    rec.cancellation = undefined;
    l.emitSubscription(rec, SubEvent.RESTARTED);
  },
  expire(rec: SubscriptionRecord, l: Ledger): void {
    allow(rec, LIVE, 'expire');
    const cancellation = rec.cancellation ?? (rec.prepaid ? undefined : { by: 'system' as const });
    rec.state = EXPIRED;
    rec.expiryTime = Math.min(rec.expiryTime ?? l.now, l.now);
    rec.autoRenewEnabled = false;
    rec.cancellation = cancellation;
    rec.autoResumeTime = undefined;
    rec.holdEndTime = undefined;
    l.emitSubscription(rec, SubEvent.EXPIRED);
  },
  /** subscriptionsv2.revoke: refund the latest charge and end access now. */
  revoke(rec: SubscriptionRecord, l: Ledger): void {
    if (rec.state === EXPIRED) throw errors.subscriptionExpired();
    allow(rec, LIVE, 'revoke');
    endAccess(rec, l, { by: 'developer' });
    l.emitSubscription(rec, SubEvent.REVOKED);
    const latest = rec.orderIds.at(-1);
    if (latest && !l.isRefunded(latest)) l.voidOrder(latest, VoidedSource.DEVELOPER, VoidedReason.OTHER);
  },
  /** orders.refund on one of this subscription's orders; without revoke, access continues. */
  refund(rec: SubscriptionRecord, l: Ledger, args: RefundArgs = {}): void {
    const orderId = args.orderId ?? rec.orderIds.at(-1);
    if (!orderId || !rec.orderIds.includes(orderId)) throw errors.orderNotFound();
    if (l.isRefunded(orderId)) throw errors.orderAlreadyRefunded();
    if (args.revoke && LIVE.includes(rec.state)) {
      endAccess(rec, l, { by: 'developer' });
      l.emitSubscription(rec, SubEvent.REVOKED);
    }
    l.voidOrder(orderId, args.voidedSource ?? VoidedSource.DEVELOPER, args.voidedReason ?? VoidedReason.OTHER);
  },
  defer(rec: SubscriptionRecord, l: Ledger, args: Required<DurationArgs>): void {
    allow(rec, [ACTIVE, IN_GRACE_PERIOD], 'defer');
    rec.expiryTime = (rec.expiryTime ?? l.now) + args.durationMs;
    l.emitSubscription(rec, SubEvent.DEFERRED);
  },
  /** purchases.subscriptions.acknowledge (or the app acknowledging): no RTDN. */
  acknowledge(rec: SubscriptionRecord, _l: Ledger, args: { developerPayload?: string } = {}): void {
    if (rec.state === PENDING || rec.state === PENDING_PURCHASE_CANCELED) throw errors.invalidState('pending');
    if (rec.acknowledged) return;
    rec.acknowledged = true;
    if (args.developerPayload !== undefined) rec.developerPayload = args.developerPayload;
  },
};

export type SubscriptionStep = keyof typeof subscriptionSteps;

/** Play's automatic refund of an unacknowledged subscription. */
function ackRefund(rec: SubscriptionRecord, l: Ledger): void {
  endAccess(rec, l, { by: 'system' });
  l.emitSubscription(rec, SubEvent.REVOKED);
  const first = rec.orderIds[0];
  if (first && !l.isRefunded(first)) l.voidOrder(first, VoidedSource.GOOGLE, VoidedReason.UNACKNOWLEDGED_PURCHASE);
}

/** The next event the clock alone triggers for this subscription, if any. */
export function nextSubscriptionEvent(
  rec: SubscriptionRecord,
  autoRefundUnacknowledged: boolean,
): { at: number; run: (l: Ledger) => void } | undefined {
  const candidates: { at: number; run: (l: Ledger) => void }[] = [];
  const step = (at: number | undefined, run: (l: Ledger) => void) => at !== undefined && candidates.push({ at, run });

  if (autoRefundUnacknowledged && !rec.acknowledged && rec.startTime !== undefined && LIVE.includes(rec.state)) {
    step(rec.startTime + ACK_WINDOW_MS, (l) => ackRefund(rec, l));
  }
  switch (rec.state) {
    case ACTIVE:
      // Auto-renewing plans renew at expiry (the payment succeeds unless a test says otherwise).
      step(rec.expiryTime, (l) => (rec.prepaid ? subscriptionSteps.expire(rec, l) : subscriptionSteps.renew(rec, l)));
      break;
    case CANCELED:
      step(rec.expiryTime, (l) => subscriptionSteps.expire(rec, l));
      break;
    case IN_GRACE_PERIOD:
      step(rec.expiryTime, (l) => subscriptionSteps.hold(rec, l));
      break;
    case ON_HOLD:
      step(rec.holdEndTime, (l) => subscriptionSteps.expire(rec, l));
      break;
    case PAUSED:
      step(rec.autoResumeTime, (l) => subscriptionSteps.resume(rec, l));
      break;
    default:
      break;
  }
  return candidates.sort((a, b) => a.at - b.at)[0];
}
