import type { Catalog } from '../catalog';
import { findProduct, type CatalogProduct } from '../catalog';
import { DomainError } from '../errors';
import { obfuscatedAccountIdFor, playPurchaseId } from '../ids';
import { fingerprint, log } from '../log';
import { EntitlementOverride } from '../model/entitlements';
import {
  fromProductPurchase,
  fromSubscriptionPurchase,
  isCanceledBeforeUse,
  isPaid,
  PurchaseState,
  type PurchaseSnapshot,
} from '../model/purchase';
import type { PlayPurchases, PurchaseRef } from '../play/client';
import { checkSignedPurchase } from '../play/signature';
import type { KeyObject } from 'node:crypto';
import type { PurchaseRecord, PurchaseStore } from '../store/purchase-record';
import { planClaim } from './plan-claim';
import type { VerifyResult } from './verify-result';

export interface VerifyPlayDeps {
  catalog: Catalog;
  packageNames: ReadonlySet<string>;
  licenseKeys: ReadonlyMap<string, KeyObject>;
  play: PlayPurchases;
  store: PurchaseStore;
  now: () => Date;
}

export interface VerifyPlayRequest {
  packageName: string;
  productId: string;
  purchaseToken: string;
  signedData?: string | undefined;
  signature?: string | undefined;
}

/**
 * verifyPurchase for Google Play: request -> catalog -> Play (authoritative) -> pure model -> one
 * transaction (claim + grant/credit) -> acknowledge/consume at Play -> result.
 */
export async function verifyPlayPurchase(deps: VerifyPlayDeps, uid: string, req: VerifyPlayRequest): Promise<VerifyResult<'google_play'>> {
  if (!deps.packageNames.has(req.packageName)) {
    throw new DomainError('package_not_allowed', `Package "${req.packageName}" is not served by this deployment.`);
  }
  const product = findProduct(deps.catalog, req.productId);
  checkSignedPurchase({ keys: deps.licenseKeys, request: req });

  const ref: PurchaseRef = { packageName: req.packageName, productId: req.productId, token: req.purchaseToken };
  const snapshot =
    product.type === 'subscription'
      ? fromSubscriptionPurchase(await deps.play.getSubscriptionPurchase(ref), req.productId)
      : fromProductPurchase(await deps.play.getProductPurchase(ref), req.productId);

  if (snapshot.obfuscatedAccountId !== null && snapshot.obfuscatedAccountId !== obfuscatedAccountIdFor(uid)) {
    throw new DomainError('account_mismatch', 'This purchase was made for another account of this app.');
  }
  if (snapshot.state === PurchaseState.PENDING) {
    throw new DomainError('purchase_pending', 'The payment for this purchase is not complete yet; nothing was granted. Retry later.', {
      retryAfterSeconds: 60,
    });
  }

  const purchaseId = playPurchaseId(req.purchaseToken);
  const linkedPurchaseId = snapshot.linkedPurchaseToken ? playPurchaseId(snapshot.linkedPurchaseToken) : null;
  const canceled = isCanceledBeforeUse(snapshot);
  const now = deps.now();

  const result = await deps.store.commitPurchaseChange({ purchaseId, linkedPurchaseId }, (current, linked) => {
    if (current?.uid && current.uid !== uid) {
      throw new DomainError('purchase_claimed', 'This purchase already belongs to another user.');
    }
    if (linked?.uid && linked.uid !== uid) {
      throw new DomainError('purchase_claimed', 'This subscription replaces one that belongs to another user.');
    }
    // A canceled purchase is claimed by nobody; its owner's record is updated so access ends.
    if (canceled && !current?.uid) throw canceledError(snapshot);
    // The owner's record already holds a newer read of Play (a concurrent verify or RTDN, or this
    // transaction retried after its request gave up): never write an older state over it.
    if (current?.uid === uid && current.storeReadAt && current.storeReadAt > now) return { purchase: current };
    return planClaim({
      purchaseId,
      linkedPurchaseId,
      uid,
      platform: 'google_play',
      packageName: req.packageName,
      product,
      snapshot,
      now,
      current,
      linked,
    });
  });
  if (canceled) throw canceledError(snapshot);

  const synced = await syncWithPlay(deps, ref, product, snapshot, result.purchase);
  log('INFO', 'purchase verified', {
    purchase: purchaseId.slice(0, 12),
    token: fingerprint(req.purchaseToken),
    productId: req.productId,
    state: snapshot.state,
  });
  return {
    purchase: {
      id: purchaseId,
      platform: 'google_play',
      packageName: req.packageName,
      productId: req.productId,
      productType: product.type,
      state: result.purchase.revoked ? EntitlementOverride.REVOKED : result.purchase.state,
      active: result.purchase.active,
      expiresAt: result.purchase.expiresAt,
      orderId: result.purchase.orderId,
      test: result.purchase.test,
      acknowledged: synced.acknowledged,
      consumed: synced.consumed,
      quantity: result.purchase.quantity,
    },
    entitlements: result.entitlements,
    balances: result.balances,
  };
}

function canceledError(s: PurchaseSnapshot): DomainError {
  return new DomainError(
    'purchase_canceled',
    s.kind === 'one_time'
      ? 'This purchase was canceled or refunded; it grants nothing.'
      : 'This subscription was canceled before its payment completed; it grants nothing.',
  );
}

/**
 * After the grant is committed: consume consumables, acknowledge the rest. A failure keeps the grant,
 * is recorded on the purchase, and the next verification retries (Play refunds what stays
 * unacknowledged for 3 days).
 */
async function syncWithPlay(
  deps: VerifyPlayDeps,
  ref: PurchaseRef,
  product: CatalogProduct,
  snapshot: PurchaseSnapshot,
  record: PurchaseRecord,
): Promise<{ acknowledged: boolean; consumed: boolean }> {
  const state = { acknowledged: snapshot.acknowledged, consumed: snapshot.consumed };
  if (!isPaid(snapshot) || record.revoked || isCanceledBeforeUse(snapshot)) return state;
  const consume = product.type === 'consumable' && snapshot.state === PurchaseState.PURCHASED && !snapshot.consumed;
  const acknowledge = product.type !== 'consumable' && !snapshot.acknowledged;
  if (!consume && !acknowledge) return state;
  try {
    if (consume) {
      await deps.play.consumeProduct(ref);
      state.consumed = true;
    } else if (product.type === 'subscription') {
      await deps.play.acknowledgeSubscription(ref);
      state.acknowledged = true;
    } else {
      await deps.play.acknowledgeProduct(ref);
      state.acknowledged = true;
    }
    await deps.store.recordStoreSync(record.id, { ...state, syncError: null });
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    log('WARNING', consume ? 'consume failed; retried on next verify' : 'acknowledge failed; retried on next verify', {
      purchase: record.id.slice(0, 12),
      error: message,
    });
    await deps.store.recordStoreSync(record.id, { syncError: message }).catch(() => undefined);
  }
  return state;
}

