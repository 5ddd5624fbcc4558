import { describe, expect, it } from 'vitest';
import type { AppStoreRenewalInfo } from '../../shared/app-store/renewal-info';
import type { AppStoreTransaction } from '../../shared/app-store/transaction';
import type { CatalogProduct } from '../../shared/catalog';
import { isOlderThanStored, planAppStoreChange, storedAppStorePurchase } from '../../shared/core/plan-app-store-change';
import { DomainError } from '../../shared/errors';
import { NotificationAction, notificationEffect } from '../../shared/model/app-store-notification-effect';
import { AppleSubscriptionStatus as S, deriveStatus, fromAppStore, type AppStoreState } from '../../shared/model/app-store-purchase';
import { grantsAccess, PurchaseState } from '../../shared/model/purchase';

/** The pure App Store model: Apple's transaction, renewal info and status -> snapshot -> claim plan. */
const NOW = new Date('2026-06-01T12:00:00Z');
const t = NOW.getTime();
const DAY = 86_400_000;
const premium: CatalogProduct = { type: 'subscription', entitlements: ['premium'] };
const noAds: CatalogProduct = { type: 'non_consumable', entitlements: ['no_ads'] };
const coins: CatalogProduct = { type: 'consumable', credits: { coins: 100 } };

const tx = (over: Partial<AppStoreTransaction> = {}): AppStoreTransaction => ({
  transactionId: '2000000000000002',
  originalTransactionId: '2000000000000001',
  bundleId: 'com.example.app',
  productId: 'com.example.app.premium.monthly',
  type: 'Auto-Renewable Subscription',
  environment: 'Production',
  purchaseDate: t - 10 * DAY,
  originalPurchaseDate: t - 40 * DAY,
  expiresDate: t + 20 * DAY,
  signedDate: t,
  quantity: 1,
  inAppOwnershipType: 'PURCHASED',
  ...over,
});
const renewal = (over: Partial<AppStoreRenewalInfo> = {}): AppStoreRenewalInfo => ({
  originalTransactionId: '2000000000000001',
  environment: 'Production',
  signedDate: t,
  autoRenewStatus: 1,
  ...over,
});
const state = (over: Partial<AppStoreState> = {}): AppStoreState => ({
  transaction: tx(),
  renewalInfo: renewal(),
  status: S.ACTIVE,
  signedAt: t,
  ...over,
});

