import { createHash } from 'node:crypto';
import type { Catalog } from '../catalog';
import { DomainError, isDomainError } from '../errors';
import { obfuscatedAccountIdFor, playPurchaseId } from '../ids';
import { fingerprint, log } from '../log';
import type { PurchaseSnapshot } from '../model/purchase';
import type { PlayPurchases, PurchaseRef } from '../play/client';
import {
  DeveloperNotificationSchema,
  VoidedProductType,
  VoidedRefundType,
  type DeveloperNotification,
} from '../play/notifications';
import type { PurchaseChange, PurchaseEvent, PurchaseRecord, PurchaseStore } from '../store/purchase-record';
import { finishAtPlay, type StoreFinish } from './finish-at-play';
import { planPlayChange, relatedPurchaseId, type PlayVoid } from './plan-play-change';
import { planRevoke } from './plan-revoke';
import { readPlayPurchase, type PlayRead } from './read-play-purchase';

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
 * Returns for everything that is final (applied, duplicate, dead letter); throws only for transient
 * failures, so that Pub/Sub redelivers.
 */
export async function applyPlayNotification(deps: ApplyPlayNotificationDeps, message: PubSubMessage): Promise<NotificationOutcome> {
  const decoded = decode(message.data);
  // undecodable data is kept only in part: it may hold anything
  if (typeof decoded === 'string') return deadLetter(deps, message, decoded, (message.data ?? '').slice(0, 256));
  let parsed: ReturnType<typeof DeveloperNotificationSchema.safeParse>;
  try {
    parsed = DeveloperNotificationSchema.safeParse(decoded);
  } catch {
    // zod 4 runs length checks on a mistyped value that has a `length`: {"length":{"toString":{}}} throws.
    return deadLetter(deps, message, 'not a DeveloperNotification (a field has a value of the wrong type)', redact(decoded));
  }
  if (!parsed.success) {
    const why = parsed.error.issues.map((i) => `${i.path.join('.') || 'notification'}: ${i.message}`).join('; ');
    return deadLetter(deps, message, `not a DeveloperNotification (${why})`, redact(decoded));
  }
  const n = parsed.data;
  if (!deps.packageNames.has(n.packageName)) {
    return deadLetter(deps, message, `package "${n.packageName}" is not served by this deployment`, redact(decoded));
  }
  const event: PurchaseEvent = {
    id: `rtdn:${eventKey(message.messageId)}`,
    source: 'play_rtdn',
    type: kindOf(n),
    eventTime: new Date(n.eventTimeMillis),
  };
  try {
    if (await deps.store.hasEvent(event.id)) {
      await finishUnfinished(deps, n);
      return 'duplicate';
    }
    return await dispatch(deps, n, event);
  } catch (e) {
    // What may succeed later (Play or Firestore unavailable, our credentials refused, an answer we
    // cannot read) throws, so that Pub/Sub redelivers; the rest can never succeed and is dead-lettered.
    if (isDomainError(e) && e.code === 'upstream_unavailable') throw e;
    const why = isDomainError(e) ? `${e.code}: ${e.message}` : `unexpected: ${(e as Error).message}`;
    if (!isDomainError(e)) log('ERROR', 'RTDN failed unexpectedly', { error: String((e as Error).stack ?? e) });
    return deadLetter(deps, message, why, redact(decoded));
  }
}

async function dispatch(deps: ApplyPlayNotificationDeps, n: DeveloperNotification, event: PurchaseEvent): Promise<NotificationOutcome> {
  if (n.testNotification) {
    log('INFO', 'RTDN test notification', { packageName: n.packageName });
    return 'test';
  }
  if (n.pendingRefundReviewNotification) {
    const review = n.pendingRefundReviewNotification;
    const key = review.pendingRefundToken ?? review.orderId ?? event.id;
    await deps.store.recordNotice({
      id: `play_pending_refund_review:${createHash('sha256').update(key).digest('hex')}`,
      kind: 'play_pending_refund_review',
      detail: { packageName: n.packageName, ...review, ...(review.pendingRefundToken ? { pendingRefundToken: `sha256:${fingerprint(review.pendingRefundToken)}` } : {}) },
    });
    return 'notice';
  }
  if (n.voidedPurchaseNotification) return applyVoided(deps, n, n.voidedPurchaseNotification, event);
  const ref = refOf(n);
  if (!ref) throw new DomainError('invalid_argument', 'no notification kind present');
  event.detail = { notificationType: (n.subscriptionNotification ?? n.oneTimeProductNotification)?.notificationType };
  const read = await readPlayPurchase(deps, ref, n.subscriptionNotification ? 'subscription' : 'one_time');
  return refresh(deps, event, ref, read);
}

/** Which purchase a subscription or one-time notification is about (multi-product ones carry no sku). */
function refOf(n: DeveloperNotification): PurchaseRef | null {
  const token = (n.subscriptionNotification ?? n.oneTimeProductNotification)?.purchaseToken;
  return token ? { packageName: n.packageName, productId: n.oneTimeProductNotification?.sku ?? '', token } : null;
}

/**
 * Writes the state just read from Play unless a read that started later was already written, gives a
 * purchase to the owner Play's links name (never against its account binding), and finishes what it
 * granted at Play, as verify does.
 */
