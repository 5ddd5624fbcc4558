import { DomainError } from '../errors';
import {
  AcknowledgementState,
  ProductPurchaseState,
  ProductPurchaseType,
  SubscriptionState,
  type ProductPurchase,
  type SubscriptionPurchaseV2,
} from '../play/resources';

/**
 * A store purchase reduced to what decides access. Pure: Play resource in, snapshot out, no I/O.
 * States keep the store's own vocabulary so that operators recognise them.
 */
export const PurchaseState = {
  // one-time products
  PURCHASED: 'purchased',
  // subscriptions
  ACTIVE: 'active',
  IN_GRACE_PERIOD: 'in_grace_period',
  ON_HOLD: 'on_hold',
  PAUSED: 'paused',
  EXPIRED: 'expired',
  PENDING_PURCHASE_CANCELED: 'pending_purchase_canceled',
  // both
  PENDING: 'pending',
  CANCELED: 'canceled',
  UNSPECIFIED: 'unspecified',
} as const;
export type PurchaseState = (typeof PurchaseState)[keyof typeof PurchaseState];

export type PurchaseKind = 'one_time' | 'subscription';

export interface PurchaseSnapshot {
  kind: PurchaseKind;
  productId: string;
  state: PurchaseState;
  /** Subscriptions: end of paid access (grace included). One-time: null (lifetime). */
  expiresAt: Date | null;
  purchasedAt: Date | null;
  /** Latest successful order; absent for pending and some test purchases, which is normal. */
  orderId: string | null;
  test: boolean;
  acknowledged: boolean;
  consumed: boolean;
  quantity: number;
  obfuscatedAccountId: string | null;
  linkedPurchaseToken: string | null;
  autoRenewing: boolean | null;
}

const PRODUCT_STATES: Record<number, PurchaseState> = {
  [ProductPurchaseState.PURCHASED]: PurchaseState.PURCHASED,
  [ProductPurchaseState.CANCELED]: PurchaseState.CANCELED,
  [ProductPurchaseState.PENDING]: PurchaseState.PENDING,
};

export function fromProductPurchase(resource: ProductPurchase, productId: string): PurchaseSnapshot {
  const state = resource.purchaseState === undefined ? PurchaseState.PURCHASED : PRODUCT_STATES[resource.purchaseState];
  return {
    kind: 'one_time',
    productId: resource.productId ?? productId,
    state: state ?? PurchaseState.UNSPECIFIED,
    expiresAt: null,
    purchasedAt: resource.purchaseTimeMillis === undefined ? null : new Date(resource.purchaseTimeMillis),
    orderId: resource.orderId ?? null,
    test: resource.purchaseType === ProductPurchaseType.TEST,
    acknowledged: resource.acknowledgementState === 1,
    consumed: resource.consumptionState === 1,
    quantity: Math.max(1, resource.quantity ?? 1),
    obfuscatedAccountId: resource.obfuscatedExternalAccountId ?? null,
    linkedPurchaseToken: null,
    autoRenewing: null,
  };
}

const SUBSCRIPTION_STATES: Record<string, PurchaseState> = {
  [SubscriptionState.PENDING]: PurchaseState.PENDING,
  [SubscriptionState.ACTIVE]: PurchaseState.ACTIVE,
  [SubscriptionState.PAUSED]: PurchaseState.PAUSED,
  [SubscriptionState.IN_GRACE_PERIOD]: PurchaseState.IN_GRACE_PERIOD,
  [SubscriptionState.ON_HOLD]: PurchaseState.ON_HOLD,
  [SubscriptionState.CANCELED]: PurchaseState.CANCELED,
  [SubscriptionState.EXPIRED]: PurchaseState.EXPIRED,
  [SubscriptionState.PENDING_PURCHASE_CANCELED]: PurchaseState.PENDING_PURCHASE_CANCELED,
};

/**
 * A subscription token may carry several line items (add-ons); the one for `productId` decides.
 * A token whose items do not include the product was bought for something else: not found.
 */
export function fromSubscriptionPurchase(resource: SubscriptionPurchaseV2, productId: string): PurchaseSnapshot {
  const items = resource.lineItems ?? [];
  const item = items.find((i) => i.productId === productId);
  const state = SUBSCRIPTION_STATES[resource.subscriptionState ?? ''] ?? PurchaseState.UNSPECIFIED;
  if (!item && !(items.length === 0 && state === PurchaseState.PENDING)) {
    throw new DomainError(
      'purchase_not_found',
      `This purchase token is not a subscription to "${productId}". Send the productId the app bought.`,
    );
  }
  return {
    kind: 'subscription',
    productId,
    state,
    expiresAt: item?.expiryTime ? new Date(item.expiryTime) : null,
    purchasedAt: resource.startTime ? new Date(resource.startTime) : null,
    orderId: item?.latestSuccessfulOrderId ?? resource.latestOrderId ?? null,
    test: resource.testPurchase !== undefined,
    acknowledged: resource.acknowledgementState === AcknowledgementState.ACKNOWLEDGED,
    consumed: false,
    quantity: 1,
    obfuscatedAccountId: resource.externalAccountIdentifiers?.obfuscatedExternalAccountId ?? null,
    linkedPurchaseToken: resource.linkedPurchaseToken ?? null,
    autoRenewing: item?.autoRenewingPlan ? (item.autoRenewingPlan.autoRenewEnabled ?? false) : item?.prepaidPlan ? false : null,
  };
}

/** States whose access lasts until expiresAt. ON_HOLD, PAUSED, EXPIRED and the pending ones grant nothing. */
const SUBSCRIPTION_ACCESS: ReadonlySet<PurchaseState> = new Set([
  PurchaseState.ACTIVE,
  PurchaseState.IN_GRACE_PERIOD,
  PurchaseState.CANCELED,
]);

export function grantsAccess(snapshot: PurchaseSnapshot, now: Date): boolean {
  if (snapshot.kind === 'one_time') return snapshot.state === PurchaseState.PURCHASED;
  return SUBSCRIPTION_ACCESS.has(snapshot.state) && snapshot.expiresAt !== null && snapshot.expiresAt > now;
}

/** Whether the payment is done; only then is anything granted, acknowledged or consumed. */
export const isPaid = (s: PurchaseSnapshot): boolean =>
  s.state !== PurchaseState.PENDING && s.state !== PurchaseState.PENDING_PURCHASE_CANCELED && s.state !== PurchaseState.UNSPECIFIED;

/** A one-time purchase canceled or refunded, or a pending subscription canceled before payment. */
export const isCanceledBeforeUse = (s: PurchaseSnapshot): boolean =>
  (s.kind === 'one_time' && s.state === PurchaseState.CANCELED) || s.state === PurchaseState.PENDING_PURCHASE_CANCELED;
