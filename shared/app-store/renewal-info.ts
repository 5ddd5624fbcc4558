import { z } from 'zod';
import { AppStoreEnvironment } from './transaction';

/** Renewal info of an auto-renewable subscription (JWSRenewalInfoDecodedPayload), checked after verification. */
export const AutoRenewStatus = { OFF: 0, ON: 1 } as const;

export const AppStoreRenewalInfoSchema = z.object({
  originalTransactionId: z.string().min(1).max(64),
  environment: z.enum(Object.values(AppStoreEnvironment) as [AppStoreEnvironment, ...AppStoreEnvironment[]]),
  signedDate: z.number().int().nonnegative(),
  productId: z.string().optional(),
  autoRenewProductId: z.string().optional(),
  autoRenewStatus: z.union([z.literal(AutoRenewStatus.OFF), z.literal(AutoRenewStatus.ON)]).optional(),
  isInBillingRetryPeriod: z.boolean().optional(),
  gracePeriodExpiresDate: z.number().int().nonnegative().optional(),
  expirationIntent: z.number().int().optional(),
  renewalDate: z.number().int().nonnegative().optional(),
});
export type AppStoreRenewalInfo = z.infer<typeof AppStoreRenewalInfoSchema>;
