import { z } from 'zod';

/**
 * Play's Real-Time Developer Notification (the JSON inside a Pub/Sub message's base64 `data`).
 * Exactly one of the notification kinds is present. Loose objects: Play adds fields over time.
 */
const int64 = z.union([z.string().regex(/^\d+$/), z.number().int().nonnegative()]).transform(Number);
const token = z.string().min(1).max(4096);

export const SubscriptionNotificationType = {
  RECOVERED: 1,
  RENEWED: 2,
  CANCELED: 3,
  PURCHASED: 4,
  ON_HOLD: 5,
  IN_GRACE_PERIOD: 6,
  RESTARTED: 7,
  PRICE_CHANGE_CONFIRMED: 8,
  DEFERRED: 9,
  PAUSED: 10,
  PAUSE_SCHEDULE_CHANGED: 11,
  REVOKED: 12,
  EXPIRED: 13,
  ITEMS_CHANGED: 17,
  CANCELLATION_SCHEDULED: 18,
  PRICE_CHANGE_UPDATED: 19,
  PENDING_PURCHASE_CANCELED: 20,
  PRICE_STEP_UP_CONSENT_UPDATED: 22,
} as const;

export const OneTimeProductNotificationType = { PURCHASED: 1, CANCELED: 2 } as const;
export const VoidedProductType = { SUBSCRIPTION: 1, ONE_TIME: 2 } as const;
export const VoidedRefundType = { FULL: 1, QUANTITY_BASED_PARTIAL: 2 } as const;

const SubscriptionNotificationSchema = z.looseObject({
  version: z.string().optional(),
  notificationType: z.number().int().positive(),
  purchaseToken: token,
  subscriptionId: z.string().optional(),
});

const OneTimeProductNotificationSchema = z.looseObject({
  version: z.string().optional(),
  notificationType: z.number().int().positive(),
  purchaseToken: token,
  /** Absent for multi-product purchases; productsv2 needs no product id anyway. */
  sku: z.string().min(1).max(150).optional(),
});

const VoidedPurchaseNotificationSchema = z.looseObject({
  purchaseToken: token,
  orderId: z.string().max(200).optional(),
  productType: z.number().int(),
  refundType: z.number().int(),
});

const PendingRefundReviewNotificationSchema = z.looseObject({
  version: z.string().optional(),
  pendingRefundToken: z.string().optional(),
  orderId: z.string().optional(),
  refundReason: z.unknown().optional(),
});

export const DeveloperNotificationSchema = z
  .looseObject({
    version: z.string().optional(),
    packageName: z.string().min(1).max(255),
    eventTimeMillis: int64,
    subscriptionNotification: SubscriptionNotificationSchema.optional(),
    oneTimeProductNotification: OneTimeProductNotificationSchema.optional(),
    voidedPurchaseNotification: VoidedPurchaseNotificationSchema.optional(),
    pendingRefundReviewNotification: PendingRefundReviewNotificationSchema.optional(),
    testNotification: z.looseObject({ version: z.string().optional() }).optional(),
  })
  .refine(
    (n) =>
      [
        n.subscriptionNotification,
        n.oneTimeProductNotification,
        n.voidedPurchaseNotification,
        n.pendingRefundReviewNotification,
        n.testNotification,
      ].filter((x) => x !== undefined).length === 1,
    'exactly one notification kind must be present',
  );
export type DeveloperNotification = z.infer<typeof DeveloperNotificationSchema>;
