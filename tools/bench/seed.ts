import { createHash } from 'node:crypto';
import type { Firestore } from '@google-cloud/firestore';
import type { Catalog } from '../../shared/catalog';
import { planPlayChange } from '../../shared/core/plan-play-change';
import { toEntitlementView, type EntitlementSource } from '../../shared/model/entitlements';
import { finishNeeded } from '../../shared/model/finish';
import { fromProductPurchaseV2, fromSubscriptionPurchase, type PurchaseSnapshot } from '../../shared/model/purchase';
import { ProductPurchaseV2Schema, SubscriptionPurchaseV2Schema } from '../../shared/play/resources';
import type { PurchaseRecord } from '../../shared/store/purchase-record';
import type { SimPurchase } from '../play-simulator';
import { PLAY_PACKAGE } from '../local-stack/functions';

/**
 * Seeding a large store fast for the benchmarks: the documents verifyPurchase would have written, built
 * with the product's own pure planning code and written in batches, instead of thousands of requests.
 */

/** Firestore batched writes: at most 500 per batch. */
const BATCH = 500;
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

export interface WriteOp {
  ref: string;
  data: Record<string, unknown>;
  merge?: boolean;
}

/**
 * The documents verifyPurchase leaves for a new purchase (commitPurchaseChange, then finishAtPlay's
 * acknowledge or consume and recordStoreSync), built with the product's pure planning code from the
 * simulator's resource as Play answered the verification's read.
 */
export function buildVerified(catalog: Catalog, view: SimPurchase, uid: string, at: Date): { record: PurchaseRecord; ops: WriteOp[]; credit?: Record<string, number> } {
  const product = catalog.products[view.productId]!;
  const opts = { requested: view.productId, known: (id: string) => Object.hasOwn(catalog.products, id) };
  const snapshot: PurchaseSnapshot =
    product.type === 'subscription'
      ? fromSubscriptionPurchase(SubscriptionPurchaseV2Schema.parse(view.resource), opts)
      : fromProductPurchaseV2(ProductPurchaseV2Schema.parse(view.resourceV2), opts);
  const id = sha256(view.purchaseToken);
  const change = planPlayChange({ purchaseId: id, uid, packageName: PLAY_PACKAGE, catalog, snapshot, readAt: at, now: at, current: null, related: null, token: view.purchaseToken });
  const planned: PurchaseRecord = { ...change.purchase, hasToken: true };
  // finishAtPlay: what it did at Play, then recordStoreSync
  const step = finishNeeded(planned);
  const finishedAt = new Date(at.getTime() + 1);
  const record: PurchaseRecord = step
    ? { ...planned, acknowledged: true /* consuming acknowledges too */, consumed: step === 'consume' || planned.consumed, syncError: null, needsFinish: false, updatedAt: finishedAt }
    : planned;
  const ops: WriteOp[] = [
    { ref: `purchaseTokens/${id}`, data: { token: view.purchaseToken, platform: 'google_play', packageName: PLAY_PACKAGE, storedAt: at } },
    { ref: `purchases/${id}`, data: record as unknown as Record<string, unknown> },
  ];
  return { record, ops, ...(change.credit ? { credit: change.credit } : {}) };
}

/** users/{uid}/entitlements/{id}: every source of the user's purchases, and the best of them. */
export class EntitlementDocs {
  private docs = new Map<string, { sources: Record<string, EntitlementSource>; at: Date }>();
  add(uid: string, record: PurchaseRecord, at: Date): void {
    for (const [id, source] of Object.entries(record.entitlements)) {
      const key = `users/${uid}/entitlements/${id}`;
      const doc = this.docs.get(key) ?? { sources: {}, at };
      doc.sources[record.id] = source;
      if (record.updatedAt > doc.at) doc.at = record.updatedAt;
      this.docs.set(key, doc);
    }
  }
  ops(): WriteOp[] {
    return [...this.docs].map(([ref, { sources, at }]) => ({ ref, data: { ...toEntitlementView(sources, at)!, sources, updatedAt: at } }));
  }
}

export async function writeInBatches(db: Firestore, ops: WriteOp[]): Promise<void> {
  const chunks: WriteOp[][] = [];
  for (let i = 0; i < ops.length; i += BATCH) chunks.push(ops.slice(i, i + BATCH));
  let next = 0;
  const worker = async () => {
    while (next < chunks.length) {
      const batch = db.batch();
      for (const op of chunks[next++]!) batch.set(db.doc(op.ref), op.data, { merge: op.merge ?? false });
      await batch.commit();
    }
  };
  await Promise.all(Array.from({ length: 4 }, worker));
}

