import { describe, expect, it } from 'vitest';
import type { Catalog } from '../../shared/catalog';
import { planPlayChange, type PlayChangeInput, type PlayVoid } from '../../shared/core/plan-play-change';
import { fromProductPurchaseV2, fromSubscriptionPurchase, PurchaseState, type PurchaseSnapshot } from '../../shared/model/purchase';
import { ProductPurchaseV2Schema, SubscriptionPurchaseV2Schema } from '../../shared/play/resources';
import type { PurchaseChange } from '../../shared/store/purchase-record';

const NOW = new Date('2026-06-01T12:00:00Z');
const READ = new Date('2026-06-01T11:59:59Z');
const BOUGHT = '2026-05-20T08:00:00Z';
const EARLIER = '2026-05-25T12:00:00Z';
const LATER = '2026-07-01T12:00:00Z';
const LATEST = '2026-08-01T12:00:00Z';
const DAY = 86_400_000;

const catalog: Catalog = {
  products: {
    coins_100: { type: 'consumable', credits: { coins: 100 } },
    gems_10: { type: 'consumable', credits: { gems: 10 } },
    remove_ads: { type: 'non_consumable', entitlements: ['no_ads'] },
    movie: { type: 'non_consumable', entitlements: ['movie'], duration: 'P30D' },
    premium_monthly: { type: 'subscription', entitlements: ['premium'] },
    premium_yearly: { type: 'subscription', entitlements: ['premium'] },
    addon_hd: { type: 'subscription', entitlements: ['hd'] },
  },
};
const known = (id: string) => Object.hasOwn(catalog.products, id);

interface Line {
  productId: string;
  quantity?: number;
  refundableQuantity?: number;
  rental?: boolean;
}

/** A one-time purchase as purchases.productsv2 reports it, read the way verify reads it. */
function oneTime(lines: Line[], state: 'PURCHASED' | 'CANCELLED' | 'PENDING' = 'PURCHASED'): PurchaseSnapshot {
  const resource = ProductPurchaseV2Schema.parse({
    kind: 'androidpublisher#productPurchaseV2',
    productLineItem: lines.map((l) => ({
      productId: l.productId,
      productOfferDetails: {
        quantity: l.quantity ?? 1,
        ...(l.refundableQuantity !== undefined ? { refundableQuantity: l.refundableQuantity } : {}),
        ...(l.rental ? { rentOfferDetails: {} } : {}),
      },
    })),
    purchaseStateContext: { purchaseState: state },
    ...(state === 'PENDING' ? {} : { orderId: 'GPA.1', purchaseCompletionTime: BOUGHT }),
    acknowledgementState: 'ACKNOWLEDGEMENT_STATE_ACKNOWLEDGED',
  });
  return fromProductPurchaseV2(resource, { requested: lines[0]?.productId, known });
}

const coins = (quantity: number, refundableQuantity?: number, state?: 'PURCHASED' | 'CANCELLED' | 'PENDING') =>
  oneTime([{ productId: 'coins_100', quantity, ...(refundableQuantity !== undefined ? { refundableQuantity } : {}) }], state);

/** A subscription as purchases.subscriptionsv2 reports it. */
function subscription(
  lines: { productId: string; expiryTime: string; orderId?: string }[],
  state = 'SUBSCRIPTION_STATE_ACTIVE',
  fields: Record<string, unknown> = {},
): PurchaseSnapshot {
  const resource = SubscriptionPurchaseV2Schema.parse({
    kind: 'androidpublisher#subscriptionPurchaseV2',
    subscriptionState: state,
    startTime: BOUGHT,
    acknowledgementState: 'ACKNOWLEDGEMENT_STATE_ACKNOWLEDGED',
    lineItems: lines.map((l) => ({
      productId: l.productId,
      expiryTime: l.expiryTime,
      autoRenewingPlan: { autoRenewEnabled: true },
      latestSuccessfulOrderId: l.orderId ?? `GPA.${l.productId}..0`,
    })),
    ...fields,
  });
  return fromSubscriptionPurchase(resource, { requested: lines[0]?.productId, known });
}

