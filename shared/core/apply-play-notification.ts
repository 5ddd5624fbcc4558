import { createHash } from 'node:crypto';
import type { Catalog } from '../catalog';
import { DomainError, isDomainError } from '../errors';
import { playPurchaseId } from '../ids';
import { fingerprint, log } from '../log';
import { fromProductPurchase, fromSubscriptionPurchase, type PurchaseSnapshot } from '../model/purchase';
import type { PlayPurchases } from '../play/client';
import {
  DeveloperNotificationSchema,
  VoidedProductType,
  VoidedRefundType,
  type DeveloperNotification,
} from '../play/notifications';
import type { PurchaseChange, PurchaseEvent, PurchaseRecord, PurchaseStore } from '../store/purchase-record';
import { planClaim } from './plan-claim';
import { planRevoke } from './plan-revoke';

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
  if (await deps.store.hasEvent(event.id)) return 'duplicate';
  try {
    return await dispatch(deps, n, event);
  } catch (e) {
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
    await deps.store.recordNotice({
      kind: 'play_pending_refund_review',
      detail: { packageName: n.packageName, ...n.pendingRefundReviewNotification },
    });
    return 'notice';
  }
  if (n.voidedPurchaseNotification) return applyVoided(deps, n, n.voidedPurchaseNotification, event);
  if (n.subscriptionNotification) {
    const token = n.subscriptionNotification.purchaseToken;
    event.detail = { notificationType: n.subscriptionNotification.notificationType };
    const resource = await deps.play.getSubscriptionPurchase({ packageName: n.packageName, productId: '', token });
    const item = (resource.lineItems ?? []).find((li) => deps.catalog.products[li.productId]?.type === 'subscription');
    const productId = item?.productId ?? resource.lineItems?.[0]?.productId;
    if (!productId) throw new DomainError('purchase_not_found', 'Play returned no line item for this subscription.');
    const product = deps.catalog.products[productId];
    if (!product || product.type !== 'subscription') {
      throw new DomainError('unknown_product', `Subscription product "${productId}" is not in the catalog as a subscription.`);
    }
    return refresh(deps, event, n.packageName, token, product, fromSubscriptionPurchase(resource, productId));
  }
  if (n.oneTimeProductNotification) {
    const { purchaseToken: token, sku } = n.oneTimeProductNotification;
    event.detail = { notificationType: n.oneTimeProductNotification.notificationType };
    const product = deps.catalog.products[sku];
    if (!product || product.type === 'subscription') {
      throw new DomainError('unknown_product', `One-time product "${sku}" is not in the catalog as a one-time product.`);
    }
    const resource = await deps.play.getProductPurchase({ packageName: n.packageName, productId: sku, token });
    return refresh(deps, event, n.packageName, token, product, fromProductPurchase(resource, sku));
  }
  throw new DomainError('invalid_argument', 'no notification kind present');
}

/** Writes the state just read from Play, unless a newer read was already written. */
async function refresh(
  deps: ApplyPlayNotificationDeps,
  event: PurchaseEvent,
  packageName: string,
  token: string,
  product: NonNullable<Catalog['products'][string]>,
  snapshot: PurchaseSnapshot,
): Promise<NotificationOutcome> {
  const now = deps.now();
  const purchaseId = playPurchaseId(token);
  const linkedPurchaseId = snapshot.linkedPurchaseToken ? playPurchaseId(snapshot.linkedPurchaseToken) : null;
  let stale = false;
  const { duplicate } = await deps.store.applyPurchaseEvent(event, { purchaseId, linkedPurchaseId }, (current, linked) => {
    if (current?.storeReadAt && current.storeReadAt > now) {
      stale = true;
      return null;
    }
    // A replacement made by the same Play account belongs to the replaced purchase's owner.
    const uid = current?.uid ?? linked?.uid ?? null;
    return planClaim({ purchaseId, linkedPurchaseId, uid, platform: 'google_play', packageName, product, snapshot, now, current, linked });
  });
  log('INFO', 'RTDN applied', { purchase: purchaseId.slice(0, 12), token: fingerprint(token), type: event.type, state: snapshot.state, duplicate, stale });
  return duplicate ? 'duplicate' : stale ? 'stale' : 'applied';
}

async function applyVoided(
  deps: ApplyPlayNotificationDeps,
  n: DeveloperNotification,
  v: NonNullable<DeveloperNotification['voidedPurchaseNotification']>,
  event: PurchaseEvent,
): Promise<NotificationOutcome> {
  const purchaseId = playPurchaseId(v.purchaseToken);
  event.detail = { productType: v.productType, refundType: v.refundType, orderId: v.orderId ?? null };
  if (v.refundType === VoidedRefundType.QUANTITY_BASED_PARTIAL) {
    // Part of a multi-quantity purchase was refunded: access stays; an admin decides about credits.
    await deps.store.recordNotice({ kind: 'play_partial_refund', purchaseId, detail: { packageName: n.packageName, orderId: v.orderId ?? null } });
    const { duplicate } = await deps.store.applyPurchaseEvent(event, { purchaseId }, () => null);
    return duplicate ? 'duplicate' : 'notice';
  }
  const now = deps.now();
  const kind = v.productType === VoidedProductType.SUBSCRIPTION ? 'subscription' : 'one_time';
  const { duplicate } = await deps.store.applyPurchaseEvent(event, { purchaseId }, (current: PurchaseRecord | null): PurchaseChange =>
    planRevoke({ purchaseId, platform: 'google_play', packageName: n.packageName, kind, orderId: v.orderId ?? null, now, current }),
  );
  log('INFO', 'RTDN voided purchase', { purchase: purchaseId.slice(0, 12), duplicate });
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
