import * as z from '../zod';
import type { PurchaseRecord } from '../store/purchase-record';
import { LatestTransactionSchema, type LatestTransaction } from './app-store-latest-transaction';
import { RevocationPercentageSchema } from './app-store-refund-share';

/**
 * What an App Store purchase record keeps beyond the shared fields, under `appStore` on
 * `purchases/{id}`: the subscription's newest transaction (signed data about an older one never
 * overwrites the current period) and the refunded share behind `creditsReversed` (so the same partial
 * refund seen again takes nothing more). Read back through the validator: a record written before
 * these fields existed, or altered by hand, yields nulls.
 */
export const AppStoreRecordFieldsSchema = z.object({
  latestTransaction: z._default(z.nullable(LatestTransactionSchema), null),
  revocationPercentage: z._default(z.nullable(RevocationPercentageSchema), null),
});
export type AppStoreRecordFields = z.infer<typeof AppStoreRecordFieldsSchema>;

export type AppStorePurchaseRecord = PurchaseRecord & { appStore?: AppStoreRecordFields };

const EMPTY: AppStoreRecordFields = { latestTransaction: null, revocationPercentage: null };

export function appStoreFieldsOf(record: PurchaseRecord | null): AppStoreRecordFields {
  const raw = (record as AppStorePurchaseRecord | null)?.appStore;
  const parsed = AppStoreRecordFieldsSchema.safeParse(raw ?? {});
  return parsed.success ? parsed.data : EMPTY;
}

export const storedLatestTransaction = (record: PurchaseRecord | null): LatestTransaction | null => appStoreFieldsOf(record).latestTransaction;
