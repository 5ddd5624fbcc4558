import { createHash } from 'node:crypto';
import type { Catalog } from '../catalog';
import { DomainError, isDomainError } from '../errors';
import { playPurchaseId } from '../ids';
import { fingerprint, log, logContext } from '../log';
import type { PlayPurchases, PurchaseRef } from '../play/client';
import {
  DeveloperNotificationSchema,
  VoidedProductType,
  VoidedRefundType,
  type DeveloperNotification,
} from '../play/notifications';
import type { PurchaseEvent, PurchaseStore } from '../store/purchase-record';
import { applyPlayVoid, finishOrThrow, refreshFromPlay } from './play-refresh';

export interface ApplyPlayNotificationDeps {
  catalog: Catalog;
  packageNames: ReadonlySet<string>;
  play: PlayPurchases;
  store: PurchaseStore;
  now: () => Date;
}

/** A Pub/Sub message as the function received it. */
export interface PubSubMessage {
  messageId: string;
  /** base64 of the DeveloperNotification JSON; absent for attribute-only messages */
  data: string | undefined;
}

export type NotificationOutcome =
  | 'applied'
  | 'duplicate'
  | 'stale'
  | 'test'
  | 'notice'
  | 'dead_letter';

/**
 * playRtdn's core. Notifications only say that something changed: the state always comes from Play.
 * Returns for everything that is final (applied, duplicate, dead letter); throws only for what may
 * succeed later, so that Pub/Sub redelivers.
 */
export async function applyPlayNotification(deps: ApplyPlayNotificationDeps, message: PubSubMessage): Promise<NotificationOutcome> {
  const parsed = parseNotification(deps, message);
  if ('refused' in parsed) return deadLetter(deps, message, parsed.refused, parsed.payload);
  try {
    return await applyParsed(deps, parsed.notification, message.messageId);
  } catch (e) {
    // What may succeed later (Play or Firestore unavailable, our credentials refused, an answer we
    // cannot read) throws, so that Pub/Sub redelivers; the rest is dead-lettered, with the message kept
    // for the sweep to replay once fixed (a product added to the catalog, a token Play did not know yet).
    if (isDomainError(e) && e.code === 'upstream_unavailable') throw e;
    const why = isDomainError(e) ? `${e.code}: ${e.message}` : `unexpected: ${(e as Error).message}`;
    if (!isDomainError(e)) log('ERROR', 'RTDN failed unexpectedly', { error: String((e as Error).stack ?? e) });
    const replay = message.data ? { data: message.data, messageId: message.messageId } : undefined;
    return deadLetter(deps, message, why, redact(parsed.decoded), replay);
  }
}

/**
 * A dead letter replayed by the sweep: applied like a delivery, but a failure throws (DomainError)
 * rather than recording another dead letter.
 */
export async function replayPlayNotification(deps: ApplyPlayNotificationDeps, message: PubSubMessage): Promise<NotificationOutcome> {
  const parsed = parseNotification(deps, message);
  if ('refused' in parsed) throw new DomainError('invalid_argument', parsed.refused);
  return applyParsed(deps, parsed.notification, message.messageId);
}

type Parsed = { notification: DeveloperNotification; decoded: unknown } | { refused: string; payload: string };

/** A message that can never be applied (not a notification, not ours) is refused with the reason. */
function parseNotification(deps: ApplyPlayNotificationDeps, message: PubSubMessage): Parsed {
  const decoded = decode(message.data);
  // undecodable data is kept only in part: it may hold anything
  if (typeof decoded === 'string') return { refused: decoded, payload: (message.data ?? '').slice(0, 256) };
  let parsed: ReturnType<typeof DeveloperNotificationSchema.safeParse>;
  try {
    parsed = DeveloperNotificationSchema.safeParse(decoded);
  } catch {
    // zod 4 runs length checks on a mistyped value that has a `length`: {"length":{"toString":{}}} throws.
    return { refused: 'not a DeveloperNotification (a field has a value of the wrong type)', payload: redact(decoded) };
  }
  if (!parsed.success) {
    const why = parsed.error.issues.map((i) => `${i.path.join('.') || 'notification'}: ${i.message}`).join('; ');
    return { refused: `not a DeveloperNotification (${why})`, payload: redact(decoded) };
  }
  if (!deps.packageNames.has(parsed.data.packageName)) {
    return { refused: `package "${parsed.data.packageName}" is not served by this deployment`, payload: redact(decoded) };
  }
  return { notification: parsed.data, decoded };
}

async function applyParsed(deps: ApplyPlayNotificationDeps, n: DeveloperNotification, messageId: string): Promise<NotificationOutcome> {
  const event: PurchaseEvent = {
    id: `rtdn:${eventKey(messageId)}`,
    source: 'play_rtdn',
    type: kindOf(n),
    eventTime: new Date(n.eventTimeMillis),
  };
  if (await deps.store.hasEvent(event.id)) {
    await finishUnfinished(deps, n);
    return 'duplicate';
  }
  return dispatch(deps, n, event);
}

