import type { CatalogProduct } from '../catalog';
import { PurchaseState, type PurchaseKind } from './purchase';

/** What decides whether a purchase still has to be finished at the store. */
export interface FinishFacts {
  uid: string | null;
  revoked: boolean;
  state: PurchaseState;
  kind: PurchaseKind;
  productType: CatalogProduct['type'];
  acknowledged: boolean;
  consumed: boolean;
}

/** Nothing to finish: not paid (yet), or a one-time purchase canceled or refunded. */
const UNFINISHABLE: ReadonlySet<string> = new Set([PurchaseState.PENDING, PurchaseState.PENDING_PURCHASE_CANCELED, PurchaseState.UNSPECIFIED]);

/**
 * Pure: a purchase granted to an owner is finished at Play (consumables consumed, the rest
 * acknowledged), or Play refunds it after 3 days.
 */
export function finishNeeded(p: FinishFacts): 'consume' | 'acknowledge' | null {
  if (!p.uid || p.revoked || UNFINISHABLE.has(p.state) || (p.kind === 'one_time' && p.state === PurchaseState.CANCELED)) return null;
  if (p.productType === 'consumable') return p.state === PurchaseState.PURCHASED && !p.consumed ? 'consume' : null;
  return p.acknowledged ? null : 'acknowledge';
}