describe('subscriptions: status -> state and access', () => {
  it.each([
    [S.ACTIVE, {}, PurchaseState.ACTIVE, true],
    [S.ACTIVE, { autoRenewStatus: 0 as const }, PurchaseState.CANCELED, true],
    [S.EXPIRED, {}, PurchaseState.EXPIRED, false],
    [S.BILLING_RETRY, { isInBillingRetryPeriod: true }, PurchaseState.ON_HOLD, false],
    [S.GRACE_PERIOD, { isInBillingRetryPeriod: true, gracePeriodExpiresDate: t + 3 * DAY }, PurchaseState.IN_GRACE_PERIOD, true],
    [S.REVOKED, {}, PurchaseState.EXPIRED, false],
  ])('status %i (%o) reads %s, access %s', (status, r, expected, access) => {
    const expires = status === S.ACTIVE ? t + 20 * DAY : t - DAY;
    const p = fromAppStore(state({ status, transaction: tx({ expiresDate: expires }), renewalInfo: renewal(r) }), premium, NOW);
    expect(p.snapshot.state).toBe(expected);
    expect(p.snapshot.kind).toBe('subscription');
    expect(p.revoked).toBe(status === S.REVOKED);
    expect(grantsAccess(p.snapshot, NOW) && !p.revoked).toBe(access);
  });

  it('grace period: access until gracePeriodExpiresDate, not the lapsed expiresDate', () => {
    const grace = t + 3 * DAY;
    const p = fromAppStore(
      state({ status: S.GRACE_PERIOD, transaction: tx({ expiresDate: t - DAY }), renewalInfo: renewal({ isInBillingRetryPeriod: true, gracePeriodExpiresDate: grace }) }),
      premium,
      NOW,
    );
    expect(p.snapshot.expiresAt?.getTime()).toBe(grace);
    expect(grantsAccess(p.snapshot, new Date(grace + 1))).toBe(false);
  });

  it('maps the rest: dates, test flag, auto-renew, appAccountToken, family sharing, signedAt', () => {
    const p = fromAppStore(
      state({
        transaction: tx({ environment: 'Sandbox', appAccountToken: 'ABCDEF00-0000-5000-8000-000000000000' }),
        signedAt: t + 5,
      }),
      premium,
      NOW,
    );
    expect(p.snapshot).toMatchObject({
      productId: 'com.example.app.premium.monthly',
      purchasedAt: new Date(t - 40 * DAY),
      expiresAt: new Date(t + 20 * DAY),
      test: true,
      autoRenewing: true,
      obfuscatedAccountId: 'abcdef00-0000-5000-8000-000000000000',
      orderId: null,
      linkedPurchaseToken: null,
    });
    expect(p.familyShared).toBe(false);
    expect(p.signedAt.getTime()).toBe(t + 5);
    // a family member's transaction is theirs: a token on it would name the purchaser, so it binds nobody
    const shared = fromAppStore(state({ transaction: tx({ appAccountToken: 'ABCDEF00-0000-5000-8000-000000000000', inAppOwnershipType: 'FAMILY_SHARED' }) }), premium, NOW);
    expect(shared.familyShared).toBe(true);
    expect(shared.snapshot.obfuscatedAccountId).toBeNull();
  });

  describe('without a stated status (signed-data-only mode) it is derived', () => {
    it.each([
      ['active', tx(), null, S.ACTIVE],
      ['revoked', tx({ revocationDate: t - 1 }), null, S.REVOKED],
      ['expired', tx({ expiresDate: t - 1 }), null, S.EXPIRED],
      ['in billing retry', tx({ expiresDate: t - 1 }), renewal({ isInBillingRetryPeriod: true }), S.BILLING_RETRY],
      ['in grace', tx({ expiresDate: t - 1 }), renewal({ isInBillingRetryPeriod: true, gracePeriodExpiresDate: t + DAY }), S.GRACE_PERIOD],
      ['after grace', tx({ expiresDate: t - 1 }), renewal({ isInBillingRetryPeriod: true, gracePeriodExpiresDate: t - 1 }), S.BILLING_RETRY],
    ])('%s', (_name, transaction, r, expected) => {
      expect(deriveStatus(transaction, r, NOW)).toBe(expected);
    });
  });
});

describe('one-time purchases', () => {
  const oneTime = (over: Partial<AppStoreTransaction>) =>
    tx({ type: 'Non-Consumable', productId: 'com.example.app.remove_ads', expiresDate: undefined, ...over });

  it('a non-consumable is purchased for life; a refunded one is canceled and revoked', () => {
    const bought = fromAppStore(state({ transaction: oneTime({}), renewalInfo: null, status: null }), noAds, NOW);
    expect(bought).toMatchObject({ revoked: false, snapshot: { kind: 'one_time', state: PurchaseState.PURCHASED, expiresAt: null } });
    const refunded = fromAppStore(state({ transaction: oneTime({ revocationDate: t }), renewalInfo: null, status: null }), noAds, NOW);
    expect(refunded).toMatchObject({ revoked: true, snapshot: { state: PurchaseState.CANCELED } });
  });

  it('a consumable carries its quantity', () => {
    const p = fromAppStore(state({ transaction: oneTime({ type: 'Consumable', quantity: 3 }), renewalInfo: null, status: null }), coins, NOW);
    expect(p.snapshot.quantity).toBe(3);
  });

  it('a catalog type that does not match what Apple sold is refused as unknown_product', () => {
    expect(() => fromAppStore(state({ transaction: oneTime({ type: 'Consumable' }) }), premium, NOW)).toThrowError(DomainError);
    expect(() => fromAppStore(state({ transaction: oneTime({}) }), coins, NOW)).toThrow(/sold it as "Non-Consumable"/);
  });
});

