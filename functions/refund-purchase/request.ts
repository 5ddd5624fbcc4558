import { z } from 'zod';

/** refundPurchase's `data` (CONTRACT section 6). Unknown fields are refused. */
const common = {
  packageName: z.string().min(1).max(255),
  reason: z.string().trim().min(3, 'say why, in at least 3 characters').max(500),
  idempotencyKey: z.string().min(8).max(128).regex(/^[A-Za-z0-9._:-]+$/).optional(),
};

/** revoke, refund or cancel one purchase (by its token). */
const PurchaseActionSchema = z
  .strictObject({
    ...common,
    purchaseToken: z.string().min(1).max(4096).regex(/^[A-Za-z0-9._:-]+$/, 'a purchase token has only letters, digits and . _ : -'),
    action: z.enum(['revoke', 'refund', 'cancel']),
    refundType: z.enum(['full', 'prorated']).optional(),
    /** One line item (an add-on) of a subscription with several. */
    productId: z.string().min(1).max(150).optional(),
    cancellationType: z.enum(['user_requested_stop_renewals', 'developer_requested_stop_payments']).optional(),
  })
  .refine((r) => r.productId === undefined || r.action === 'revoke', { message: 'productId goes with action "revoke" only', path: ['productId'] })
  .refine((r) => r.productId === undefined || r.refundType === undefined, {
    message: 'an add-on is revoked with an item-based refund: no refundType',
    path: ['refundType'],
  })
  .refine((r) => r.cancellationType === undefined || r.action === 'cancel', {
    message: 'cancellationType goes with action "cancel" only',
    path: ['cancellationType'],
  });

/** An answer to Play's pendingRefundReviewNotification: by the notice (preferred), or by the raw token and order. */
const ReviewRefundSchema = z
  .strictObject({
    ...common,
    action: z.literal('review_refund'),
    noticeId: z.string().regex(/^play_pending_refund_review:[0-9a-f]{64}$/, 'an adminNotices id: play_pending_refund_review:<sha256>').optional(),
    orderId: z.string().min(1).max(200).optional(),
    pendingRefundToken: z.string().min(1).max(4096).optional(),
    refundPreference: z.enum(['approve', 'decline']),
    sampleContentProvided: z.boolean().optional(),
  })
  .refine((r) => (r.noticeId === undefined) !== (r.pendingRefundToken === undefined), {
    message: 'give noticeId, or pendingRefundToken with orderId (not both)',
    path: ['noticeId'],
  })
  .refine((r) => r.pendingRefundToken === undefined || r.orderId !== undefined, { message: 'pendingRefundToken needs orderId', path: ['orderId'] });

/** Moves a purchase to another user (no store call): by its Play token, or by its purchases/{id} (either store). */
const TransferSchema = z
  .strictObject({
    ...common,
    action: z.literal('transfer'),
    toUid: z.string().min(1).max(128).regex(/^[^/]+$/, 'a Firebase uid (no "/")'),
    purchaseToken: z.string().min(1).max(4096).regex(/^[A-Za-z0-9._:-]+$/, 'a purchase token has only letters, digits and . _ : -').optional(),
    purchaseId: z.string().regex(/^[0-9a-f]{64}$/, 'a purchases/{id}: 64 lowercase hex characters').optional(),
  })
  .refine((r) => (r.purchaseToken === undefined) !== (r.purchaseId === undefined), {
    message: 'give purchaseToken (Play) or purchaseId (either store), not both',
    path: ['purchaseToken'],
  });

export const RefundPurchaseRequestSchema = z.discriminatedUnion('action', [PurchaseActionSchema, ReviewRefundSchema, TransferSchema]);
export type RefundPurchaseRequest = z.infer<typeof RefundPurchaseRequestSchema>;
