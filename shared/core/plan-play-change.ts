import type { Catalog, CatalogProduct } from '../catalog';
import { playPurchaseId } from '../ids';
import { toItemsGrant } from '../model/entitlements';
import { finishNeeded } from '../model/finish';
import { PurchaseState, type PurchaseSnapshot } from '../model/purchase';
import type { PurchaseChange, PurchaseRecord } from '../store/purchase-record';
import { planClaim } from './plan-claim';

/** A voided order the change follows from (Play's voided purchase notification). */
export interface PlayVoid {
  orderId: string | null;
  /** The whole purchase was refunded with revoke (refundType FULL) rather than some of its units. */
  full: boolean;
}

/**
 * The purchase a Play purchase follows from: the token it replaces (linkedPurchaseToken) or, for an
 * out-of-app re-subscribe, the expired token it follows. Its owner is the new purchase's owner unless
 * an account binding says otherwise.
 */
export function relatedPurchaseId(s: PurchaseSnapshot): string | null {
  const token = s.linkedPurchaseToken ?? s.outOfAppExpiredToken;
  return token ? playPurchaseId(token) : null;
}

export interface PlayChangeInput {
  purchaseId: string;
  uid: string | null;
  packageName: string;
  catalog: Catalog;
  snapshot: PurchaseSnapshot;
  /** When Play's state was read (before the call): the record keeps it so older reads never win. */
  readAt: Date;
  now: Date;
  current: PurchaseRecord | null;
  /** The record of `relatedPurchaseId(snapshot)`; a replaced one is superseded once this one is paid. */
  related: PurchaseRecord | null;
  voided?: PlayVoid;
  /** The purchase token, kept server-only so the sweep can re-read the purchase later. */
  token?: string;
}

/**
 * Pure: the change that brings a Play purchase to what Play says now. Every line item grants its own
 * entitlements; one-time refunds take back exactly the units Play revoked (credits once, whoever
 * notices first: a void notification, verify or a re-read); subscriptions follow Play's state, since
 * a voided renewal order (a chargeback) does not end a subscription Play still reports active.
 */
export function planPlayChange(i: PlayChangeInput): PurchaseChange {
  const productOf = (id: string): CatalogProduct | undefined =>
    Object.hasOwn(i.catalog.products, id) ? i.catalog.products[id] : undefined;
  const product = productOf(i.snapshot.productId);
  if (!product) throw new Error(`planPlayChange: "${i.snapshot.productId}" is not in the catalog`);

  const oneTime = i.snapshot.kind === 'one_time';
  const revokedUnits = oneTime ? unitsTakenBack(i) : (i.current?.revokedUnits ?? null);
  const refundedAfterUse = oneTime && i.snapshot.state === PurchaseState.CANCELED && i.current?.state === PurchaseState.PURCHASED;
  const allUnits =
    oneTime && i.snapshot.items.length > 0 && i.snapshot.items.every((it) => (revokedUnits?.[it.productId] ?? 0) >= it.quantity);
  const revoked = Boolean(i.current?.revoked) || (oneTime && (Boolean(i.voided?.full) || refundedAfterUse || allUnits));

  const replaces = i.snapshot.linkedPurchaseToken !== null;
  const change = planClaim({
    purchaseId: i.purchaseId,
    linkedPurchaseId: replaces ? relatedPurchaseId(i.snapshot) : null,
    uid: i.uid,
    platform: 'google_play',
    packageName: i.packageName,
    product,
    snapshot: i.snapshot,
    now: i.now,
    readAt: i.readAt,
    revoked,
    current: i.current,
    linked: replaces ? i.related : null,
    grantWith: (ctx) => toItemsGrant(productOf, i.snapshot, { ...ctx, revokedUnits: revokedUnits ?? {} }),
  });
  const voidedOrderIds = [...(i.current?.voidedOrderIds ?? [])];
  if (i.voided?.orderId && !voidedOrderIds.includes(i.voided.orderId)) voidedOrderIds.push(i.voided.orderId);
  const needsFinish = finishNeeded({ ...change.purchase, revoked }) !== null;
  change.purchase = {
    ...change.purchase,
    needsFinish,
    // a failure to finish stays flagged until Play shows the purchase finished
    syncError: needsFinish ? (i.current?.syncError ?? null) : null,
    revoked,
    revokedUnits,
    voidedOrderIds,
    items: i.snapshot.items.map(({ productId, expiresAt, orderId, quantity, refundableQuantity }) => ({
      productId,
      expiresAt,
      orderId,
      quantity,
      refundableQuantity,
    })),
  };
  if (i.token !== undefined) change.token = i.token;
  return takeBackCredits(change, i.current, revoked ? null : creditsFor(productOf, i.snapshot, revokedUnits ?? {}));
}

/** After a void, the units Play no longer counts as refundable were taken back; the count only grows. */
function unitsTakenBack(i: PlayChangeInput): Record<string, number> | null {
  const units: Record<string, number> = { ...(i.current?.revokedUnits ?? {}) };
  if (i.voided) {
    for (const item of i.snapshot.items) {
      units[item.productId] = Math.max(units[item.productId] ?? 0, item.quantity - item.refundableQuantity);
    }
  }
  return Object.keys(units).length > 0 ? units : null;
}

/** Credits owed back for the revoked units of consumable items. */
function creditsFor(
  productOf: (id: string) => CatalogProduct | undefined,
  snapshot: PurchaseSnapshot,
  revokedUnits: Record<string, number>,
): Record<string, number> {
  const owed: Record<string, number> = {};
  for (const item of snapshot.items) {
    const product = productOf(item.productId);
    const units = Math.min(revokedUnits[item.productId] ?? 0, item.quantity);
    if (product?.type !== 'consumable' || units === 0) continue;
    for (const [balance, amount] of Object.entries(product.credits)) owed[balance] = (owed[balance] ?? 0) + amount * units;
  }
  return owed;
}

/**
 * Takes back what is owed and not yet taken back, once: `owed` null means everything credited (a full
 * revocation). Balances may go negative; `creditsReversed` says why.
 */
function takeBackCredits(change: PurchaseChange, current: PurchaseRecord | null, owed: Record<string, number> | null): PurchaseChange {
  const p = change.purchase;
  if (p.uid === null || !p.credited) return change;
  const target = owed ?? p.credited;
  const already = current?.creditsReversed ?? {};
  const reversed: Record<string, number> = { ...already };
  const credit: Record<string, number> = { ...(change.credit ?? {}) };
  let changed = false;
  for (const [balance, amount] of Object.entries(target)) {
    const due = Math.min(amount, p.credited[balance] ?? 0) - (already[balance] ?? 0);
    if (due <= 0) continue;
    credit[balance] = (credit[balance] ?? 0) - due;
    reversed[balance] = (already[balance] ?? 0) + due;
    changed = true;
  }
  if (!changed) return change;
  return { ...change, purchase: { ...p, creditsReversed: reversed }, credit };
}
