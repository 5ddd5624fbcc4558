import { describe, expect, it } from 'vitest';
import { DomainError } from '../../shared/errors';
import {
  fromProductPurchaseV2,
  fromSubscriptionPurchase,
  grantsAccess,
  isCanceledBeforeUse,
  isPaid,
  PurchaseState,
  withSoleItem,
  type ReadOptions,
} from '../../shared/model/purchase';
import { ProductPurchaseV2Schema, SubscriptionPurchaseV2Schema } from '../../shared/play/resources';

const NOW = new Date('2026-06-01T12:00:00Z');
const FUTURE = '2026-07-01T12:00:00Z';
const LATEST = '2026-08-01T12:00:00Z';
const PAST = '2026-05-01T12:00:00Z';

const all: ReadOptions = { known: () => true };

/** Expects `f` to throw a DomainError with `code`. */
function expectDomainError(f: () => unknown, code: string): void {
  let thrown: unknown;
  try {
    f();
  } catch (e) {
    thrown = e;
  }
  expect(thrown).toBeInstanceOf(DomainError);
  expect((thrown as DomainError).code).toBe(code);
}

/** A purchases.productsv2 resource for remove_ads (the line item's offer details as given). */
const productResource = (fields: Record<string, unknown> = {}, offer: Record<string, unknown> | null = {}) =>
  ProductPurchaseV2Schema.parse({
    kind: 'androidpublisher#productPurchaseV2',
    productLineItem: [{ productId: 'remove_ads', ...(offer ? { productOfferDetails: offer } : {}) }],
    purchaseStateContext: { purchaseState: 'PURCHASED' },
    purchaseCompletionTime: '2025-06-01T12:00:00Z',
    acknowledgementState: 'ACKNOWLEDGEMENT_STATE_PENDING',
    ...fields,
  });

const product = (fields: Record<string, unknown> = {}, offer: Record<string, unknown> | null = {}, opts: ReadOptions = { requested: 'remove_ads', known: () => true }) =>
  fromProductPurchaseV2(productResource(fields, offer), opts);

const subscription = (state: string, fields: Record<string, unknown> = {}, expiryTime = FUTURE) =>
  fromSubscriptionPurchase(
    SubscriptionPurchaseV2Schema.parse({
      kind: 'androidpublisher#subscriptionPurchaseV2',
      subscriptionState: state,
      startTime: '2026-05-01T00:00:00Z',
      acknowledgementState: 'ACKNOWLEDGEMENT_STATE_PENDING',
      lineItems: [
        {
          productId: 'premium_monthly',
          expiryTime,
          autoRenewingPlan: { autoRenewEnabled: state !== 'SUBSCRIPTION_STATE_CANCELED' },
          offerDetails: { basePlanId: 'monthly' },
          latestSuccessfulOrderId: 'GPA.1234-5678-9012-34567..1',
        },
      ],
      ...fields,
    }),
    { requested: 'premium_monthly', known: () => true },
  );

