import type { CatalogProduct } from '../catalog';
import { DomainError } from '../errors';
import { addDuration, parseDuration } from './duration';
import { grantsAccess, isPaid, PurchaseState, type PurchaseItem, type PurchaseSnapshot } from './purchase';

/**
 * Purchase snapshot -> what it grants. Pure. An entitlement can be granted by several purchases of the
 * same user (a monthly and a yearly plan, a re-signup); each purchase is a "source" and the entitlement
 * document shows the best source.
 */
export const EntitlementOverride = { REVOKED: 'revoked', SUPERSEDED: 'superseded' } as const;
export type EntitlementState = PurchaseState | (typeof EntitlementOverride)[keyof typeof EntitlementOverride];

export interface EntitlementSource {
  active: boolean;
  /** null = lifetime (non-consumables) */
  expiresAt: Date | null;
  productId: string;
  state: EntitlementState;
}

export interface PurchaseGrant {
  entitlements: Record<string, EntitlementSource>;
  /** Balance increments owed for this purchase, applied once per purchase by the store. */
  credits: Record<string, number>;
}

export interface GrantContext {
  now: Date;
  /** Voided or revoked by Play or an admin: no access whatever the resource says. */
  revoked?: boolean;
  /** Replaced by a newer token (upgrade, downgrade, re-signup). */
  superseded?: boolean;
}

export function toGrant(product: CatalogProduct, snapshot: PurchaseSnapshot, ctx: GrantContext): PurchaseGrant {
  if (product.type === 'consumable') {
    const owed = isPaid(snapshot) && snapshot.state === PurchaseState.PURCHASED && !ctx.revoked;
    const credits: Record<string, number> = {};
    if (owed) for (const [balance, amount] of Object.entries(product.credits)) credits[balance] = amount * snapshot.quantity;
    return { entitlements: {}, credits };
  }
  const state: EntitlementState = ctx.revoked
    ? EntitlementOverride.REVOKED
    : ctx.superseded
      ? EntitlementOverride.SUPERSEDED
      : snapshot.state;
  const source: EntitlementSource = {
    active: !ctx.revoked && !ctx.superseded && grantsAccess(snapshot, ctx.now),
    expiresAt: snapshot.expiresAt,
    productId: snapshot.productId,
    state,
  };
  const entitlements: Record<string, EntitlementSource> = {};
  for (const id of product.entitlements) entitlements[id] = source;
  return { entitlements, credits: {} };
}

export interface ItemsGrantContext extends GrantContext {
  /** Units of each product taken back by the store (Play's quantity-based partial refunds). */
  revokedUnits?: Record<string, number>;
}

export interface ItemsGrant extends PurchaseGrant {
  /** Whether any item still grants access (or, for consumables, stands paid and not taken back). */
  active: boolean;
  /** The latest end of access over the items: subscription expiries and rental ends; null = lifetime. */
  expiresAt: Date | null;
}

/**
 * A token that holds several products (Play add-ons, multi-product one-time purchases): each item
 * grants what its catalog product grants, with its own expiry; an entitlement granted by two items
 * shows the better of the two. Items not in the catalog grant nothing.
 */
export function toItemsGrant(
  productOf: (productId: string) => CatalogProduct | undefined,
  snapshot: PurchaseSnapshot,
  ctx: ItemsGrantContext,
): ItemsGrant {
  const out: ItemsGrant = { entitlements: {}, credits: {}, active: false, expiresAt: null };
  const ends: (number | null)[] = [];
  for (const item of snapshot.items) {
    const product = productOf(item.productId);
    if (!product) continue;
    const revoked = ctx.revoked || (ctx.revokedUnits?.[item.productId] ?? 0) >= item.quantity;
    const itemSnapshot: PurchaseSnapshot = {
      ...snapshot,
      productId: item.productId,
      quantity: item.quantity,
      expiresAt: snapshot.kind === 'subscription' ? item.expiresAt : rentalEnd(product, item, snapshot),
    };
    const grant = toGrant(product, itemSnapshot, { ...ctx, revoked });
    for (const [balance, amount] of Object.entries(grant.credits)) out.credits[balance] = (out.credits[balance] ?? 0) + amount;
    for (const [id, source] of Object.entries(grant.entitlements)) {
      const held = out.entitlements[id];
      if (!held || betterSource(source, held)) out.entitlements[id] = source;
    }
    out.active ||= !revoked && !ctx.superseded && grantsAccess(itemSnapshot, ctx.now);
    ends.push(itemSnapshot.expiresAt?.getTime() ?? null);
  }
  out.expiresAt = ends.length === 0 || ends.includes(null) ? null : new Date(Math.max(...(ends as number[])));
  return out;
}

/** A rental (or a pass) ends its catalog duration after the purchase completed; it never grants for life. */
function rentalEnd(product: CatalogProduct, item: PurchaseItem, snapshot: PurchaseSnapshot): Date | null {
  // a pass (non_renewing_subscription) is time-limited however it was bought; a non-consumable only when rented
  if (!item.rental && product.type !== 'non_renewing_subscription') return null;
  const duration = 'duration' in product && product.duration ? parseDuration(product.duration) : null;
  if (!duration) {
    throw new DomainError('internal', `"${item.productId}" was bought as a rental, but its catalog entry has no "duration"; add one (e.g. "P30D").`);
  }
  // Play sets the completion time once paid; without one there is no start to count from, and a
  // rental must never fall back to lifetime access.
  return snapshot.purchasedAt ? addDuration(snapshot.purchasedAt, duration) : new Date(0);
}

const betterSource = (a: EntitlementSource, b: EntitlementSource): boolean =>
  a.active !== b.active ? a.active : (a.expiresAt?.getTime() ?? Infinity) > (b.expiresAt?.getTime() ?? Infinity);

export interface EntitlementView extends EntitlementSource {
  purchaseId: string;
}

/** The entitlement as apps read it: the best of its sources (active first, then the longest lasting). */
export function toEntitlementView(sources: Record<string, EntitlementSource>, now: Date): EntitlementView | null {
  let best: EntitlementView | null = null;
  for (const [purchaseId, s] of Object.entries(sources)) {
    const candidate = { ...s, active: s.active && (s.expiresAt === null || s.expiresAt > now), purchaseId };
    if (!best || outranks(candidate, best)) best = candidate;
  }
  return best;
}

function outranks(a: EntitlementView, b: EntitlementView): boolean {
  if (a.active !== b.active) return a.active;
  const ea = a.expiresAt?.getTime() ?? Number.POSITIVE_INFINITY;
  const eb = b.expiresAt?.getTime() ?? Number.POSITIVE_INFINITY;
  if (ea !== eb) return ea > eb;
  return a.purchaseId < b.purchaseId; // deterministic tie-break
}
