import * as z from '../zod';
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

const id = z.string().check(z.minLength(1), z.maxLength(64));
const millis = z.int().check(z.nonnegative());

export const AppStoreTransactionSchema = z.object({
  transactionId: id,
  originalTransactionId: id,
  bundleId: z.string().check(z.minLength(1)),
  productId: z.string().check(z.minLength(1)),
  type: z.enum(Object.values(AppStoreProductType) as [AppStoreProductType, ...AppStoreProductType[]]),
  environment: z.enum(Object.values(AppStoreEnvironment) as [AppStoreEnvironment, ...AppStoreEnvironment[]]),
  purchaseDate: millis,
  signedDate: millis,
  originalPurchaseDate: z.optional(millis),
  expiresDate: z.optional(millis),
  revocationDate: z.optional(millis),
  revocationReason: z.optional(z.int()),
  revocationType: z.optional(z.string()),
  /** The refunded share, thousandths of a percent (100000 = 100 %); absent for a refund in full. */
  revocationPercentage: z.optional(RevocationPercentageSchema),
  quantity: z.optional(z.int().check(z.positive())),
  inAppOwnershipType: z.optional(z.enum([OwnershipType.PURCHASED, OwnershipType.FAMILY_SHARED])),
  appAccountToken: z.optional(z.string()),
  subscriptionGroupIdentifier: z.optional(z.string()),
  webOrderLineItemId: z.optional(z.string()),
  transactionReason: z.optional(z.string()),
  isUpgraded: z.optional(z.boolean()),
});
export type AppStoreTransaction = z.infer<typeof AppStoreTransactionSchema>;
