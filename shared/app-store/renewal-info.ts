import * as z from '../zod';
import { AppStoreEnvironment } from './transaction';

/** Renewal info of an auto-renewable subscription (JWSRenewalInfoDecodedPayload), checked after verification. */
export const AutoRenewStatus = { OFF: 0, ON: 1 } as const;

export const AppStoreRenewalInfoSchema = z.object({
  originalTransactionId: z.string().check(z.minLength(1), z.maxLength(64)),
  environment: z.enum(Object.values(AppStoreEnvironment) as [AppStoreEnvironment, ...AppStoreEnvironment[]]),
  signedDate: z.int().check(z.nonnegative()),
  productId: z.optional(z.string()),
  autoRenewProductId: z.optional(z.string()),
  autoRenewStatus: z.optional(z.union([z.literal(AutoRenewStatus.OFF), z.literal(AutoRenewStatus.ON)])),
  isInBillingRetryPeriod: z.optional(z.boolean()),
  gracePeriodExpiresDate: z.optional(z.int().check(z.nonnegative())),
  expirationIntent: z.optional(z.int()),
  renewalDate: z.optional(z.int().check(z.nonnegative())),
});
export type AppStoreRenewalInfo = z.infer<typeof AppStoreRenewalInfoSchema>;