describe('notification effects', () => {
  it.each([
    ['SUBSCRIBED', 'INITIAL_BUY', S.ACTIVE],
    ['DID_RENEW', 'BILLING_RECOVERY', S.ACTIVE],
    ['DID_FAIL_TO_RENEW', 'GRACE_PERIOD', S.GRACE_PERIOD],
    ['DID_FAIL_TO_RENEW', undefined, S.BILLING_RETRY],
    ['GRACE_PERIOD_EXPIRED', undefined, S.BILLING_RETRY],
    ['EXPIRED', 'VOLUNTARY', S.EXPIRED],
    ['REFUND', undefined, S.REVOKED],
    ['REVOKE', undefined, S.REVOKED],
    ['OFFER_REDEEMED', 'RESUBSCRIBE', S.ACTIVE],
    ['RENEWAL_EXTENDED', undefined, S.ACTIVE],
    ['REFUND_REVERSED', undefined, null],
    ['DID_CHANGE_RENEWAL_STATUS', 'AUTO_RENEW_DISABLED', null],
    ['DID_CHANGE_RENEWAL_PREF', 'UPGRADE', null],
    ['ONE_TIME_CHARGE', undefined, null],
    ['SOMETHING_APPLE_ADDS_LATER', undefined, null],
    ['constructor', undefined, null],
  ])('%s/%s re-states the purchase (implied status %s)', (type, subtype, implied) => {
    expect(notificationEffect(type, subtype)).toEqual({ action: NotificationAction.APPLY_STATE, impliedStatus: implied });
  });

  it('CONSUMPTION_REQUEST is for an admin, TEST only acknowledged', () => {
    expect(notificationEffect('CONSUMPTION_REQUEST', undefined).action).toBe(NotificationAction.RECORD_FOR_ADMIN);
    expect(notificationEffect('TEST', undefined).action).toBe(NotificationAction.ACKNOWLEDGE);
  });
});

describe('planAppStoreChange', () => {
  const plan = (over: Partial<Parameters<typeof planAppStoreChange>[0]>) =>
    planAppStoreChange({
      purchaseId: 'p1',
      uid: 'u1',
      bundleId: 'com.example.app',
      product: coins,
      apple: fromAppStore(state({ transaction: tx({ type: 'Consumable', expiresDate: undefined }), renewalInfo: null, status: null }), coins, NOW),
      now: NOW,
      current: null,
      ...over,
    });
  const refundedCoins = fromAppStore(
    state({ transaction: tx({ type: 'Consumable', expiresDate: undefined, revocationDate: t }), renewalInfo: null, status: null }),
    coins,
    NOW,
  );

  it('credits a consumable once, to its owner, and records when Apple signed the data', () => {
    const first = plan({});
    expect(first.credit).toEqual({ coins: 100 });
    expect(first.purchase).toMatchObject({ uid: 'u1', platform: 'app_store', packageName: 'com.example.app', storeReadAt: NOW, familyShared: false });
    expect(plan({ current: first.purchase }).credit).toBeUndefined();
  });

  it('keeps a purchase only a notification has seen unowned and uncredited', () => {
    const unowned = plan({ uid: null });
    expect(unowned.purchase.uid).toBeNull();
    expect(unowned.credit).toBeUndefined();
    expect(plan({ current: unowned.purchase }).credit).toEqual({ coins: 100 });
  });

  it('a refund revokes and takes the credits back once; REFUND_REVERSED gives them back once', () => {
    const owned = plan({}).purchase;
    const refund = plan({ apple: refundedCoins, current: owned });
    expect(refund.purchase).toMatchObject({ revoked: true, active: false, creditsReversed: { coins: 100 } });
    expect(refund.credit).toEqual({ coins: -100 });
    expect(plan({ apple: refundedCoins, current: refund.purchase }).credit).toBeUndefined();
    const reversed = plan({ current: refund.purchase });
    expect(reversed.purchase).toMatchObject({ revoked: false, creditsReversed: null });
    expect(reversed.credit).toEqual({ coins: 100 });
  });

  it('a revoked subscription seen first is recorded revoked, entitlement inactive', () => {
    const revoked = fromAppStore(state({ status: S.REVOKED, transaction: tx({ revocationDate: t }) }), premium, NOW);
    const change = plan({ product: premium, apple: revoked });
    expect(change.purchase).toMatchObject({ revoked: true, active: false });
    expect(change.purchase.entitlements.premium).toMatchObject({ active: false, state: 'revoked' });
  });

  it('data older than what is stored is detected; the stored state is reused as Apple last said it', () => {
    const stored = plan({ product: premium, apple: fromAppStore(state({ signedAt: t + 1000 }), premium, NOW) }).purchase;
    const older = fromAppStore(state({ signedAt: t }), premium, NOW);
    expect(isOlderThanStored(older, stored)).toBe(true);
    expect(isOlderThanStored(fromAppStore(state({ signedAt: t + 1000 }), premium, NOW), stored)).toBe(false);
    expect(storedAppStorePurchase(stored)).toMatchObject({ revoked: false, signedAt: new Date(t + 1000), snapshot: { state: 'active' } });
  });
});
