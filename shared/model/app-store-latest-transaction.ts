import { createHash } from 'node:crypto';
import * as z from '../zod';

/**
 * The newest transaction of an auto-renewable subscription, as the purchase record keeps it. Every
 * renewal, upgrade or re-subscribe is a new transaction under the same originalTransactionId; a
 * notification may be about any of them (a REFUND of a renewal paid months ago). Only the newest one
 * says what the current period is, so signed data about an older one must not overwrite it.
 * The id is a fingerprint: transaction ids are never stored raw in a readable document.
 */
export const LatestTransactionSchema = z.strictObject({
  /** SHA-256 hex of `app_store_tx:<transactionId>`. */
  id: z.string().check(z.regex(/^[0-9a-f]{64}$/)),
  purchaseDate: z.date(),
  /** null: the transaction has no expiry (never for a subscription renewal, but Apple may omit it). */
  expiresDate: z.nullable(z.date()),
});
export type LatestTransaction = z.infer<typeof LatestTransactionSchema>;

export const transactionFingerprint = (transactionId: string): string =>
  createHash('sha256').update(`app_store_tx:${transactionId}`, 'utf8').digest('hex');

export function latestTransactionOf(tx: { transactionId: string; purchaseDate: number; expiresDate?: number | undefined }): LatestTransaction {
  return {
    id: transactionFingerprint(tx.transactionId),
    purchaseDate: new Date(tx.purchaseDate),
    expiresDate: tx.expiresDate === undefined ? null : new Date(tx.expiresDate),
  };
}

/**
 * Whether `candidate` is an older transaction than the stored newest one: another transaction,
 * bought before it. The same transaction (a REFUND of the current period) is never "past"; without a
 * stored newest transaction (records written before it was kept) nothing is.
 */
export function isPastTransaction(candidate: LatestTransaction | null, stored: LatestTransaction | null): boolean {
  if (!candidate || !stored || candidate.id === stored.id) return false;
  return candidate.purchaseDate.getTime() < stored.purchaseDate.getTime();
}

/** What to keep: the fresh view of the same transaction (RENEWAL_EXTENDED moves its expiry), else the newer one. */
export function newerTransaction(fresh: LatestTransaction | null, stored: LatestTransaction | null): LatestTransaction | null {
  if (!fresh) return stored;
  if (!stored || fresh.id === stored.id) return fresh;
  return fresh.purchaseDate.getTime() > stored.purchaseDate.getTime() ? fresh : stored;
}
