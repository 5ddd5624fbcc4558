import type { DocumentReference, Firestore } from '@google-cloud/firestore';

/** Every document of the project, path -> data, for "nothing was written" assertions. */
export async function dumpFirestore(db: Firestore): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  const walkDoc = async (ref: DocumentReference) => {
    const snap = await ref.get();
    if (snap.exists) out[ref.path] = snap.data();
    for (const col of await ref.listCollections()) {
      for (const child of await col.listDocuments()) await walkDoc(child);
    }
  };
  for (const col of await db.listCollections()) {
    for (const doc of await col.listDocuments()) await walkDoc(doc);
  }
  return out;
}
