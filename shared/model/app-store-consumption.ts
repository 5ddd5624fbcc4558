import * as z from '../zod';
import type { CatalogProduct } from '../catalog';
import type { PurchaseRecord } from '../store/purchase-record';

/**
 * The answer to a CONSUMPTION_REQUEST (Apple asks, before deciding a refund, what the customer got):
 * Send Consumption Information V2's body, built from what this server knows. Pure. Apple refuses a
 * body whose customerConsented is not true, and asks not to answer at all without the customer's
 * consent, so without it (or without opt-in) nothing is sent and the reason is recorded.
 * Not sent because it is not known here: how old the customer's account is (Firebase Auth would
 * need firebase-admin), whether a free sample was offered (always false).
 */
export const DeliveryStatus = {
  DELIVERED: 'DELIVERED',
  UNDELIVERED_QUALITY_ISSUE: 'UNDELIVERED_QUALITY_ISSUE',
  UNDELIVERED_WRONG_ITEM: 'UNDELIVERED_WRONG_ITEM',
  UNDELIVERED_SERVER_OUTAGE: 'UNDELIVERED_SERVER_OUTAGE',
  UNDELIVERED_OTHER: 'UNDELIVERED_OTHER',
} as const;
export type DeliveryStatus = (typeof DeliveryStatus)[keyof typeof DeliveryStatus];

/** APPLE_REFUND_PREFERENCE: the outcome the app asks Apple for. */
export const RefundPreference = { DECLINE: 'DECLINE', GRANT_FULL: 'GRANT_FULL', GRANT_PRORATED: 'GRANT_PRORATED' } as const;
export type RefundPreference = (typeof RefundPreference)[keyof typeof RefundPreference];

/** Why a consumption request was not answered. */
export const ConsumptionSkip = {
  /** APPLE_CONSUMPTION_INFO is not true: an admin may answer it. */
  NOT_OPTED_IN: 'not_opted_in',
  /** APPLE_CONSUMPTION_CONSENT is not true: the app does not collect the customer's consent. */
  NO_CONSENT: 'no_customer_consent',
  /** Nobody verified the purchase here: this server never delivered it, so it cannot say it did. */
  NOT_DELIVERED: 'not_delivered_here',
} as const;
export type ConsumptionSkip = (typeof ConsumptionSkip)[keyof typeof ConsumptionSkip];

export interface ConsumptionSettings {
  /** APPLE_CONSUMPTION_INFO=true: answer CONSUMPTION_REQUEST with Send Consumption Information. */
  answer: boolean;
  /** APPLE_CONSUMPTION_CONSENT=true: the app collects the customer's consent to share consumption data. */
  customerConsent: boolean;
  /** APPLE_REFUND_PREFERENCE; null = omitted. */
  refundPreference: RefundPreference | null;
}

const MILLI = 100_000;

export const ConsumptionInfoSchema = z.strictObject({
  customerConsented: z.literal(true),
  sampleContentProvided: z.boolean(),
  deliveryStatus: z.enum(Object.values(DeliveryStatus) as [DeliveryStatus, ...DeliveryStatus[]]),
  /** Thousandths of a percent consumed (100000 = all of it). */
  consumptionPercentage: z.optional(z.int().check(z.gte(0), z.lte(MILLI))),
  refundPreference: z.optional(z.enum(Object.values(RefundPreference) as [RefundPreference, ...RefundPreference[]])),
});
export type ConsumptionInfo = z.infer<typeof ConsumptionInfoSchema>;

export interface ConsumptionFacts {
  productType: CatalogProduct['type'];
  /** The purchase as stored; null when no notification or verification has recorded it. */
  purchase: PurchaseRecord | null;
  /** The owner's balances (consumables only; null otherwise). */
  balances: Record<string, number> | null;
}

export type ConsumptionDecision = { send: ConsumptionInfo; notes: string[] } | { skip: ConsumptionSkip };

/** Why nothing may be sent, whatever the purchase: not opted in, or no consent collected. */
export function settingsSkip(settings: ConsumptionSettings): ConsumptionSkip | null {
  if (!settings.answer) return ConsumptionSkip.NOT_OPTED_IN;
  if (!settings.customerConsent) return ConsumptionSkip.NO_CONSENT;
  return null;
}

export function planConsumptionAnswer(settings: ConsumptionSettings, facts: ConsumptionFacts): ConsumptionDecision {
  const skip = settingsSkip(settings);
  if (skip) return { skip };
  const p = facts.purchase;
  if (!p?.uid || (facts.productType === 'consumable' && !p.credited)) return { skip: ConsumptionSkip.NOT_DELIVERED };

  const notes: string[] = [];
  // Apple computes an auto-renewable subscription's consumption itself and asks us not to send it;
  // for the rest only a consumable's use is known here.
  const consumptionPercentage = facts.productType === 'consumable' ? consumedShare(p.credited!, facts.balances ?? {}) : undefined;
  let refundPreference = settings.refundPreference ?? undefined;
  if (refundPreference === RefundPreference.GRANT_PRORATED && facts.productType !== 'subscription' && !consumptionPercentage) {
    // Apple needs a consumptionPercentage above 0 with GRANT_PRORATED (except auto-renewables).
    notes.push('refundPreference GRANT_PRORATED omitted: it needs a consumptionPercentage above 0');
    refundPreference = undefined;
  }
  const send: ConsumptionInfo = {
    customerConsented: true,
    sampleContentProvided: false,
    deliveryStatus: DeliveryStatus.DELIVERED,
    ...(consumptionPercentage !== undefined ? { consumptionPercentage } : {}),
    ...(refundPreference ? { refundPreference } : {}),
  };
  return { send, notes };
}

/**
 * How much of the credited amount is gone: credits still on the balance count as unused (which coins
 * were spent cannot be told apart, so the user's favour decides), rounded down.
 */
export function consumedShare(credited: Record<string, number>, balances: Record<string, number>): number {
  let total = 0;
  let left = 0;
  for (const [balance, amount] of Object.entries(credited)) {
    total += amount;
    left += Math.min(Math.max(balances[balance] ?? 0, 0), amount);
  }
  return total <= 0 ? 0 : Math.floor(((total - left) * MILLI) / total);
}
