import { Firestore, Timestamp, type DocumentReference, type DocumentSnapshot, type Transaction } from '@google-cloud/firestore';
import { DomainError, isDomainError } from '../errors';
import { timed } from '../log';
import { countCall } from '../metrics';
import { toEntitlementView, type EntitlementSource, type EntitlementView } from '../model/entitlements';
import { deriveEntitlementEvents, type EntitlementEventDraft } from '../model/entitlement-events';
import { outboxDocument, withAffectedUsers, withDelivery, type EventsOptions } from './outbox';
import {
  ledgerBinding,
  type CommitResult,
  type LedgerEntry,
  type PurchaseChange,
  type PurchaseRecord,
  type PurchaseStore,
  type RefundReviewToken,
  type StoreSyncUpdate,
  type TransferNote,
  type UserView,
} from './purchase-record';

const PAYLOAD_LIMIT = 8 * 1024;

/** The only module that names Firestore collections. */
export const Collections = {
  purchases: 'purchases',
  users: 'users',
  entitlements: 'entitlements',
  events: 'events',
  deadLetters: 'deadLetters',
  adminNotices: 'adminNotices',
  refundLedger: 'refundLedger',
  auditLog: 'auditLog',
  purchaseTokens: 'purchaseTokens',
  refundReviewTokens: 'refundReviewTokens',
  reconcileRuns: 'reconcileRuns',
  reconcileState: 'reconcileState',
  entitlementEvents: 'entitlementEvents',
} as const;

/** Firestore gives Timestamps back; the model speaks Date. */
export function revive<T>(value: unknown): T {
  if (value instanceof Timestamp) return value.toDate() as T;
  if (Array.isArray(value)) return value.map((v) => revive(v)) as T;
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = revive(v);
    return out as T;
  }
  return value as T;
}

/** gRPC codes worth a retry by the caller: CANCELLED, UNKNOWN, DEADLINE_EXCEEDED, ABORTED, RESOURCE_EXHAUSTED, INTERNAL, UNAVAILABLE. */
const TRANSIENT = new Set([1, 2, 4, 8, 10, 13, 14]);
const ALREADY_EXISTS = 6;
const NOT_FOUND = 5;

export function isTransientFirestoreError(e: unknown): boolean {
  const code = (e as { code?: unknown }).code;
  if (typeof code === 'number') return TRANSIENT.has(code);
  return /ECONNREFUSED|ECONNRESET|ETIMEDOUT|deadline/i.test(String((e as Error).message ?? ''));
}

export function mapFirestoreError(e: unknown): unknown {
  if (isDomainError(e)) return e;
  if (isTransientFirestoreError(e)) {
    return new DomainError('upstream_unavailable', 'The database is unavailable; retry later.', {
      retryAfterSeconds: 5,
      cause: e,
    });
  }
  return e;
}

/**
 * The Firestore client retries an unreachable database for minutes (gRPC reconnects, stream and
 * transaction retries): a verification waited 219 s for its 503 while the emulator was down. Each
 * store operation therefore has a deadline, after which it fails with `upstream_unavailable` (503,
 * Retry-After); the client's own attempt goes on in the background and ends on its own.
 */
export const DEFAULT_TIMEOUT_MS = 15_000;

export function withDeadline<T extends object>(store: T, timeoutMs: number): T {
  const bounded: Record<string, unknown> = {};
  for (const [name, fn] of Object.entries(store) as [string, (...args: unknown[]) => Promise<unknown>][]) {
    bounded[name] = (...args: unknown[]) => timed('firestore', name, () => {
      const work = fn(...args);
      work.catch(() => undefined); // a failure after the deadline has nobody left to tell
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new DomainError('upstream_unavailable', 'The database did not answer in time; retry later.', { retryAfterSeconds: 5 })),
          timeoutMs,
        );
      });
      return Promise.race([work, late]).finally(() => clearTimeout(timer));
    }, firestoreStatus);
  }
  return bounded as unknown as T;
}

/** A failure named for the DEBUG line: our code (the deadline: upstream_unavailable) or the gRPC code. */
const firestoreStatus = (e: unknown) => (isDomainError(e) ? e.code : ((e as { code?: unknown })?.code ?? 'error'));

