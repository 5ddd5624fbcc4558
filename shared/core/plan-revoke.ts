import { EntitlementOverride } from '../model/entitlements';
import { PurchaseState } from '../model/purchase';
import type { Platform, PurchaseChange, PurchaseRecord } from '../store/purchase-record';

export interface RevokeInput {
  purchaseId: string;
  platform: Platform;
  packageName: string;
  kind: 'one_time' | 'subscription';
  orderId: string | null;
  now: Date;
  current: PurchaseRecord | null;
}

/**
 * Pure: a refund that voids a purchase (Play's voided purchase, an admin revoke, Apple's REFUND).
 * Access ends at once and for good; credits granted for it are taken back once, even if that makes a
 * balance negative. A purchase we never saw is recorded revoked, so it can never be claimed for access.
 */
export function planRevoke(i: RevokeInput): PurchaseChange {
  const base: PurchaseRecord = i.current ?? {
    id: i.purchaseId,
    uid: null,
    platform: i.platform,
    packageName: i.packageName,
    productId: '(unknown)',
    productType: i.kind === 'subscription' ? 'subscription' : 'non_consumable',
    kind: i.kind,
    state: i.kind === 'subscription' ? PurchaseState.EXPIRED : PurchaseState.CANCELED,
    active: false,
    expiresAt: null,
    purchasedAt: null,
    orderId: i.orderId,
    test: false,
    quantity: 1,
    acknowledged: true,
    consumed: false,
    entitlements: {},
    credited: null,
    revoked: true,
    supersededBy: null,
    linkedPurchaseId: null,
    createdAt: i.now,
    updatedAt: i.now,
  };
  const entitlements = Object.fromEntries(
    Object.entries(base.entitlements).map(([id, s]) => [id, { ...s, active: false, state: EntitlementOverride.REVOKED }]),
  );
  const reverse = base.uid !== null && base.credited && !base.creditsReversed ? negate(base.credited) : null;
  const purchase: PurchaseRecord = {
    ...base,
    active: false,
    revoked: true,
    entitlements,
    creditsReversed: reverse ? base.credited : (base.creditsReversed ?? null),
    updatedAt: i.now,
  };
  const change: PurchaseChange = { purchase };
  if (reverse) change.credit = reverse;
  return change;
}

const negate = (credits: Record<string, number>) =>
  Object.fromEntries(Object.entries(credits).map(([k, v]) => [k, -v]));
