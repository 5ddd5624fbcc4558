import type { CatalogProduct } from '../catalog';
import { DomainError, isDomainError } from '../errors';
import { log } from '../log';
import { planConsumptionAnswer, settingsSkip, type ConsumptionInfo, type ConsumptionSkip } from '../model/app-store-consumption';
import type { AdminNotice, PurchaseRecord, PurchaseStore } from '../store/purchase-record';
import type { AppStore, VerifiedNotification } from './adapter';
import { appStorePurchaseId } from './ids';
import type { AppStoreTransaction } from './transaction';

/**
 * A CONSUMPTION_REQUEST: Apple asks, within 12 hours, what the customer got before deciding a refund.
 * When the app opted in (and collects consent), Send Consumption Information answers it; either way an
 * `adminNotices` entry records the request and what was sent, or why nothing was. Sending comes before
 * anything is written: a transient failure is thrown, so Apple delivers the notification again and the
 * (idempotent) PUT is repeated; a refusal is recorded on the notice for an admin.
 */
export type ConsumptionOutcome =
  | { status: 'sent'; request: ConsumptionInfo; notes: string[]; sentAt: Date }
  | { status: 'not_sent'; reason: ConsumptionSkip }
  | { status: 'failed'; request: ConsumptionInfo; error: string };

export interface ConsumptionRequestDeps {
  appStore: AppStore;
  store: PurchaseStore;
  now: () => Date;
}

export async function answerConsumptionRequest(
  deps: ConsumptionRequestDeps,
  n: VerifiedNotification,
  tx: AppStoreTransaction,
  product: CatalogProduct,
): Promise<AdminNotice & { purchaseId: string }> {
  const consumable = product.type === 'consumable';
  const purchaseId = appStorePurchaseId(tx, consumable);
  const outcome = await answer(deps, tx, product, purchaseId);
  log('INFO', 'App Store consumption request', { notificationUUID: n.payload.notificationUUID, consumption: outcome.status, ...('reason' in outcome ? { reason: outcome.reason } : {}) });
  return {
    // one notice per notification, however often it is delivered
    id: `app_store_consumption_request:${n.payload.notificationUUID}`,
    kind: 'app_store_consumption_request',
    purchaseId,
    detail: {
      notificationUUID: n.payload.notificationUUID,
      productId: tx.productId,
      environment: tx.environment,
      reason: n.payload.data?.consumptionRequestReason ?? null,
      consumptionInfo: outcome,
    },
  };
}

async function answer(deps: ConsumptionRequestDeps, tx: AppStoreTransaction, product: CatalogProduct, purchaseId: string): Promise<ConsumptionOutcome> {
  const settings = deps.appStore.consumption;
  const skip = settingsSkip(settings);
  if (skip) return { status: 'not_sent', reason: skip };
  const purchase = await deps.store.getPurchase(purchaseId);
  const balances = product.type === 'consumable' && purchase?.uid ? await balancesOf(deps.store, purchase) : null;
  const decision = planConsumptionAnswer(settings, { productType: product.type, purchase, balances });
  if ('skip' in decision) return { status: 'not_sent', reason: decision.skip };
  try {
    await deps.appStore.sendConsumptionInformation(tx, decision.send);
    return { status: 'sent', request: decision.send, notes: decision.notes, sentAt: deps.now() };
  } catch (e) {
    if (!isDomainError(e) || e.code === 'upstream_unavailable') throw e; // Apple redelivers; we send again
    return { status: 'failed', request: decision.send, error: `${e.code}: ${e.message}` };
  }
}

/**
 * The owner's balances, read in a transaction that writes the purchase back unchanged: the store
 * has no plain read of a user's balances, and a commit returns them.
 */
async function balancesOf(store: PurchaseStore, purchase: PurchaseRecord): Promise<Record<string, number>> {
  const result = await store.commitPurchaseChange({ purchaseId: purchase.id }, (current) => {
    if (!current) throw new DomainError('internal', 'The purchase behind a consumption request disappeared.');
    return { purchase: current };
  });
  return result.balances;
}
