import { createHash } from 'node:crypto';

/**
 * `purchases/{id}` for App Store purchases: SHA-256 hex of `app_store:<originalTransactionId>` (one
 * owner for a purchase and all its renewals), or of `app_store:<transactionId>` for consumables,
 * which are credited once per transaction. The raw ids are never stored in a readable document (the
 * sweep keeps them server-only in `purchaseTokens`, to look purchases up again).
 */
export function appStorePurchaseId(t: { transactionId: string; originalTransactionId: string }, consumable: boolean): string {
  return createHash('sha256').update(`app_store:${appStoreKey(t, consumable)}`, 'utf8').digest('hex');
}

/** The id an App Store purchase record is keyed by, kept server-only so the sweep can look it up again. */
export const appStoreKey = (t: { transactionId: string; originalTransactionId: string }, consumable: boolean): string =>
  consumable ? t.transactionId : t.originalTransactionId;