const change = (over: Partial<PlayChangeInput>): PurchaseChange =>
  planPlayChange({
    purchaseId: 'p1',
    uid: 'u1',
    packageName: 'com.example.app',
    catalog,
    snapshot: coins(1),
    readAt: READ,
    now: NOW,
    current: null,
    related: null,
    ...over,
  });

const partial: PlayVoid = { orderId: 'GPA.1', full: false };
const full: PlayVoid = { orderId: 'GPA.1', full: true };

describe('planPlayChange: buying', () => {
  it('credits a consumable per unit once, and records the read time', () => {
    const first = change({ snapshot: coins(5) });
    expect(first.credit).toEqual({ coins: 500 });
    expect(first.purchase).toMatchObject({
      uid: 'u1',
      platform: 'google_play',
      productId: 'coins_100',
      productType: 'consumable',
      kind: 'one_time',
      state: PurchaseState.PURCHASED,
      active: true,
      quantity: 5,
      credited: { coins: 500 },
      revoked: false,
      revokedUnits: null,
      voidedOrderIds: [],
      storeReadAt: READ,
      updatedAt: NOW,
    });
    const again = change({ snapshot: coins(5), current: first.purchase });
    expect(again.credit).toBeUndefined();
    expect(again.purchase.credited).toEqual({ coins: 500 });
  });

  it('a read taken before the purchase was finished (a notification committed after the consume) leaves it finished', () => {
    const bought = change({ snapshot: coins(1) });
    expect(bought.purchase).toMatchObject({ consumed: false, needsFinish: true });
    const finished = { ...bought.purchase, consumed: true, acknowledged: true, needsFinish: false };
    const late = change({ snapshot: coins(1), current: finished, readAt: new Date(READ.getTime() + 1) });
    expect(late.purchase).toMatchObject({ consumed: true, acknowledged: true, needsFinish: false });
  });

  it('an unowned purchase is credited when its owner claims it', () => {
    const unowned = change({ uid: null, snapshot: coins(2) });
    expect(unowned.credit).toBeUndefined();
    expect(unowned.purchase.credited).toBeNull();
    expect(change({ snapshot: coins(2), current: unowned.purchase }).credit).toEqual({ coins: 200 });
  });

  it('a pending purchase credits and grants nothing', () => {
    const pending = change({ snapshot: coins(3, undefined, 'PENDING') });
    expect(pending.credit).toBeUndefined();
    expect(pending.purchase).toMatchObject({ state: PurchaseState.PENDING, active: false, credited: null });
    const ads = change({ snapshot: oneTime([{ productId: 'remove_ads' }], 'PENDING') });
    expect(ads.purchase.entitlements.no_ads).toMatchObject({ active: false, state: 'pending' });
  });

  it('a non-consumable grants its entitlement for life', () => {
    const c = change({ snapshot: oneTime([{ productId: 'remove_ads' }]) });
    expect(c.purchase.entitlements.no_ads).toEqual({ active: true, expiresAt: null, productId: 'remove_ads', state: 'purchased' });
    expect(c.purchase).toMatchObject({ active: true, expiresAt: null });
    expect(c.credit).toBeUndefined();
  });

  it('every line item of a one-time token grants; the token stays active while any item does', () => {
    const c = change({ snapshot: oneTime([{ productId: 'coins_100', quantity: 2 }, { productId: 'gems_10', quantity: 3 }, { productId: 'remove_ads' }]) });
    expect(c.credit).toEqual({ coins: 200, gems: 30 });
    expect(c.purchase.entitlements.no_ads).toMatchObject({ active: true });
    expect(c.purchase.productId).toBe('coins_100');
  });

  it('a rental is active for its catalog duration after purchase, and inactive after', () => {
    const end = new Date(new Date(BOUGHT).getTime() + 30 * DAY);
    const during = change({ snapshot: oneTime([{ productId: 'movie', rental: true }]) });
    expect(during.purchase).toMatchObject({ active: true, expiresAt: end });
    expect(during.purchase.entitlements.movie).toMatchObject({ active: true, expiresAt: end });
    const after = change({ snapshot: oneTime([{ productId: 'movie', rental: true }]), now: new Date(end.getTime() + 1), current: during.purchase });
    expect(after.purchase).toMatchObject({ active: false, expiresAt: end, revoked: false });
    expect(after.purchase.entitlements.movie).toMatchObject({ active: false });
    // bought outright, the same product is lifetime
    expect(change({ snapshot: oneTime([{ productId: 'movie' }]) }).purchase).toMatchObject({ active: true, expiresAt: null });
  });

  it('a primary product outside the catalog is a programming error', () => {
    const snapshot = { ...coins(1), productId: 'nope' };
    expect(() => change({ snapshot })).toThrow();
  });
});

