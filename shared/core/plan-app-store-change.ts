import type { CatalogProduct } from '../catalog';
import { isPastTransaction, newerTransaction } from '../model/app-store-latest-transaction';
import type { AppStorePurchase } from '../model/app-store-purchase';
import { appStoreFieldsOf, type AppStorePurchaseRecord } from '../model/app-store-record';
import { takeBackCredits } from '../model/app-store-refund-share';
import { EntitlementOverride, type EntitlementSource, type GrantContext, type PurchaseGrant } from '../model/entitlements';
import { PurchaseState, withSoleItem } from '../model/purchase';
import type { PurchaseChange, PurchaseRecord } from '../store/purchase-record';
import { planClaim } from './plan-claim';
import { planRevoke } from './plan-revoke';

/**
 * Pure: the change that brings an App Store purchase to what Apple says now, for its owner (or unowned,
 * when only a notification has seen it). Claim and revoke rules are the shared ones (planClaim,
 * planRevoke); Apple adds that revocation is not final (REFUND_REVERSED gives access and credits
 * back), that a refund may be partial (revocationPercentage), and that a pass grants per entitlement
 * until its stacked end.
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
    ...(i.apple.accessEnds ? { grantWith: passGrant(i.product, i.apple, i.apple.accessEnds) } : {}),
  });
  const change = i.apple.revoked ? revoke(i, claimed) : restoreReversedCredits(claimed);
  const stored = appStoreFieldsOf(i.current);
  const purchase: AppStorePurchaseRecord = {
    ...change.purchase,
    familyShared: i.apple.familyShared,
    storeReadAt: i.apple.signedAt,
    appStore: {
      latestTransaction: newerTransaction(i.apple.latestTransaction, stored.latestTransaction),
      revocationPercentage: i.apple.revoked ? i.apple.revocationPercentage : null,
    },
  };
  return { ...change, purchase };
}

/** Access ends, credits are taken back: in full, or a consumable's refunded share of them, once. */
function revoke(i: AppStoreChangeInput, claimed: PurchaseChange): PurchaseChange {
  const revoked = planRevoke({
    purchaseId: i.purchaseId,
    platform: 'app_store',
    packageName: i.bundleId,
    kind: i.apple.snapshot.kind,
    orderId: null,
    now: i.now,
    current: claimed.purchase,
  });
  if (i.product.type !== 'consumable' || claimed.purchase.uid === null) return revoked;
  const { reversed, credit } = takeBackCredits(claimed.purchase.credited, claimed.purchase.creditsReversed ?? null, i.apple.revocationPercentage);
  const out: PurchaseChange = { ...revoked, purchase: { ...revoked.purchase, creditsReversed: reversed } };
  if (Object.keys(credit).length > 0) out.credit = credit;
  else delete out.credit;
  return out;
}

/** After REFUND_REVERSED, credits taken back by the refund are given again, once. */
function restoreReversedCredits(change: PurchaseChange): PurchaseChange {
  const reversed = change.purchase.creditsReversed;
  if (!reversed || change.purchase.uid === null) return change;
  const credit = { ...(change.credit ?? {}) };
  for (const [balance, amount] of Object.entries(reversed)) credit[balance] = (credit[balance] ?? 0) + amount;
  return { ...change, purchase: { ...change.purchase, creditsReversed: null }, credit };
}

/** A pass grants each entitlement until that entitlement's stacked end. */
function passGrant(product: CatalogProduct, apple: AppStorePurchase, ends: Record<string, Date>) {
  return (ctx: GrantContext): PurchaseGrant & { active: boolean } => {
    const entitlements: Record<string, EntitlementSource> = {};
    const granting = !ctx.revoked && !ctx.superseded && apple.snapshot.state === PurchaseState.PURCHASED;
    for (const id of 'entitlements' in product ? product.entitlements : []) {
      const expiresAt = ends[id] ?? apple.snapshot.expiresAt;
      const running = expiresAt !== null && expiresAt > ctx.now;
      entitlements[id] = {
        active: granting && running,
        expiresAt,
        productId: apple.snapshot.productId,
        state: ctx.revoked ? EntitlementOverride.REVOKED : granting && !running ? PurchaseState.EXPIRED : apple.snapshot.state,
      };
    }
    return { entitlements, credits: {}, active: Object.values(entitlements).some((s) => s.active) };
  };
}

/** What is stored, as Apple last said it: used when the data at hand is older than what we stored. */
export function storedAppStorePurchase(record: PurchaseRecord): AppStorePurchase {
  const fields = appStoreFieldsOf(record);
  const passEnds = record.kind === 'one_time' && record.expiresAt !== null ? endsOf(record) : undefined;
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
    revocationPercentage: fields.revocationPercentage,
    familyShared: record.familyShared ?? false,
    signedAt: record.storeReadAt ?? record.updatedAt,
    latestTransaction: fields.latestTransaction,
    ...(passEnds ? { accessEnds: passEnds } : {}),
  };
}

/** A stored pass's per-entitlement ends, from its entitlement sources. */
function endsOf(record: PurchaseRecord): Record<string, Date> {
  const out: Record<string, Date> = {};
  for (const [id, source] of Object.entries(record.entitlements)) if (source.expiresAt) out[id] = source.expiresAt;
  return out;
}

/** Older than what is stored: applying it would move the purchase back. */
export const isOlderThanStored = (apple: AppStorePurchase, current: PurchaseRecord | null): boolean =>
  Boolean(current?.storeReadAt && current.storeReadAt.getTime() > apple.signedAt.getTime());

/**
 * About an older transaction of the subscription than the newest one stored (a REFUND of a renewal
 * paid months ago): it must not overwrite the current period. Only signed-data-only views can be:
 * with the API key the current state is re-read, whose transaction is always the newest.
 */
export const isAboutPastTransaction = (apple: AppStorePurchase, current: PurchaseRecord | null): boolean =>
  isPastTransaction(apple.latestTransaction, appStoreFieldsOf(current).latestTransaction);
