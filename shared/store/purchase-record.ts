import type { CatalogProduct } from '../catalog';
import type { EntitlementSource } from '../model/entitlements';
import type { PurchaseKind, PurchaseState } from '../model/purchase';

/**
 * `purchases/{id}`: one per purchase token (Play) or original transaction (App Store). The id is
 * derived from the token; the raw token is never stored in an id or logged.
 */
export type Platform = 'google_play' | 'app_store';

export interface PurchaseRecord {
  id: string;
  /** Owner for good; null while only a notification has seen the purchase. */
  uid: string | null;
  platform: Platform;
  packageName: string;
  productId: string;
  productType: CatalogProduct['type'];
  kind: PurchaseKind;
  state: PurchaseState;
  active: boolean;
  expiresAt: Date | null;
  purchasedAt: Date | null;
  orderId: string | null;
  test: boolean;
  quantity: number;
  acknowledged: boolean;
  consumed: boolean;
  /** What this purchase grants now, by entitlement id. */
  entitlements: Record<string, EntitlementSource>;
  /** Balance increments already applied for this purchase (applied once, ever). */
  credited: Record<string, number> | null;
  revoked: boolean;
  /** Credits taken back after a refund (balances may go negative; this says why). */
  creditsReversed?: Record<string, number> | null;
  supersededBy: string | null;
  linkedPurchaseId: string | null;
  /** When the store's authoritative state behind this record was read: older reads never overwrite it. */
  storeReadAt?: Date | null;
  /** Play: the token's products (a base plan and add-ons, or several one-time products). */
  items?: PurchaseItemRecord[];
  /** Play one-time: units of each product taken back by voided refunds (quantity-based partial refunds). */
  revokedUnits?: Record<string, number> | null;
  /** Play: orders seen voided (renewals share the token, so voids are per order). */
  voidedOrderIds?: string[];
  /** Last failure finishing the purchase at the store (acknowledge/consume); null once finished. */
  syncError?: string | null;
  /** Granted to an owner and not yet acknowledged (consumed) at Play: the sweep finishes these. */
  needsFinish?: boolean;
  /** The store's token is kept (server-only, `purchaseTokens`) so the sweep can re-read the purchase. */
  hasToken?: boolean;
  /** The app's account binding as the store reported it (obfuscatedExternalAccountId / appAccountToken), if any. */
  accountBinding?: string | null;
  /** When the purchase moved between users within the last 30 days (restore/transfer policy). */
  transfers?: Date[];
  /** The latest move between users (an admin's carries its refundLedger id: a repeat finds its result). */
  lastTransfer?: { from: string; to: string; at: Date; actor: string; ledgerId: string | null } | null;
  /** App Store only: granted through Family Sharing rather than bought by the owner. */
  familyShared?: boolean;
  createdAt: Date;
  updatedAt: Date;
}

export interface PurchaseItemRecord {
  productId: string;
  expiresAt: Date | null;
  orderId: string | null;
  quantity: number;
  refundableQuantity: number;
}

/** A change to one purchase (and the one it replaces), planned purely from what is stored now. */
export interface PurchaseChange {
  purchase: PurchaseRecord;
  linked?: PurchaseRecord;
  /** Balance increments to apply to the owner in the same transaction. */
  credit?: Record<string, number>;
  /** The purchase's store token, kept server-only for later re-reads (never in the purchase document). */
  token?: string;
  /** The purchase moves to another user: audited with the change (`auditLog`). */
  transfer?: TransferNote;
}

/** A move of a purchase between users, as its audit entry records it. */
export interface TransferNote {
  from: string;
  to: string;
  /** `restore` for a verification under RESTORE_POLICY=transfer, else the admin. */
  actor: { uid: string; email?: string | null };
  at: Date;
  /** Transfers within the last 30 days, this one included. */
  transfersInWindow: number;
  /** An admin moved it past RESTORE_TRANSFER_LIMIT (admins are not bound by it). */
  overLimit: boolean;
  reason?: string;
  ledgerId?: string | null;
}

export interface UserView {
  entitlements: Record<string, import('../model/entitlements').EntitlementView>;
  balances: Record<string, number>;
}

export interface CommitResult extends UserView {
  purchase: PurchaseRecord;
}

