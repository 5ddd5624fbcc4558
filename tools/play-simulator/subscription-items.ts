import { errors } from './google-errors';
import { newOrderId, renewalOrderId } from './ids';
import type { AddOnItem, Ledger, SubscriptionItem, SubscriptionRecord, VoidSpec } from './model';

/**
 * Line items of a subscription: the record itself is the base item, then the add-ons. Steps that act on
 * the whole subscription act on every item; the token state follows from them (ACTIVE while one item
 * auto-renews, CANCELED while none does but one is unexpired, EXPIRED once all have expired).
 */
export const items = (rec: SubscriptionRecord): SubscriptionItem[] => [rec, ...rec.addOns];

export const autoRenewing = (rec: SubscriptionRecord): SubscriptionItem[] => items(rec).filter((i) => i.autoRenewEnabled);

export function addOn(rec: SubscriptionRecord, productId: string): AddOnItem {
  const a = rec.addOns.find((x) => x.productId === productId);
  // Also for the base plan's productId: only add-ons can be refunded or canceled by item.
  if (!a) throw errors.invalidValue('productId');
  return a;
}

export function openInitialOrder(rec: SubscriptionRecord, item: SubscriptionItem, l: Ledger): void {
  l.openOrder(rec, newOrderId(), item.orderIds);
}

export function addRenewalOrder(rec: SubscriptionRecord, item: SubscriptionItem, l: Ledger): void {
  const first = item.orderIds[0];
  if (!first) throw new Error(`subscription ${rec.token}: item ${item.productId} has no initial order`);
  l.openOrder(rec, renewalOrderId(first, item.orderIds.length - 1), item.orderIds);
}

/** A new paid period from the item's expiry (or now, if later), with its renewal order. */
export function renewItem(rec: SubscriptionRecord, item: SubscriptionItem, l: Ledger): void {
  item.expiryTime = Math.max(item.expiryTime ?? l.now, l.now) + item.periodMs;
  addRenewalOrder(rec, item, l);
}

/** Access to every item ends now; with `stopRenewing`, auto-renewal too. */
export function endItemsAccess(rec: SubscriptionRecord, now: number, stopRenewing: boolean): void {
  for (const i of items(rec)) {
    i.expiryTime = Math.min(i.expiryTime ?? now, now);
    if (stopRenewing) i.autoRenewEnabled = false;
  }
}

const expiries = (list: SubscriptionItem[]): number[] => list.flatMap((i) => (i.expiryTime === undefined ? [] : [i.expiryTime]));

/** The next time an auto-renewing item falls due. */
export function nextRenewal(rec: SubscriptionRecord): number | undefined {
  const t = expiries(autoRenewing(rec));
  return t.length > 0 ? Math.min(...t) : undefined;
}

/** When access to the last item ends: a canceled subscription expires only then. */
export function lastExpiry(rec: SubscriptionRecord): number | undefined {
  const t = expiries(items(rec));
  return t.length > 0 ? Math.max(...t) : undefined;
}

/** An order of any item of the subscription; default the base item's latest. */
export function orderOf(rec: SubscriptionRecord, orderId: string | undefined): string {
  const id = orderId ?? rec.orderIds.at(-1);
  if (!id || !items(rec).some((i) => i.orderIds.includes(id))) throw errors.orderNotFound();
  return id;
}

/** Refunds (unless it already was) and voids (unless it already was) an order: what revocation does. */
export function revokeOrder(l: Ledger, orderId: string, spec: VoidSpec): void {
  if (!l.isRefunded(orderId)) l.refundOrder(orderId);
  if (!l.isVoided(orderId)) l.voidOrder(orderId, spec);
}
