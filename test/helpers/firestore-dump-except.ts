import type { DocumentReference, Firestore } from '@google-cloud/firestore';

/**
 * Like dumpFirestore (every document of the project, path -> data), without the top-level
 * collections named in `skip`: an append-only log (dead letters) can grow large, and a test that
 * checks it separately need not read it whole after every batch.
 */
export async function dumpFirestoreExcept(db: Firestore, skip: string[]): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  const walkDoc = async (ref: DocumentReference) => {
    const snap = await ref.get();
    if (snap.exists) out[ref.path] = snap.data();
    for (const col of await ref.listCollections()) {
      for (const child of await col.listDocuments()) await walkDoc(child);
    }
  };
  for (const col of await db.listCollections()) {
    if (skip.includes(col.id)) continue;
    for (const doc of await col.listDocuments()) await walkDoc(doc);
  }
  return out;
}
