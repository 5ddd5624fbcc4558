import { z } from 'zod';
import { RevocationPercentageSchema } from '../model/app-store-refund-share';

/**
 * A StoreKit 2 transaction as Apple signs it (JWSTransactionDecodedPayload), checked after Apple's
 * library verified the signature. Dates are milliseconds since the epoch. Unknown fields pass: Apple
 * adds fields over time.
 */
export const AppStoreEnvironment = {
  PRODUCTION: 'Production',
  SANDBOX: 'Sandbox',
  XCODE: 'Xcode',
  LOCAL_TESTING: 'LocalTesting',
} as const;
export type AppStoreEnvironment = (typeof AppStoreEnvironment)[keyof typeof AppStoreEnvironment];

/** The environments whose data Apple signs; Xcode and LocalTesting data is signed locally and never trusted. */
export const SIGNED_ENVIRONMENTS = [AppStoreEnvironment.PRODUCTION, AppStoreEnvironment.SANDBOX] as const;
export type SignedEnvironment = (typeof SIGNED_ENVIRONMENTS)[number];

export const AppStoreProductType = {
  AUTO_RENEWABLE: 'Auto-Renewable Subscription',
  NON_RENEWING: 'Non-Renewing Subscription',
  NON_CONSUMABLE: 'Non-Consumable',
  CONSUMABLE: 'Consumable',
} as const;
export type AppStoreProductType = (typeof AppStoreProductType)[keyof typeof AppStoreProductType];

export const OwnershipType = { PURCHASED: 'PURCHASED', FAMILY_SHARED: 'FAMILY_SHARED' } as const;

const id = z.string().min(1).max(64);
const millis = z.number().int().nonnegative();

export const AppStoreTransactionSchema = z.object({
  transactionId: id,
  originalTransactionId: id,
  bundleId: z.string().min(1),
  productId: z.string().min(1),
  type: z.enum(Object.values(AppStoreProductType) as [AppStoreProductType, ...AppStoreProductType[]]),
  environment: z.enum(Object.values(AppStoreEnvironment) as [AppStoreEnvironment, ...AppStoreEnvironment[]]),
  purchaseDate: millis,
  signedDate: millis,
  originalPurchaseDate: millis.optional(),
  expiresDate: millis.optional(),
  revocationDate: millis.optional(),
  revocationReason: z.number().int().optional(),
  revocationType: z.string().optional(),
  /** The refunded share, thousandths of a percent (100000 = 100 %); absent for a refund in full. */
  revocationPercentage: RevocationPercentageSchema.optional(),
  quantity: z.number().int().positive().optional(),
  inAppOwnershipType: z.enum([OwnershipType.PURCHASED, OwnershipType.FAMILY_SHARED]).optional(),
  appAccountToken: z.string().optional(),
  subscriptionGroupIdentifier: z.string().optional(),
  webOrderLineItemId: z.string().optional(),
  transactionReason: z.string().optional(),
  isUpgraded: z.boolean().optional(),
});
export type AppStoreTransaction = z.infer<typeof AppStoreTransactionSchema>;