async function refresh(
  deps: ApplyPlayNotificationDeps,
  event: PurchaseEvent,
  ref: PurchaseRef,
  read: PlayRead,
  voided?: PlayVoid,
): Promise<NotificationOutcome> {
  const { snapshot, readAt } = read;
  const now = deps.now();
  const purchaseId = playPurchaseId(ref.token);
  const relatedId = relatedPurchaseId(snapshot);
  let stale = false;
  const { duplicate, result } = await deps.store.applyPurchaseEvent(event, { purchaseId, linkedPurchaseId: relatedId }, (current, related) => {
    if (current?.storeReadAt && current.storeReadAt > readAt) {
      stale = true;
      return null;
    }
    const uid = current?.uid ?? ownerNamedBy(related, snapshot);
    const packageName = ref.packageName;
    return planPlayChange({ purchaseId, uid, packageName, catalog: deps.catalog, snapshot, readAt, now, current, related, ...(voided ? { voided } : {}) });
  });
  log('INFO', 'RTDN applied', { purchase: purchaseId.slice(0, 12), token: fingerprint(ref.token), type: event.type, state: snapshot.state, duplicate, stale });
  if (result) await finishOrRetry(deps, ref.token, result.purchase, snapshot);
  return duplicate ? 'duplicate' : stale ? 'stale' : 'applied';
}

/**
 * The owner of the purchase this one replaces or follows (linkedPurchaseToken, an out-of-app
 * re-subscribe's expired token), unless the purchase's own account binding names someone else: then
 * nobody, until the user it names verifies it.
 */
function ownerNamedBy(related: PurchaseRecord | null, s: PurchaseSnapshot): string | null {
  if (!related?.uid) return null;
  const accountId = s.obfuscatedAccountId ?? s.expiredAccountId;
  return accountId === null || accountId === obfuscatedAccountIdFor(related.uid) ? related.uid : null;
}

/**
 * Finishes a purchase granted to an owner. A transient failure throws so that Pub/Sub redelivers; the
 * redelivery is a duplicate event, which finishes what is still unfinished (`syncError`). Play refusing
 * (e.g. consumed meanwhile by a verification) stays recorded and is not retried here.
 */
async function finishOrRetry(deps: ApplyPlayNotificationDeps, token: string, record: PurchaseRecord, done: StoreFinish): Promise<void> {
  const finished = await finishAtPlay(deps, token, record, { acknowledged: done.acknowledged, consumed: done.consumed });
  if (isDomainError(finished.error) && finished.error.code === 'upstream_unavailable') {
    throw new DomainError('upstream_unavailable', 'Could not finish the purchase at Google Play; the notification will be redelivered.', {
      cause: finished.error,
    });
  }
}

async function finishUnfinished(deps: ApplyPlayNotificationDeps, n: DeveloperNotification): Promise<void> {
  const ref = refOf(n);
  const record = ref && (await deps.store.getPurchase(playPurchaseId(ref.token)));
  if (ref && record?.syncError && record.uid) await finishOrRetry(deps, ref.token, record, record);
}

/**
 * A voided order. Only revoked orders are voided; renewals share a token, so a void is per order:
 * Play's state decides (a chargeback of a past renewal leaves an active subscription active). For a
 * one-time purchase the refunded units are taken back. A token Play no longer knows is recorded
 * revoked, so it can never be claimed for access.
 */
async function applyVoided(
  deps: ApplyPlayNotificationDeps,
  n: DeveloperNotification,
  v: NonNullable<DeveloperNotification['voidedPurchaseNotification']>,
  event: PurchaseEvent,
): Promise<NotificationOutcome> {
  const purchaseId = playPurchaseId(v.purchaseToken);
  event.detail = { productType: v.productType, refundType: v.refundType, orderId: v.orderId ?? null };
  const kind = v.productType === VoidedProductType.SUBSCRIPTION ? 'subscription' : 'one_time';
  const ref: PurchaseRef = { packageName: n.packageName, productId: '', token: v.purchaseToken };
  const voided: PlayVoid = { orderId: v.orderId ?? null, full: kind === 'one_time' && v.refundType === VoidedRefundType.FULL };
  for (let attempt = 1; attempt <= VOID_READ_ATTEMPTS; attempt++) {
    let read: PlayRead;
    try {
      read = await readPlayPurchase(deps, ref, kind);
    } catch (e) {
      if (!isDomainError(e) || e.code !== 'purchase_not_found') throw e;
      return revokeUnknown(deps, n, v, event, kind);
    }
    // A void must not be lost to a newer stored read (it would not know about the void): read again.
    const outcome = await refresh(deps, event, ref, read, voided);
    if (outcome !== 'stale') return outcome;
  }
  throw new DomainError('upstream_unavailable', 'The purchase kept changing while its void was applied; retry.');
}

const VOID_READ_ATTEMPTS = 3;

async function revokeUnknown(
  deps: ApplyPlayNotificationDeps,
  n: DeveloperNotification,
  v: NonNullable<DeveloperNotification['voidedPurchaseNotification']>,
  event: PurchaseEvent,
  kind: 'subscription' | 'one_time',
): Promise<NotificationOutcome> {
  const purchaseId = playPurchaseId(v.purchaseToken);
  const now = deps.now();
  const { duplicate } = await deps.store.applyPurchaseEvent(event, { purchaseId }, (current: PurchaseRecord | null): PurchaseChange =>
    planRevoke({ purchaseId, platform: 'google_play', packageName: n.packageName, kind, orderId: v.orderId ?? null, now, current }),
  );
  log('INFO', 'RTDN voided purchase unknown to Play recorded revoked', { purchase: purchaseId.slice(0, 12), duplicate });
  return duplicate ? 'duplicate' : 'applied';
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
): Promise<NotificationOutcome> {
  // The messageId comes from the envelope as sent: kept short and valid Unicode so the letter can be stored.
  const messageId = message.messageId.slice(0, 256).replace(new RegExp(LONE_SURROGATE.source, 'g'), '\ufffd');
  await deps.store.recordDeadLetter({ source: 'play_rtdn', reason, payload, messageId });
  log('WARNING', 'RTDN dead letter', { messageId: message.messageId, reason });
  return 'dead_letter';
}
