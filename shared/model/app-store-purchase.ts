import type { AppStoreRenewalInfo } from '../app-store/renewal-info';
import { AppStoreProductType, OwnershipType, type AppStoreTransaction } from '../app-store/transaction';
import type { CatalogProduct } from '../catalog';
import { DomainError } from '../errors';
import { latestTransactionOf, type LatestTransaction } from './app-store-latest-transaction';
import { lastEnd, ownWindows, passDuration, type PassWindows } from './app-store-pass';
import { PurchaseState, withSoleItem, type PurchaseSnapshot } from './purchase';

/**
 * Apple's data -> the store-neutral purchase snapshot. Pure: no I/O, `now` is given. States use the
 * shared vocabulary, so one entitlement document answers "is this user premium?" for both stores.
 */

/** Subscription status as the App Store Server API and notifications report it. */
export const AppleSubscriptionStatus = {
  ACTIVE: 1,
  EXPIRED: 2,
  BILLING_RETRY: 3,
  GRACE_PERIOD: 4,
  REVOKED: 5,
} as const;
export type AppleSubscriptionStatus = (typeof AppleSubscriptionStatus)[keyof typeof AppleSubscriptionStatus];

/** What Apple says about one purchase: the latest transaction, and for subscriptions renewal info and status. */
export interface AppStoreState {
  transaction: AppStoreTransaction;
  renewalInfo: AppStoreRenewalInfo | null;
  /** From the API or the notification; null = derive it from the signed data. */
  status: AppleSubscriptionStatus | null;
  /** When Apple signed this view (ms); newer views win, older ones never move a purchase back. */
  signedAt: number;
}

export interface AppStorePurchase {
  snapshot: PurchaseSnapshot;
  /** Refunded, or revoked from Family Sharing. */
  revoked: boolean;
  /** Apple's revocationPercentage (thousandths of a percent) of a refund; null = in full, or not refunded. */
  revocationPercentage: number | null;
  familyShared: boolean;
  signedAt: Date;
  /** Subscriptions: the newest transaction behind this view (null for other products). */
  latestTransaction: LatestTransaction | null;
  /** Passes: when access ends, per entitlement (stacked); undefined for every other product. */
  accessEnds?: Record<string, Date>;
}

/**
 * Which App Store product types a catalog type accepts. `non_consumable` keeps accepting
 * Non-Renewing Subscriptions for older catalogs (lifetime unless it has a `duration`).
 */
const COMPATIBLE: Record<CatalogProduct['type'], readonly string[]> = {
  subscription: [AppStoreProductType.AUTO_RENEWABLE],
  non_consumable: [AppStoreProductType.NON_CONSUMABLE, AppStoreProductType.NON_RENEWING],
  non_renewing_subscription: [AppStoreProductType.NON_RENEWING],
  consumable: [AppStoreProductType.CONSUMABLE],
};

/**
 * `passWindows`: a pass's stacked windows (shared/app-store/passes.ts); without them a pass counts
 * from its own purchase date.
 */
