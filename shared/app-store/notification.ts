import * as z from '../zod';
import { AppStoreEnvironment } from './transaction';

/**
 * App Store Server Notifications V2 (ResponseBodyV2DecodedPayload), checked after verification.
 * Only `data` notifications concern one purchase; `summary`, `externalPurchaseToken` and `appData`
 * ones are acknowledged and logged.
 */
export const NotificationType = {
  SUBSCRIBED: 'SUBSCRIBED',
  DID_RENEW: 'DID_RENEW',
  DID_FAIL_TO_RENEW: 'DID_FAIL_TO_RENEW',
  GRACE_PERIOD_EXPIRED: 'GRACE_PERIOD_EXPIRED',
  EXPIRED: 'EXPIRED',
  DID_CHANGE_RENEWAL_STATUS: 'DID_CHANGE_RENEWAL_STATUS',
  DID_CHANGE_RENEWAL_PREF: 'DID_CHANGE_RENEWAL_PREF',
  OFFER_REDEEMED: 'OFFER_REDEEMED',
  REFUND: 'REFUND',
  REFUND_REVERSED: 'REFUND_REVERSED',
  REFUND_DECLINED: 'REFUND_DECLINED',
  REVOKE: 'REVOKE',
  RENEWAL_EXTENDED: 'RENEWAL_EXTENDED',
  RENEWAL_EXTENSION: 'RENEWAL_EXTENSION',
  ONE_TIME_CHARGE: 'ONE_TIME_CHARGE',
  CONSUMPTION_REQUEST: 'CONSUMPTION_REQUEST',
  PRICE_INCREASE: 'PRICE_INCREASE',
  TEST: 'TEST',
} as const;

export const NotificationSubtype = {
  INITIAL_BUY: 'INITIAL_BUY',
  RESUBSCRIBE: 'RESUBSCRIBE',
  UPGRADE: 'UPGRADE',
  DOWNGRADE: 'DOWNGRADE',
  AUTO_RENEW_ENABLED: 'AUTO_RENEW_ENABLED',
  AUTO_RENEW_DISABLED: 'AUTO_RENEW_DISABLED',
  VOLUNTARY: 'VOLUNTARY',
  BILLING_RETRY: 'BILLING_RETRY',
  GRACE_PERIOD: 'GRACE_PERIOD',
  BILLING_RECOVERY: 'BILLING_RECOVERY',
} as const;

const environment = z.enum(Object.values(AppStoreEnvironment) as [AppStoreEnvironment, ...AppStoreEnvironment[]]);

export const AppStoreNotificationSchema = z.object({
  notificationType: z.string().check(z.minLength(1), z.maxLength(64)),
  subtype: z.optional(z.string().check(z.minLength(1), z.maxLength(64))),
  notificationUUID: z.string().check(z.regex(/^[A-Za-z0-9-]{8,64}$/, 'must be a UUID')),
  version: z.optional(z.string()),
  signedDate: z.int().check(z.nonnegative()),
  data: z.optional(
    z.object({
      environment: z.optional(environment),
      appAppleId: z.optional(z.number()),
      bundleId: z.optional(z.string()),
      signedTransactionInfo: z.optional(z.string()),
      signedRenewalInfo: z.optional(z.string()),
      status: z.optional(z.int().check(z.gte(1), z.lte(5))),
      consumptionRequestReason: z.optional(z.string()),
    }),
  ),
});
export type AppStoreNotificationPayload = z.infer<typeof AppStoreNotificationSchema>;
