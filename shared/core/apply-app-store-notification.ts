import type { AppStore, VerifiedNotification } from '../app-store/adapter';
import { appStoreKey, appStorePurchaseId } from '../app-store/ids';
import type { AppStoreTransaction } from '../app-store/transaction';
import type { Catalog, CatalogProduct } from '../catalog';
import { DomainError, isDomainError } from '../errors';
import { fingerprint, log } from '../log';
import { fromAppStore, isAppleSubscriptionStatus, type AppStoreState } from '../model/app-store-purchase';
import { NotificationAction, notificationEffect, type NotificationEffect } from '../model/app-store-notification-effect';
import type { PurchaseEvent, PurchaseStore } from '../store/purchase-record';
import { isOlderThanStored, planAppStoreChange } from './plan-app-store-change';

export interface ApplyAppStoreNotificationDeps {
  catalog: Catalog;
  appStore: AppStore | null;
  store: PurchaseStore;
  now: () => Date;
}

export type AppStoreNotificationOutcome = 'applied' | 'duplicate' | 'stale' | 'test' | 'notice' | 'ignored' | 'dead_letter';

/**
 * appStoreNotifications' core. A payload that fails verification throws `invalid_signed_data` before
 * anything is written. Each notificationUUID takes effect once; data older than what is stored never
 * moves a purchase back; a purchase nobody verified yet is stored unowned and granted when its owner
 * verifies. Throws only when Apple should retry (transient failures).
 */
export async function applyAppStoreNotification(
  deps: ApplyAppStoreNotificationDeps,
  signedPayload: string,
): Promise<{ outcome: AppStoreNotificationOutcome; type: string }> {
  const apple = deps.appStore;
  if (!apple) {
    throw new DomainError('apple_not_configured', 'This deployment does not serve the App Store (APPLE_BUNDLE_ID is not set).');
  }
  const n = await apple.verifyNotification(signedPayload);
  const { notificationType, subtype, notificationUUID } = n.payload;
  const type = subtype ? `${notificationType}:${subtype}` : notificationType;
  const effect = notificationEffect(notificationType, subtype);
  const done = (outcome: AppStoreNotificationOutcome) => {
    log('INFO', 'App Store notification', { notificationUUID, type, outcome, payload: fingerprint(signedPayload) });
    return { outcome, type };
  };
  if (effect.action === NotificationAction.ACKNOWLEDGE) return done('test');
  if (!n.transaction) return done('ignored'); // summaries, external purchase tokens: nothing to apply

  const event: PurchaseEvent = {
    id: `asn:${notificationUUID}`,
    source: 'app_store_notification',
    type,
    eventTime: new Date(n.payload.signedDate),
    detail: { environment: n.transaction.environment, productId: n.transaction.productId },
  };
  if (await deps.store.hasEvent(event.id)) return done('duplicate');
  try {
    return done(await apply(deps, apple, n, n.transaction, effect, event));
  } catch (e) {
    // Apple retries on 5xx: worth it only when the failure is transient (or ours to fix).
    if (!isDomainError(e) || e.code === 'upstream_unavailable' || e.code === 'internal') throw e;
    await deps.store.recordDeadLetter({
      source: 'app_store_notification',
      reason: `${e.code}: ${e.message}`,
      payload: JSON.stringify({ notificationUUID, type, ...event.detail, signedDate: n.payload.signedDate }),
      messageId: notificationUUID,
    });
    return done('dead_letter');
  }
}

async function apply(
  deps: ApplyAppStoreNotificationDeps,
  apple: AppStore,
  n: VerifiedNotification,
  tx: AppStoreTransaction,
  effect: NotificationEffect,
  event: PurchaseEvent,
): Promise<AppStoreNotificationOutcome> {
  const product = productOf(deps.catalog, tx.productId);
  if (effect.action === NotificationAction.RECORD_FOR_ADMIN) {
    // A consumption request: Apple asks for usage data before deciding a refund. An admin answers
    // (Send Consumption Information); the notice comes first so a failure before the event is retried.
    const purchaseId = appStorePurchaseId(tx, product.type === 'consumable');
    await deps.store.recordNotice({
      kind: 'app_store_consumption_request',
      purchaseId,
      detail: {
        notificationUUID: n.payload.notificationUUID,
        productId: tx.productId,
        environment: tx.environment,
        reason: n.payload.data?.consumptionRequestReason ?? null,
      },
    });
    const { duplicate } = await deps.store.applyPurchaseEvent(event, { purchaseId }, () => null);
    return duplicate ? 'duplicate' : 'notice';
  }

  const subscription = product.type === 'subscription';
  // With the API key Apple's current state is re-read; without it the signed payload is applied.
  const state: AppStoreState = apple.hasApiKey
    ? await apple.currentState(tx, subscription)
    : { transaction: tx, renewalInfo: n.renewalInfo, status: statusOf(n, effect), signedAt: n.payload.signedDate };
  return writeAppleState(deps, apple, state, product.type === 'consumable', event);
}

/**
 * The sweep's re-read of a stored App Store purchase (its expiry passed with no notification): Apple's
 * current state, written through the notifications' path. Needs the App Store Server API key.
 */
export async function refreshAppStorePurchase(
  deps: ApplyAppStoreNotificationDeps,
  transactionId: string,
  event: PurchaseEvent,
): Promise<'applied' | 'duplicate' | 'stale'> {
  const apple = deps.appStore;
  if (!apple?.hasApiKey) throw new DomainError('apple_not_configured', 'Re-reading App Store purchases needs the App Store Server API key.');
  const tx = await apple.findTransaction(transactionId);
  const product = productOf(deps.catalog, tx.productId);
  const state = await apple.currentState(tx, product.type === 'subscription');
  return writeAppleState(deps, apple, state, product.type === 'consumable', event);
}

async function writeAppleState(
  deps: ApplyAppStoreNotificationDeps,
  apple: AppStore,
  state: AppStoreState,
  consumable: boolean,
  event: PurchaseEvent,
): Promise<'applied' | 'duplicate' | 'stale'> {
  const latestProduct = productOf(deps.catalog, state.transaction.productId);
  const now = deps.now();
  const fromApple = fromAppStore(state, latestProduct, now);
  const purchaseId = appStorePurchaseId(state.transaction, consumable);

  let stale = false;
  const { duplicate } = await deps.store.applyPurchaseEvent(event, { purchaseId }, (current) => {
    stale = isOlderThanStored(fromApple, current);
    if (stale) return null;
    const change = planAppStoreChange({
      purchaseId,
      uid: current?.uid ?? null,
      bundleId: apple.bundleId,
      product: latestProduct,
      apple: fromApple,
      now,
      current,
    });
    return { ...change, token: appStoreKey(state.transaction, consumable) };
  });
  return duplicate ? 'duplicate' : stale ? 'stale' : 'applied';
}


/** The payload's status wins; else what the type implies; else (null) it is derived from the dates. */
function statusOf(n: VerifiedNotification, effect: NotificationEffect) {
  const status = n.payload.data?.status;
  return isAppleSubscriptionStatus(status) ? status : effect.impliedStatus;
}

function productOf(catalog: Catalog, productId: string): CatalogProduct {
  const product = Object.hasOwn(catalog.products, productId) ? catalog.products[productId] : undefined;
  if (!product) throw new DomainError('unknown_product', `App Store product "${productId}" is not in the catalog.`);
  return product;
}
