import {
  collection,
  doc,
  getDoc,
  getDocs,
  limit,
  onSnapshot,
  orderBy,
  query,
  where,
  type DocumentData,
  type Firestore,
} from 'firebase/firestore';

/**
 * Every Firestore read the console makes (the collections of shared/store/firestore.ts). firestore.rules
 * lets an admin read exactly these; queries use one equality filter (automatic indexes) or an index
 * in firestore.indexes.json.
 */
export type Row = DocumentData & { id: string };
const rows = (snap: { docs: { id: string; data(): DocumentData }[] }): Row[] => snap.docs.map((d) => ({ ...d.data(), id: d.id }));
const LIST_LIMIT = 50;
const millis = (v: unknown) => (v && typeof (v as { toMillis?: unknown }).toMillis === 'function' ? (v as { toMillis(): number }).toMillis() : 0);
const newestFirst = (field: string) => (a: Row, b: Row) => millis(b[field]) - millis(a[field]);

export function createReads(db: Firestore) {
  return {
    /** users/{uid} (balances, eventSequence) and its entitlements, live. Returns the unsubscribe. */
    watchUser(uid: string, on: (user: Row | null, entitlements: Row[]) => void, onError: (e: Error) => void): () => void {
      let user: Row | null | undefined;
      let ents: Row[] | undefined;
      const emit = () => user !== undefined && ents !== undefined && on(user, ents);
      const a = onSnapshot(doc(db, 'users', uid), (s) => ((user = s.exists() ? { ...s.data(), id: s.id } : null), emit()), onError);
      const b = onSnapshot(collection(db, 'users', uid, 'entitlements'), (s) => ((ents = rows(s)), emit()), onError);
      return () => (a(), b());
    },
    async purchasesOf(uid: string): Promise<Row[]> {
      return rows(await getDocs(query(collection(db, 'purchases'), where('uid', '==', uid), limit(200)))).sort(newestFirst('createdAt'));
    },
    /** The user's entitlement events (the outbox), newest first. */
    async eventsOf(uid: string): Promise<Row[]> {
      const q = query(collection(db, 'entitlementEvents'), where('uid', '==', uid), orderBy('sequence', 'desc'), limit(200));
      return rows(await getDocs(q));
    },
    async purchase(id: string): Promise<Row | null> {
      const s = await getDoc(doc(db, 'purchases', id));
      return s.exists() ? { ...s.data(), id: s.id } : null;
    },
    /** Play order ids are stored as they are (the server does not hash them): an equality query. */
    async purchasesByOrderId(orderId: string): Promise<Row[]> {
      return rows(await getDocs(query(collection(db, 'purchases'), where('orderId', '==', orderId), limit(10))));
    },
    async userExists(uid: string): Promise<boolean> {
      return (await getDoc(doc(db, 'users', uid))).exists();
    },
    async storeEventsOf(purchaseId: string): Promise<Row[]> {
      return rows(await getDocs(query(collection(db, 'events'), where('purchaseId', '==', purchaseId), limit(200)))).sort(newestFirst('receivedAt'));
    },
    async ledgerOf(purchaseId: string): Promise<Row[]> {
      return rows(await getDocs(query(collection(db, 'refundLedger'), where('request.purchaseId', '==', purchaseId), limit(100)))).sort(newestFirst('startedAt'));
    },
    async auditOf(purchaseId: string): Promise<Row[]> {
      return rows(await getDocs(query(collection(db, 'auditLog'), where('purchaseId', '==', purchaseId), limit(100)))).sort(newestFirst('at'));
    },
    async deadLetters(): Promise<Row[]> {
      return rows(await getDocs(query(collection(db, 'deadLetters'), orderBy('receivedAt', 'desc'), limit(LIST_LIMIT))));
    },
    async pendingRefundReviews(): Promise<Row[]> {
      const q = query(collection(db, 'adminNotices'), where('kind', '==', 'play_pending_refund_review'), where('status', '==', 'open'), limit(LIST_LIMIT));
      return rows(await getDocs(q)).sort(newestFirst('createdAt'));
    },
    async adminNotices(): Promise<Row[]> {
      return rows(await getDocs(query(collection(db, 'adminNotices'), orderBy('createdAt', 'desc'), limit(LIST_LIMIT))));
    },
    async reconcileRuns(): Promise<Row[]> {
      return rows(await getDocs(query(collection(db, 'reconcileRuns'), orderBy('startedAt', 'desc'), limit(10))));
    },
  };
}
export type Reads = ReturnType<typeof createReads>;
