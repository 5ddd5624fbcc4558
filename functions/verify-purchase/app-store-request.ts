import * as z from '../../shared/zod';

/**
 * The App Store form of verifyPurchase (CONTRACT section 7): `platform: "app_store"` and exactly one of
 * signedTransaction (StoreKit 2 jwsRepresentation), transactionId, or receipt (StoreKit 1 app receipt).
 * productId is optional: when sent it must match the transaction (for a receipt it picks the purchase).
 */
const JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
const FORMS = ['signedTransaction', 'transactionId', 'receipt'] as const;

export const AppStoreVerifyRequestSchema = z
  .strictObject({
    platform: z.literal('app_store'),
    productId: z.optional(z.string().check(z.minLength(1), z.maxLength(150))),
    signedTransaction: z.optional(z.string().check(z.maxLength(32_768), z.regex(JWS, 'must be a JWS (Transaction.jwsRepresentation)'))),
    transactionId: z.optional(z.string().check(z.regex(/^[0-9]{1,32}$/, 'an App Store transaction id has only digits'))),
    receipt: z.optional(
      z.string().check(z.maxLength(60_000), z.regex(/^[A-Za-z0-9+/]+={0,2}$/, 'must be the base64 app receipt (appStoreReceiptURL contents)')),
    ),
  })
  .check((ctx) => {
    const sent = FORMS.filter((f) => ctx.value[f] !== undefined);
    if (sent.length !== 1) {
      ctx.issues.push({
        code: 'custom',
        input: ctx.value,
        path: [],
        message: `send exactly one of signedTransaction, transactionId, receipt (got ${sent.length === 0 ? 'none' : sent.join(' and ')})`,
      });
    }
  });
export type AppStoreVerifyRequest = z.infer<typeof AppStoreVerifyRequestSchema>;
