import { FieldValue, type Firestore } from '@google-cloud/firestore';
import { countCall } from '../metrics';
import { Collections, mapFirestoreError, revive } from './firestore';
import type { PurchaseRecord } from './purchase-record';
import type { ReconcileStore, ReplayableDeadLetter } from './reconcile-store';

const LEASE = 'lease';

/** The sweep's own documents: `reconcileState/*` (lease, checkpoints), `reconcileRuns/*`; queries on indexed fields only. */
export function createFirestoreReconcileStore(db: Firestore): ReconcileStore {
  const state = (key: string) => db.collection(Collections.reconcileState).doc(key);
  const guarded = async <T>(fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (e) {
      throw mapFirestoreError(e);
    }
  };
  const records = (docs: FirebaseFirestore.QueryDocumentSnapshot[]) => {
    countCall('firestore:docsRead', docs.length);
    return docs.map((d) => revive<PurchaseRecord>(d.data()));
  };

  return {
    claimLease: (holder, now, ttlMs) =>
      guarded(() =>
        db.runTransaction(async (tx) => {
          countCall('firestore:transaction');
          const held = (await tx.get(state(LEASE))).data() as { holder?: string; until?: FirebaseFirestore.Timestamp } | undefined;
          if (held?.holder && held.holder !== holder && held.until && held.until.toMillis() > now.getTime()) return false;
          tx.set(state(LEASE), { holder, until: new Date(now.getTime() + ttlMs) });
          return true;
        }),
      ),
    releaseLease: (holder) =>
      guarded(() =>
        db.runTransaction(async (tx) => {
          if ((await tx.get(state(LEASE))).data()?.holder === holder) tx.delete(state(LEASE));
        }),
      ),
    getCheckpoint: <T extends Record<string, unknown>>(key: string) =>
      guarded(async () => {
        countCall('firestore:read');
        const snap = await state(`checkpoint:${key}`).get();
        return snap.exists ? revive<T>(snap.data()) : null;
      }),
    setCheckpoint: (key, value) =>
      guarded(async () => {
        countCall('firestore:write');
        await state(`checkpoint:${key}`).set(value);
      }),
    recordRun: (runId, run) =>
      guarded(async () => {
        countCall('firestore:write');
        await db.collection(Collections.reconcileRuns).doc(runId).set(run);
      }),
    getToken: (purchaseId) =>
      guarded(async () => {
        countCall('firestore:read');
        const snap = await db.collection(Collections.purchaseTokens).doc(purchaseId).get();
        return (snap.data()?.token as string | undefined) ?? null;
      }),
    findLapsed: (now, limit) =>
      guarded(async () => {
        countCall('firestore:query');
        const q = db.collection(Collections.purchases).where('active', '==', true).where('expiresAt', '<', now).orderBy('expiresAt').limit(limit);
        return records((await q.get()).docs);
      }),
    findUnfinished: (limit) =>
      guarded(async () => {
        countCall('firestore:query');
        const q = db.collection(Collections.purchases).where('needsFinish', '==', true).orderBy('createdAt').limit(limit);
        return records((await q.get()).docs);
      }),
    findReplayableDeadLetters: (limit) =>
      guarded(async () => {
        countCall('firestore:query');
        const q = db.collection(Collections.deadLetters).where('replayable', '==', true).orderBy('receivedAt').limit(limit);
        const { docs } = await q.get();
        countCall('firestore:docsRead', docs.length);
        return docs.map((d) => ({ ...revive<Omit<ReplayableDeadLetter, 'id'>>(d.data()), id: d.id }));
      }),
    markReplayed: (id, outcome) =>
      guarded(async () => {
        countCall('firestore:write');
        await db
          .collection(Collections.deadLetters)
          .doc(id)
          .update({
            replayable: !outcome.resolved && !outcome.giveUp,
            lastReplay: { result: outcome.result, at: outcome.at },
            replays: FieldValue.increment(1),
            ...(outcome.resolved ? { resolvedAt: outcome.at } : {}),
          });
      }),
  };
}
