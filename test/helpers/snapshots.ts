import { PurchaseState, withSoleItem, type PurchaseSnapshot } from '../../shared/model/purchase';

/** A purchase snapshot for logic tests: a paid one-time purchase of one unit, unless overridden. */
export function snapshotOf(over: Partial<PurchaseSnapshot> = {}): PurchaseSnapshot {
  const { items, ...rest } = over;
  const s = withSoleItem({
    kind: 'one_time',
    productId: 'coins_100',
    state: PurchaseState.PURCHASED,
    expiresAt: null,
    purchasedAt: null,
    orderId: null,
    test: false,
    acknowledged: false,
    consumed: false,
    quantity: 1,
    obfuscatedAccountId: null,
    linkedPurchaseToken: null,
    outOfAppExpiredToken: null,
    expiredAccountId: null,
    autoRenewing: null,
    ...rest,
  });
  return items ? { ...s, items } : s;
}
