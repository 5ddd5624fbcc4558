import * as z from '../../shared/zod';
import { DomainError } from '../../shared/errors';
import { AppStoreVerifyRequestSchema } from './app-store-request';

/**
 * The verifyPurchase request body: Google Play (CONTRACT section 4; `platform` optional, the default)
 * or the App Store (section 7), told apart by `platform`. Unknown fields are refused.
 */
const ORDER_ID = /^GPA\.\d{4}-\d{4}-\d{4}-\d{5}(\.\.\d+)?$/;

export const PlayVerifyRequestSchema = z.strictObject({
  platform: z.optional(z.literal('google_play')),
  packageName: z.string().check(z.minLength(1), z.maxLength(255)),
  productId: z.string().check(z.minLength(1), z.maxLength(150)),
  purchaseToken: z
    .string()
    .check(z.minLength(1), z.maxLength(4096), z.regex(/^[A-Za-z0-9._:-]+$/, 'a Play purchase token has only letters, digits and . _ : -')),
  signedData: z.optional(z.string().check(z.minLength(1), z.maxLength(16_384))),
  signature: z.optional(z.string().check(z.minLength(1), z.maxLength(4096))),
});

export const VerifyPurchaseRequestSchema = z.discriminatedUnion('platform', [PlayVerifyRequestSchema, AppStoreVerifyRequestSchema]);
export type VerifyPurchaseRequest = z.infer<typeof VerifyPurchaseRequestSchema>;

/** A common integration mistake gets its own explanation. */
export function refuseOrderIdAsToken(body: unknown): void {
  const token = (body as { purchaseToken?: unknown } | null)?.purchaseToken;
  if (typeof token === 'string' && ORDER_ID.test(token)) {
    throw new DomainError(
      'invalid_argument',
      'purchaseToken looks like an order id (GPA.…). Send Purchase.getPurchaseToken() from Play Billing, not getOrderId().',
    );
  }
}

/** A Firebase callable's envelope sent here: say what this function expects instead. */
export function refuseCallableShape(body: unknown): void {
  if (body && typeof body === 'object' && !Array.isArray(body) && Object.keys(body).length === 1 && 'data' in body) {
    throw new DomainError(
      'invalid_argument',
      'This is a plain HTTP function, not a Firebase callable: send the fields at the top level ({ "packageName", "productId", "purchaseToken" }), not inside "data".',
    );
  }
}
