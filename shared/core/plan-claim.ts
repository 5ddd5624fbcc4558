import type { CatalogProduct } from '../catalog';
import { EntitlementOverride, toGrant, type GrantContext, type PurchaseGrant } from '../model/entitlements';
import { grantsAccess, isPaid, PurchaseState, type PurchaseSnapshot } from '../model/purchase';
import type { Platform, PurchaseChange, PurchaseRecord } from '../store/purchase-record';

/**
 * Claiming a purchase for a user, planned purely from what is stored: the owner stays the owner,
 * credits are owed once, a revoked or superseded purchase stays so, and a replaced purchase
 * (Play's linkedPurchaseToken) loses its entitlements. Shared by every store's verification.
 */
export interface ClaimInput {
  purchaseId: string;
  linkedPurchaseId: string | null;
  /** The owner; null records a purchase that only a notification has seen (nothing granted yet). */
  uid: string | null;
  platform: Platform;
  packageName: string;
  product: CatalogProduct;
  snapshot: PurchaseSnapshot;
  now: Date;
  current: PurchaseRecord | null;
  linked: PurchaseRecord | null;
  /** Whether the store took the purchase back for good (default: as stored). */
  revoked?: boolean;
  /** When the store's state was read (default `now`): the record keeps it so older reads never win. */
  readAt?: Date;
  /**
   * What the purchase grants, for a token of several products (Play); default: `product`'s grant of
   * the snapshot. `active` and `expiresAt`, when given, describe the whole token (its catalog items).
   */
  grantWith?: (ctx: GrantContext) => PurchaseGrant & { active?: boolean; expiresAt?: Date | null };
}

/** Pure: what the claim writes, given what is stored now. */
export function planClaim(i: ClaimInput): PurchaseChange {
  const revoked = i.revoked ?? i.current?.revoked ?? false;
  const superseded = Boolean(i.current?.supersededBy);
  const ctx: GrantContext = { now: i.now, revoked, superseded };
  const grant: ReturnType<NonNullable<ClaimInput['grantWith']>> = i.grantWith ? i.grantWith(ctx) : toGrant(i.product, i.snapshot, ctx);
  // credits go to an owner, once; an unowned purchase is credited when its owner claims it
  const owesCredit = i.uid !== null && !i.current?.credited && Object.keys(grant.credits).length > 0;
  const purchase: PurchaseRecord = {
    id: i.purchaseId,
    uid: i.uid,
    platform: i.platform,
    packageName: i.packageName,
    productId: i.snapshot.productId,
    productType: i.product.type,
    kind: i.snapshot.kind,
    state: i.snapshot.state,
    active: grant.active ?? (!revoked && !superseded && grantsAccess(i.snapshot, i.now)),
    expiresAt: grant.expiresAt !== undefined ? grant.expiresAt : i.snapshot.expiresAt,
    purchasedAt: i.snapshot.purchasedAt,
    orderId: i.snapshot.orderId,
    test: i.snapshot.test,
    quantity: i.snapshot.quantity,
    // Play never undoes an acknowledgement or a consumption: a read taken before the finish was
    // recorded (a notification's, committed after it) does not make the purchase unfinished again.
    acknowledged: i.snapshot.acknowledged || i.current?.acknowledged === true,
    consumed: i.snapshot.consumed || i.current?.consumed === true,
    entitlements: grant.entitlements,
    credited: owesCredit ? grant.credits : (i.current?.credited ?? null),
    revoked,
    creditsReversed: i.current?.creditsReversed ?? null,
    supersededBy: i.current?.supersededBy ?? null,
    linkedPurchaseId: i.linkedPurchaseId,
    storeReadAt: i.readAt ?? i.now,
    accountBinding: i.snapshot.obfuscatedAccountId ?? i.snapshot.expiredAccountId ?? i.current?.accountBinding ?? null,
    ...(i.current?.transfers ? { transfers: i.current.transfers } : {}),
    ...(i.current?.lastTransfer ? { lastTransfer: i.current.lastTransfer } : {}),
    createdAt: i.current?.createdAt ?? i.now,
    updatedAt: i.now,
  };
  const change: PurchaseChange = { purchase };
  if (owesCredit) change.credit = grant.credits;
  // Only a paid replacement replaces: a plan change still pending, or canceled before payment
  // (SUBSCRIPTION_PENDING_PURCHASE_CANCELED), leaves the existing subscription as it is.
  if (i.linkedPurchaseId && isPaid(i.snapshot)) change.linked = supersede(i.linked, i.linkedPurchaseId, i.purchaseId, purchase);
  return change;
}

/**
 * The replaced token loses its entitlements now. If we never saw it, a placeholder owned by the same
 * user keeps anyone else from claiming the old token later.
 */
function supersede(linked: PurchaseRecord | null, linkedId: string, byId: string, by: PurchaseRecord): PurchaseRecord {
  const base: PurchaseRecord = linked ?? {
    ...by,
    id: linkedId,
    state: PurchaseState.EXPIRED,
    expiresAt: null,
    orderId: null,
    acknowledged: true,
    entitlements: {},
    credited: null,
    linkedPurchaseId: null,
    createdAt: by.updatedAt,
  };
  const entitlements = Object.fromEntries(
    Object.entries(base.entitlements).map(([id, s]) => [id, { ...s, active: false, state: EntitlementOverride.SUPERSEDED }]),
  );
  return { ...base, uid: base.uid ?? by.uid, active: false, entitlements, supersededBy: byId, updatedAt: by.updatedAt };
}

