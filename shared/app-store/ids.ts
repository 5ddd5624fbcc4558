import { createHash } from 'node:crypto';

/**
 * `purchases/{id}` for App Store purchases: SHA-256 hex of `app_store:<originalTransactionId>` (one
 * owner for a purchase and all its renewals), or of `app_store:<transactionId>` for consumables,
 * which are credited once per transaction. The raw ids are never stored.
 */
export function appStorePurchaseId(t: { transactionId: string; originalTransactionId: string }, consumable: boolean): string {
  const key = consumable ? t.transactionId : t.originalTransactionId;
  return createHash('sha256').update(`app_store:${key}`, 'utf8').digest('hex');
}
