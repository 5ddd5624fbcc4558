import { createHash } from 'node:crypto';
import { PurchaseState } from './purchase';
import type { Platform, PurchaseRecord } from '../store/purchase-record';

/**
 * Purchase record before -> after, as one transaction writes it: the entitlement events it means.
 * Pure and deterministic (the same transition always gives the same events, ids included), so a
 * retried transaction or a redelivered notification can never make a second event, and a change
 * that changes nothing makes none. Docs: docs/entitlement-events.md.
 */
export const EntitlementEventType = {
  INITIAL_PURCHASE: 'INITIAL_PURCHASE',
  RENEWAL: 'RENEWAL',
  PRODUCT_CHANGE: 'PRODUCT_CHANGE',
  CANCELLATION: 'CANCELLATION',
  UNCANCELLATION: 'UNCANCELLATION',
  BILLING_ISSUE: 'BILLING_ISSUE',
  BILLING_RECOVERED: 'BILLING_RECOVERED',
  PAUSED: 'PAUSED',
  RESUMED: 'RESUMED',
  EXPIRATION: 'EXPIRATION',
  REVOCATION: 'REVOCATION',
  TRANSFER: 'TRANSFER',
  NON_RENEWING_PURCHASE: 'NON_RENEWING_PURCHASE',
  CREDITS_GRANTED: 'CREDITS_GRANTED',
  CREDITS_REVERSED: 'CREDITS_REVERSED',
} as const;
export type EntitlementEventType = (typeof EntitlementEventType)[keyof typeof EntitlementEventType];

/** The message data published for each event (JSON). */
export interface EntitlementEventMessage {
  id: string;
  type: EntitlementEventType;
  uid: string;
  /** 1, 2, 3... per user, in commit order: a consumer can tell a repeat or a gap. */
  sequence: number;
  platform: Platform;
  environment: 'production' | 'sandbox' | 'test';
  productId: string;
  purchaseId: string;
  entitlements: string[];
  active: boolean;
  expiresAt: string | null;
  state: string;
  previousState: string | null;
  credits?: Record<string, number>;
  occurredAt: string;
  recordedAt: string;
}

/** An event before the store numbers it in the user's sequence. */
export type EntitlementEventDraft = Omit<EntitlementEventMessage, 'sequence'>;

export interface RecordTransition {
  previous: PurchaseRecord | null;
  record: PurchaseRecord;
  /** Balance increments applied with this change (negative: taken back). */
  credit?: Record<string, number> | undefined;
  /** The store event's time where known (a notification's eventTime). */
  occurredAt?: Date | null | undefined;
  /** This purchase replaces `replaced` (Play's linkedPurchaseToken): a product change, not a new purchase. */
  replaced?: PurchaseRecord | null | undefined;
  /** The change follows a revocation (Play's SUBSCRIPTION_REVOKED, a voided order, an admin revoke): access ending is a REVOCATION. */
  revocation?: boolean | undefined;
}

const T = EntitlementEventType;
const NOT_YET_PAID: ReadonlySet<string> = new Set([PurchaseState.PENDING, PurchaseState.PENDING_PURCHASE_CANCELED, PurchaseState.UNSPECIFIED]);

/** Every event of one record's transition (several only for a transfer, or credits besides access). */
export function deriveEntitlementEvents(t: RecordTransition): EntitlementEventDraft[] {
  const { previous, record } = t;
  if (record.uid === null) return [];
  // replaced by a newer purchase: the newer one's PRODUCT_CHANGE says it (one change, one event)
  if (record.supersededBy && !previous?.supersededBy && previous?.uid === record.uid) return [];
  const out: EntitlementEventDraft[] = [];
  const make = (uid: string, type: EntitlementEventType, extra: Partial<EntitlementEventDraft> = {}) =>
    out.push(draft(t, uid, type, extra));

  if (previous?.uid && previous.uid !== record.uid) {
    // one TRANSFER each: the previous owner's access from this purchase ends, the new owner's begins
    make(previous.uid, T.TRANSFER, { active: false, entitlements: Object.keys(previous.entitlements).sort(), state: previous.state });
    make(record.uid, T.TRANSFER);
    return out;
  }
  const credits = creditDelta(t.credit);
  if (credits.granted) make(record.uid, T.CREDITS_GRANTED, { credits: credits.granted, entitlements: [] });
  if (credits.reversed) make(record.uid, T.CREDITS_REVERSED, { credits: credits.reversed, entitlements: [] });
  if (record.productType === 'consumable' && Object.keys(record.entitlements).length === 0) return out;

  const type = accessEvent(t);
  if (type) make(record.uid, type);
  return out;
}

