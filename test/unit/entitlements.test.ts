import { describe, expect, it } from 'vitest';
import type { CatalogProduct } from '../../shared/catalog';
import { DomainError } from '../../shared/errors';
import { toEntitlementView, toGrant, toItemsGrant, type EntitlementSource } from '../../shared/model/entitlements';
import { PurchaseState, type PurchaseItem, type PurchaseSnapshot } from '../../shared/model/purchase';
import { snapshotOf } from '../helpers/snapshots';

const NOW = new Date('2026-06-01T12:00:00Z');
const LATER = new Date('2026-07-01T12:00:00Z');
const LATEST = new Date('2026-08-01T12:00:00Z');
const EARLIER = new Date('2026-05-01T12:00:00Z');
const DAY = 86_400_000;

const snap = (over: Partial<PurchaseSnapshot>): PurchaseSnapshot =>
  snapshotOf({
    kind: 'subscription',
    productId: 'premium_monthly',
    state: PurchaseState.ACTIVE,
    expiresAt: LATER,
    purchasedAt: EARLIER,
    autoRenewing: true,
    ...over,
  });

const item = (productId: string, over: Partial<PurchaseItem> = {}): PurchaseItem => ({
  productId,
  expiresAt: null,
  orderId: null,
  quantity: 1,
  refundableQuantity: over.quantity ?? 1,
  consumed: false,
  rental: false,
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

describe('toItemsGrant', () => {
  const catalog: Record<string, CatalogProduct> = {
    premium_monthly: { type: 'subscription', entitlements: ['premium'] },
    premium_yearly: { type: 'subscription', entitlements: ['premium'] },
    addon_hd: { type: 'subscription', entitlements: ['hd'] },
    remove_ads: { type: 'non_consumable', entitlements: ['no_ads'] },
    movie: { type: 'non_consumable', entitlements: ['movie'], duration: 'P30D' },
    movie_lifetime: { type: 'non_consumable', entitlements: ['movie'] },
    movie_month: { type: 'non_consumable', entitlements: ['movie_month'], duration: 'P1M' },
    coins_100: { type: 'consumable', credits: { coins: 100 } },
    coins_500: { type: 'consumable', credits: { coins: 500, gems: 1 } },
  };
  const productOf = (id: string) => (Object.hasOwn(catalog, id) ? catalog[id] : undefined);
  const oneTime = (items: PurchaseItem[], over: Partial<PurchaseSnapshot> = {}) =>
    snap({ kind: 'one_time', state: PurchaseState.PURCHASED, expiresAt: null, autoRenewing: null, productId: items[0]?.productId ?? 'x', items, ...over });

  it('a base plan and an add-on grant their own entitlements with their own expiries', () => {
    const s = snap({ expiresAt: LATEST, items: [item('premium_monthly', { expiresAt: LATEST }), item('addon_hd', { expiresAt: LATER })] });
    const g = toItemsGrant(productOf, s, { now: NOW });
    expect(g.entitlements.premium).toEqual({ active: true, expiresAt: LATEST, productId: 'premium_monthly', state: 'active' });
    expect(g.entitlements.hd).toEqual({ active: true, expiresAt: LATER, productId: 'addon_hd', state: 'active' });
    expect(g.active).toBe(true);
    expect(g.expiresAt).toEqual(LATEST);
    expect(g.credits).toEqual({});
  });

  it('an add-on whose expiry passed is inactive while the base stays active', () => {
    const s = snap({ items: [item('premium_monthly', { expiresAt: LATER }), item('addon_hd', { expiresAt: EARLIER })] });
    const g = toItemsGrant(productOf, s, { now: NOW });
    expect(g.entitlements.premium).toMatchObject({ active: true, expiresAt: LATER });
    expect(g.entitlements.hd).toMatchObject({ active: false, expiresAt: EARLIER, productId: 'addon_hd' });
    expect(g.active).toBe(true);
    expect(g.expiresAt).toEqual(LATER);
  });

  it('once every item expired the token is inactive', () => {
    const s = snap({ expiresAt: EARLIER, items: [item('premium_monthly', { expiresAt: EARLIER }), item('addon_hd', { expiresAt: EARLIER })] });
    const g = toItemsGrant(productOf, s, { now: NOW });
    expect(g.active).toBe(false);
    expect(g.entitlements.premium?.active).toBe(false);
    expect(g.entitlements.hd?.active).toBe(false);
  });

  it('a subscription state without access makes every item inactive', () => {
    const s = snap({ state: PurchaseState.ON_HOLD, items: [item('premium_monthly', { expiresAt: LATER }), item('addon_hd', { expiresAt: LATER })] });
    const g = toItemsGrant(productOf, s, { now: NOW });
    expect(g.active).toBe(false);
    expect(g.entitlements.premium).toMatchObject({ active: false, state: 'on_hold' });
    expect(g.entitlements.hd).toMatchObject({ active: false, state: 'on_hold' });
  });

  it('two items granting one entitlement show the one lasting longer, in either order', () => {
    const a = item('premium_monthly', { expiresAt: LATER });
    const b = item('premium_yearly', { expiresAt: LATEST });
    for (const items of [
      [a, b],
      [b, a],
    ]) {
      const g = toItemsGrant(productOf, snap({ items }), { now: NOW });
      expect(g.entitlements.premium).toMatchObject({ active: true, expiresAt: LATEST, productId: 'premium_yearly' });
    }
  });

  it('two items granting one entitlement: an active one beats an inactive one that would last longer', () => {
    // the lifetime copy is taken back (inactive, no end); the rental copy is active with an end
    const rental = item('movie', { rental: true });
    const gone = item('movie_lifetime');
    for (const items of [
      [rental, gone],
      [gone, rental],
    ]) {
      const g = toItemsGrant(productOf, oneTime(items, { purchasedAt: NOW }), { now: NOW, revokedUnits: { movie_lifetime: 1 } });
      expect(g.entitlements.movie).toMatchObject({ active: true, productId: 'movie', expiresAt: new Date(NOW.getTime() + 30 * DAY) });
    }
  });

  it('an add-on and a base plan both expired: the later expiry shows', () => {
    const s = snap({ items: [item('premium_monthly', { expiresAt: EARLIER }), item('premium_yearly', { expiresAt: new Date(NOW.getTime() - DAY) })] });
    expect(toItemsGrant(productOf, s, { now: NOW }).entitlements.premium).toMatchObject({ active: false, productId: 'premium_yearly' });
  });

  it('items not in the catalog grant nothing', () => {
    const g = toItemsGrant(productOf, snap({ items: [item('mystery_addon', { expiresAt: LATER })] }), { now: NOW });
    expect(g.entitlements).toEqual({});
    expect(g.credits).toEqual({});
    expect(g.active).toBe(false);
    const mixed = toItemsGrant(productOf, snap({ items: [item('mystery_addon', { expiresAt: LATEST }), item('premium_monthly', { expiresAt: LATER })] }), {
      now: NOW,
    });
    expect(Object.keys(mixed.entitlements)).toEqual(['premium']);
    // an item outside the catalog does not extend the token either
    expect(mixed.expiresAt).toEqual(LATER);
  });

  it('consumable items credit per unit x quantity, summed over items', () => {
    const g = toItemsGrant(productOf, oneTime([item('coins_100', { quantity: 3 }), item('coins_500', { quantity: 2 })]), { now: NOW });
    expect(g.credits).toEqual({ coins: 1300, gems: 2 });
    expect(g.entitlements).toEqual({});
    expect(g.active).toBe(true);
  });

  it('consumables credit nothing unless purchased', () => {
    for (const state of [PurchaseState.PENDING, PurchaseState.CANCELED, PurchaseState.UNSPECIFIED]) {
      expect(toItemsGrant(productOf, oneTime([item('coins_100', { quantity: 3 })], { state }), { now: NOW }).credits).toEqual({});
    }
  });

  it('revokedUnits >= quantity revokes that item only', () => {
    const s = oneTime([item('coins_100', { quantity: 3 }), item('remove_ads')]);
    const g = toItemsGrant(productOf, s, { now: NOW, revokedUnits: { coins_100: 3 } });
    expect(g.credits).toEqual({});
    expect(g.entitlements.no_ads).toMatchObject({ active: true, state: 'purchased' });
    expect(g.active).toBe(true);
    const ads = toItemsGrant(productOf, s, { now: NOW, revokedUnits: { remove_ads: 1 } });
    expect(ads.entitlements.no_ads).toMatchObject({ active: false, state: 'revoked' });
    expect(ads.credits).toEqual({ coins: 300 });
    const both = toItemsGrant(productOf, s, { now: NOW, revokedUnits: { remove_ads: 1, coins_100: 5 } });
    expect(both.active).toBe(false);
  });

  it('fewer revoked units than the quantity leave the item granting (what was taken back is the planner’s)', () => {
    const nonConsumable = toItemsGrant(productOf, oneTime([item('remove_ads', { quantity: 2 })]), { now: NOW, revokedUnits: { remove_ads: 1 } });
    expect(nonConsumable.entitlements.no_ads).toMatchObject({ active: true });
    expect(nonConsumable.active).toBe(true);
    const consumable = toItemsGrant(productOf, oneTime([item('coins_100', { quantity: 3 })]), { now: NOW, revokedUnits: { coins_100: 2 } });
    expect(consumable.credits).toEqual({ coins: 300 });
  });

  it('revoked and superseded contexts end every item', () => {
    const s = snap({ items: [item('premium_monthly', { expiresAt: LATER }), item('addon_hd', { expiresAt: LATER })] });
    const r = toItemsGrant(productOf, s, { now: NOW, revoked: true });
    expect(r.active).toBe(false);
    expect(r.entitlements.premium).toMatchObject({ active: false, state: 'revoked' });
    expect(r.entitlements.hd).toMatchObject({ active: false, state: 'revoked' });
    const sup = toItemsGrant(productOf, s, { now: NOW, superseded: true });
    expect(sup.active).toBe(false);
    expect(sup.entitlements.premium).toMatchObject({ active: false, state: 'superseded' });
    expect(toItemsGrant(productOf, oneTime([item('coins_100')]), { now: NOW, revoked: true }).credits).toEqual({});
  });

  it('a non-consumable bought outright is lifetime', () => {
    const g = toItemsGrant(productOf, oneTime([item('remove_ads')]), { now: NOW });
    expect(g.entitlements.no_ads).toEqual({ active: true, expiresAt: null, productId: 'remove_ads', state: 'purchased' });
    expect(g.expiresAt).toBeNull();
    expect(g.active).toBe(true);
  });

  it('a product with a duration bought outright (not as a rental) is lifetime', () => {
    const g = toItemsGrant(productOf, oneTime([item('movie')]), { now: NOW });
    expect(g.entitlements.movie).toMatchObject({ active: true, expiresAt: null });
  });

  describe('rentals', () => {
    const purchasedAt = new Date('2026-05-10T08:00:00Z');
    const end = new Date('2026-06-09T08:00:00Z');
    const rental = (now: Date) => toItemsGrant(productOf, oneTime([item('movie', { rental: true })], { purchasedAt }), { now });

    it('a rental of a P30D product is active for 30 days after purchase', () => {
      const g = rental(new Date(purchasedAt.getTime() + DAY));
      expect(g.entitlements.movie).toEqual({ active: true, expiresAt: end, productId: 'movie', state: 'purchased' });
      expect(g.active).toBe(true);
      expect(g.expiresAt).toEqual(end);
      expect(rental(new Date(end.getTime() - 1)).active).toBe(true);
    });

    it('a rental is inactive once its duration is over', () => {
      const g = rental(new Date(end.getTime() + 1));
      expect(g.entitlements.movie).toMatchObject({ active: false, expiresAt: end });
      expect(g.active).toBe(false);
      expect(rental(end).active).toBe(false);
    });

    it('a calendar duration (P1M) from the end of a month ends at the end of the shorter month', () => {
      const g = toItemsGrant(productOf, oneTime([item('movie_month', { rental: true })], { purchasedAt: new Date('2026-01-31T10:00:00Z') }), {
        now: new Date('2026-02-01T00:00:00Z'),
      });
      expect(g.entitlements.movie_month?.expiresAt).toEqual(new Date('2026-02-28T10:00:00Z'));
    });

    it('the token lasts as long as its longest item; a lifetime item makes it lifetime', () => {
      const s = oneTime([item('movie', { rental: true }), item('remove_ads')], { purchasedAt });
      expect(toItemsGrant(productOf, s, { now: NOW }).expiresAt).toBeNull();
    });

    it('a pass (non_renewing_subscription) bought on Play is time-limited without a rent option too', () => {
      const pass: CatalogProduct = { type: 'non_renewing_subscription', entitlements: ['season'], duration: 'P30D' };
      const g = toItemsGrant((id) => (id === 'pass' ? pass : undefined), oneTime([item('pass')], { purchasedAt }), { now: new Date(purchasedAt.getTime() + DAY) });
      expect(g.entitlements.season).toMatchObject({ active: true, expiresAt: end });
      expect(g.expiresAt).toEqual(end);
    });

    it('a rental of a product without a catalog duration is an internal error', () => {
      let thrown: unknown;
      try {
        toItemsGrant(productOf, oneTime([item('remove_ads', { rental: true })]), { now: NOW });
      } catch (e) {
        thrown = e;
      }
      expect(thrown).toBeInstanceOf(DomainError);
      expect((thrown as DomainError).code).toBe('internal');
    });

    it('a rental item not in the catalog grants nothing (and does not throw)', () => {
      expect(toItemsGrant(productOf, oneTime([item('mystery', { rental: true })]), { now: NOW }).entitlements).toEqual({});
    });
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

  it('a rental stored active reads inactive after its end', () => {
    const v = toEntitlementView({ r: src({ productId: 'movie', state: 'purchased', expiresAt: EARLIER }) }, NOW);
    expect(v).toMatchObject({ active: false, purchaseId: 'r', state: 'purchased' });
  });
});
