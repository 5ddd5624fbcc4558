import * as z from '../zod';

/**
 * The Play Developer API resources we read (the V2 ones: string enums, RFC 3339 times), as Play sends
 * them. Loose objects: Play adds fields over time and an unknown field must not fail a purchase.
 */
const opt = <T extends z.ZodMiniType>(t: T) => z.pipe(z.nullish(t), z.transform((v) => v ?? undefined));

const accountIdentifiers = z.looseObject({
  externalAccountId: opt(z.string()),
  obfuscatedExternalAccountId: opt(z.string()),
  obfuscatedExternalProfileId: opt(z.string()),
});

export const ProductPurchaseState = { PURCHASED: 'PURCHASED', CANCELLED: 'CANCELLED', PENDING: 'PENDING' } as const;
export const ConsumptionState = {
  YET_TO_BE_CONSUMED: 'CONSUMPTION_STATE_YET_TO_BE_CONSUMED',
  CONSUMED: 'CONSUMPTION_STATE_CONSUMED',
} as const;

const ProductLineItemSchema = z.looseObject({
  productId: z.string().check(z.minLength(1)),
  productOfferDetails: opt(
    z.looseObject({
      consumptionState: opt(z.string()),
      quantity: opt(z.int().check(z.nonnegative())),
      refundableQuantity: opt(z.int().check(z.nonnegative())),
      offerId: opt(z.string()),
      purchaseOptionId: opt(z.string()),
      rentOfferDetails: opt(z.looseObject({})),
      preorderOfferDetails: opt(z.looseObject({ preorderReleaseTime: opt(z.string()) })),
    }),
  ),
});

/** purchases.productsv2.getproductpurchasev2: one token, one or more one-time products. */
export const ProductPurchaseV2Schema = z.looseObject({
  kind: opt(z.string()),
  productLineItem: opt(z.array(ProductLineItemSchema)),
  purchaseStateContext: opt(z.looseObject({ purchaseState: opt(z.string()) })),
  acknowledgementState: opt(z.string()),
  orderId: opt(z.string()),
  purchaseCompletionTime: opt(z.iso.datetime({ offset: true })),
  regionCode: opt(z.string()),
  obfuscatedExternalAccountId: opt(z.string()),
  obfuscatedExternalProfileId: opt(z.string()),
  testPurchaseContext: opt(z.looseObject({ fopType: opt(z.string()) })),
});
export type ProductPurchaseV2 = z.infer<typeof ProductPurchaseV2Schema>;

export const SubscriptionState = {
  UNSPECIFIED: 'SUBSCRIPTION_STATE_UNSPECIFIED',
  PENDING: 'SUBSCRIPTION_STATE_PENDING',
  ACTIVE: 'SUBSCRIPTION_STATE_ACTIVE',
  PAUSED: 'SUBSCRIPTION_STATE_PAUSED',
  IN_GRACE_PERIOD: 'SUBSCRIPTION_STATE_IN_GRACE_PERIOD',
  ON_HOLD: 'SUBSCRIPTION_STATE_ON_HOLD',
  CANCELED: 'SUBSCRIPTION_STATE_CANCELED',
  EXPIRED: 'SUBSCRIPTION_STATE_EXPIRED',
  PENDING_PURCHASE_CANCELED: 'SUBSCRIPTION_STATE_PENDING_PURCHASE_CANCELED',
} as const;

export const AcknowledgementState = {
  UNSPECIFIED: 'ACKNOWLEDGEMENT_STATE_UNSPECIFIED',
  PENDING: 'ACKNOWLEDGEMENT_STATE_PENDING',
  ACKNOWLEDGED: 'ACKNOWLEDGEMENT_STATE_ACKNOWLEDGED',
} as const;

const SubscriptionLineItemSchema = z.looseObject({
  productId: z.string(),
  expiryTime: opt(z.iso.datetime({ offset: true })),
  autoRenewingPlan: opt(z.looseObject({ autoRenewEnabled: opt(z.boolean()) })),
  prepaidPlan: opt(z.looseObject({ allowExtendAfterTime: opt(z.string()) })),
  offerDetails: opt(z.looseObject({ basePlanId: opt(z.string()), offerId: opt(z.string()) })),
  latestSuccessfulOrderId: opt(z.string()),
});

/** purchases.subscriptionsv2.get */
export const SubscriptionPurchaseV2Schema = z.looseObject({
  kind: opt(z.string()),
  subscriptionState: opt(z.string()),
  acknowledgementState: opt(z.string()),
  lineItems: opt(z.array(SubscriptionLineItemSchema)),
  startTime: opt(z.iso.datetime({ offset: true })),
  linkedPurchaseToken: opt(z.string()),
  latestOrderId: opt(z.string()),
  regionCode: opt(z.string()),
  testPurchase: opt(z.looseObject({})),
  externalAccountIdentifiers: opt(accountIdentifiers),
  /** A re-subscribe made in the Play Store after expiry; removed once acknowledged. */
  outOfAppPurchaseContext: opt(
    z.looseObject({ expiredPurchaseToken: opt(z.string()), expiredExternalAccountIdentifiers: opt(accountIdentifiers) }),
  ),
  pausedStateContext: opt(z.looseObject({ autoResumeTime: opt(z.string()) })),
  canceledStateContext: opt(z.looseObject({})),
  etag: opt(z.string()),
});
export type SubscriptionPurchaseV2 = z.infer<typeof SubscriptionPurchaseV2Schema>;

/** purchases.voidedpurchases.list: revoked orders (Play lists no refund made without revoke). */
export const VoidedPurchaseSchema = z.looseObject({
  purchaseToken: z.string().check(z.minLength(1)),
  orderId: opt(z.string()),
  purchaseTimeMillis: opt(z.string()),
  voidedTimeMillis: opt(z.string()),
  voidedSource: opt(z.int()),
  voidedReason: opt(z.int()),
  /** Only for quantity-based partial refunds. */
  voidedQuantity: opt(z.int().check(z.positive())),
});
export type VoidedPurchase = z.infer<typeof VoidedPurchaseSchema>;

export const VoidedPurchasesPageSchema = z.looseObject({
  voidedPurchases: opt(z.array(VoidedPurchaseSchema)),
  tokenPagination: opt(z.looseObject({ nextPageToken: opt(z.string()) })),
});
export type VoidedPurchasesPage = z.infer<typeof VoidedPurchasesPageSchema>;
