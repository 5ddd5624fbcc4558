import { describe, expect, it } from 'vitest';
import { DomainError } from '../../shared/errors';
import {
  fromProductPurchase,
  fromSubscriptionPurchase,
  grantsAccess,
  isCanceledBeforeUse,
  isPaid,
  PurchaseState,
} from '../../shared/model/purchase';
import { ProductPurchaseSchema, SubscriptionPurchaseV2Schema } from '../../shared/play/resources';

const NOW = new Date('2026-06-01T12:00:00Z');
const FUTURE = '2026-07-01T12:00:00Z';
const PAST = '2026-05-01T12:00:00Z';

const product = (fields: Record<string, unknown>) =>
  fromProductPurchase(ProductPurchaseSchema.parse({ kind: 'androidpublisher#productPurchase', ...fields }), 'remove_ads');

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
    'premium_monthly',
  );

describe('one-time purchases', () => {
  it.each([
    [0, PurchaseState.PURCHASED, true],
    [1, PurchaseState.CANCELED, false],
    [2, PurchaseState.PENDING, false],
  ])('purchaseState %i is %s (access %s)', (code, state, access) => {
    const s = product({ purchaseState: code, purchaseTimeMillis: '1748779200000' });
    expect(s.state).toBe(state);
    expect(grantsAccess(s, NOW)).toBe(access);
    expect(s.expiresAt).toBeNull();
  });

  it('reads int64 strings, acknowledgement, consumption, quantity and account id', () => {
    const s = product({
      purchaseState: 0,
      purchaseTimeMillis: '1748779200000',
      acknowledgementState: 1,
      consumptionState: 1,
      quantity: 3,
      orderId: 'GPA.1111-2222-3333-44444',
      obfuscatedExternalAccountId: 'abc',
    });
    expect(s.purchasedAt?.toISOString()).toBe('2025-06-01T12:00:00.000Z');
    expect(s).toMatchObject({ acknowledged: true, consumed: true, quantity: 3, orderId: 'GPA.1111-2222-3333-44444' });
    expect(s.obfuscatedAccountId).toBe('abc');
  });

  it('marks test purchases by purchaseType 0 only, and a missing orderId is normal', () => {
    expect(product({ purchaseState: 0, purchaseType: 0 }).test).toBe(true);
    expect(product({ purchaseState: 0, purchaseType: 1 }).test).toBe(false);
    const noOrder = product({ purchaseState: 0 });
    expect(noOrder.orderId).toBeNull();
    expect(noOrder.test).toBe(false);
    expect(noOrder.quantity).toBe(1);
  });

  it('treats an unknown purchaseState as unspecified and unpaid', () => {
    const s = product({ purchaseState: 7 });
    expect(s.state).toBe(PurchaseState.UNSPECIFIED);
    expect(isPaid(s)).toBe(false);
    expect(grantsAccess(s, NOW)).toBe(false);
  });

  it('a canceled one-time purchase is canceled before use', () => {
    expect(isCanceledBeforeUse(product({ purchaseState: 1 }))).toBe(true);
    expect(isCanceledBeforeUse(product({ purchaseState: 0 }))).toBe(false);
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
    });
    expect(subscription('SUBSCRIPTION_STATE_CANCELED').autoRenewing).toBe(false);
  });

  it('a token whose line items do not include the product is not found for it', () => {
    const resource = SubscriptionPurchaseV2Schema.parse({
      subscriptionState: 'SUBSCRIPTION_STATE_ACTIVE',
      lineItems: [{ productId: 'other', expiryTime: FUTURE }],
    });
    expect(() => fromSubscriptionPurchase(resource, 'premium_monthly')).toThrowError(DomainError);
    try {
      fromSubscriptionPurchase(resource, 'premium_monthly');
    } catch (e) {
      expect((e as DomainError).code).toBe('purchase_not_found');
    }
  });

  it('a pending signup without line items is still read (as pending)', () => {
    const resource = SubscriptionPurchaseV2Schema.parse({ subscriptionState: 'SUBSCRIPTION_STATE_PENDING' });
    const s = fromSubscriptionPurchase(resource, 'premium_monthly');
    expect(s.state).toBe(PurchaseState.PENDING);
    expect(isPaid(s)).toBe(false);
  });

  it('picks the matching line item among add-ons', () => {
    const resource = SubscriptionPurchaseV2Schema.parse({
      subscriptionState: 'SUBSCRIPTION_STATE_ACTIVE',
      lineItems: [
        { productId: 'addon', expiryTime: PAST },
        { productId: 'premium_monthly', expiryTime: FUTURE, prepaidPlan: {} },
      ],
    });
    const s = fromSubscriptionPurchase(resource, 'premium_monthly');
    expect(s.expiresAt?.toISOString()).toBe(new Date(FUTURE).toISOString());
    expect(s.autoRenewing).toBe(false);
  });
});

describe('Play resource schemas', () => {
  it('accept unknown fields and nulls, refuse ill-typed ones', () => {
    expect(ProductPurchaseSchema.parse({ purchaseState: 0, newField: 1, orderId: null }).orderId).toBeUndefined();
    expect(ProductPurchaseSchema.safeParse({ purchaseState: 'zero' }).success).toBe(false);
    expect(ProductPurchaseSchema.safeParse({ purchaseTimeMillis: '12x' }).success).toBe(false);
    expect(SubscriptionPurchaseV2Schema.safeParse({ lineItems: [{ productId: 'p', expiryTime: 'tomorrow' }] }).success).toBe(false);
  });
});