describe('planPlayChange: one-time refunds', () => {
  const owned = () => change({ snapshot: coins(5) });

  it('(a) a partial void takes back exactly the units Play no longer counts as refundable, once', () => {
    const bought = owned();
    expect(bought.purchase.credited).toEqual({ coins: 500 });

    const first = change({ snapshot: coins(5, 2), current: bought.purchase, voided: partial });
    expect(first.credit).toEqual({ coins: -300 });
    expect(first.purchase).toMatchObject({
      credited: { coins: 500 },
      creditsReversed: { coins: 300 },
      revokedUnits: { coins_100: 3 },
      revoked: false,
      active: true,
      voidedOrderIds: ['GPA.1'],
    });

    const again = change({ snapshot: coins(5, 2), current: first.purchase, voided: partial });
    expect(again.credit).toBeUndefined();
    expect(again.purchase).toMatchObject({ creditsReversed: { coins: 300 }, revokedUnits: { coins_100: 3 }, voidedOrderIds: ['GPA.1'] });

    const more = change({ snapshot: coins(5, 1), current: again.purchase, voided: { orderId: 'GPA.1', full: false } });
    expect(more.credit).toEqual({ coins: -100 });
    expect(more.purchase).toMatchObject({ creditsReversed: { coins: 400 }, revokedUnits: { coins_100: 4 }, revoked: false, active: true });
  });

  it('(a) a re-read without a void takes nothing back, even if refundableQuantity dropped (a refund without revoke)', () => {
    const bought = owned();
    const reread = change({ snapshot: coins(5, 2), current: bought.purchase });
    expect(reread.credit).toBeUndefined();
    expect(reread.purchase).toMatchObject({ creditsReversed: null, revokedUnits: null, revoked: false, active: true });
    expect(reread.purchase.items?.[0]).toMatchObject({ quantity: 5, refundableQuantity: 2 });

    // nor after a void: only a void moves the count
    const voided = change({ snapshot: coins(5, 2), current: bought.purchase, voided: partial });
    const later = change({ snapshot: coins(5, 1), current: voided.purchase });
    expect(later.credit).toBeUndefined();
    expect(later.purchase).toMatchObject({ creditsReversed: { coins: 300 }, revokedUnits: { coins_100: 3 } });
  });

  it('(a) the count of units taken back only grows (an older read after a void takes back nothing more and gives nothing back)', () => {
    const voided = change({ snapshot: coins(5, 2), current: owned().purchase, voided: partial });
    const stale = change({ snapshot: coins(5, 5), current: voided.purchase, voided: partial });
    expect(stale.credit).toBeUndefined();
    expect(stale.purchase).toMatchObject({ revokedUnits: { coins_100: 3 }, creditsReversed: { coins: 300 } });
  });

  it('(a) a void of the last refundable units revokes the purchase and takes the rest back', () => {
    const first = change({ snapshot: coins(5, 2), current: owned().purchase, voided: partial });
    const last = change({ snapshot: coins(5, 0), current: first.purchase, voided: partial });
    expect(last.credit).toEqual({ coins: -200 });
    expect(last.purchase).toMatchObject({ revoked: true, active: false, creditsReversed: { coins: 500 } });
    expect(change({ snapshot: coins(5, 0), current: last.purchase, voided: partial }).credit).toBeUndefined();
  });

  it('(b) a full void revokes the purchase and takes back every credit once', () => {
    const bought = owned();
    const voided = change({ snapshot: coins(5), current: bought.purchase, voided: full });
    expect(voided.credit).toEqual({ coins: -500 });
    expect(voided.purchase).toMatchObject({ revoked: true, active: false, creditsReversed: { coins: 500 }, voidedOrderIds: ['GPA.1'] });
    const again = change({ snapshot: coins(5), current: voided.purchase, voided: full });
    expect(again.credit).toBeUndefined();
    expect(again.purchase).toMatchObject({ revoked: true, creditsReversed: { coins: 500 } });
    const reread = change({ snapshot: coins(5), current: voided.purchase });
    expect(reread.credit).toBeUndefined();
    expect(reread.purchase).toMatchObject({ revoked: true, active: false });
  });

  it('(b) a full void after a partial one takes back only the rest', () => {
    const first = change({ snapshot: coins(5, 2), current: owned().purchase, voided: partial });
    const rest = change({ snapshot: coins(5, 2, 'CANCELLED'), current: first.purchase, voided: { orderId: 'GPA.1', full: true } });
    expect(rest.credit).toEqual({ coins: -200 });
    expect(rest.purchase).toMatchObject({ revoked: true, creditsReversed: { coins: 500 } });
  });

  it('(b) a full void of a non-consumable ends its entitlement as revoked, whatever Play state says', () => {
    const bought = change({ snapshot: oneTime([{ productId: 'remove_ads' }]) });
    for (const state of ['PURCHASED', 'CANCELLED'] as const) {
      const voided = change({ snapshot: oneTime([{ productId: 'remove_ads' }], state), current: bought.purchase, voided: full });
      expect(voided.purchase).toMatchObject({ revoked: true, active: false });
      expect(voided.purchase.entitlements.no_ads).toMatchObject({ active: false, state: 'revoked' });
      expect(voided.credit).toBeUndefined();
      // a later read that still says purchased does not bring it back
      const reread = change({ snapshot: oneTime([{ productId: 'remove_ads' }]), current: voided.purchase });
      expect(reread.purchase.entitlements.no_ads).toMatchObject({ active: false, state: 'revoked' });
    }
  });

  // Fails today: with no stored record, planPlayChange does not pass `revoked` to planClaim (it only
  // overrides `current.revoked`), so the grant is computed unrevoked: a record with revoked: true but
  // active: true and no_ads active 'purchased' (Play still PURCHASED), or no_ads 'canceled' (CANCELLED).
  it.each(['PURCHASED', 'CANCELLED'] as const)('(b) a full void of a purchase never seen before (Play: %s) is recorded revoked, granting nothing', (state) => {
    const voided = change({ uid: null, snapshot: oneTime([{ productId: 'remove_ads' }], state), current: null, voided: full });
    expect(voided.purchase).toMatchObject({ revoked: true, active: false });
    expect(voided.purchase.entitlements.no_ads).toMatchObject({ active: false, state: 'revoked' });
  });

  it.each(['PURCHASED', 'CANCELLED'] as const)('(b) a purchase fully voided before anyone claimed it (Play: %s) grants its owner nothing later', (state) => {
    const voided = change({ uid: null, snapshot: oneTime([{ productId: 'remove_ads' }], state), current: null, voided: full });
    const claimed = change({ snapshot: oneTime([{ productId: 'remove_ads' }], state), current: voided.purchase });
    expect(claimed.purchase).toMatchObject({ revoked: true, active: false });
    expect(claimed.purchase.entitlements.no_ads).toMatchObject({ active: false, state: 'revoked' });
  });

  it('(c) Play showing CANCELED for a purchase stored as purchased revokes it and takes every credit back once', () => {
    const bought = owned();
    const refunded = change({ snapshot: coins(5, 5, 'CANCELLED'), current: bought.purchase });
    expect(refunded.credit).toEqual({ coins: -500 });
    expect(refunded.purchase).toMatchObject({ state: PurchaseState.CANCELED, revoked: true, active: false, creditsReversed: { coins: 500 } });
    const again = change({ snapshot: coins(5, 5, 'CANCELLED'), current: refunded.purchase });
    expect(again.credit).toBeUndefined();
    expect(again.purchase).toMatchObject({ revoked: true, creditsReversed: { coins: 500 } });

    const ads = change({ snapshot: oneTime([{ productId: 'remove_ads' }]) });
    const adsRefunded = change({ snapshot: oneTime([{ productId: 'remove_ads' }], 'CANCELLED'), current: ads.purchase });
    expect(adsRefunded.purchase).toMatchObject({ revoked: true, active: false });
    expect(adsRefunded.purchase.entitlements.no_ads).toMatchObject({ active: false, state: 'revoked' });
  });

  it('(c) CANCELED after a partial void takes back only the rest', () => {
    const first = change({ snapshot: coins(5, 2), current: owned().purchase, voided: partial });
    const canceled = change({ snapshot: coins(5, 2, 'CANCELLED'), current: first.purchase });
    expect(canceled.credit).toEqual({ coins: -200 });
    expect(canceled.purchase.creditsReversed).toEqual({ coins: 500 });
  });

  it('(c) a purchase canceled while pending (never purchased) takes nothing and is not revoked', () => {
    const pending = change({ snapshot: coins(5, undefined, 'PENDING') });
    const canceled = change({ snapshot: coins(5, undefined, 'CANCELLED'), current: pending.purchase });
    expect(canceled.credit).toBeUndefined();
    expect(canceled.purchase).toMatchObject({ state: PurchaseState.CANCELED, revoked: false, active: false, credited: null, creditsReversed: null });
    const fresh = change({ snapshot: coins(5, undefined, 'CANCELLED') });
    expect(fresh.credit).toBeUndefined();
    expect(fresh.purchase).toMatchObject({ revoked: false, active: false, credited: null });
  });

  it('(d) a non-consumable bought twice stays active with one unit voided, and ends with both', () => {
    const bought = change({ snapshot: oneTime([{ productId: 'remove_ads', quantity: 2 }]) });
    expect(bought.purchase.entitlements.no_ads).toMatchObject({ active: true });
    const one = change({ snapshot: oneTime([{ productId: 'remove_ads', quantity: 2, refundableQuantity: 1 }]), current: bought.purchase, voided: partial });
    expect(one.purchase).toMatchObject({ revoked: false, active: true, revokedUnits: { remove_ads: 1 } });
    expect(one.purchase.entitlements.no_ads).toMatchObject({ active: true, state: 'purchased' });
    const both = change({ snapshot: oneTime([{ productId: 'remove_ads', quantity: 2, refundableQuantity: 0 }]), current: one.purchase, voided: partial });
    expect(both.purchase).toMatchObject({ revoked: true, active: false, revokedUnits: { remove_ads: 2 } });
    expect(both.purchase.entitlements.no_ads).toMatchObject({ active: false, state: 'revoked' });
  });

  it('(e) an unowned purchase partially voided, then claimed: credited in full minus the voided share, in one change', () => {
    const unowned = change({ uid: null, snapshot: coins(5, 2), voided: partial });
    expect(unowned.credit).toBeUndefined();
    expect(unowned.purchase).toMatchObject({ uid: null, credited: null, revokedUnits: { coins_100: 3 }, revoked: false });
    const claimed = change({ snapshot: coins(5, 2), current: unowned.purchase });
    expect(claimed.credit).toEqual({ coins: 200 });
    expect(claimed.purchase).toMatchObject({ uid: 'u1', credited: { coins: 500 }, creditsReversed: { coins: 300 }, active: true });
    const again = change({ snapshot: coins(5, 2), current: claimed.purchase });
    expect(again.credit).toBeUndefined();
  });

  it('(e) an unowned purchase refunded without revoke (no void) is credited in full when claimed', () => {
    const unowned = change({ uid: null, snapshot: coins(5) });
    expect(change({ snapshot: coins(5, 2), current: unowned.purchase }).credit).toEqual({ coins: 500 });
  });

  it('(e) an unowned purchase fully voided, then claimed: nothing credited', () => {
    const unowned = change({ uid: null, snapshot: coins(5), voided: full });
    const claimed = change({ snapshot: coins(5), current: unowned.purchase });
    expect(claimed.credit).toBeUndefined();
    expect(claimed.purchase).toMatchObject({ revoked: true, active: false });
  });

  it('a void of one product of a multi-product token takes back that product only', () => {
    const lines = (coinsLeft: number): Line[] => [
      { productId: 'coins_100', quantity: 2, refundableQuantity: coinsLeft },
      { productId: 'remove_ads' },
    ];
    const bought = change({ snapshot: oneTime(lines(2)) });
    expect(bought.credit).toEqual({ coins: 200 });
    const voided = change({ snapshot: oneTime(lines(0)), current: bought.purchase, voided: partial });
    expect(voided.credit).toEqual({ coins: -200 });
    expect(voided.purchase).toMatchObject({ revoked: false, active: true, creditsReversed: { coins: 200 } });
    expect(voided.purchase.revokedUnits?.coins_100).toBe(2);
    expect(voided.purchase.entitlements.no_ads).toMatchObject({ active: true, state: 'purchased' });
  });
});

