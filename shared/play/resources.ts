import { z } from 'zod';

/**
 * The Play Developer API resources we read, as Play sends them (int64 values as strings, V2 times as
 * RFC 3339). Loose objects: Play adds fields over time and an unknown field must not fail a purchase.
 */
const int64 = z.union([z.string().regex(/^-?\d+$/), z.number().int()]).transform((v) => Number(v));
const opt = <T extends z.ZodType>(t: T) => t.nullish().transform((v) => v ?? undefined);

/** purchases.products.get. Codes: purchaseState 0 purchased / 1 canceled / 2 pending. */
export const ProductPurchaseSchema = z.looseObject({
  kind: opt(z.string()),
  purchaseTimeMillis: opt(int64),
  purchaseState: opt(z.number().int()),
  consumptionState: opt(z.number().int()),
  acknowledgementState: opt(z.number().int()),
  purchaseType: opt(z.number().int()),
  orderId: opt(z.string()),
  productId: opt(z.string()),
  purchaseToken: opt(z.string()),
  quantity: opt(z.number().int()),
  refundableQuantity: opt(z.number().int()),
  regionCode: opt(z.string()),
  obfuscatedExternalAccountId: opt(z.string()),
  obfuscatedExternalProfileId: opt(z.string()),
});
export type ProductPurchase = z.infer<typeof ProductPurchaseSchema>;

export const ProductPurchaseState = { PURCHASED: 0, CANCELED: 1, PENDING: 2 } as const;
export const ProductPurchaseType = { TEST: 0, PROMO: 1, REWARDED: 2 } as const;

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
  externalAccountIdentifiers: opt(
    z.looseObject({
      externalAccountId: opt(z.string()),
      obfuscatedExternalAccountId: opt(z.string()),
      obfuscatedExternalProfileId: opt(z.string()),
    }),
  ),
  pausedStateContext: opt(z.looseObject({ autoResumeTime: opt(z.string()) })),
  canceledStateContext: opt(z.looseObject({})),
  etag: opt(z.string()),
});
export type SubscriptionPurchaseV2 = z.infer<typeof SubscriptionPurchaseV2Schema>;
