import * as z from '../zod';

/**
 * Apple's `revocationPercentage`: the share of a transaction the App Store refunded, in thousandths of
 * a percent (100000 = 100 %). A consumable's credits are taken back in that share, rounded down (in
 * the user's favour), once: the record keeps what was taken, so the same refund seen again (another
 * notification, a re-read, a verification) takes nothing more, and a larger one takes only the rest.
 */
export const FULL_REFUND = 100_000;

export const RevocationPercentageSchema = z.int().check(z.gte(0), z.lte(FULL_REFUND));

export interface TakeBack {
  /** What stands taken back after this refund (the record's creditsReversed). */
  reversed: Record<string, number> | null;
  /** Balance changes to apply now (negative); empty when nothing more is owed back. */
  credit: Record<string, number>;
}

/** `percentage` null = a refund in full (Apple omits the field, or the record predates it). */
export function takeBackCredits(
  credited: Record<string, number> | null,
  alreadyReversed: Record<string, number> | null,
  percentage: number | null,
): TakeBack {
  if (!credited) return { reversed: alreadyReversed, credit: {} };
  const share = Math.min(Math.max(percentage ?? FULL_REFUND, 0), FULL_REFUND);
  const reversed: Record<string, number> = { ...(alreadyReversed ?? {}) };
  const credit: Record<string, number> = {};
  for (const [balance, amount] of Object.entries(credited)) {
    const owed = Math.floor((amount * share) / FULL_REFUND);
    const taken = reversed[balance] ?? 0;
    // Never given back here: only REFUND_REVERSED returns credits (all that was taken).
    if (owed <= taken) continue;
    credit[balance] = -(owed - taken);
    reversed[balance] = owed;
  }
  const any = Object.values(reversed).some((n) => n > 0);
  return { reversed: any ? reversed : alreadyReversed, credit };
}
