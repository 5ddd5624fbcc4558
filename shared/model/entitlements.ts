import type { CatalogProduct } from '../catalog';
import { grantsAccess, isPaid, PurchaseState, type PurchaseSnapshot } from './purchase';

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
    expiresAt: product.type === 'subscription' ? snapshot.expiresAt : null,
    productId: snapshot.productId,
    state,
  };
  const entitlements: Record<string, EntitlementSource> = {};
  for (const id of product.entitlements) entitlements[id] = source;
  return { entitlements, credits: {} };
}

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
