import { DomainError } from '../errors';
import {
  AcknowledgementState,
  ConsumptionState,
  ProductPurchaseState,
  SubscriptionState,
  type ProductPurchaseV2,
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

/** One product on a token: a subscription's base plan or add-on, or one product of a one-time purchase. */
export interface PurchaseItem {
  productId: string;
  /** Subscriptions: this item's end of paid access. One-time: null (a rental's end comes from the catalog). */
  expiresAt: Date | null;
  orderId: string | null;
  quantity: number;
  /** Units not refunded yet (Play's refundableQuantity); the quantity where the store does not say. */
  refundableQuantity: number;
  consumed: boolean;
  /** Bought with a rent purchase option: never lifetime access. */
  rental: boolean;
}

export interface PurchaseSnapshot {
  kind: PurchaseKind;
  /** The token's primary product: its first line item in the catalog (the same whichever item was asked for). */
  productId: string;
  state: PurchaseState;
  /** Every line item; a subscription with add-ons has several, each with its own expiry. */
  items: PurchaseItem[];
  /** Subscriptions: the latest end of paid access over all items (grace included). One-time: null. */
  expiresAt: Date | null;
  purchasedAt: Date | null;
  /** Latest successful order; absent for pending and some test purchases, which is normal. */
  orderId: string | null;
  test: boolean;
  acknowledged: boolean;
  consumed: boolean;
  quantity: number;
  /** The app's account binding (Play's obfuscatedExternalAccountId, Apple's appAccountToken). */
  obfuscatedAccountId: string | null;
  linkedPurchaseToken: string | null;
  /** Play: an out-of-app re-subscribe names the expired token (and its account binding) it follows. */
  outOfAppExpiredToken: string | null;
  expiredAccountId: string | null;
  autoRenewing: boolean | null;
}

/** A store whose purchases hold one product each (Apple): the snapshot's only item. */
export function withSoleItem(s: Omit<PurchaseSnapshot, 'items'>): PurchaseSnapshot {
  const item: PurchaseItem = {
    productId: s.productId,
    expiresAt: s.expiresAt,
    orderId: s.orderId,
    quantity: s.quantity,
    refundableQuantity: s.quantity,
    consumed: s.consumed,
    rental: false,
  };
  return { ...s, items: [item] };
}

/** Which products the caller knows (the catalog), to pick a token's primary product. */
export interface ReadOptions {
  /** The productId the app sent; a token that does not carry it is not the purchase asked about. */
  requested?: string | undefined;
  known: (productId: string) => boolean;
}

const PRODUCT_STATES: Record<string, PurchaseState> = {
  [ProductPurchaseState.PURCHASED]: PurchaseState.PURCHASED,
  [ProductPurchaseState.CANCELLED]: PurchaseState.CANCELED,
  [ProductPurchaseState.PENDING]: PurchaseState.PENDING,
};

function primaryItem<T extends { productId: string }>(items: T[], opts: ReadOptions, what: string): T | undefined {
  if (opts.requested !== undefined && items.length > 0 && !items.some((i) => i.productId === opts.requested)) {
    throw new DomainError('purchase_not_found', `This purchase token is not ${what} "${opts.requested}". Send the productId the app bought.`);
  }
  return items.find((i) => opts.known(i.productId)) ?? items[0];
}

/** purchases.productsv2 -> snapshot. */
export function fromProductPurchaseV2(resource: ProductPurchaseV2, opts: ReadOptions): PurchaseSnapshot {
  const items: PurchaseItem[] = (resource.productLineItem ?? []).map((li) => {
    const quantity = Math.max(1, li.productOfferDetails?.quantity ?? 1);
    return {
      productId: li.productId,
      expiresAt: null,
      orderId: resource.orderId ?? null,
      quantity,
      refundableQuantity: li.productOfferDetails?.refundableQuantity ?? quantity,
      consumed: li.productOfferDetails?.consumptionState === ConsumptionState.CONSUMED,
      rental: li.productOfferDetails?.rentOfferDetails !== undefined,
    };
  });
  const primary = primaryItem(items, opts, 'a purchase of');
  const productId = primary?.productId ?? opts.requested;
  if (!productId) throw new DomainError('purchase_not_found', 'Google Play returned no product for this purchase token.');
  return {
    kind: 'one_time',
    productId,
    state: PRODUCT_STATES[resource.purchaseStateContext?.purchaseState ?? ''] ?? PurchaseState.UNSPECIFIED,
    items,
    expiresAt: null,
    purchasedAt: resource.purchaseCompletionTime ? new Date(resource.purchaseCompletionTime) : null,
    orderId: resource.orderId ?? null,
    test: resource.testPurchaseContext !== undefined,
    acknowledged: resource.acknowledgementState === AcknowledgementState.ACKNOWLEDGED,
    consumed: primary?.consumed ?? false,
    quantity: primary?.quantity ?? 1,
    obfuscatedAccountId: resource.obfuscatedExternalAccountId ?? null,
    linkedPurchaseToken: null,
    outOfAppExpiredToken: null,
    expiredAccountId: null,
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
 * purchases.subscriptionsv2 -> snapshot. A token may carry several line items (a base plan and
 * add-ons); each keeps its own expiry. A token whose items do not include the requested product was
 * bought for something else: not found.
 */
export function fromSubscriptionPurchase(resource: SubscriptionPurchaseV2, opts: ReadOptions): PurchaseSnapshot {
  const lineItems = resource.lineItems ?? [];
  const items: PurchaseItem[] = lineItems.map((li) => ({
    productId: li.productId,
    expiresAt: li.expiryTime ? new Date(li.expiryTime) : null,
    orderId: li.latestSuccessfulOrderId ?? null,
    quantity: 1,
    refundableQuantity: 1,
    consumed: false,
    rental: false,
  }));
  const primary = primaryItem(items, opts, 'a subscription to');
  const productId = primary?.productId ?? opts.requested;
  if (!productId) throw new DomainError('purchase_not_found', 'Google Play returned no line item for this subscription.');
  const primaryLine = lineItems.find((li) => li.productId === productId);
  const expiries = items.map((i) => i.expiresAt?.getTime()).filter((t): t is number => t !== undefined);
  const outOfApp = resource.outOfAppPurchaseContext;
  return {
    kind: 'subscription',
    productId,
    state: SUBSCRIPTION_STATES[resource.subscriptionState ?? ''] ?? PurchaseState.UNSPECIFIED,
    items,
    expiresAt: expiries.length > 0 ? new Date(Math.max(...expiries)) : null,
    purchasedAt: resource.startTime ? new Date(resource.startTime) : null,
    orderId: primary?.orderId ?? resource.latestOrderId ?? null,
    test: resource.testPurchase !== undefined,
    acknowledged: resource.acknowledgementState === AcknowledgementState.ACKNOWLEDGED,
    consumed: false,
    quantity: 1,
    obfuscatedAccountId: resource.externalAccountIdentifiers?.obfuscatedExternalAccountId ?? null,
    linkedPurchaseToken: resource.linkedPurchaseToken ?? null,
    outOfAppExpiredToken: outOfApp?.expiredPurchaseToken ?? null,
    expiredAccountId: outOfApp?.expiredExternalAccountIdentifiers?.obfuscatedExternalAccountId ?? null,
    autoRenewing: primaryLine?.autoRenewingPlan
      ? (primaryLine.autoRenewingPlan.autoRenewEnabled ?? false)
      : primaryLine?.prepaidPlan
        ? false
        : null,
  };
}

/** States whose access lasts until expiresAt. ON_HOLD, PAUSED, EXPIRED and the pending ones grant nothing. */
const SUBSCRIPTION_ACCESS: ReadonlySet<PurchaseState> = new Set([
  PurchaseState.ACTIVE,
  PurchaseState.IN_GRACE_PERIOD,
  PurchaseState.CANCELED,
]);

/** One-time purchases grant while purchased (a rental until its end); subscriptions until expiresAt. */
export function grantsAccess(snapshot: PurchaseSnapshot, now: Date): boolean {
  if (snapshot.kind === 'one_time') {
    return snapshot.state === PurchaseState.PURCHASED && (snapshot.expiresAt === null || snapshot.expiresAt > now);
  }
  return SUBSCRIPTION_ACCESS.has(snapshot.state) && snapshot.expiresAt !== null && snapshot.expiresAt > now;
}

/** Whether the payment is done; only then is anything granted, acknowledged or consumed. */
export const isPaid = (s: PurchaseSnapshot): boolean =>
  s.state !== PurchaseState.PENDING && s.state !== PurchaseState.PENDING_PURCHASE_CANCELED && s.state !== PurchaseState.UNSPECIFIED;

/** A one-time purchase canceled or refunded, or a pending subscription canceled before payment. */
export const isCanceledBeforeUse = (s: PurchaseSnapshot): boolean =>
  (s.kind === 'one_time' && s.state === PurchaseState.CANCELED) || s.state === PurchaseState.PENDING_PURCHASE_CANCELED;
