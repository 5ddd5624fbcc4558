import { z } from 'zod';

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
    productId: z.string().min(1).max(150).optional(),
    signedTransaction: z.string().max(32_768).regex(JWS, 'must be a JWS (Transaction.jwsRepresentation)').optional(),
    transactionId: z.string().regex(/^[0-9]{1,32}$/, 'an App Store transaction id has only digits').optional(),
    receipt: z
      .string()
      .max(60_000)
      .regex(/^[A-Za-z0-9+/]+={0,2}$/, 'must be the base64 app receipt (appStoreReceiptURL contents)')
      .optional(),
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