/** The one access event of a record owned by the same user before and after (or claimed now). */
function accessEvent({ previous, record, replaced, revocation }: RecordTransition): EntitlementEventType | null {
  const owned = previous !== null && previous.uid === record.uid;
  const wasActive = owned && previous.active;
  if (record.revoked) return owned && !previous.revoked ? T.REVOCATION : null;
  const oneTime = record.kind === 'one_time';
  const firstAccess = !owned || NOT_YET_PAID.has(previous.state);

  if (!wasActive && record.active) {
    if (firstAccess && replaced?.uid === record.uid) return T.PRODUCT_CHANGE;
    if (firstAccess || oneTime) return oneTime ? T.NON_RENEWING_PURCHASE : T.INITIAL_PURCHASE;
    if (previous.state === PurchaseState.PAUSED) return T.RESUMED;
    if (previous.state === PurchaseState.ON_HOLD) return T.BILLING_RECOVERED;
    return T.RENEWAL; // a lapsed subscription resubscribed (RevenueCat: RENEWAL)
  }
  if (!owned) return null; // claimed without access (pending, expired): nothing granted, nothing to say
  if (wasActive && !record.active) {
    if (revocation) return T.REVOCATION;
    if (oneTime) return T.EXPIRATION;
    if (record.state === PurchaseState.PAUSED) return T.PAUSED;
    if (record.state === PurchaseState.ON_HOLD) return T.BILLING_ISSUE;
    return T.EXPIRATION;
  }
  if (!record.active) {
    // access already gone (hold, pause): the subscription's end is still news
    const ended = record.state === PurchaseState.EXPIRED && previous.state !== PurchaseState.EXPIRED && !firstAccess;
    return ended ? (revocation ? T.REVOCATION : T.EXPIRATION) : null;
  }
  // active before and after
  if (record.productId !== previous.productId) return T.PRODUCT_CHANGE; // Apple keeps one subscription across plans
  if (previous.state !== record.state) {
    if (record.state === PurchaseState.CANCELED) return T.CANCELLATION;
    if (record.state === PurchaseState.IN_GRACE_PERIOD) return T.BILLING_ISSUE;
    if (previous.state === PurchaseState.IN_GRACE_PERIOD) return T.BILLING_RECOVERED;
    if (previous.state === PurchaseState.CANCELED) return T.UNCANCELLATION;
  }
  if (!oneTime && later(record.expiresAt, previous.expiresAt)) return T.RENEWAL;
  return null;
}

const later = (a: Date | null, b: Date | null): boolean => a !== null && b !== null && a.getTime() > b.getTime();

function creditDelta(credit: Record<string, number> | undefined): { granted?: Record<string, number>; reversed?: Record<string, number> } {
  const granted: Record<string, number> = {};
  const reversed: Record<string, number> = {};
  for (const [balance, amount] of Object.entries(credit ?? {})) {
    if (amount > 0) granted[balance] = amount;
    else if (amount < 0) reversed[balance] = amount;
  }
  return {
    ...(Object.keys(granted).length > 0 ? { granted } : {}),
    ...(Object.keys(reversed).length > 0 ? { reversed } : {}),
  };
}

export function environmentOf(record: Pick<PurchaseRecord, 'platform' | 'test'>): EntitlementEventMessage['environment'] {
  if (!record.test) return 'production';
  return record.platform === 'app_store' ? 'sandbox' : 'test';
}

function draft(t: RecordTransition, uid: string, type: EntitlementEventType, extra: Partial<EntitlementEventDraft>): EntitlementEventDraft {
  const { previous, record, replaced } = t;
  const affected = new Set(Object.keys(record.entitlements));
  if (previous?.uid === uid) for (const id of Object.keys(previous.entitlements)) affected.add(id);
  if (type === T.PRODUCT_CHANGE && replaced) for (const id of Object.keys(replaced.entitlements)) affected.add(id);
  const previousState = previous?.uid === uid ? previous.state : type === T.PRODUCT_CHANGE && replaced ? replaced.state : null;
  const recordedAt = record.updatedAt;
  const occurredAt = t.occurredAt ?? (type === T.INITIAL_PURCHASE || type === T.NON_RENEWING_PURCHASE ? record.purchasedAt : null) ?? recordedAt;
  const base: EntitlementEventDraft = {
    id: eventId(record.id, uid, type, previous?.updatedAt ?? null, recordedAt),
    type,
    uid,
    platform: record.platform,
    environment: environmentOf(record),
    productId: record.productId,
    purchaseId: record.id,
    entitlements: [...affected].sort(),
    active: record.active,
    expiresAt: record.expiresAt ? record.expiresAt.toISOString() : null,
    state: record.revoked ? 'revoked' : record.state,
    previousState,
    occurredAt: occurredAt.toISOString(),
    recordedAt: recordedAt.toISOString(),
  };
  return { ...base, ...extra };
}

/** Stable: the same transition of the same purchase for the same user gives the same id. */
export function eventId(purchaseId: string, uid: string, type: string, from: Date | null, to: Date): string {
  const key = [purchaseId, uid, type, from?.toISOString() ?? '-', to.toISOString()].join('|');
  return createHash('sha256').update(key).digest('hex').slice(0, 32);
}
