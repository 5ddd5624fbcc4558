import { describe, expect, it } from 'vitest';
import type { CatalogProduct } from '../../shared/catalog';
import { toEntitlementView, toGrant, type EntitlementSource } from '../../shared/model/entitlements';
import { PurchaseState, type PurchaseSnapshot } from '../../shared/model/purchase';

const NOW = new Date('2026-06-01T12:00:00Z');
const LATER = new Date('2026-07-01T12:00:00Z');
const EARLIER = new Date('2026-05-01T12:00:00Z');

const snap = (over: Partial<PurchaseSnapshot>): PurchaseSnapshot => ({
  kind: 'subscription',
  productId: 'premium_monthly',
  state: PurchaseState.ACTIVE,
  expiresAt: LATER,
  purchasedAt: EARLIER,
  orderId: null,
  test: false,
  acknowledged: false,
  consumed: false,
  quantity: 1,
  obfuscatedAccountId: null,
  linkedPurchaseToken: null,
  autoRenewing: true,
  ...over,
});

const sub: CatalogProduct = { type: 'subscription', entitlements: ['premium', 'hd'] };
const lifetime: CatalogProduct = { type: 'non_consumable', entitlements: ['no_ads'] };
const coins: CatalogProduct = { type: 'consumable', credits: { coins: 100, gems: 2 } };

describe('toGrant', () => {
  it('a subscription grants each catalog entitlement until its expiry', () => {
    const g = toGrant(sub, snap({}), { now: NOW });
    expect(Object.keys(g.entitlements)).toEqual(['premium', 'hd']);
    expect(g.entitlements.premium).toEqual({ active: true, expiresAt: LATER, productId: 'premium_monthly', state: 'active' });
    expect(g.credits).toEqual({});
  });

  it('on hold, paused and expired subscriptions keep the entitlement document but inactive', () => {
    for (const state of [PurchaseState.ON_HOLD, PurchaseState.PAUSED, PurchaseState.EXPIRED]) {
      expect(toGrant(sub, snap({ state }), { now: NOW }).entitlements.premium).toMatchObject({ active: false, state });
    }
  });

  it('revoked and superseded override whatever Play says', () => {
    expect(toGrant(sub, snap({}), { now: NOW, revoked: true }).entitlements.premium).toMatchObject({ active: false, state: 'revoked' });
    expect(toGrant(sub, snap({}), { now: NOW, superseded: true }).entitlements.premium).toMatchObject({
      active: false,
      state: 'superseded',
    });
  });

  it('a non-consumable is lifetime', () => {
    const g = toGrant(lifetime, snap({ kind: 'one_time', state: PurchaseState.PURCHASED, expiresAt: null }), { now: NOW });
    expect(g.entitlements.no_ads).toEqual({ active: true, expiresAt: null, productId: 'premium_monthly', state: 'purchased' });
  });

  it('a consumable credits amount x quantity, only when purchased and not revoked', () => {
    const bought = snap({ kind: 'one_time', state: PurchaseState.PURCHASED, quantity: 3, expiresAt: null });
    expect(toGrant(coins, bought, { now: NOW }).credits).toEqual({ coins: 300, gems: 6 });
    expect(toGrant(coins, bought, { now: NOW }).entitlements).toEqual({});
    expect(toGrant(coins, { ...bought, state: PurchaseState.PENDING }, { now: NOW }).credits).toEqual({});
    expect(toGrant(coins, { ...bought, state: PurchaseState.CANCELED }, { now: NOW }).credits).toEqual({});
    expect(toGrant(coins, bought, { now: NOW, revoked: true }).credits).toEqual({});
  });
});

describe('toEntitlementView', () => {
  const src = (over: Partial<EntitlementSource>): EntitlementSource => ({
    active: true,
    expiresAt: LATER,
    productId: 'p',
    state: 'active',
    ...over,
  });

  it('is null without sources', () => {
    expect(toEntitlementView({}, NOW)).toBeNull();
  });

  it('prefers an active source over a later-expiring inactive one', () => {
    const v = toEntitlementView(
      { a: src({ active: false, state: 'on_hold', expiresAt: new Date('2027-01-01') }), b: src({ productId: 'q' }) },
      NOW,
    );
    expect(v).toMatchObject({ purchaseId: 'b', active: true, productId: 'q' });
  });

  it('among active sources, lifetime beats any date, then the latest expiry', () => {
    expect(toEntitlementView({ a: src({}), b: src({ expiresAt: null }) }, NOW)?.purchaseId).toBe('b');
    expect(toEntitlementView({ a: src({}), b: src({ expiresAt: new Date('2026-06-15') }) }, NOW)?.purchaseId).toBe('a');
  });

  it('a source stored active but past its expiry reads inactive', () => {
    const v = toEntitlementView({ a: src({ expiresAt: EARLIER }) }, NOW);
    expect(v).toMatchObject({ active: false, purchaseId: 'a' });
  });
});
