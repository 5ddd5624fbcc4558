import * as z from '../../shared/zod';

/** refundPurchase's `data` (CONTRACT section 6). Unknown fields are refused. */
const common = {
  packageName: z.string().check(z.minLength(1), z.maxLength(255)),
  reason: z.string().check(z.trim(), z.minLength(3, 'say why, in at least 3 characters'), z.maxLength(500)),
  idempotencyKey: z.optional(z.string().check(z.minLength(8), z.maxLength(128), z.regex(/^[A-Za-z0-9._:-]+$/))),
};

/** revoke, refund or cancel one purchase (by its token). */
const PurchaseActionSchema = z
  .strictObject({
    ...common,
    purchaseToken: z
      .string()
      .check(z.minLength(1), z.maxLength(4096), z.regex(/^[A-Za-z0-9._:-]+$/, 'a purchase token has only letters, digits and . _ : -')),
    action: z.enum(['revoke', 'refund', 'cancel']),
    refundType: z.optional(z.enum(['full', 'prorated'])),
    /** One line item (an add-on) of a subscription with several. */
    productId: z.optional(z.string().check(z.minLength(1), z.maxLength(150))),
    cancellationType: z.optional(z.enum(['user_requested_stop_renewals', 'developer_requested_stop_payments'])),
  })
  .check(
    z.refine((r) => r.productId === undefined || r.action === 'revoke', { message: 'productId goes with action "revoke" only', path: ['productId'] }),
    z.refine((r) => r.productId === undefined || r.refundType === undefined, {
      message: 'an add-on is revoked with an item-based refund: no refundType',
      path: ['refundType'],
    }),
    z.refine((r) => r.cancellationType === undefined || r.action === 'cancel', {
      message: 'cancellationType goes with action "cancel" only',
      path: ['cancellationType'],
    }),
  );

/** An answer to Play's pendingRefundReviewNotification: by the notice (preferred), or by the raw token and order. */
const ReviewRefundSchema = z
  .strictObject({
    ...common,
    action: z.literal('review_refund'),
    noticeId: z.optional(
      z.string().check(z.regex(/^play_pending_refund_review:[0-9a-f]{64}$/, 'an adminNotices id: play_pending_refund_review:<sha256>')),
    ),
    orderId: z.optional(z.string().check(z.minLength(1), z.maxLength(200))),
    pendingRefundToken: z.optional(z.string().check(z.minLength(1), z.maxLength(4096))),
    refundPreference: z.enum(['approve', 'decline']),
    sampleContentProvided: z.optional(z.boolean()),
  })
  .check(
    z.refine((r) => (r.noticeId === undefined) !== (r.pendingRefundToken === undefined), {
      message: 'give noticeId, or pendingRefundToken with orderId (not both)',
      path: ['noticeId'],
    }),
    z.refine((r) => r.pendingRefundToken === undefined || r.orderId !== undefined, { message: 'pendingRefundToken needs orderId', path: ['orderId'] }),
  );

/** Moves a purchase to another user (no store call): by its Play token, or by its purchases/{id} (either store). */
const TransferSchema = z
  .strictObject({
    ...common,
    action: z.literal('transfer'),
    toUid: z.string().check(z.minLength(1), z.maxLength(128), z.regex(/^[^/]+$/, 'a Firebase uid (no "/")')),
    purchaseToken: z.optional(
      z.string().check(z.minLength(1), z.maxLength(4096), z.regex(/^[A-Za-z0-9._:-]+$/, 'a purchase token has only letters, digits and . _ : -')),
    ),
    purchaseId: z.optional(z.string().check(z.regex(/^[0-9a-f]{64}$/, 'a purchases/{id}: 64 lowercase hex characters'))),
  })
  .check(
    z.refine((r) => (r.purchaseToken === undefined) !== (r.purchaseId === undefined), {
      message: 'give purchaseToken (Play) or purchaseId (either store), not both',
      path: ['purchaseToken'],
    }),
  );

export const RefundPurchaseRequestSchema = z.discriminatedUnion('action', [PurchaseActionSchema, ReviewRefundSchema, TransferSchema]);
export type RefundPurchaseRequest = z.infer<typeof RefundPurchaseRequestSchema>;
