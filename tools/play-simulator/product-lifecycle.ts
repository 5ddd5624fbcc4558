import { errors } from './google-errors';
import { newOrderId } from './ids';
import { ACK_WINDOW_MS, OneTimeEvent, VoidedReason, VoidedSource, type Ledger, type ProductRecord, type VoidSpec } from './model';
import { answerRefundReview, openRefundReview, type ReviewAnswer } from './refund-reviews';
import type { StepArgs } from './schemas';
import { revokeOrder } from './subscription-items';

function orderOf(rec: ProductRecord, orderId: string | undefined): string {
  const id = orderId ?? rec.orderIds[0];
  if (!id || !rec.orderIds.includes(id)) throw errors.orderNotFound();
  return id;
}

/** The whole order is refunded and revoked: purchaseState 1, nothing left to refund. */
function voidWhole(rec: ProductRecord, l: Ledger, orderId: string, spec: VoidSpec): void {
  rec.purchaseState = 1;
  for (const i of rec.items) i.refundableQuantity = 0;
  revokeOrder(l, orderId, spec);
}

/**
 * A quantity-based partial refund with revoke: listed (with voidedQuantity) only to callers asking for
 * partial refunds. Refunding the last remaining units is a full refund of the order.
 */
function partialRefund(rec: ProductRecord, l: Ledger, orderId: string, quantity: number, args: StepArgs<'refund'>, spec: VoidSpec): void {
  const item = args.productId === undefined ? rec.items[0] : rec.items.find((i) => i.productId === args.productId);
  if (!item) throw errors.invalidValue('productId');
  if (quantity > item.refundableQuantity) {
    throw errors.badRequest(`quantity ${quantity} exceeds the refundable quantity ${item.refundableQuantity} of ${item.productId}`);
  }
  item.refundableQuantity -= quantity;
  if (rec.items.every((i) => i.refundableQuantity === 0)) return voidWhole(rec, l, orderId, spec);
  l.voidOrder(orderId, { ...spec, quantity });
}

/** One-time product transitions, with the same contract as subscriptionSteps. */
export const productSteps = {
  complete(rec: ProductRecord, l: Ledger): void {
    if (rec.purchaseState !== 2) throw errors.invalidState('only a pending purchase can complete');
    rec.purchaseState = 0;
    rec.purchaseTime = l.now;
    rec.completionTime = l.now;
    l.openOrder(rec, newOrderId());
    l.emitOneTime(rec, OneTimeEvent.PURCHASED);
  },
  cancelPending(rec: ProductRecord, l: Ledger): void {
    if (rec.purchaseState !== 2) throw errors.invalidState('only a pending purchase can be canceled');
    rec.purchaseState = 1;
    l.emitOneTime(rec, OneTimeEvent.CANCELED);
  },
  /** Acknowledging twice is a no-op, as at Play. */
  acknowledge(rec: ProductRecord, _l: Ledger, args: StepArgs<'acknowledge'> = {}): void {
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
  /**
   * Refund the order. Without revoke the purchase stays as it is and the order is not listed as voided
   * (only revoked orders are); with revoke it becomes Canceled (purchaseState 1) and is listed.
   */
  refund(rec: ProductRecord, l: Ledger, args: StepArgs<'refund'> = {}): void {
    const orderId = orderOf(rec, args.orderId);
    if (l.isRefunded(orderId)) throw errors.orderAlreadyRefunded();
    const spec = { source: args.voidedSource ?? VoidedSource.DEVELOPER, reason: args.voidedReason ?? VoidedReason.OTHER, recordDelayMs: args.recordDelayMs };
    if (args.quantity !== undefined) return partialRefund(rec, l, orderId, args.quantity, args, spec);
    if (args.revoke) return voidWhole(rec, l, orderId, spec);
    l.refundOrder(orderId);
    for (const i of rec.items) i.refundableQuantity = 0;
  },
  /** The payment was charged back: the order is voided and the purchase canceled. */
  chargeback(rec: ProductRecord, l: Ledger, args: StepArgs<'chargeback'> = {}): void {
    const orderId = orderOf(rec, args.orderId);
    if (l.isRefunded(orderId)) throw errors.orderAlreadyRefunded();
    voidWhole(rec, l, orderId, { source: VoidedSource.GOOGLE, reason: VoidedReason.CHARGEBACK, recordDelayMs: args.recordDelayMs });
  },
  openRefundReview(rec: ProductRecord, l: Ledger, args: StepArgs<'openRefundReview'>): void {
    openRefundReview(rec, l, rec.orderIds, args);
  },
  /** orders.reviewrefund (the API only: its args are the request's). Approving refunds the order the user asked about. */
  answerRefundReview(rec: ProductRecord, l: Ledger, a: ReviewAnswer): void {
    const spec = { orderId: a.orderId, revoke: true, voidedSource: VoidedSource.USER, voidedReason: VoidedReason.OTHER };
    answerRefundReview(rec, l, a, () => productSteps.refund(rec, l, spec));
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
      for (const i of rec.items) i.refundableQuantity = 0;
      if (orderId) revokeOrder(l, orderId, { source: VoidedSource.GOOGLE, reason: VoidedReason.UNACKNOWLEDGED_PURCHASE });
    },
  };
}