export function createFirestoreStore(db: Firestore, options: { timeoutMs?: number; events?: EventsOptions } = {}): PurchaseStore {
  const purchaseRef = (id: string) => db.collection(Collections.purchases).doc(id);
  const userRef = (uid: string) => db.collection(Collections.users).doc(uid);
  const entitlementRef = (uid: string, id: string) =>
    userRef(uid).collection(Collections.entitlements).doc(id);

  /** The documents asked for, in order, in one round trip (a read each costs a round trip and CPU). */
  async function readAll(tx: Transaction, refs: DocumentReference[]): Promise<DocumentSnapshot[]> {
    return refs.length === 0 ? [] : tx.getAll(...refs);
  }

  const record = (snap: DocumentSnapshot | undefined): PurchaseRecord | null =>
    snap?.exists ? revive<PurchaseRecord>(snap.data()) : null;

  /** A purchase and the one it is linked to (if any), with any other documents, in one round trip. */
  async function readPurchases(tx: Transaction, ids: { purchaseId: string; linkedPurchaseId?: string | null }, first: DocumentReference[] = []) {
    const refs = [...first, purchaseRef(ids.purchaseId), ...(ids.linkedPurchaseId ? [purchaseRef(ids.linkedPurchaseId)] : [])];
    const snaps = await readAll(tx, refs);
    const [current, linked] = snaps.slice(first.length);
    return { others: snaps.slice(0, first.length), current: record(current), linked: ids.linkedPurchaseId ? record(linked) : null };
  }

  const store: PurchaseStore = {
    async commitPurchaseChange(ids, plan) {
      try {
        return await db.runTransaction(async (tx) => {
          countCall('firestore:transaction');
          const { current, linked } = await readPurchases(tx, ids);
          const change = plan(current, linked);
          return applyChange(tx, change, { current, linked }, { occurredAt: null, revocation: false });
        });
      } catch (e) {
        throw mapFirestoreError(e);
      }
    },

    async applyPurchaseEvent(event, ids, plan) {
      const eventRef = db.collection(Collections.events).doc(event.id);
      try {
        return await db.runTransaction(async (tx) => {
          countCall('firestore:transaction');
          const { others, current, linked } = await readPurchases(tx, ids, [eventRef]);
          if (others[0]!.exists) return { duplicate: true, result: null };
          const change = plan(current, linked);
          const context = { occurredAt: event.eventTime, revocation: REVOKING.test(event.type) };
          const result = change ? await applyChange(tx, change, { current, linked }, context) : null;
          tx.set(eventRef, {
            ...event,
            purchaseId: ids.purchaseId,
            applied: change !== null,
            receivedAt: new Date(),
          });
          return { duplicate: false, result };
        });
      } catch (e) {
        throw mapFirestoreError(e);
      }
    },

    async hasEvent(eventId) {
      try {
        countCall('firestore:read');
        return (await db.collection(Collections.events).doc(eventId).get()).exists;
      } catch (e) {
        throw mapFirestoreError(e);
      }
    },

    async claimLedgerEntry(id, request, now, staleAfterMs) {
      const ref = db.collection(Collections.refundLedger).doc(id);
      try {
        return await db.runTransaction(async (tx) => {
          countCall('firestore:transaction');
          const snap = await tx.get(ref);
          const existing = snap.exists ? revive<LedgerEntry>(snap.data()) : null;
          if (existing && ledgerBinding(existing.request) !== ledgerBinding(request)) return { kind: 'conflict' as const, entry: existing };
          if (existing?.status === 'done') return { kind: 'done' as const, entry: existing };
          if (existing?.status === 'at_store') {
            const resumed = { ...existing, attempts: existing.attempts + 1, startedAt: now };
            tx.update(ref, { attempts: resumed.attempts, startedAt: now });
            return { kind: 'resume' as const, entry: resumed };
          }
          const stale = existing && now.getTime() - existing.startedAt.getTime() > staleAfterMs;
          if (existing?.status === 'in_progress' && !stale) return { kind: 'busy' as const, entry: existing };
          // An abandoned attempt may have died after calling Play; a failed one may not have learned the outcome.
          const maybeAtStore = existing?.maybeAtStore === true || existing?.status === 'in_progress';
          const entry: LedgerEntry = { id, status: 'in_progress', request, maybeAtStore, attempts: (existing?.attempts ?? 0) + 1, startedAt: now };
          tx.set(ref, entry);
          return { kind: 'started' as const, entry };
        });
      } catch (e) {
        throw mapFirestoreError(e);
      }
    },

    async markLedgerAtStore(id, result, now) {
      try {
        countCall('firestore:write');
        await db.collection(Collections.refundLedger).doc(id).update({ status: 'at_store', result, atStoreAt: now });
      } catch (e) {
        throw mapFirestoreError(e);
      }
    },

    async finishLedgerEntry(id, outcome) {
      try {
        countCall('firestore:write');
        const status = 'result' in outcome ? 'done' : 'failed';
        await db.collection(Collections.refundLedger).doc(id).update({ ...outcome, status, finishedAt: new Date() });
      } catch (e) {
        throw mapFirestoreError(e);
      }
    },

    async getLedgerEntry(id) {
      try {
        countCall('firestore:read');
        const snap = await db.collection(Collections.refundLedger).doc(id).get();
        return snap.exists ? revive<LedgerEntry>(snap.data()) : null;
      } catch (e) {
        throw mapFirestoreError(e);
      }
    },

    async keepRefundReviewToken(noticeId, review) {
      try {
        countCall('firestore:write');
        await db.collection(Collections.refundReviewTokens).doc(noticeId).create({ ...review, storedAt: new Date() });
      } catch (e) {
        if ((e as { code?: unknown }).code === ALREADY_EXISTS) return; // kept by an earlier delivery
        throw mapFirestoreError(e);
      }
    },

    async getRefundReview(noticeId) {
      try {
        countCall('firestore:read');
        const [token, notice] = await db.getAll(
          db.collection(Collections.refundReviewTokens).doc(noticeId),
          db.collection(Collections.adminNotices).doc(noticeId),
        );
        return {
          token: token?.exists ? revive<RefundReviewToken>(token.data()) : null,
          notice: notice?.exists ? revive<{ status: string; answer?: string }>(notice.data()) : null,
        };
      } catch (e) {
        throw mapFirestoreError(e);
      }
    },

    async answerNotice(noticeId, answer) {
      try {
        countCall('firestore:write');
        await db.collection(Collections.adminNotices).doc(noticeId).update({ status: 'answered', ...answer });
      } catch (e) {
        if ((e as { code?: unknown }).code === NOT_FOUND) return; // a review whose notice we never recorded
        throw mapFirestoreError(e);
      }
    },

    async recordAudit(entry) {
      try {
        countCall('firestore:write');
        await db.collection(Collections.auditLog).add({ ...entry, at: new Date() });
      } catch (e) {
        throw mapFirestoreError(e);
      }
    },

    async recordDeadLetter(letter) {
      try {
        countCall('firestore:write');
        await db.collection(Collections.deadLetters).add({
          ...letter,
          payload: letter.payload.slice(0, PAYLOAD_LIMIT),
          replayable: letter.replay !== undefined,
          receivedAt: new Date(),
        });
      } catch (e) {
        throw mapFirestoreError(e);
      }
    },

    async recordNotice({ id, ...notice }) {
      const doc = { ...notice, status: 'open', createdAt: new Date() };
      try {
        countCall('firestore:write');
        if (id === undefined) await db.collection(Collections.adminNotices).add(doc);
        else await db.collection(Collections.adminNotices).doc(id).create(doc);
      } catch (e) {
        if ((e as { code?: unknown }).code === ALREADY_EXISTS) return; // recorded by an earlier delivery
        throw mapFirestoreError(e);
      }
    },

    async getPurchase(purchaseId) {
      try {
        countCall('firestore:read');
        const snap = await purchaseRef(purchaseId).get();
        return snap.exists ? revive<PurchaseRecord>(snap.data()) : null;
      } catch (e) {
        throw mapFirestoreError(e);
      }
    },

    async getUserView(uid, entitlementIds) {
      try {
        const refs = [userRef(uid), ...entitlementIds.map((id) => entitlementRef(uid, id))];
        countCall('firestore:read', refs.length);
        const [user, ...docs] = await db.getAll(...refs);
        return userView(entitlementIds, user, docs);
      } catch (e) {
        throw mapFirestoreError(e);
      }
    },

    async getPurchaseWithView(purchaseId, uid, entitlementIds) {
      try {
        const refs = [purchaseRef(purchaseId), userRef(uid), ...entitlementIds.map((id) => entitlementRef(uid, id))];
        countCall('firestore:read', refs.length);
        const [purchase, user, ...docs] = await db.getAll(...refs);
        return {
          purchase: purchase?.exists ? revive<PurchaseRecord>(purchase.data()) : null,
          view: userView(entitlementIds, user, docs),
        };
      } catch (e) {
        throw mapFirestoreError(e);
      }
    },

    async recordStoreSync(purchaseId, update: StoreSyncUpdate) {
      try {
        countCall('firestore:write');
        await purchaseRef(purchaseId).update({ ...update, updatedAt: new Date() });
      } catch (e) {
        throw mapFirestoreError(e);
      }
    },
  };
  const bounded = withDeadline(store, options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  return options.events ? withDelivery(bounded, options.events.deliver) : bounded;

  function userView(entitlementIds: readonly string[], user: DocumentSnapshot | undefined, docs: DocumentSnapshot[]): UserView {
    const entitlements: Record<string, EntitlementView> = {};
    docs.forEach((snap, i) => {
      const sources = snap.exists ? revive<{ sources?: Record<string, EntitlementSource> }>(snap.data()).sources : undefined;
      const view = sources ? toEntitlementView(sources, new Date()) : null;
      if (view) entitlements[entitlementIds[i]!] = view;
    });
    return { entitlements, balances: { ...((user?.data()?.balances as Record<string, number>) ?? {}) } };
  }

  /** All reads first (Firestore's rule), then every write of the change. */
  async function applyChange(
    tx: Transaction,
    change: PurchaseChange,
    before: { current: PurchaseRecord | null; linked: PurchaseRecord | null },
    context: { occurredAt: Date | null; revocation: boolean },
  ): Promise<CommitResult> {
    // the token is stored once, the first time a change carries it; the record says it is there
    if (change.token !== undefined || before.current?.hasToken) change = { ...change, purchase: { ...change.purchase, hasToken: true } };
    const owner = change.purchase.uid;
    const touched: { record: PurchaseRecord; previous: PurchaseRecord | null }[] = [
      { record: change.purchase, previous: before.current },
    ];
    if (change.linked) touched.push({ record: change.linked, previous: before.linked });

    // entitlement documents to rewrite, per owner
    const wanted = new Map<string, Set<string>>();
    for (const { record, previous } of touched) {
      if (!record.uid) continue;
      const ids = wanted.get(record.uid) ?? new Set<string>();
      for (const id of Object.keys(record.entitlements)) ids.add(id);
      for (const id of Object.keys(previous?.entitlements ?? {})) ids.add(id);
      wanted.set(record.uid, ids);
      // a transfer: the previous owner's documents lose this purchase's sources at once
      if (previous?.uid && previous.uid !== record.uid) {
        const theirs = wanted.get(previous.uid) ?? new Set<string>();
        for (const id of Object.keys(previous.entitlements)) theirs.add(id);
        wanted.set(previous.uid, theirs);
      }
    }
    // every read of the change in one round trip: entitlement documents, then the users' documents
    const keys = [...wanted].flatMap(([uid, ids]) => [...ids].map((id) => [uid, id] as const));
    const events = options.events ? eventsOf(change, before, context) : [];
    const users = [...new Set([...(owner ? [owner] : []), ...events.map((e) => e.uid)])];
    const snaps = await readAll(tx, [...keys.map(([uid, id]) => entitlementRef(uid, id)), ...users.map(userRef)]);
    const userSnaps = new Map(users.map((uid, i) => [uid, snaps[keys.length + i]!] as const));
    const entitlementDocs = new Map<string, Record<string, EntitlementSource>>();
    keys.forEach(([uid, id], i) => {
      const snap = snaps[i]!;
      const data = snap.exists ? revive<{ sources?: Record<string, EntitlementSource> }>(snap.data()) : {};
      entitlementDocs.set(`${uid}/${id}`, { ...(data.sources ?? {}) });
    });
    const userSnap = owner ? userSnaps.get(owner) : undefined;
    const balances: Record<string, number> = { ...((userSnap?.data()?.balances as Record<string, number>) ?? {}) };
    const sequences = new Map<string, number>();
    for (const uid of new Set(events.map((e) => e.uid))) sequences.set(uid, Number(userSnaps.get(uid)?.data()?.eventSequence ?? 0));

    // writes
    const now = change.purchase.updatedAt;
    if (change.token !== undefined && !before.current?.hasToken) {
      const { id, platform, packageName } = change.purchase;
      tx.set(db.collection(Collections.purchaseTokens).doc(id), { token: change.token, platform, packageName, storedAt: now });
    }
    for (const { record } of touched) tx.set(purchaseRef(record.id), record);
    for (const { record, previous } of touched) {
      if (!record.uid) continue;
      for (const id of new Set([...Object.keys(record.entitlements), ...Object.keys(previous?.entitlements ?? {})])) {
        const sources = entitlementDocs.get(`${record.uid}/${id}`) ?? {};
        const source = record.entitlements[id];
        if (source) sources[record.id] = source;
        else delete sources[record.id];
        entitlementDocs.set(`${record.uid}/${id}`, sources);
      }
      if (previous?.uid && previous.uid !== record.uid) {
        for (const id of Object.keys(previous.entitlements)) delete entitlementDocs.get(`${previous.uid}/${id}`)?.[record.id];
      }
    }
    const views: Record<string, EntitlementView> = {};
    for (const [key, sources] of entitlementDocs) {
      const [uid, id] = key.split('/') as [string, string];
      const view = toEntitlementView(sources, now);
      const ref = entitlementRef(uid, id);
      if (!view) {
        tx.delete(ref);
        continue;
      }
      tx.set(ref, { ...view, sources, updatedAt: now });
      if (uid === owner) views[id] = view;
    }
    if (owner && change.credit && Object.keys(change.credit).length > 0) {
      for (const [balance, amount] of Object.entries(change.credit)) balances[balance] = (balances[balance] ?? 0) + amount;
      tx.set(userRef(owner), { balances, updatedAt: now }, { merge: true });
    }
    // the events of this change, numbered per user, committed with it (delivered after the commit)
    for (const event of events) {
      const sequence = sequences.get(event.uid)! + 1;
      sequences.set(event.uid, sequence);
      tx.set(db.collection(Collections.entitlementEvents).doc(event.id), outboxDocument({ ...event, sequence }, options.events!, now));
    }
    for (const [uid, eventSequence] of sequences) tx.set(userRef(uid), { eventSequence }, { merge: true });
    if (change.transfer) tx.set(db.collection(Collections.auditLog).doc(), transferAudit(change.purchase, change.transfer));
    const result: CommitResult = { purchase: change.purchase, entitlements: views, balances };
    return sequences.size > 0 ? withAffectedUsers(result, [...sequences.keys()]) : result;
  }
}

/** The auditLog entry of a move between users, written with the move. */
function transferAudit(record: PurchaseRecord, t: TransferNote) {
  return {
    action: 'purchase_transferred',
    actor: t.actor,
    purchaseId: record.id,
    platform: record.platform,
    packageName: record.packageName,
    productId: record.productId,
    from: t.from,
    to: t.to,
    transfersInWindow: t.transfersInWindow,
    overLimit: t.overLimit,
    reason: t.reason ?? null,
    ledgerId: t.ledgerId ?? null,
    outcome: 'ok',
    at: t.at,
  };
}

/** Notifications and admin actions whose change of access is a revocation (not a plain expiry). */
const REVOKING = /^(subscription:12|voided|revoke|revoke_item|refund)$/;

function eventsOf(
  change: PurchaseChange,
  before: { current: PurchaseRecord | null; linked: PurchaseRecord | null },
  context: { occurredAt: Date | null; revocation: boolean },
): EntitlementEventDraft[] {
  const common = { occurredAt: context.occurredAt, revocation: context.revocation };
  const events = deriveEntitlementEvents({ ...common, previous: before.current, record: change.purchase, credit: change.credit, replaced: change.linked ? before.linked : null });
  if (change.linked) events.push(...deriveEntitlementEvents({ ...common, previous: before.linked, record: change.linked }));
  return events;
}
