import type { AppStore, VerifiedNotification } from '../app-store/adapter';
import { answerConsumptionRequest } from '../app-store/consumption-request';
import { appStoreKey, appStorePurchaseId } from '../app-store/ids';
import { passWindowsFor } from '../app-store/passes';
import type { AppStoreTransaction } from '../app-store/transaction';
import type { Catalog, CatalogProduct } from '../catalog';
import { DomainError, isDomainError } from '../errors';
import { fingerprint, log, logContext } from '../log';
import { NotificationAction, notificationEffect, type NotificationEffect } from '../model/app-store-notification-effect';
import { passDuration } from '../model/app-store-pass';
import { fromAppStore, isAppleSubscriptionStatus, type AppStoreState } from '../model/app-store-purchase';
import type { PurchaseEvent, PurchaseStore } from '../store/purchase-record';
import { isAboutPastTransaction, isOlderThanStored, planAppStoreChange } from './plan-app-store-change';

export interface ApplyAppStoreNotificationDeps {
  catalog: Catalog;
  appStore: AppStore | null;
  store: PurchaseStore;
  now: () => Date;
}

/**
 * `past_transaction`: signed data about an older transaction of the subscription than the newest one
 * stored (a REFUND of a renewal paid months ago, in signed-data-only mode): recorded, and the current
 * period kept as the newest transaction says.
 */
export type AppStoreNotificationOutcome = 'applied' | 'duplicate' | 'stale' | 'past_transaction' | 'test' | 'notice' | 'ignored' | 'dead_letter';

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
    // A consumption request: answered when configured, always recorded for an admin. The notice
    // (one per notificationUUID) comes before the event, so a failure in between is retried.
    const notice = await answerConsumptionRequest({ appStore: apple, store: deps.store, now: deps.now }, n, tx, product);
    await deps.store.recordNotice(notice);
    const { duplicate } = await deps.store.applyPurchaseEvent(event, { purchaseId: notice.purchaseId }, () => null);
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
): Promise<'applied' | 'duplicate' | 'stale' | 'past_transaction'> {
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
): Promise<'applied' | 'duplicate' | 'stale' | 'past_transaction'> {
  const latestProduct = productOf(deps.catalog, state.transaction.productId);
  const purchaseId = appStorePurchaseId(state.transaction, consumable);
  // A pass stacks on its owner's earlier passes; the owner never changes once set, so it is read first.
  const stacking = apple.hasApiKey && passDuration(latestProduct, state.transaction.type) !== null;
  const owner = stacking ? ((await deps.store.getPurchase(purchaseId))?.uid ?? null) : null;
  const windows = owner ? await passWindowsFor({ appStore: apple, catalog: deps.catalog, store: deps.store }, state.transaction, latestProduct, owner) : undefined;
  const now = deps.now();
  const fromApple = fromAppStore(state, latestProduct, now, windows);

  let skipped: 'stale' | 'past_transaction' | null = null;
  const detail = event.detail;
  let uid: string | null | undefined = owner;
  const { duplicate } = await deps.store.applyPurchaseEvent(event, { purchaseId }, (current) => {
    uid = current?.uid;
    skipped = isOlderThanStored(fromApple, current) ? 'stale' : isAboutPastTransaction(fromApple, current) ? 'past_transaction' : null;
    event.detail = skipped ? { ...detail, skipped } : detail; // why nothing changed, for operators (events/asn:<uuid>)
    if (skipped) return null;
    if (stacking && (current?.uid ?? null) !== owner) {
      // Claimed since it was read: its windows were computed for nobody. Apple delivers it again.
      throw new DomainError('upstream_unavailable', 'The purchase was claimed while this notification was applied; retry.', { retryAfterSeconds: 1 });
    }
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
  logContext.setUser(uid);
  return duplicate ? 'duplicate' : (skipped ?? 'applied');
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
