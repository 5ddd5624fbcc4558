import { ACK_WINDOW_MS, SubEvent, SubState, VoidedReason, VoidedSource, type Ledger, type SubscriptionRecord } from './model';
import { autoRenewing, items, lastExpiry, nextRenewal, renewItem, revokeOrder } from './subscription-items';
import { endAccess, LIVE, subscriptionSteps } from './subscription-lifecycle';

/** What the clock alone does to a subscription: renewals at expiry, expiries, grace → hold, auto-resume. */

/** Play's automatic refund of an unacknowledged subscription: every item's initial order. */
function ackRefund(rec: SubscriptionRecord, l: Ledger): void {
  endAccess(rec, l, { by: 'system' });
  l.emitSubscription(rec, SubEvent.REVOKED);
  for (const i of items(rec)) {
    const first = i.orderIds[0];
    if (first) revokeOrder(l, first, { source: VoidedSource.GOOGLE, reason: VoidedReason.UNACKNOWLEDGED_PURCHASE });
  }
}

/** Items due at the event's time renew together, with one RTDN. */
function renewDue(rec: SubscriptionRecord, l: Ledger): void {
  for (const i of autoRenewing(rec)) if ((i.expiryTime ?? l.now) <= l.now) renewItem(rec, i, l);
  l.emitSubscription(rec, SubEvent.RENEWED);
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
    case SubState.ACTIVE:
      // Auto-renewing plans renew at expiry (the payment succeeds unless a test says otherwise).
      if (rec.prepaid) step(rec.expiryTime, (l) => subscriptionSteps.expire(rec, l));
      else step(nextRenewal(rec), (l) => renewDue(rec, l));
      break;
    case SubState.CANCELED:
      step(lastExpiry(rec), (l) => subscriptionSteps.expire(rec, l));
      break;
    case SubState.IN_GRACE_PERIOD:
      step(rec.expiryTime, (l) => subscriptionSteps.hold(rec, l));
      break;
    case SubState.ON_HOLD:
      step(rec.holdEndTime, (l) => subscriptionSteps.expire(rec, l));
      break;
    case SubState.PAUSED:
      step(rec.autoResumeTime, (l) => subscriptionSteps.resume(rec, l));
      break;
    default:
      break;
  }
  return candidates.sort((a, b) => a.at - b.at)[0];
}
