import type { Catalog, CatalogProduct } from '../catalog';
import { DomainError } from '../errors';
import { fromProductPurchaseV2, fromSubscriptionPurchase, type PurchaseKind, type PurchaseSnapshot } from '../model/purchase';
import type { PlayPurchases, PurchaseRef } from '../play/client';

/**
 * Reads a purchase from Play (subscriptionsv2 or productsv2) and finds its primary product in the
 * catalog. The read's start time orders it against other reads: a slow answer describes the state as
 * it was when the request arrived, so it must never overwrite a read that started later.
 */
export interface PlayRead {
  snapshot: PurchaseSnapshot;
  /** The catalog entry of the snapshot's primary product. */
  product: CatalogProduct;
  readAt: Date;
}

export async function readPlayPurchase(
  deps: { play: PlayPurchases; catalog: Catalog; now: () => Date },
  ref: PurchaseRef,
  kind: PurchaseKind,
  requested?: string,
): Promise<PlayRead> {
  const fits = (id: string) => {
    const p = Object.hasOwn(deps.catalog.products, id) ? deps.catalog.products[id] : undefined;
    return p !== undefined && (p.type === 'subscription') === (kind === 'subscription');
  };
  const readAt = deps.now();
  const opts = { requested, known: fits };
  const snapshot =
    kind === 'subscription'
      ? fromSubscriptionPurchase(await deps.play.getSubscriptionPurchase(ref), opts)
      : fromProductPurchaseV2(await deps.play.getProductPurchase(ref), opts);
  if (!fits(snapshot.productId)) {
    const what = kind === 'subscription' ? 'a subscription' : 'a one-time product';
    throw new DomainError('unknown_product', `"${snapshot.productId}" is not in the catalog as ${what}; nothing can be granted for it.`);
  }
  return { snapshot, product: deps.catalog.products[snapshot.productId]!, readAt };
}
