import { isDomainError } from '../errors';
import { log } from '../log';
import { finishNeeded } from '../model/finish';
import type { PlayPurchases, PurchaseRef } from '../play/client';
import { AcknowledgementState, ConsumptionState } from '../play/resources';
import type { PurchaseRecord, PurchaseStore } from '../store/purchase-record';

export interface StoreFinish {
  acknowledged: boolean;
  consumed: boolean;
}

/**
 * After a grant to an owner is committed, from any path: consume consumables, acknowledge the rest
 * (Play refunds what stays unacknowledged for 3 days, even if the user never opens the app). A failure
 * keeps the grant and is recorded on the purchase (`syncError`) for the next attempt.
 */
export async function finishAtPlay(
  deps: { play: PlayPurchases; store: PurchaseStore },
  token: string,
  record: PurchaseRecord,
  done: StoreFinish,
): Promise<StoreFinish & { error?: unknown }> {
  const state = { ...done };
  const step = finishNeeded({ ...record, ...done });
  if (!step) return state;
  const consume = step === 'consume';
  // A subscription is acknowledged under its base plan (the first line item), whichever item was asked about.
  const productId = record.kind === 'subscription' ? (record.items?.[0]?.productId ?? record.productId) : record.productId;
  const ref = { packageName: record.packageName, productId, token };
  try {
    if (consume) {
      await deps.play.consumeProduct(ref);
      // consuming also acknowledges at Play
      state.consumed = true;
      state.acknowledged = true;
    } else if (record.kind === 'subscription') {
      await deps.play.acknowledgeSubscription(ref);
      state.acknowledged = true;
    } else {
      await deps.play.acknowledgeProduct(ref);
      state.acknowledged = true;
    }
    await deps.store.recordStoreSync(record.id, { ...state, syncError: null, needsFinish: false });
    return state;
  } catch (error) {
    // Play refusing may mean another path (a verification, a notification) finished it meanwhile.
    if (isDomainError(error) && error.code === 'failed_precondition' && (await finishedAtPlay(deps.play, ref, record.kind, consume))) {
      const finished = consume ? { ...state, consumed: true, acknowledged: true } : { ...state, acknowledged: true };
      await deps.store.recordStoreSync(record.id, { ...finished, syncError: null, needsFinish: false });
      return finished;
    }
    const message = isDomainError(error) || error instanceof Error ? error.message : String(error);
    log('WARNING', consume ? 'consume failed; retried later' : 'acknowledge failed; retried later', {
      purchase: record.id.slice(0, 12),
      error: message,
    });
    await deps.store.recordStoreSync(record.id, { syncError: message }).catch(() => undefined);
    return { ...state, error };
  }
}

async function finishedAtPlay(play: PlayPurchases, ref: PurchaseRef, kind: PurchaseRecord['kind'], consume: boolean): Promise<boolean> {
  try {
    if (kind === 'subscription') {
      return (await play.getSubscriptionPurchase(ref)).acknowledgementState === AcknowledgementState.ACKNOWLEDGED;
    }
    const p = await play.getProductPurchase(ref);
    if (!consume) return p.acknowledgementState === AcknowledgementState.ACKNOWLEDGED;
    return (p.productLineItem ?? []).some((li) => li.productId === ref.productId && li.productOfferDetails?.consumptionState === ConsumptionState.CONSUMED);
  } catch {
    return false;
  }
}
