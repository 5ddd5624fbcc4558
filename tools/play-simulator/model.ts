/** Internal purchase records. Times are ms on the simulator clock. */

export const DAY_MS = 86_400_000;

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
  PENDING_PURCHASE_CANCELED: 20,
} as const;

/** RTDN oneTimeProductNotification.notificationType. */
export const OneTimeEvent = { PURCHASED: 1, CANCELED: 2 } as const;

export const VoidedSource = { USER: 0, DEVELOPER: 1, GOOGLE: 2 } as const;
export const VoidedReason = { OTHER: 0, REMORSE: 1, UNACKNOWLEDGED_PURCHASE: 8 } as const;

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
}

export interface ProductRecord extends RecordBase {
  type: 'product';
  quantity: number;
  refundableQuantity: number;
  /** 0 purchased, 1 canceled, 2 pending */
  purchaseState: 0 | 1 | 2;
  consumed: boolean;
  promo: boolean;
  purchaseTime: number;
}

export interface SubscriptionRecord extends RecordBase {
  type: 'subscription';
  basePlanId: string;
  offerId?: string;
  periodMs: number;
  prepaid: boolean;
  state: SubscriptionState;
  startTime?: number;
  expiryTime?: number;
  autoRenewEnabled: boolean;
  linkedPurchaseToken?: string;
  autoResumeTime?: number;
  holdEndTime?: number;
  cancellation?: Cancellation;
  priceMicros: number;
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
}

/** What lifecycle steps may do besides mutating their record; the store implements it. */
export interface Ledger {
  /** Event time (the simulator clock, or the moment a timed event fell due). */
  readonly now: number;
  emitSubscription(rec: SubscriptionRecord, notificationType: number): void;
  emitOneTime(rec: ProductRecord, notificationType: number): void;
  openOrder(rec: PurchaseRecord, orderId: string): void;
  /** Marks the order refunded, lists it as voided and emits the voided RTDN. Throws if already refunded. */
  voidOrder(orderId: string, source: number, reason: number): void;
  isRefunded(orderId: string): boolean;
}
