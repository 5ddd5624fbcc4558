import * as z from '../zod';

/**
 * Play's Real-Time Developer Notification (the JSON inside a Pub/Sub message's base64 `data`).
 * Exactly one of the notification kinds is present. Loose objects: Play adds fields over time.
 */
const int64 = z.pipe(z.union([z.string().check(z.regex(/^\d+$/)), z.int().check(z.nonnegative())]), z.transform(Number));
const token = z.string().check(z.minLength(1), z.maxLength(4096));

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
  version: z.optional(z.string()),
  notificationType: z.int().check(z.positive()),
  purchaseToken: token,
  subscriptionId: z.optional(z.string()),
});

const OneTimeProductNotificationSchema = z.looseObject({
  version: z.optional(z.string()),
  notificationType: z.int().check(z.positive()),
  purchaseToken: token,
  /** Absent for multi-product purchases; productsv2 needs no product id anyway. */
  sku: z.optional(z.string().check(z.minLength(1), z.maxLength(150))),
});

const VoidedPurchaseNotificationSchema = z.looseObject({
  purchaseToken: token,
  orderId: z.optional(z.string().check(z.maxLength(200))),
  productType: z.int(),
  refundType: z.int(),
});

const PendingRefundReviewNotificationSchema = z.looseObject({
  version: z.optional(z.string()),
  pendingRefundToken: z.optional(z.string()),
  orderId: z.optional(z.string()),
  refundReason: z.optional(z.unknown()),
});

export const DeveloperNotificationSchema = z
  .looseObject({
    version: z.optional(z.string()),
    packageName: z.string().check(z.minLength(1), z.maxLength(255)),
    eventTimeMillis: int64,
    subscriptionNotification: z.optional(SubscriptionNotificationSchema),
    oneTimeProductNotification: z.optional(OneTimeProductNotificationSchema),
    voidedPurchaseNotification: z.optional(VoidedPurchaseNotificationSchema),
    pendingRefundReviewNotification: z.optional(PendingRefundReviewNotificationSchema),
    testNotification: z.optional(z.looseObject({ version: z.optional(z.string()) })),
  })
  .check(
    z.refine(
      (n) =>
        [
          n.subscriptionNotification,
          n.oneTimeProductNotification,
          n.voidedPurchaseNotification,
          n.pendingRefundReviewNotification,
          n.testNotification,
        ].filter((x) => x !== undefined).length === 1,
      'exactly one notification kind must be present',
    ),
  );
export type DeveloperNotification = z.infer<typeof DeveloperNotificationSchema>;
