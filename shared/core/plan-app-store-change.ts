import type { CatalogProduct } from '../catalog';
import type { AppStorePurchase } from '../model/app-store-purchase';
import { withSoleItem } from '../model/purchase';
import type { PurchaseChange, PurchaseRecord } from '../store/purchase-record';
import { planClaim } from './plan-claim';
import { planRevoke } from './plan-revoke';

/**
 * Pure: the change that brings an App Store purchase to what Apple says now, for its owner (or unowned,
 * when only a notification has seen it). Claim and revoke rules are the shared ones (planClaim,
 * planRevoke); Apple adds that revocation is not final: REFUND_REVERSED gives access (and credits) back.
 */
export interface AppStoreChangeInput {
  purchaseId: string;
  /** The owner; null keeps the purchase unowned until someone verifies it. */
  uid: string | null;
  bundleId: string;
  product: CatalogProduct;
  apple: AppStorePurchase;
  now: Date;
  current: PurchaseRecord | null;
}

export function planAppStoreChange(i: AppStoreChangeInput): PurchaseChange {
  // Apple is the only authority on revocation here (refundPurchase refuses App Store purchases).
  const current = i.current ? { ...i.current, revoked: false } : null;
  const claimed = planClaim({
    purchaseId: i.purchaseId,
    linkedPurchaseId: null, // an upgrade keeps its originalTransactionId: nothing to supersede
    uid: i.uid,
    platform: 'app_store',
    packageName: i.bundleId,
    product: i.product,
    snapshot: i.apple.snapshot,
    now: i.now,
    current,
    linked: null,
  });
  const change: PurchaseChange = i.apple.revoked
    ? planRevoke({
        purchaseId: i.purchaseId,
        platform: 'app_store',
        packageName: i.bundleId,
        kind: i.apple.snapshot.kind,
        orderId: null,
        now: i.now,
        current: claimed.purchase,
      })
    : restoreReversedCredits(claimed);
  change.purchase = { ...change.purchase, familyShared: i.apple.familyShared, storeReadAt: i.apple.signedAt };
  return change;
}

/** After REFUND_REVERSED, credits taken back by the refund are given again, once. */
function restoreReversedCredits(change: PurchaseChange): PurchaseChange {
  const reversed = change.purchase.creditsReversed;
  if (!reversed || change.purchase.uid === null) return change;
  const credit = { ...(change.credit ?? {}) };
  for (const [balance, amount] of Object.entries(reversed)) credit[balance] = (credit[balance] ?? 0) + amount;
  return { ...change, purchase: { ...change.purchase, creditsReversed: null }, credit };
}

/** What is stored, as Apple last said it: used when the data at hand is older than what we stored. */
export function storedAppStorePurchase(record: PurchaseRecord): AppStorePurchase {
  return {
    snapshot: withSoleItem({
      kind: record.kind,
      productId: record.productId,
      state: record.state,
      expiresAt: record.expiresAt,
      purchasedAt: record.purchasedAt,
      orderId: record.orderId,
      test: record.test,
      acknowledged: record.acknowledged,
      consumed: record.consumed,
      quantity: record.quantity,
      obfuscatedAccountId: null,
      linkedPurchaseToken: null,
      outOfAppExpiredToken: null,
      expiredAccountId: null,
      autoRenewing: null,
    }),
    revoked: record.revoked,
    familyShared: record.familyShared ?? false,
    signedAt: record.storeReadAt ?? record.updatedAt,
  };
}

/** Older than what is stored: applying it would move the purchase back. */
export const isOlderThanStored = (apple: AppStorePurchase, current: PurchaseRecord | null): boolean =>
  Boolean(current?.storeReadAt && current.storeReadAt.getTime() > apple.signedAt.getTime());