describe('one-time purchases (purchases.productsv2)', () => {
  it.each([
    ['PURCHASED', PurchaseState.PURCHASED, true, true],
    ['CANCELLED', PurchaseState.CANCELED, false, true],
    ['PENDING', PurchaseState.PENDING, false, false],
  ])('purchaseState %s is %s (access %s, paid %s)', (playState, state, access, paid) => {
    const s = product({ purchaseStateContext: { purchaseState: playState } });
    expect(s.kind).toBe('one_time');
    expect(s.state).toBe(state);
    expect(grantsAccess(s, NOW)).toBe(access);
    expect(isPaid(s)).toBe(paid);
    expect(s.expiresAt).toBeNull();
  });

  it('reads completion time, acknowledgement, consumption, quantity, order id and account id', () => {
    const s = product(
      {
        acknowledgementState: 'ACKNOWLEDGEMENT_STATE_ACKNOWLEDGED',
        orderId: 'GPA.1111-2222-3333-44444',
        obfuscatedExternalAccountId: 'abc',
      },
      { consumptionState: 'CONSUMPTION_STATE_CONSUMED', quantity: 3 },
    );
    expect(s.purchasedAt?.toISOString()).toBe('2025-06-01T12:00:00.000Z');
    expect(s).toMatchObject({ productId: 'remove_ads', acknowledged: true, consumed: true, quantity: 3, orderId: 'GPA.1111-2222-3333-44444' });
    expect(s.obfuscatedAccountId).toBe('abc');
    expect(s.linkedPurchaseToken).toBeNull();
    expect(s.outOfAppExpiredToken).toBeNull();
    expect(s.expiredAccountId).toBeNull();
    expect(s.autoRenewing).toBeNull();
  });

  it('acknowledgementState is Play string enum: only ACKNOWLEDGED counts', () => {
    expect(product({ acknowledgementState: 'ACKNOWLEDGEMENT_STATE_ACKNOWLEDGED' }).acknowledged).toBe(true);
    expect(product({ acknowledgementState: 'ACKNOWLEDGEMENT_STATE_PENDING' }).acknowledged).toBe(false);
    expect(product({ acknowledgementState: 'ACKNOWLEDGEMENT_STATE_UNSPECIFIED' }).acknowledged).toBe(false);
    expect(product({ acknowledgementState: undefined }).acknowledged).toBe(false);
  });

  it('not yet consumed is not consumed', () => {
    expect(product({}, { consumptionState: 'CONSUMPTION_STATE_YET_TO_BE_CONSUMED' }).consumed).toBe(false);
    expect(product({}, null).consumed).toBe(false);
  });

  it('marks test purchases by testPurchaseContext, and a missing orderId or completion time is normal', () => {
    expect(product({ testPurchaseContext: { fopType: 'TEST' } }).test).toBe(true);
    expect(product({ testPurchaseContext: {} }).test).toBe(true);
    const plain = product({ purchaseCompletionTime: undefined });
    expect(plain.test).toBe(false);
    expect(plain.orderId).toBeNull();
    expect(plain.purchasedAt).toBeNull();
    expect(plain.quantity).toBe(1);
  });

  it('treats an unknown or missing purchaseState as unspecified and unpaid', () => {
    for (const ctx of [{ purchaseState: 'SOMETHING_NEW' }, {}, undefined]) {
      const s = product({ purchaseStateContext: ctx });
      expect(s.state).toBe(PurchaseState.UNSPECIFIED);
      expect(isPaid(s)).toBe(false);
      expect(grantsAccess(s, NOW)).toBe(false);
    }
  });

  it('a canceled one-time purchase is canceled before use', () => {
    expect(isCanceledBeforeUse(product({ purchaseStateContext: { purchaseState: 'CANCELLED' } }))).toBe(true);
    expect(isCanceledBeforeUse(product())).toBe(false);
    expect(isCanceledBeforeUse(product({ purchaseStateContext: { purchaseState: 'PENDING' } }))).toBe(false);
  });

  it('the line item: quantity defaults to 1 and refundableQuantity to the quantity', () => {
    expect(product({}, null).items).toEqual([
      { productId: 'remove_ads', expiresAt: null, orderId: null, quantity: 1, refundableQuantity: 1, consumed: false, rental: false },
    ]);
    expect(product({ orderId: 'GPA.7' }, { quantity: 4 }).items).toEqual([
      { productId: 'remove_ads', expiresAt: null, orderId: 'GPA.7', quantity: 4, refundableQuantity: 4, consumed: false, rental: false },
    ]);
  });

  it('the line item: refundableQuantity as Play says after a partial refund, rentOfferDetails makes a rental', () => {
    const s = product({}, { quantity: 5, refundableQuantity: 2 });
    expect(s.items[0]).toMatchObject({ quantity: 5, refundableQuantity: 2 });
    expect(s.quantity).toBe(5);
    expect(product({}, { quantity: 5, refundableQuantity: 0 }).items[0]?.refundableQuantity).toBe(0);
    expect(product({}, { rentOfferDetails: {} }).items[0]?.rental).toBe(true);
    expect(product({}, { offerId: 'x' }).items[0]?.rental).toBe(false);
  });

  describe('several products on one token', () => {
    const resource = ProductPurchaseV2Schema.parse({
      productLineItem: [
        { productId: 'unknown_bundle_part' },
        { productId: 'coins_100', productOfferDetails: { quantity: 2, consumptionState: 'CONSUMPTION_STATE_CONSUMED' } },
        { productId: 'remove_ads', productOfferDetails: { rentOfferDetails: {} } },
      ],
      purchaseStateContext: { purchaseState: 'PURCHASED' },
      orderId: 'GPA.55',
    });
    const known = (id: string) => id === 'coins_100' || id === 'remove_ads';

    it('every line item becomes an item', () => {
      const s = fromProductPurchaseV2(resource, { known });
      expect(s.items.map((i) => [i.productId, i.quantity, i.consumed, i.rental, i.orderId])).toEqual([
        ['unknown_bundle_part', 1, false, false, 'GPA.55'],
        ['coins_100', 2, true, false, 'GPA.55'],
        ['remove_ads', 1, false, true, 'GPA.55'],
      ]);
    });

    it('the primary product is the first known line item, whichever productId was requested', () => {
      for (const requested of [undefined, 'unknown_bundle_part', 'coins_100', 'remove_ads']) {
        const s = fromProductPurchaseV2(resource, { requested, known });
        expect(s.productId).toBe('coins_100');
        expect(s.quantity).toBe(2);
        expect(s.consumed).toBe(true);
      }
    });

    it('without a known item the first line item is primary', () => {
      expect(fromProductPurchaseV2(resource, { known: () => false }).productId).toBe('unknown_bundle_part');
    });

    it('a requested productId that is not on the token is not found', () => {
      expectDomainError(() => fromProductPurchaseV2(resource, { requested: 'gems_10', known }), 'purchase_not_found');
    });
  });

  it('a token without line items reads as the requested product, and without one is not found', () => {
    const bare = ProductPurchaseV2Schema.parse({ purchaseStateContext: { purchaseState: 'PENDING' } });
    const s = fromProductPurchaseV2(bare, { requested: 'remove_ads', known: () => true });
    expect(s.productId).toBe('remove_ads');
    expect(s.items).toEqual([]);
    expect(s.state).toBe(PurchaseState.PENDING);
    expectDomainError(() => fromProductPurchaseV2(bare, all), 'purchase_not_found');
  });
});