export function fromAppStore(state: AppStoreState, product: CatalogProduct, now: Date, passWindows?: PassWindows): AppStorePurchase {
  const tx = state.transaction;
  if (!COMPATIBLE[product.type].includes(tx.type)) {
    throw new DomainError(
      'unknown_product',
      `The catalog lists "${tx.productId}" as ${product.type}, but the App Store sold it as "${tx.type}"; fix the catalog.`,
    );
  }
  const familyShared = tx.inAppOwnershipType === OwnershipType.FAMILY_SHARED;
  const base = {
    productId: tx.productId,
    purchasedAt: new Date(tx.originalPurchaseDate ?? tx.purchaseDate),
    orderId: null, // Apple has no order id we could show without storing a transaction id
    test: tx.environment !== 'Production',
    acknowledged: true, // nothing to acknowledge at Apple; the app finishes the transaction
    consumed: false,
    quantity: tx.quantity ?? 1,
    // A family member's transaction is theirs; any token on it would name the purchaser's account.
    obfuscatedAccountId: familyShared ? null : (tx.appAccountToken?.toLowerCase() ?? null),
    linkedPurchaseToken: null, // upgrades keep the originalTransactionId: nothing is replaced
    outOfAppExpiredToken: null,
    expiredAccountId: null,
  };
  const signedAt = new Date(state.signedAt);
  const revocationPercentage = tx.revocationDate !== undefined ? (tx.revocationPercentage ?? null) : null;
  const common = { revocationPercentage, familyShared, signedAt };

  if (product.type !== 'subscription') {
    const revoked = tx.revocationDate !== undefined;
    const duration = passDuration(product, tx.type);
    const windows = duration
      ? (passWindows ?? ownWindows({ id: tx.originalTransactionId, purchasedAt: new Date(tx.purchaseDate), duration, entitlements: entitlementsOf(product) }))
      : null;
    const expiresAt = windows ? lastEnd(windows) : null;
    const snapshot = withSoleItem({
      ...base,
      kind: 'one_time',
      // the shared vocabulary for a refunded one-time purchase (as Play's purchaseState 1); a pass past its end is expired
      state: revoked ? PurchaseState.CANCELED : expiresAt && expiresAt <= now ? PurchaseState.EXPIRED : PurchaseState.PURCHASED,
      expiresAt,
      autoRenewing: null,
    });
    const accessEnds = windows ? Object.fromEntries(Object.entries(windows).map(([e, w]) => [e, w.endsAt])) : undefined;
    return { snapshot, revoked, ...common, latestTransaction: null, ...(accessEnds ? { accessEnds } : {}) };
  }

  const status = state.status ?? deriveStatus(tx, state.renewalInfo, now);
  const renewal = state.renewalInfo;
  const expires = tx.expiresDate === undefined ? null : new Date(tx.expiresDate);
  const snapshot = withSoleItem({
    ...base,
    kind: 'subscription',
    state: subscriptionState(status, renewal),
    expiresAt:
      status === AppleSubscriptionStatus.GRACE_PERIOD && renewal?.gracePeriodExpiresDate !== undefined
        ? new Date(renewal.gracePeriodExpiresDate)
        : expires,
    autoRenewing: renewal?.autoRenewStatus === undefined ? null : renewal.autoRenewStatus === 1,
  });
  return { snapshot, revoked: status === AppleSubscriptionStatus.REVOKED, ...common, latestTransaction: latestTransactionOf(tx) };
}

const entitlementsOf = (product: CatalogProduct): readonly string[] => ('entitlements' in product ? product.entitlements : []);

function subscriptionState(status: AppleSubscriptionStatus, renewal: AppStoreRenewalInfo | null): PurchaseState {
  switch (status) {
    case AppleSubscriptionStatus.ACTIVE:
      // Auto-renew turned off: access until expiry, then it ends (Play calls this "canceled").
      return renewal?.autoRenewStatus === 0 ? PurchaseState.CANCELED : PurchaseState.ACTIVE;
    case AppleSubscriptionStatus.GRACE_PERIOD:
      return PurchaseState.IN_GRACE_PERIOD;
    case AppleSubscriptionStatus.BILLING_RETRY:
      // Apple keeps retrying the charge without access: Play's account hold.
      return PurchaseState.ON_HOLD;
    case AppleSubscriptionStatus.EXPIRED:
    case AppleSubscriptionStatus.REVOKED:
      return PurchaseState.EXPIRED;
  }
}

/** The status when Apple did not state one (signed-data-only mode): from revocation, dates and renewal info. */
export function deriveStatus(tx: AppStoreTransaction, renewal: AppStoreRenewalInfo | null, now: Date): AppleSubscriptionStatus {
  const t = now.getTime();
  if (tx.revocationDate !== undefined) return AppleSubscriptionStatus.REVOKED;
  if (tx.expiresDate !== undefined && tx.expiresDate > t) return AppleSubscriptionStatus.ACTIVE;
  if (renewal?.isInBillingRetryPeriod) {
    const grace = renewal.gracePeriodExpiresDate;
    return grace !== undefined && grace > t ? AppleSubscriptionStatus.GRACE_PERIOD : AppleSubscriptionStatus.BILLING_RETRY;
  }
  return AppleSubscriptionStatus.EXPIRED;
}

export const isAppleSubscriptionStatus = (n: unknown): n is AppleSubscriptionStatus =>
  typeof n === 'number' && Object.values(AppleSubscriptionStatus).includes(n as AppleSubscriptionStatus);