describe('planPlayChange: subscriptions', () => {
  const monthly = (state?: string, expiryTime = LATER) => subscription([{ productId: 'premium_monthly', expiryTime, orderId: 'GPA.s..0' }], state);
  const owned = () => change({ snapshot: monthly() });

  it('(f) a void of a subscription order does not revoke: Play state decides', () => {
    const bought = owned();
    for (const voided of [
      { orderId: 'GPA.s..0', full: false },
      { orderId: 'GPA.s..0', full: true },
    ]) {
      const c = change({ snapshot: monthly(), current: bought.purchase, voided });
      expect(c.purchase).toMatchObject({ revoked: false, active: true, voidedOrderIds: ['GPA.s..0'] });
      expect(c.purchase.entitlements.premium).toMatchObject({ active: true, state: 'active' });
      expect(c.credit).toBeUndefined();
    }
    const expired = change({ snapshot: monthly('SUBSCRIPTION_STATE_EXPIRED', EARLIER), current: bought.purchase, voided: { orderId: 'GPA.s..0', full: false } });
    expect(expired.purchase).toMatchObject({ revoked: false, active: false, state: PurchaseState.EXPIRED });
    expect(expired.purchase.entitlements.premium).toMatchObject({ active: false, state: 'expired' });
  });

  it('(f) voided orders are recorded once each', () => {
    const first = change({ snapshot: monthly(), current: owned().purchase, voided: { orderId: 'GPA.s..0', full: false } });
    const dup = change({ snapshot: monthly(), current: first.purchase, voided: { orderId: 'GPA.s..0', full: false } });
    expect(dup.purchase.voidedOrderIds).toEqual(['GPA.s..0']);
    const second = change({ snapshot: monthly(), current: dup.purchase, voided: { orderId: 'GPA.s..1', full: false } });
    expect(second.purchase.voidedOrderIds).toEqual(['GPA.s..0', 'GPA.s..1']);
    const noOrder = change({ snapshot: monthly(), current: second.purchase, voided: { orderId: null, full: false } });
    expect(noOrder.purchase.voidedOrderIds).toEqual(['GPA.s..0', 'GPA.s..1']);
    const reread = change({ snapshot: monthly(), current: second.purchase });
    expect(reread.purchase.voidedOrderIds).toEqual(['GPA.s..0', 'GPA.s..1']);
    expect(reread.purchase.revokedUnits).toBeNull();
  });

  it('a revoked subscription (an admin revoke) stays revoked', () => {
    const c = change({ snapshot: monthly(), current: { ...owned().purchase, revoked: true } });
    expect(c.purchase).toMatchObject({ revoked: true, active: false });
    expect(c.purchase.entitlements.premium).toMatchObject({ active: false, state: 'revoked' });
  });

  it('(h) a base plan and an add-on grant both entitlements with their own expiries', () => {
    const c = change({
      snapshot: subscription([
        { productId: 'premium_monthly', expiryTime: LATER },
        { productId: 'addon_hd', expiryTime: LATEST },
      ]),
    });
    expect(c.purchase.entitlements.premium).toEqual({ active: true, expiresAt: new Date(LATER), productId: 'premium_monthly', state: 'active' });
    expect(c.purchase.entitlements.hd).toEqual({ active: true, expiresAt: new Date(LATEST), productId: 'addon_hd', state: 'active' });
    expect(c.purchase).toMatchObject({ productId: 'premium_monthly', active: true, expiresAt: new Date(LATEST), productType: 'subscription' });
  });

  it('(h) an add-on that ended is inactive while the base plan stays active', () => {
    const c = change({
      snapshot: subscription([
        { productId: 'premium_monthly', expiryTime: LATER },
        { productId: 'addon_hd', expiryTime: EARLIER },
      ]),
    });
    expect(c.purchase.entitlements.premium).toMatchObject({ active: true, expiresAt: new Date(LATER) });
    expect(c.purchase.entitlements.hd).toMatchObject({ active: false, expiresAt: new Date(EARLIER) });
    expect(c.purchase.active).toBe(true);
  });

  it('(h) the primary product is the known base plan even when an unknown add-on comes first', () => {
    const c = change({
      snapshot: fromSubscriptionPurchase(
        SubscriptionPurchaseV2Schema.parse({
          subscriptionState: 'SUBSCRIPTION_STATE_ACTIVE',
          lineItems: [
            { productId: 'mystery_addon', expiryTime: LATEST },
            { productId: 'premium_monthly', expiryTime: LATER },
          ],
        }),
        { requested: 'mystery_addon', known },
      ),
    });
    expect(c.purchase.productId).toBe('premium_monthly');
    expect(Object.keys(c.purchase.entitlements)).toEqual(['premium']);
  });

  it('a paid replacement supersedes the linked purchase; a pending one leaves it as it is', () => {
    const old = change({ purchaseId: 'old', snapshot: monthly() }).purchase;
    const yearly = (state: string) => subscription([{ productId: 'premium_yearly', expiryTime: LATEST }], state, { linkedPurchaseToken: 'old-token' });
    const paid = change({ snapshot: yearly('SUBSCRIPTION_STATE_ACTIVE'), related: old });
    expect(paid.linked).toMatchObject({ id: 'old', supersededBy: 'p1', active: false });
    expect(paid.linked?.entitlements.premium).toMatchObject({ active: false, state: 'superseded' });
    for (const state of ['SUBSCRIPTION_STATE_PENDING', 'SUBSCRIPTION_STATE_PENDING_PURCHASE_CANCELED']) {
      const c = change({ snapshot: yearly(state), related: old });
      expect(c.linked).toBeUndefined();
      expect(c.purchase.active).toBe(false);
    }
  });
});

