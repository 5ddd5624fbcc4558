import { z } from 'zod';

/** refundPurchase's `data` (CONTRACT section 6). Unknown fields are refused. */
export const RefundPurchaseRequestSchema = z.strictObject({
  packageName: z.string().min(1).max(255),
  purchaseToken: z.string().min(1).max(4096).regex(/^[A-Za-z0-9._:-]+$/, 'a purchase token has only letters, digits and . _ : -'),
  action: z.enum(['revoke', 'refund', 'cancel']),
  reason: z.string().trim().min(3, 'say why, in at least 3 characters').max(500),
  refundType: z.enum(['full', 'prorated']).optional(),
  idempotencyKey: z.string().min(8).max(128).regex(/^[A-Za-z0-9._:-]+$/).optional(),
});
export type RefundPurchaseRequest = z.infer<typeof RefundPurchaseRequestSchema>;
