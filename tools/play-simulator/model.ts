/** Internal purchase records. Times are ms on the simulator clock. */

export const DAY_MS = 86_400_000;
/** Play refunds and revokes a purchase not acknowledged within 3 days. */
export const ACK_WINDOW_MS = 3 * DAY_MS;

export const SubState = {
  PENDING: 'SUBSCRIPTION_STATE_PENDING',
  ACTIVE: 'SUBSCRIPTION_STATE_ACTIVE',
  PAUSED: 'SUBSCRIPTION_STATE_PAUSED',
  IN_GRACE_PERIOD: 'SUBSCRIPTION_STATE_IN_GRACE_PERIOD',
  ON_HOLD: 'SUBSCRIPTION_STATE_ON_HOLD',
  CANCELED: 'SUBSCRIPTION_STATE_CANCELED',
  EXPIRED: 'SUBSCRIPTION_STATE_EXPIRED',
  PENDING_PURCHASE_CANCELED: 'SUBSCRIPTION_STATE_PENDING_PURCHASE_CANCELED',
} as const;
export type SubscriptionState = (typeof SubState)[keyof typeof SubState];

/** RTDN subscriptionNotification.notificationType (API_NOTES §2). */
export const SubEvent = {
  RECOVERED: 1,
  RENEWED: 2,
  CANCELED: 3,
  PURCHASED: 4,
  ON_HOLD: 5,
  IN_GRACE_PERIOD: 6,
  RESTARTED: 7,
  DEFERRED: 9,
  PAUSED: 10,
  REVOKED: 12,
  EXPIRED: 13,
  ITEMS_CHANGED: 17,
  PENDING_PURCHASE_CANCELED: 20,
} as const;

/** RTDN oneTimeProductNotification.notificationType. */
export const OneTimeEvent = { PURCHASED: 1, CANCELED: 2 } as const;

export const VoidedSource = { USER: 0, DEVELOPER: 1, GOOGLE: 2 } as const;
export const VoidedReason = { OTHER: 0, REMORSE: 1, CHARGEBACK: 7, UNACKNOWLEDGED_PURCHASE: 8 } as const;
/** voidedPurchaseNotification.refundType */
export const RefundType = { FULL: 1, QUANTITY_BASED_PARTIAL: 2 } as const;

export const CANCEL_SURVEY_REASONS = [
  'CANCEL_SURVEY_REASON_UNSPECIFIED',
  'CANCEL_SURVEY_REASON_NOT_ENOUGH_USAGE',
  'CANCEL_SURVEY_REASON_TECHNICAL_ISSUES',
  'CANCEL_SURVEY_REASON_COST_RELATED',
  'CANCEL_SURVEY_REASON_FOUND_BETTER_APP',
  'CANCEL_SURVEY_REASON_OTHERS',
] as const;

export type Cancellation =
  | { by: 'user'; time: number; surveyReason?: string; reasonUserInput?: string }
  | { by: 'system' | 'developer' | 'replacement' };

interface RecordBase {
  packageName: string;
  productId: string;
  token: string;
  test: boolean;
  acknowledged: boolean;
  regionCode: string;
  obfuscatedExternalAccountId?: string;
  obfuscatedExternalProfileId?: string;
  developerPayload?: string;
  /** Every order of this token, oldest first. */
  orderIds: string[];
  /** Refund requests Play asked the developer to review (pendingRefundReviewNotification), oldest first. */
  refundReviews: RefundReview[];
}

/** A refund the user asked for that Play lets the developer weigh in on, for 24 hours (orders.reviewrefund). */
export interface RefundReview {
  orderId: string;
  pendingRefundToken: string;
  openedAt: number;
  refundReason?: string;
  answer?: 'approve' | 'decline';
  answeredAt?: number;
}

/** One productLineItem of a one-time purchase; the first is the record's productId. */
export interface ProductItem {
  productId: string;
  quantity: number;
  /** Lowered by quantity-based partial refunds; 0 once the order is refunded. */
  refundableQuantity: number;
  purchaseOptionId: string;
  offerId?: string;
  offerToken: string;
  rental: boolean;
  preorderReleaseTime?: number;
}