describe('planPlayChange: items', () => {
  it('(g) records every one-time line item', () => {
    const c = change({ snapshot: oneTime([{ productId: 'coins_100', quantity: 5, refundableQuantity: 3 }, { productId: 'remove_ads' }]) });
    expect(c.purchase.items).toEqual([
      { productId: 'coins_100', expiresAt: null, orderId: 'GPA.1', quantity: 5, refundableQuantity: 3 },
      { productId: 'remove_ads', expiresAt: null, orderId: 'GPA.1', quantity: 1, refundableQuantity: 1 },
    ]);
  });

  it('(g) records every subscription line item with its expiry and order', () => {
    const c = change({
      snapshot: subscription([
        { productId: 'premium_monthly', expiryTime: LATER, orderId: 'GPA.b..3' },
        { productId: 'addon_hd', expiryTime: LATEST, orderId: 'GPA.a..1' },
      ]),
    });
    expect(c.purchase.items).toEqual([
      { productId: 'premium_monthly', expiresAt: new Date(LATER), orderId: 'GPA.b..3', quantity: 1, refundableQuantity: 1 },
      { productId: 'addon_hd', expiresAt: new Date(LATEST), orderId: 'GPA.a..1', quantity: 1, refundableQuantity: 1 },
    ]);
    expect(c.purchase.orderId).toBe('GPA.b..3');
  });

  it('(g) a later read replaces the recorded items', () => {
    const first = change({ snapshot: coins(5) });
    const later = change({ snapshot: coins(5, 4), current: first.purchase });
    expect(later.purchase.items).toEqual([{ productId: 'coins_100', expiresAt: null, orderId: 'GPA.1', quantity: 5, refundableQuantity: 4 }]);
  });
});