export interface StoreSyncUpdate {
  acknowledged?: boolean;
  consumed?: boolean;
  needsFinish?: boolean;
  /** Last failure talking to the store about this purchase (acknowledge/consume), or null once fixed. */
  syncError?: string | null;
}

/** A store notification (Play RTDN, App Store notification): applied once, ever, by its id. */
export interface PurchaseEvent {
  /** Unique per delivery source, e.g. `rtdn:<Pub/Sub messageId>` or `asn:<notificationUUID>`. */
  id: string;
  source: 'play_rtdn' | 'app_store_notification' | 'admin' | 'reconcile';
  type: string;
  eventTime: Date | null;
  detail?: Record<string, unknown>;
}

/** A message that cannot ever be applied (malformed, foreign, unknown purchase); kept for operators. */
export interface DeadLetter {
  source: PurchaseEvent['source'];
  reason: string;
  /** The message as received, truncated; never a raw purchase token in an id. */
  payload: string;
  messageId?: string;
  /** The message as received, kept for a replay when the failure may be fixed later (catalog, Play lag). */
  replay?: { data: string; messageId: string };
}

/** Something an admin must look at (a pending refund review, a consumption request). */
export interface AdminNotice {
  /** A stable id makes recording idempotent: a redelivered notification adds no second copy. */
  id?: string;
  kind: string;
  purchaseId?: string | null;
  detail: Record<string, unknown>;
}

/** How an admin answered a notice (a pending refund review): shown on the notice. */
export interface NoticeAnswer {
  answer: string;
  answeredAt: Date;
  answeredBy: { uid: string; email?: string | null };
}

/**
 * A pending refund review's raw token, kept server-only (`refundReviewTokens/{noticeId}`): answering
 * the review needs it, and the notice that admin consoles read holds only its fingerprint.
 */
export interface RefundReviewToken {
  token: string;
  packageName: string;
  orderId: string | null;
  /** The notification's event time: Play takes answers for 24 hours from then. */
  notifiedAt: Date | null;
}

/** A pending refund review as refundPurchase needs it: the token, and whether it was answered. */
export interface RefundReview {
  token: RefundReviewToken | null;
  notice: { status: string; answer?: string } | null;
}

/**
 * What a ledger entry was made for. An entry (keyed by an idempotencyKey or derived from the request)
 * answers only the purchase, action and item it was made for: see `ledgerBinding`.
 */
export interface LedgerRequest {
  /** null for a refund review (it is about an order). */
  purchaseId: string | null;
  action: string;
  orderId: string | null;
  /** An add-on's product (revoke of one line item). */
  productId?: string | null;
  /** The rest of what was asked (refund type, cancellation type, refund preference), for the record. */
  options?: Record<string, unknown>;
}

/** Purchase, action and item (for a review: its order; for a transfer: its new owner): a key used again for another of these is refused. */
export function ledgerBinding(r: LedgerRequest): string {
  const target = r.action === 'review_refund' ? r.orderId : r.action === 'transfer' ? (r.options?.toUid ?? null) : null;
  return JSON.stringify([r.purchaseId, r.action, r.productId ?? null, target]);
}

/**
 * One admin action at the store, in two phases so that it is never made twice and always finished:
 * `in_progress` (an attempt is calling Play), `at_store` (Play did it; the local step, e.g. ending
 * access, is left and any later attempt finishes it without calling Play), `done`, or `failed`.
 */
export interface LedgerEntry {
  id: string;
  status: 'in_progress' | 'at_store' | 'done' | 'failed';
  request: LedgerRequest;
  /** Set once Play has done it (at_store), so that every attempt answers the same. */
  result?: Record<string, unknown>;
  error?: { code: string; message: string };
  /**
   * An earlier attempt may have reached Play without learning the outcome (a lost answer, a timeout,
   * a 5xx, a crash): Play's state then decides whether it was done, never a blind second call.
   */
  maybeAtStore?: boolean;
  attempts: number;
  /** When the latest attempt started (an in_progress entry older than the stale limit was abandoned). */
  startedAt: Date;
  atStoreAt?: Date;
  finishedAt?: Date;
}