describe('subscriptions: every subscriptionState', () => {
  it.each([
    ['SUBSCRIPTION_STATE_ACTIVE', PurchaseState.ACTIVE, true],
    ['SUBSCRIPTION_STATE_IN_GRACE_PERIOD', PurchaseState.IN_GRACE_PERIOD, true],
    ['SUBSCRIPTION_STATE_CANCELED', PurchaseState.CANCELED, true],
    ['SUBSCRIPTION_STATE_ON_HOLD', PurchaseState.ON_HOLD, false],
    ['SUBSCRIPTION_STATE_PAUSED', PurchaseState.PAUSED, false],
    ['SUBSCRIPTION_STATE_EXPIRED', PurchaseState.EXPIRED, false],
    ['SUBSCRIPTION_STATE_PENDING', PurchaseState.PENDING, false],
    ['SUBSCRIPTION_STATE_PENDING_PURCHASE_CANCELED', PurchaseState.PENDING_PURCHASE_CANCELED, false],
    ['SUBSCRIPTION_STATE_UNSPECIFIED', PurchaseState.UNSPECIFIED, false],
    ['SUBSCRIPTION_STATE_SOMETHING_NEW', PurchaseState.UNSPECIFIED, false],
  ])('%s -> %s, access until expiry: %s', (playState, state, access) => {
    const s = subscription(playState);
    expect(s.state).toBe(state);
    expect(s.expiresAt?.toISOString()).toBe(new Date(FUTURE).toISOString());
    expect(grantsAccess(s, NOW)).toBe(access);
  });

  it('no state grants access once expiryTime has passed', () => {
    for (const st of ['SUBSCRIPTION_STATE_ACTIVE', 'SUBSCRIPTION_STATE_IN_GRACE_PERIOD', 'SUBSCRIPTION_STATE_CANCELED']) {
      expect(grantsAccess(subscription(st, {}, PAST), NOW)).toBe(false);
    }
  });

  it('pending states are unpaid; a pending purchase canceled is canceled before use', () => {
    expect(isPaid(subscription('SUBSCRIPTION_STATE_PENDING'))).toBe(false);
    expect(isPaid(subscription('SUBSCRIPTION_STATE_PENDING_PURCHASE_CANCELED'))).toBe(false);
    expect(isPaid(subscription('SUBSCRIPTION_STATE_EXPIRED'))).toBe(true);
    expect(isCanceledBeforeUse(subscription('SUBSCRIPTION_STATE_PENDING_PURCHASE_CANCELED'))).toBe(true);
    // a canceled subscription keeps access until expiry: not canceled before use
    expect(isCanceledBeforeUse(subscription('SUBSCRIPTION_STATE_CANCELED'))).toBe(false);
  });

  it('reads test purchase, account id, linked token, order id and auto-renew', () => {
    const s = subscription('SUBSCRIPTION_STATE_ACTIVE', {
      testPurchase: {},
      linkedPurchaseToken: 'old-token',
      externalAccountIdentifiers: { obfuscatedExternalAccountId: 'acct' },
    });
    expect(s).toMatchObject({
      kind: 'subscription',
      test: true,
      linkedPurchaseToken: 'old-token',
      obfuscatedAccountId: 'acct',
      orderId: 'GPA.1234-5678-9012-34567..1',
      autoRenewing: true,
      acknowledged: false,
      outOfAppExpiredToken: null,
      expiredAccountId: null,
    });
    expect(s.purchasedAt?.toISOString()).toBe('2026-05-01T00:00:00.000Z');
    expect(subscription('SUBSCRIPTION_STATE_CANCELED').autoRenewing).toBe(false);
    expect(subscription('SUBSCRIPTION_STATE_ACTIVE', { acknowledgementState: 'ACKNOWLEDGEMENT_STATE_ACKNOWLEDGED' }).acknowledged).toBe(true);
  });

  it('falls back to latestOrderId when the line item has no successful order', () => {
    const s = fromSubscriptionPurchase(
      SubscriptionPurchaseV2Schema.parse({
        subscriptionState: 'SUBSCRIPTION_STATE_ACTIVE',
        latestOrderId: 'GPA.top',
        lineItems: [{ productId: 'premium_monthly', expiryTime: FUTURE }],
      }),
      all,
    );
    expect(s.orderId).toBe('GPA.top');
    expect(s.items[0]?.orderId).toBeNull();
    expect(s.autoRenewing).toBeNull();
  });

  it('reads an out-of-app re-subscribe: the expired token and its account binding', () => {
    const s = subscription('SUBSCRIPTION_STATE_ACTIVE', {
      outOfAppPurchaseContext: {
        expiredPurchaseToken: 'expired-token',
        expiredExternalAccountIdentifiers: { obfuscatedExternalAccountId: 'old-acct' },
      },
    });
    expect(s.outOfAppExpiredToken).toBe('expired-token');
    expect(s.expiredAccountId).toBe('old-acct');
    expect(s.obfuscatedAccountId).toBeNull();
    expect(s.linkedPurchaseToken).toBeNull();
    const noAccount = subscription('SUBSCRIPTION_STATE_ACTIVE', { outOfAppPurchaseContext: { expiredPurchaseToken: 'expired-token' } });
    expect(noAccount).toMatchObject({ outOfAppExpiredToken: 'expired-token', expiredAccountId: null });
  });

  it('a token whose line items do not include the product is not found for it', () => {
    const resource = SubscriptionPurchaseV2Schema.parse({
      subscriptionState: 'SUBSCRIPTION_STATE_ACTIVE',
      lineItems: [{ productId: 'other', expiryTime: FUTURE }],
    });
    expectDomainError(() => fromSubscriptionPurchase(resource, { requested: 'premium_monthly', known: () => true }), 'purchase_not_found');
    // without a requested product, the token is read for what it holds
    expect(fromSubscriptionPurchase(resource, all).productId).toBe('other');
  });

  it('a pending signup without line items is still read (as pending)', () => {
    const resource = SubscriptionPurchaseV2Schema.parse({ subscriptionState: 'SUBSCRIPTION_STATE_PENDING' });
    const s = fromSubscriptionPurchase(resource, { requested: 'premium_monthly', known: () => true });
    expect(s.state).toBe(PurchaseState.PENDING);
    expect(s.productId).toBe('premium_monthly');
    expect(s.items).toEqual([]);
    expect(s.expiresAt).toBeNull();
    expect(isPaid(s)).toBe(false);
    expectDomainError(() => fromSubscriptionPurchase(resource, all), 'purchase_not_found');
  });

  describe('a base plan with add-ons', () => {
    const resource = SubscriptionPurchaseV2Schema.parse({
      subscriptionState: 'SUBSCRIPTION_STATE_ACTIVE',
      latestOrderId: 'GPA.latest',
      lineItems: [
        { productId: 'addon_hd', expiryTime: PAST, autoRenewingPlan: { autoRenewEnabled: true }, latestSuccessfulOrderId: 'GPA.addon' },
        { productId: 'premium_monthly', expiryTime: FUTURE, prepaidPlan: {}, latestSuccessfulOrderId: 'GPA.base' },
        { productId: 'addon_music', expiryTime: LATEST, autoRenewingPlan: { autoRenewEnabled: true }, latestSuccessfulOrderId: 'GPA.music' },
      ],
    });
    const known = (id: string) => id === 'premium_monthly' || id === 'addon_music';

    it('every line item is an item with its own expiry and order', () => {
      const s = fromSubscriptionPurchase(resource, { requested: 'premium_monthly', known: () => true });
      expect(s.items).toEqual([
        { productId: 'addon_hd', expiresAt: new Date(PAST), orderId: 'GPA.addon', quantity: 1, refundableQuantity: 1, consumed: false, rental: false },
        { productId: 'premium_monthly', expiresAt: new Date(FUTURE), orderId: 'GPA.base', quantity: 1, refundableQuantity: 1, consumed: false, rental: false },
        { productId: 'addon_music', expiresAt: new Date(LATEST), orderId: 'GPA.music', quantity: 1, refundableQuantity: 1, consumed: false, rental: false },
      ]);
    });

    it('the snapshot expires with its latest item', () => {
      expect(fromSubscriptionPurchase(resource, { known }).expiresAt?.toISOString()).toBe(new Date(LATEST).toISOString());
    });

    it('the primary product is the first known item, whichever item was requested', () => {
      for (const requested of [undefined, 'addon_hd', 'premium_monthly', 'addon_music']) {
        const s = fromSubscriptionPurchase(resource, { requested, known });
        expect(s.productId).toBe('premium_monthly');
        // the primary item's order and plan
        expect(s.orderId).toBe('GPA.base');
        expect(s.autoRenewing).toBe(false);
      }
      const first = fromSubscriptionPurchase(resource, { requested: 'premium_monthly', known: () => true });
      expect(first).toMatchObject({ productId: 'addon_hd', orderId: 'GPA.addon', autoRenewing: true });
    });

    it('a requested product not on the token is not found', () => {
      expectDomainError(() => fromSubscriptionPurchase(resource, { requested: 'premium_yearly', known }), 'purchase_not_found');
    });
  });
});

