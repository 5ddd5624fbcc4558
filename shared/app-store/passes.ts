import type { Catalog, CatalogProduct } from '../catalog';
import { passDuration, ownWindows, stackedWindows, type PassPurchase, type PassWindows } from '../model/app-store-pass';
import type { PurchaseStore } from '../store/purchase-record';
import type { AppStore } from './adapter';
import { isAppAccountTokenOf } from './app-account-token';
import { appStorePurchaseId } from './ids';
import { OwnershipType, type AppStoreTransaction } from './transaction';

/**
 * Which passes a pass stacks on, for one user. Apple gives each pass its own transaction and
 * originalTransactionId, so the chain is found in the customer's Get Transaction History (Non-Renewing
 * Subscriptions, not revoked): every earlier pass there that grants the same entitlement and is not
 * known to be another user's (its appAccountToken names someone else, or another user verified it).
 * A pass nobody verified yet counts: it was bought on this Apple account, and verifying it later
 * gives it the same window, so the answer does not depend on the order of verifications.
 *
 * The windows are recomputed from Apple's data on every write (never from our own stored ends), so
 * re-verifying never moves a pass, and a pass refunded since is left out the next time a later one
 * is written. Without the API key there is no history: each pass counts from its own purchase date.
 */
export interface PassStackingDeps {
  appStore: AppStore;
  catalog: Catalog;
  store: Pick<PurchaseStore, 'getPurchase'>;
}

export async function passWindowsFor(deps: PassStackingDeps, tx: AppStoreTransaction, product: CatalogProduct, uid: string): Promise<PassWindows | undefined> {
  const self = passOf(tx, product);
  if (!self) return undefined;
  if (!deps.appStore.hasApiKey) return ownWindows(self);
  const earlier: PassPurchase[] = [];
  for (const other of await deps.appStore.passHistory(tx)) {
    if (other.originalTransactionId === tx.originalTransactionId || other.revocationDate !== undefined) continue;
    if (other.purchaseDate > tx.purchaseDate) continue; // only earlier passes move this one
    const pass = passOf(other, Object.hasOwn(deps.catalog.products, other.productId) ? deps.catalog.products[other.productId] : undefined);
    if (!pass || !pass.entitlements.some((e) => self.entitlements.includes(e))) continue;
    if (await isAnotherUsers(deps, other, uid)) continue;
    earlier.push(pass);
  }
  return stackedWindows([...earlier, self], self.id);
}

function passOf(tx: AppStoreTransaction, product: CatalogProduct | undefined): PassPurchase | null {
  const duration = product ? passDuration(product, tx.type) : null;
  if (!product || !duration || !('entitlements' in product)) return null;
  return { id: tx.originalTransactionId, purchasedAt: new Date(tx.purchaseDate), duration, entitlements: product.entitlements };
}

async function isAnotherUsers(deps: PassStackingDeps, tx: AppStoreTransaction, uid: string): Promise<boolean> {
  const token = tx.inAppOwnershipType === OwnershipType.FAMILY_SHARED ? undefined : tx.appAccountToken;
  if (token !== undefined) return !isAppAccountTokenOf(token, uid);
  const owner = (await deps.store.getPurchase(appStorePurchaseId(tx, false)))?.uid ?? null;
  return owner !== null && owner !== uid;
}
