import type { AppStore } from '../app-store/adapter';
import { isAppAccountTokenOf } from '../app-store/app-account-token';
import { appStoreKey, appStorePurchaseId } from '../app-store/ids';
import { passWindowsFor } from '../app-store/passes';
import { OwnershipType, type AppStoreTransaction } from '../app-store/transaction';
import { findProduct, type Catalog } from '../catalog';
import { DomainError } from '../errors';
import { fingerprint, log } from '../log';
import { fromAppStore, type AppStorePurchase } from '../model/app-store-purchase';
import { EntitlementOverride } from '../model/entitlements';
import { isCanceledBeforeUse } from '../model/purchase';
import type { PurchaseStore } from '../store/purchase-record';
import { isAboutPastTransaction, isOlderThanStored, planAppStoreChange, storedAppStorePurchase } from './plan-app-store-change';
import { planTransfer, transferRefusal, withTransfer, type RestoreOptions } from './plan-transfer';
import type { VerifyResult } from './verify-result';

export interface VerifyAppStoreDeps {
  catalog: Catalog;
  /** null when Apple is not configured (APPLE_BUNDLE_ID unset). */
  appStore: AppStore | null;
  store: PurchaseStore;
  now: () => Date;
  /** RESTORE_POLICY and RESTORE_TRANSFER_LIMIT (default: refuse). */
  restore?: RestoreOptions | undefined;
}

/** Exactly one of signedTransaction, transactionId, receipt (the request schema enforces it). */
export interface VerifyAppStoreRequest {
  productId?: string | undefined;
  signedTransaction?: string | undefined;
  transactionId?: string | undefined;
  receipt?: string | undefined;
}

/**
 * verifyPurchase for the App Store: request -> verified transaction (JWS, API lookup or receipt) ->
 * account check -> Apple's current state -> pure model -> one transaction (claim + grant/credit) -> result.
 */
export async function verifyAppStorePurchase(deps: VerifyAppStoreDeps, uid: string, req: VerifyAppStoreRequest): Promise<VerifyResult<'app_store'>> {
  const apple = deps.appStore;
  if (!apple) {
    throw new DomainError('apple_not_configured', 'This deployment does not serve the App Store (APPLE_BUNDLE_ID is not set).');
  }
  const sent = await readTransaction(apple, req);
  if (req.productId !== undefined && req.productId !== sent.productId) {
    throw new DomainError('purchase_not_found', `This transaction is for "${sent.productId}", not "${req.productId}".`);
  }
  checkAccount(sent, uid);
  const product = findProduct(deps.catalog, sent.productId);
  const state = await apple.currentState(sent, product.type === 'subscription');
  checkAccount(state.transaction, uid);
  const latestProduct = findProduct(deps.catalog, state.transaction.productId); // an upgrade may switch products
  // A pass stacks on the user's earlier passes (read from Apple before the transaction: its owner is the caller).
  const windows = await passWindowsFor({ appStore: apple, catalog: deps.catalog, store: deps.store }, state.transaction, latestProduct, uid);
  const now = deps.now();
  const fresh = fromAppStore(state, latestProduct, now, windows);
  const purchaseId = appStorePurchaseId(state.transaction, product.type === 'consumable');
  const restore = deps.restore ?? { policy: 'refuse', limit: 3 };

  let applied: AppStorePurchase = fresh;
  const result = await deps.store.commitPurchaseChange({ purchaseId }, (current) => {
    // Owned by another user: refused, or (RESTORE_POLICY=transfer) moved to this one, within the limit.
    const move = planTransfer({ ...restore, owner: current?.uid ?? null, uid, history: current?.transfers ?? [], now, consumable: current?.productType === 'consumable' });
    if (move.kind === 'refuse') throw transferRefusal(move, restore.limit);
    // A notification already stored newer news (e.g. a refund after this JWS was signed), or the JWS is
    // an older transaction of the subscription than the newest stored (an old renewal): keep what is stored.
    const stale = current !== null && (isOlderThanStored(fresh, current) || isAboutPastTransaction(fresh, current));
    applied = stale ? storedAppStorePurchase(current) : fresh;
    const appliedProduct = stale ? (deps.catalog.products[current.productId] ?? latestProduct) : latestProduct;
    // A refunded one-time purchase is claimed by nobody; its owner's record is updated so access ends.
    if (isCanceledBeforeUse(applied.snapshot) && (!current?.uid || move.kind === 'transfer')) throw refunded();
    const change = planAppStoreChange({ purchaseId, uid, bundleId: apple.bundleId, product: appliedProduct, apple: applied, now, current });
    const planned = { ...change, token: appStoreKey(state.transaction, product.type === 'consumable') };
    return move.kind === 'transfer' ? withTransfer(planned, move, { actor: { uid: 'restore' }, overLimit: false }) : planned;
  });
  if (isCanceledBeforeUse(applied.snapshot)) throw refunded();

  const record = result.purchase;
  log('INFO', 'App Store purchase verified', {
    purchase: purchaseId.slice(0, 12),
    sent: fingerprint(req.signedTransaction ?? req.transactionId ?? req.receipt ?? ''),
    form: req.signedTransaction ? 'signedTransaction' : req.transactionId ? 'transactionId' : 'receipt',
    productId: record.productId,
    state: record.state,
    environment: state.transaction.environment,
  });
  return {
    purchase: {
      id: purchaseId,
      platform: 'app_store',
      packageName: apple.bundleId,
      productId: record.productId,
      productType: record.productType,
      state: record.revoked ? EntitlementOverride.REVOKED : record.state,
      active: record.active,
      expiresAt: record.expiresAt,
      orderId: null,
      test: record.test,
      environment: state.transaction.environment,
      familyShared: record.familyShared ?? false,
      acknowledged: true,
      consumed: false,
      quantity: record.quantity,
    },
    entitlements: result.entitlements,
    balances: result.balances,
  };
}

function readTransaction(apple: AppStore, req: VerifyAppStoreRequest): Promise<AppStoreTransaction> {
  if (req.signedTransaction) return apple.verifyTransaction(req.signedTransaction);
  if (req.transactionId) return apple.findTransaction(req.transactionId);
  if (req.receipt) return apple.findTransactionInReceipt(req.receipt, req.productId);
  throw new DomainError('invalid_argument', 'Send one of signedTransaction, transactionId or receipt.');
}

/**
 * An appAccountToken, when the app set one, must be the caller's (CONTRACT section 7). A family
 * member's transaction is their own (its own originalTransactionId): Apple sets no token on it, and
 * one there could only name the purchaser's account, so it never makes the member's claim theft.
 */
function checkAccount(tx: AppStoreTransaction, uid: string): void {
  if (tx.inAppOwnershipType === OwnershipType.FAMILY_SHARED) return;
  if (tx.appAccountToken !== undefined && !isAppAccountTokenOf(tx.appAccountToken, uid)) {
    throw new DomainError('account_mismatch', 'This purchase was made for another account of this app (appAccountToken).');
  }
}

const refunded = () => new DomainError('purchase_canceled', 'This purchase was refunded or revoked by Apple; it grants nothing.');
