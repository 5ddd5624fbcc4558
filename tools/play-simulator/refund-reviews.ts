import { randomBytes } from 'node:crypto';
import { errors } from './google-errors';
import { DAY_MS, type Ledger, type PurchaseRecord, type RefundReview } from './model';
import type { StepArgs } from './schemas';

/** Play takes the developer's answer to a refund review for 24 hours. */
export const REVIEW_WINDOW_MS = DAY_MS;

/**
 * orders.reviewrefund's refundPreference values. UNCONFIRMED, like shared/play/client.ts
 * REFUND_PREFERENCES (the same names, from the REST reference's RefundPreference enum). NEUTRAL is not modelled.
 */
const PREFERENCES: Record<string, 'approve' | 'decline'> = { APPROVE: 'approve', DECLINE: 'decline' };

export interface ReviewAnswer {
  orderId: string;
  pendingRefundToken: string;
  preference: 'approve' | 'decline';
}

/** Opens a review of one of the record's orders (default its latest) and sends pendingRefundReviewNotification. */
export function openRefundReview(rec: PurchaseRecord, l: Ledger, orderIds: string[], args: StepArgs<'openRefundReview'>): void {
  const orderId = args.orderId ?? orderIds.at(-1);
  if (!orderId || !orderIds.includes(orderId)) throw errors.orderNotFound();
  if (l.isRefunded(orderId)) throw errors.orderAlreadyRefunded();
  if (rec.refundReviews.some((r) => r.orderId === orderId && !r.answer && l.now - r.openedAt <= REVIEW_WINDOW_MS)) {
    throw errors.invalidState(`a refund review of ${orderId} is already open`);
  }
  const review: RefundReview = { orderId, pendingRefundToken: `prt.${randomBytes(24).toString('base64url')}`, openedAt: l.now };
  if (args.refundReason) review.refundReason = args.refundReason;
  rec.refundReviews.push(review);
  l.emitRefundReview(rec, review);
}

/** The developer's answer, within 24 hours and once: approve refunds the order with revoke (a void); decline closes the review. */
export function answerRefundReview(rec: PurchaseRecord, l: Ledger, a: ReviewAnswer, refundWithRevoke: () => void): void {
  const review = rec.refundReviews.find((r) => r.orderId === a.orderId && r.pendingRefundToken === a.pendingRefundToken);
  if (!review) throw errors.invalidValue('pendingRefundToken');
  if (review.answer) throw errors.invalidState(`the refund review of ${a.orderId} was already answered`);
  if (l.now - review.openedAt > REVIEW_WINDOW_MS) throw errors.refundReviewExpired();
  if (a.preference === 'approve') refundWithRevoke();
  review.answer = a.preference;
  review.answeredAt = l.now;
}

/** The body of `orders/{orderId}:reviewrefund`, checked as Play documents it. */
export function reviewAnswer(orderId: string, body: Record<string, unknown>): ReviewAnswer {
  const token = body.pendingRefundToken;
  if (typeof token !== 'string' || token === '') throw errors.required('pendingRefundToken');
  if (body.refundPreference === undefined) throw errors.required('refundPreference');
  const key = String(body.refundPreference);
  const preference = Object.hasOwn(PREFERENCES, key) ? PREFERENCES[key] : undefined;
  if (!preference) throw errors.invalidValue('refundPreference');
  if (typeof body.sampleContentProvided !== 'boolean') throw errors.required('sampleContentProvided');
  const pct = body.consumptionPercentageMilliunits;
  if (pct !== undefined && !(Number.isInteger(pct) && (pct as number) >= 0 && (pct as number) <= 100_000)) {
    throw errors.invalidValue('consumptionPercentageMilliunits');
  }
  const events = body.consumptionUsageEvents;
  if (events !== undefined && (!Array.isArray(events) || events.length > 1000)) throw errors.badRequest('consumptionUsageEvents: a list of at most 1000 events');
  return { orderId, pendingRefundToken: token, preference };
}