describe('withSoleItem', () => {
  it('makes the snapshot its only item', () => {
    const s = withSoleItem({
      kind: 'one_time',
      productId: 'coins_100',
      state: PurchaseState.PURCHASED,
      expiresAt: null,
      purchasedAt: NOW,
      orderId: 'o1',
      test: false,
      acknowledged: true,
      consumed: true,
      quantity: 3,
      obfuscatedAccountId: null,
      linkedPurchaseToken: null,
      outOfAppExpiredToken: null,
      expiredAccountId: null,
      autoRenewing: null,
    });
    expect(s.items).toEqual([
      { productId: 'coins_100', expiresAt: null, orderId: 'o1', quantity: 3, refundableQuantity: 3, consumed: true, rental: false },
    ]);
    expect(s.productId).toBe('coins_100');
  });
});

describe('Play resource schemas', () => {
  it('accept unknown fields and nulls, refuse ill-typed ones', () => {
    const p = ProductPurchaseV2Schema.parse({ purchaseStateContext: { purchaseState: 'PURCHASED' }, newField: 1, orderId: null });
    expect(p.orderId).toBeUndefined();
    expect(ProductPurchaseV2Schema.parse({ productLineItem: null }).productLineItem).toBeUndefined();
    expect(ProductPurchaseV2Schema.safeParse({ purchaseStateContext: { purchaseState: 0 } }).success).toBe(false);
    expect(ProductPurchaseV2Schema.safeParse({ purchaseCompletionTime: 'yesterday' }).success).toBe(false);
    expect(ProductPurchaseV2Schema.safeParse({ productLineItem: [{ productId: '' }] }).success).toBe(false);
    expect(ProductPurchaseV2Schema.safeParse({ productLineItem: [{ productId: 'p', productOfferDetails: { quantity: -1 } }] }).success).toBe(false);
    expect(ProductPurchaseV2Schema.safeParse({ productLineItem: [{ productId: 'p', productOfferDetails: { quantity: '2' } }] }).success).toBe(false);
    expect(ProductPurchaseV2Schema.safeParse({ productLineItem: [{ productId: 'p', productOfferDetails: { refundableQuantity: 1.5 } }] }).success).toBe(false);
    expect(SubscriptionPurchaseV2Schema.safeParse({ lineItems: [{ productId: 'p', expiryTime: 'tomorrow' }] }).success).toBe(false);
    expect(SubscriptionPurchaseV2Schema.parse({ outOfAppPurchaseContext: null, extra: true }).outOfAppPurchaseContext).toBeUndefined();
  });
});