async function dispatch(deps: ApplyPlayNotificationDeps, n: DeveloperNotification, event: PurchaseEvent): Promise<NotificationOutcome> {
  if (n.testNotification) {
    log('INFO', 'RTDN test notification', { packageName: n.packageName });
    return 'test';
  }
  if (n.pendingRefundReviewNotification) {
    const review = n.pendingRefundReviewNotification;
    const key = review.pendingRefundToken ?? review.orderId ?? event.id;
    const id = `play_pending_refund_review:${createHash('sha256').update(key).digest('hex')}`;
    // Answering the review (refundPurchase review_refund) needs the raw token: kept where no console reads,
    // before the notice shows. One longer than any token Play issues is only fingerprinted (a document must hold it).
    if (review.pendingRefundToken && review.pendingRefundToken.length <= 4096) {
      const orderId = review.orderId ?? null;
      await deps.store.keepRefundReviewToken(id, { token: review.pendingRefundToken, packageName: n.packageName, orderId, notifiedAt: event.eventTime });
    }
    await deps.store.recordNotice({
      id,
      kind: 'play_pending_refund_review',
      detail: { packageName: n.packageName, ...review, ...(review.pendingRefundToken ? { pendingRefundToken: `sha256:${fingerprint(review.pendingRefundToken)}` } : {}) },
    });
    return 'notice';
  }
  const v = n.voidedPurchaseNotification;
  if (v) {
    event.detail = { productType: v.productType, refundType: v.refundType, orderId: v.orderId ?? null };
    const kind = v.productType === VoidedProductType.SUBSCRIPTION ? 'subscription' : 'one_time';
    const input = { packageName: n.packageName, purchaseToken: v.purchaseToken, orderId: v.orderId ?? null, kind, full: v.refundType === VoidedRefundType.FULL } as const;
    return applyPlayVoid(deps, input, event);
  }
  const ref = refOf(n);
  if (!ref) throw new DomainError('invalid_argument', 'no notification kind present');
  event.detail = { notificationType: (n.subscriptionNotification ?? n.oneTimeProductNotification)?.notificationType };
  return refreshFromPlay(deps, event, ref, n.subscriptionNotification ? 'subscription' : 'one_time');
}

/** A redelivered notification changes nothing, but finishes at Play what an earlier delivery could not. */
async function finishUnfinished(deps: ApplyPlayNotificationDeps, n: DeveloperNotification): Promise<void> {
  const ref = refOf(n);
  const record = ref && (await deps.store.getPurchase(playPurchaseId(ref.token)));
  logContext.setUser(record?.uid);
  if (ref && record?.syncError && record.uid) await finishOrThrow(deps, ref.token, record, record);
}

/** Which purchase a subscription or one-time notification is about (multi-product ones carry no sku). */
function refOf(n: DeveloperNotification): PurchaseRef | null {
  const token = (n.subscriptionNotification ?? n.oneTimeProductNotification)?.purchaseToken;
  return token ? { packageName: n.packageName, productId: n.oneTimeProductNotification?.sku ?? '', token } : null;
}

function kindOf(n: DeveloperNotification): string {
  if (n.subscriptionNotification) return `subscription:${n.subscriptionNotification.notificationType}`;
  if (n.oneTimeProductNotification) return `one_time:${n.oneTimeProductNotification.notificationType}`;
  if (n.voidedPurchaseNotification) return 'voided';
  if (n.pendingRefundReviewNotification) return 'pending_refund_review';
  return 'test';
}

/** base64 -> JSON value, or the reason it is not one. */
function decode(data: string | undefined): unknown {
  if (!data) return 'message has no data (attribute-only or empty)';
  const text = Buffer.from(data, 'base64').toString('utf8');
  if (Buffer.from(text, 'utf8').toString('base64').replace(/=+$/, '') !== data.replace(/=+$/, '')) {
    return 'message data is not base64 of UTF-8 text';
  }
  let value: unknown;
  try {
    value = JSON.parse(text) as unknown;
  } catch {
    return 'message data is not JSON';
  }
  // A JSON string would pass for a reason here; an unpaired surrogate (`"\ud800"`) cannot be stored.
  if (typeof value === 'string') return 'message data is a JSON string, not a notification';
  if (!wellFormed(value)) return 'message data holds an unpaired UTF-16 surrogate';
  return value;
}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Every string and key is valid Unicode (Firestore refuses the rest). Iterative: the value may be deep. */
function wellFormed(value: unknown): boolean {
  const stack = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    if (typeof v === 'string') {
      if (LONE_SURROGATE.test(v)) return false;
    } else if (v !== null && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        if (LONE_SURROGATE.test(k)) return false;
        stack.push(x);
      }
    }
  }
  return true;
}

/** Dead letters keep the message, with purchase tokens replaced by their fingerprints. */
function redact(value: unknown): string {
  try {
    return JSON.stringify(value, (k, v) =>
      (k === 'purchaseToken' || k === 'pendingRefundToken') && typeof v === 'string' ? `sha256:${fingerprint(v)}` : v,
    );
  } catch {
    return '(not kept: nested too deeply to serialize)'; // RangeError: a poison message must still be dead-lettered
  }
}

/**
 * A Pub/Sub messageId as part of a Firestore document id. Pub/Sub's are digits; anything else that
 * could not be a document id (a `/`, too long) is hashed, `#` marking the hash, so that a forged id
 * is still de-duplicated instead of failing (and being redelivered) forever.
 */
function eventKey(messageId: string): string {
  return /^[A-Za-z0-9._~:-]{1,256}$/.test(messageId) ? messageId : `#${createHash('sha256').update(messageId).digest('hex')}`;
}

async function deadLetter(
  deps: ApplyPlayNotificationDeps,
  message: PubSubMessage,
  reason: string,
  payload: string,
  replay?: { data: string; messageId: string },
): Promise<NotificationOutcome> {
  // The messageId comes from the envelope as sent: kept short and valid Unicode so the letter can be stored.
  const messageId = message.messageId.slice(0, 256).replace(new RegExp(LONE_SURROGATE.source, 'g'), '\ufffd');
  await deps.store.recordDeadLetter({ source: 'play_rtdn', reason, payload, messageId, ...(replay ? { replay: { ...replay, messageId } } : {}) });
  log('WARNING', 'RTDN dead letter', { messageId: message.messageId, reason });
  return 'dead_letter';
}