export type LedgerClaim =
  /** Call Play (entry.maybeAtStore: first check whether an earlier attempt already did it). */
  | { kind: 'started'; entry: LedgerEntry }
  /** Play did it: finish the local step. */
  | { kind: 'resume'; entry: LedgerEntry }
  | { kind: 'done'; entry: LedgerEntry }
  | { kind: 'busy'; entry: LedgerEntry }
  /** The id (an idempotencyKey) was used for another purchase, action or item. */
  | { kind: 'conflict'; entry: LedgerEntry };

/** Who did what, when, why, and how it ended; admins read it, nobody edits it. */
export interface AuditEntry {
  actor: { uid: string; email?: string | null };
  action: string;
  reason: string;
  purchaseId: string | null;
  packageName: string;
  request: Record<string, unknown>;
  outcome: 'ok' | 'repeated' | 'refused' | 'failed';
  result?: Record<string, unknown>;
  error?: { code: string; message: string };
}

/** The persistence the core needs; Firestore in production, swappable in logic tests. */
export interface PurchaseStore {
  /**
   * Reads the purchase (and the linked one), lets `plan` decide, then writes the purchase, the owner's
   * entitlement documents and balances in one transaction. `plan` may throw a DomainError to abort.
   */
  commitPurchaseChange(
    ids: { purchaseId: string; linkedPurchaseId?: string | null },
    plan: (current: PurchaseRecord | null, linked: PurchaseRecord | null) => PurchaseChange,
  ): Promise<CommitResult>;
  /**
   * Like commitPurchaseChange, for a notification: a duplicate event id changes nothing and `plan`
   * is not called; `plan` returning null records the event and changes nothing else.
   */
  applyPurchaseEvent(
    event: PurchaseEvent,
    ids: { purchaseId: string; linkedPurchaseId?: string | null },
    plan: (current: PurchaseRecord | null, linked: PurchaseRecord | null) => PurchaseChange | null,
  ): Promise<{ duplicate: boolean; result: CommitResult | null }>;
  hasEvent(eventId: string): Promise<boolean>;
  /**
   * Starts an attempt on a ledger entry, in one transaction: `done` (its result), `resume` (Play did
   * it), `busy` (another attempt is calling Play), `conflict` (made for another request), else
   * `started`. A failed entry, or one in progress for longer than `staleAfterMs` (its attempt died,
   * perhaps after calling Play: it is marked maybeAtStore), may start again.
   */
  claimLedgerEntry(id: string, request: LedgerRequest, now: Date, staleAfterMs: number): Promise<LedgerClaim>;
  /** Play has done it: `result` is the answer from now on; the local step is left. */
  markLedgerAtStore(id: string, result: Record<string, unknown>, now: Date): Promise<void>;
  finishLedgerEntry(
    id: string,
    outcome: { result: Record<string, unknown> } | { error: { code: string; message: string }; maybeAtStore: boolean },
  ): Promise<void>;
  getLedgerEntry(id: string): Promise<LedgerEntry | null>;
  /** Keeps a pending refund review's raw token server-only; a redelivery changes nothing. */
  keepRefundReviewToken(noticeId: string, review: RefundReviewToken): Promise<void>;
  getRefundReview(noticeId: string): Promise<RefundReview>;
  /** Marks an admin notice answered (no-op for a notice that does not exist). */
  answerNotice(noticeId: string, answer: NoticeAnswer): Promise<void>;
  recordAudit(entry: AuditEntry): Promise<void>;
  recordDeadLetter(letter: DeadLetter): Promise<void>;
  recordNotice(notice: AdminNotice): Promise<void>;
  getPurchase(purchaseId: string): Promise<PurchaseRecord | null>;
  /** What a user sees now of these entitlements, and their balances (one batched read). */
  getUserView(uid: string, entitlementIds: readonly string[]): Promise<UserView>;
  /** A purchase and, in the same batched read, what `uid` sees of these entitlements (a restore's one round trip). */
  getPurchaseWithView(purchaseId: string, uid: string, entitlementIds: readonly string[]): Promise<{ purchase: PurchaseRecord | null; view: UserView }>;
  recordStoreSync(purchaseId: string, update: StoreSyncUpdate): Promise<void>;
}
