import { fingerprint } from '../../shared/log';
import type { RefundReview } from './model';
import type { DeveloperNotification, OutgoingNotification } from './types';

/** RTDN builders; eventTimeMillis is a string, as in Play's own examples. */
export function subscriptionNotification(
  packageName: string,
  purchaseToken: string,
  notificationType: number,
  at: number,
): DeveloperNotification {
  return {
    version: '1.0',
    packageName,
    eventTimeMillis: String(at),
    subscriptionNotification: { version: '1.0', notificationType, purchaseToken },
  };
}

/** `sku` is undefined for a multi-product purchase: Play leaves it out then. */
export function oneTimeNotification(
  packageName: string,
  purchaseToken: string,
  sku: string | undefined,
  notificationType: number,
  at: number,
): DeveloperNotification {
  return {
    version: '1.0',
    packageName,
    eventTimeMillis: String(at),
    oneTimeProductNotification: { version: '1.0', notificationType, purchaseToken, ...(sku === undefined ? {} : { sku }) },
  };
}

export function voidedNotification(
  packageName: string,
  purchaseToken: string,
  orderId: string,
  productType: 1 | 2,
  refundType: 1 | 2,
  at: number,
): DeveloperNotification {
  return {
    version: '1.0',
    packageName,
    eventTimeMillis: String(at),
    voidedPurchaseNotification: { purchaseToken, orderId, productType, refundType },
  };
}

export function refundReviewNotification(packageName: string, review: RefundReview, at: number): DeveloperNotification {
  const { pendingRefundToken, orderId, refundReason } = review;
  return {
    version: '1.0',
    packageName,
    eventTimeMillis: String(at),
    pendingRefundReviewNotification: { version: '1.0', pendingRefundToken, orderId, ...(refundReason === undefined ? {} : { refundReason }) },
  };
}

/** The Pub/Sub `data` text for a notification: strings verbatim (possibly malformed on purpose), else JSON. */
export function encodeNotification(n: OutgoingNotification): string {
  return typeof n === 'string' ? n : JSON.stringify(n);
}

/** Token fields of a notification, as the product's dead letters show them. */
const TOKEN_FIELDS = new Set(['purchaseToken', 'pendingRefundToken', 'linkedPurchaseToken']);

/**
 * A notification fit for a terminal: tokens replaced by `sha256:` + their log fingerprint (what the
 * functions log), so nothing printed can be replayed and lines still match the functions' own.
 */
export function describeNotification(n: OutgoingNotification): string {
  if (typeof n === 'string') return `(raw, ${n.length} characters: sha256:${fingerprint(n)})`;
  return JSON.stringify(n, (k, v: unknown) => (TOKEN_FIELDS.has(k) && typeof v === 'string' ? `sha256:${fingerprint(v)}` : v));
}