export interface ProductRecord extends RecordBase {
  type: 'product';
  items: ProductItem[];
  /** 0 purchased, 1 canceled, 2 pending */
  purchaseState: 0 | 1 | 2;
  consumed: boolean;
  promo: boolean;
  purchaseTime: number;
  /** When the payment completed (purchaseCompletionTime); absent while pending. */
  completionTime?: number;
}

/** What each subscription line item carries. The record itself is the base item; add-ons are the others. */
export interface SubscriptionItem {
  productId: string;
  basePlanId: string;
  offerId?: string;
  periodMs: number;
  priceMicros: number;
  expiryTime?: number;
  autoRenewEnabled: boolean;
  /** This item's orders, oldest first (the initial order, then renewals `..0`, `..1`). */
  orderIds: string[];
}

export interface AddOnItem extends SubscriptionItem {
  /** Canceled on its own or refunded by item: it never renews again, and lapses at its expiry. */
  ended: boolean;
}

export interface SubscriptionRecord extends RecordBase, SubscriptionItem {
  type: 'subscription';
  prepaid: boolean;
  addOns: AddOnItem[];
  state: SubscriptionState;
  startTime?: number;
  linkedPurchaseToken?: string;
  /** Re-subscribed from the Play Store after `expiredPurchaseToken` expired (outOfAppPurchaseContext). */
  outOfApp?: { expiredPurchaseToken: string; obfuscatedExternalAccountId?: string; obfuscatedExternalProfileId?: string };
  autoResumeTime?: number;
  holdEndTime?: number;
  cancellation?: Cancellation;
  currencyCode: string;
  /** Bumped on every change; the resource's etag. */
  version: number;
}

export type PurchaseRecord = ProductRecord | SubscriptionRecord;

export interface OrderRecord {
  orderId: string;
  token: string;
  packageName: string;
  time: number;
  refunded: boolean;
  /** Revoked as a whole (listed as voided); quantity-based partial voids do not set it. */
  voided: boolean;
}

export interface VoidedRecord {
  packageName: string;
  purchaseToken: string;
  orderId: string;
  purchaseTime: number;
  voidedTime: number;
  voidedSource: number;
  voidedReason: number;
  /** 1 subscription, 2 one-time (as in voidedPurchaseNotification) */
  productType: 1 | 2;
  /** Quantity-based partial refunds only. */
  voidedQuantity?: number;
  /** When Google's systems recorded the void: what voidedpurchases.list filters and pages on. */
  recordedTime: number;
  /** Insertion order, the tie-break of recordedTime. */
  seq: number;
}

export interface VoidSpec {
  source: number;
  reason: number;
  /** A quantity-based partial refund of this many units. */
  quantity?: number;
  /** Google records the void this long after it happened (default 0). */
  recordDelayMs?: number;
}

/** What lifecycle steps may do besides mutating their record; the store implements it. */
export interface Ledger {
  /** Event time (the simulator clock, or the moment a timed event fell due). */
  readonly now: number;
  emitSubscription(rec: SubscriptionRecord, notificationType: number): void;
  emitOneTime(rec: ProductRecord, notificationType: number): void;
  emitRefundReview(rec: PurchaseRecord, review: RefundReview): void;
  /** Registers an order of the record, appended to `into` (default the base item's orderIds). */
  openOrder(rec: PurchaseRecord, orderId: string, into?: string[]): void;
  /** Marks the order refunded. Throws if it already was. Not listed as voided: only revoked orders are. */
  refundOrder(orderId: string): void;
  /** Lists the order as voided and emits the voided RTDN. A spec without quantity marks it voided. */
  voidOrder(orderId: string, spec: VoidSpec): void;
  isRefunded(orderId: string): boolean;
  isVoided(orderId: string): boolean;
}
