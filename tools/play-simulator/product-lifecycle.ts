import { errors } from './google-errors';
import { newOrderId } from './ids';
import { OneTimeEvent, VoidedReason, VoidedSource, type Ledger, type ProductRecord } from './model';
import { ACK_WINDOW_MS, type RefundArgs } from './subscription-lifecycle';

/** One-time product transitions, with the same contract as subscriptionSteps. */
export const productSteps = {
  complete(rec: ProductRecord, l: Ledger): void {
    if (rec.purchaseState !== 2) throw errors.invalidState('only a pending purchase can complete');
    rec.purchaseState = 0;
    rec.purchaseTime = l.now;
    l.openOrder(rec, newOrderId());
    l.emitOneTime(rec, OneTimeEvent.PURCHASED);
  },
  cancelPending(rec: ProductRecord, l: Ledger): void {
    if (rec.purchaseState !== 2) throw errors.invalidState('only a pending purchase can be canceled');
    rec.purchaseState = 1;
    l.emitOneTime(rec, OneTimeEvent.CANCELED);
  },
  /** Acknowledging twice is a no-op, as at Play. */
  acknowledge(rec: ProductRecord, _l: Ledger, args: { developerPayload?: string } = {}): void {
    if (rec.purchaseState !== 0) throw errors.invalidState(rec.purchaseState === 2 ? 'pending' : 'canceled');
    if (rec.acknowledged) return;
    rec.acknowledged = true;
    if (args.developerPayload !== undefined) rec.developerPayload = args.developerPayload;
  },
  /** Consuming also acknowledges. */
  consume(rec: ProductRecord): void {
    if (rec.purchaseState !== 0) throw errors.invalidState(rec.purchaseState === 2 ? 'pending' : 'canceled');
    if (rec.consumed) throw errors.invalidState('already consumed');
    rec.consumed = true;
    rec.acknowledged = true;
  },
  /** Refund the order; with revoke the purchase becomes Canceled (purchaseState 1). */
  refund(rec: ProductRecord, l: Ledger, args: RefundArgs = {}): void {
    const orderId = args.orderId ?? rec.orderIds[0];
    if (!orderId || !rec.orderIds.includes(orderId)) throw errors.orderNotFound();
    if (l.isRefunded(orderId)) throw errors.orderAlreadyRefunded();
    if (args.revoke) rec.purchaseState = 1;
    rec.refundableQuantity = 0;
    l.voidOrder(orderId, args.voidedSource ?? VoidedSource.DEVELOPER, args.voidedReason ?? VoidedReason.OTHER);
  },
};

export type ProductStep = keyof typeof productSteps;

/** Play's automatic refund and revocation of an unacknowledged one-time purchase after 3 days. */
export function nextProductEvent(
  rec: ProductRecord,
  autoRefundUnacknowledged: boolean,
): { at: number; run: (l: Ledger) => void } | undefined {
  if (!autoRefundUnacknowledged || rec.acknowledged || rec.purchaseState !== 0) return undefined;
  const orderId = rec.orderIds[0];
  return {
    at: rec.purchaseTime + ACK_WINDOW_MS,
    run: (l) => {
      rec.purchaseState = 1;
      rec.refundableQuantity = 0;
      if (orderId && !l.isRefunded(orderId)) l.voidOrder(orderId, VoidedSource.GOOGLE, VoidedReason.UNACKNOWLEDGED_PURCHASE);
    },
  };
}
