import { z } from 'zod';
import type { ApiReply } from './api';
import type { SimState } from './state';
import type { SimEnvironment } from './types';

/**
 * Send Consumption Information (V2): `PUT /inApps/v2/transactions/consumption/{transactionId}` with a
 * ConsumptionRequest body, answered 202 with no body and recorded for tests (`GET /_sim/consumption`).
 * Refusals follow Apple's documented rules: customerConsented must be true (4000035), deliveryStatus
 * and sampleContentProvided must be valid (4000036, 4000041), consumptionPercentage is 0..100000 and 0
 * unless DELIVERED, GRANT_PRORATED needs a consumptionPercentage above 0 except for auto-renewables,
 * which take none. The error codes of the last rules are not published with numbers: 4000000 here.
 */
const DELIVERY = ['DELIVERED', 'UNDELIVERED_QUALITY_ISSUE', 'UNDELIVERED_WRONG_ITEM', 'UNDELIVERED_SERVER_OUTAGE', 'UNDELIVERED_OTHER'] as const;
const PREFERENCE = ['DECLINE', 'GRANT_FULL', 'GRANT_PRORATED'] as const;

// Strict, unlike Apple (which documents no unknown-field rule): a misspelt field is a bug of ours.
const BodySchema = z.strictObject({
  customerConsented: z.unknown(),
  sampleContentProvided: z.unknown(),
  deliveryStatus: z.unknown(),
  consumptionPercentage: z.unknown().optional(),
  refundPreference: z.unknown().optional(),
});

const refuse = (errorCode: number, errorMessage: string): ApiReply => ({ status: 400, body: { errorCode, errorMessage } });

export function sendConsumptionInformation(state: SimState, env: SimEnvironment, transactionId: string, body: unknown): ApiReply {
  const hit = state.findByTransactionId(transactionId);
  if (!hit || hit.purchase.environment !== env) return { status: 404, body: { errorCode: 4040010, errorMessage: 'Transaction id not found.' } };
  const parsed = BodySchema.safeParse(body);
  if (!parsed.success) return refuse(4000000, `Invalid request: ${parsed.error.issues.map((i) => i.path.join('.') || i.message).join(', ')}.`);
  const b = parsed.data;
  if (b.customerConsented !== true) return refuse(4000035, 'Invalid customer consented.');
  if (typeof b.sampleContentProvided !== 'boolean') return refuse(4000041, 'Invalid sample content provided.');
  if (!DELIVERY.includes(b.deliveryStatus as never)) return refuse(4000036, 'Invalid delivery status.');
  const percentage = b.consumptionPercentage;
  if (percentage !== undefined && !(Number.isInteger(percentage) && (percentage as number) >= 0 && (percentage as number) <= 100_000)) {
    return refuse(4000000, 'ConsumptionPercentageOutOfRangeError: consumptionPercentage is outside 0..100000.');
  }
  if (b.refundPreference !== undefined && !PREFERENCE.includes(b.refundPreference as never)) return refuse(4000000, 'InvalidRefundPreferenceError.');
  if (b.deliveryStatus !== 'DELIVERED' && percentage !== undefined && percentage !== 0) {
    return refuse(4000000, 'consumptionPercentage must be 0 when deliveryStatus is not DELIVERED.');
  }
  const autoRenewable = hit.purchase.kind === 'subscription';
  if (autoRenewable && percentage !== undefined) return refuse(4000000, 'Do not send consumptionPercentage for auto-renewable subscriptions.');
  if (b.refundPreference === 'GRANT_PRORATED' && !autoRenewable && !percentage) {
    return refuse(4000000, 'GRANT_PRORATED needs a consumptionPercentage above 0.');
  }
  state.consumption.push({ transactionId, environment: env, body: body as Record<string, unknown>, receivedAt: state.now() });
  return { status: 202 };
}
