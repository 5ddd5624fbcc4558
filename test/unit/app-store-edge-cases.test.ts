import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadAppleConfig } from '../../shared/app-store/config';
import type { AppStoreTransaction } from '../../shared/app-store/transaction';
import { CatalogProductSchema, type CatalogProduct } from '../../shared/catalog';
import { ConfigError, loadConfig } from '../../shared/config';
import { isAboutPastTransaction, planAppStoreChange, storedAppStorePurchase } from '../../shared/core/plan-app-store-change';
import { DomainError } from '../../shared/errors';
import {
  ConsumptionInfoSchema,
  consumedShare,
  planConsumptionAnswer,
  type ConsumptionSettings,
} from '../../shared/model/app-store-consumption';
import { isPastTransaction, latestTransactionOf, newerTransaction } from '../../shared/model/app-store-latest-transaction';
import { ownWindows, passDuration, stackedWindows, type PassPurchase } from '../../shared/model/app-store-pass';
import { AppleSubscriptionStatus as S, fromAppStore, type AppStoreState } from '../../shared/model/app-store-purchase';
import { appStoreFieldsOf } from '../../shared/model/app-store-record';
import { takeBackCredits } from '../../shared/model/app-store-refund-share';
import { parseDuration } from '../../shared/model/duration';
import type { PurchaseRecord } from '../../shared/store/purchase-record';

/** The pure parts behind the App Store edge cases: past transactions, passes, partial refunds, consumption answers, config. */
const NOW = new Date('2026-06-01T12:00:00Z');
const t = NOW.getTime();
const DAY = 86_400_000;
const premium: CatalogProduct = { type: 'subscription', entitlements: ['premium'] };
const coins: CatalogProduct = { type: 'consumable', credits: { coins: 100 } };
const pass30: CatalogProduct = { type: 'non_renewing_subscription', entitlements: ['pass'], duration: 'P30D' };
const pass1m: CatalogProduct = { type: 'non_renewing_subscription', entitlements: ['pass', 'bonus'], duration: 'P1M' };

const tx = (over: Partial<AppStoreTransaction> = {}): AppStoreTransaction => ({
  transactionId: '2000000000000002',
  originalTransactionId: '2000000000000001',
  bundleId: 'com.example.app',
  productId: 'com.example.app.premium.monthly',
  type: 'Auto-Renewable Subscription',
  environment: 'Production',
  purchaseDate: t - 10 * DAY,
  expiresDate: t + 20 * DAY,
  signedDate: t,
  inAppOwnershipType: 'PURCHASED',
  ...over,
});
const passTx = (over: Partial<AppStoreTransaction> = {}) =>
  tx({ type: 'Non-Renewing Subscription', productId: 'pass', expiresDate: undefined, transactionId: '2000000000000009', originalTransactionId: '2000000000000009', ...over });
const state = (over: Partial<AppStoreState> = {}): AppStoreState => ({ transaction: tx(), renewalInfo: null, status: S.ACTIVE, signedAt: t, ...over });
const plan = (product: CatalogProduct, apple: ReturnType<typeof fromAppStore>, current: PurchaseRecord | null = null, uid: string | null = 'u1') =>
  planAppStoreChange({ purchaseId: 'p1', uid, bundleId: 'com.example.app', product, apple, now: NOW, current });

describe('the newest transaction of a subscription', () => {
  const renewal = (n: number) => latestTransactionOf({ transactionId: `200000000000001${n}`, purchaseDate: t - (3 - n) * 30 * DAY, expiresDate: t - (2 - n) * 30 * DAY });

  it('an older transaction than the stored newest one is "past"; the same one, a newer one, or nothing stored is not', () => {
    expect(isPastTransaction(renewal(1), renewal(2))).toBe(true);
    expect(isPastTransaction(renewal(2), renewal(2))).toBe(false);
    expect(isPastTransaction(renewal(2), renewal(1))).toBe(false);
    expect(isPastTransaction(renewal(1), null)).toBe(false);
    expect(isPastTransaction(null, renewal(1))).toBe(false);
    expect(renewal(1).id).toMatch(/^[0-9a-f]{64}$/); // a fingerprint: never the raw id
  });

  it('the record keeps the newer one, or the fresh view of the same one (an extension moves its expiry)', () => {
    expect(newerTransaction(renewal(1), renewal(2))).toEqual(renewal(2));
    expect(newerTransaction(renewal(2), renewal(1))).toEqual(renewal(2));
    const extended = { ...renewal(2), expiresDate: new Date(t + 99 * DAY) };
    expect(newerTransaction(extended, renewal(2))).toEqual(extended);
    expect(newerTransaction(null, renewal(1))).toEqual(renewal(1));
  });

  it('a plan stores it, and a REFUND of a past renewal is recognised against it', () => {
    const current = plan(premium, fromAppStore(state(), premium, NOW)).purchase;
    expect(appStoreFieldsOf(current).latestTransaction).toEqual(latestTransactionOf(tx()));
    const pastRefund = fromAppStore(
      state({ transaction: tx({ transactionId: '2000000000000001', purchaseDate: t - 40 * DAY, expiresDate: t - 10 * DAY, revocationDate: t }) }),
      premium,
      NOW,
    );
    expect(isAboutPastTransaction(pastRefund, current)).toBe(true);
    expect(isAboutPastTransaction(fromAppStore(state({ transaction: tx({ revocationDate: t }) }), premium, NOW), current)).toBe(false);
    // an older record (no appStore field) knows no newest transaction: nothing is "past"
    const { appStore: _, ...legacy } = current as PurchaseRecord & { appStore?: unknown };
    expect(isAboutPastTransaction(pastRefund, legacy as PurchaseRecord)).toBe(false);
    expect(appStoreFieldsOf({ ...current, appStore: { latestTransaction: 'junk' } } as PurchaseRecord)).toEqual({ latestTransaction: null, revocationPercentage: null });
  });
});

describe('passes (non-renewing subscriptions)', () => {
  const P30 = parseDuration('P30D')!;
  const pass = (id: string, daysAgo: number, entitlements = ['pass'], duration = P30): PassPurchase => ({
    id,
    purchasedAt: new Date(t - daysAgo * DAY),
    duration,
    entitlements,
  });

  it('the catalog requires a valid duration for non_renewing_subscription', () => {
    expect(CatalogProductSchema.safeParse(pass30).success).toBe(true);
    expect(CatalogProductSchema.safeParse({ type: 'non_renewing_subscription', entitlements: ['pass'] }).success).toBe(false);
    expect(CatalogProductSchema.safeParse({ type: 'non_renewing_subscription', entitlements: ['pass'], duration: '30 days' }).success).toBe(false);
  });

  it('a catalog with a pass lacking a valid duration is refused at config load, naming the product', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'pass-catalog-')), 'catalog.json');
    writeFileSync(file, JSON.stringify({ products: { 'com.example.app.pass': { type: 'non_renewing_subscription', entitlements: ['pass'], duration: 'P1X' } } }));
    const env = { GOOGLE_CLOUD_PROJECT: 'demo-project', PLAY_PACKAGE_NAMES: 'com.example.app', IAP_CATALOG: file };
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(/IAP_CATALOG: .*products\.com\.example\.app\.pass\.duration: duration must be an ISO 8601 duration/);
  });

  it('which purchases are passes: the new type, or an old non_consumable with a duration, sold as Non-Renewing', () => {
    expect(passDuration(pass30, 'Non-Renewing Subscription')).toEqual(P30);
    expect(passDuration({ type: 'non_consumable', entitlements: ['x'], duration: 'P1Y' }, 'Non-Renewing Subscription')).toEqual(parseDuration('P1Y'));
    expect(passDuration({ type: 'non_consumable', entitlements: ['x'] }, 'Non-Renewing Subscription')).toBeNull();
    expect(passDuration({ type: 'non_consumable', entitlements: ['x'], duration: 'P1Y' }, 'Non-Consumable')).toBeNull();
  });

  it('each starts at the later of its purchase date and the previous end, per entitlement, in purchase order', () => {
    const a = pass('a', 10);
    const b = pass('b', 0);
    const c = pass('c', -100); // bought after b's end: a gap, it starts at its own purchase date
    const all = [c, b, a]; // any order in
    expect(stackedWindows(all, 'a').pass).toEqual({ startsAt: a.purchasedAt, endsAt: new Date(t + 20 * DAY) });
    expect(stackedWindows(all, 'b').pass).toEqual({ startsAt: new Date(t + 20 * DAY), endsAt: new Date(t + 50 * DAY) });
    expect(stackedWindows(all, 'c').pass).toEqual({ startsAt: c.purchasedAt, endsAt: new Date(t + 130 * DAY) });
    // a two-entitlement pass: its own chain for each
    const both = pass('d', 0, ['pass', 'bonus'], parseDuration('P1M')!);
    const w = stackedWindows([a, both], 'd');
    expect(w.pass!.startsAt).toEqual(new Date(t + 20 * DAY));
    expect(w.bonus!.startsAt).toEqual(both.purchasedAt);
    expect(w.bonus!.endsAt).toEqual(new Date('2026-07-01T12:00:00Z')); // calendar month
    // same purchase date: ordered by id, numerically
    const [x, y] = [pass('2000000000000010', 0), pass('200000000000009', 0)];
    expect(stackedWindows([x, y], '2000000000000010').pass!.startsAt).toEqual(new Date(t + 30 * DAY));
    expect(ownWindows(b)).toEqual({ pass: { startsAt: b.purchasedAt, endsAt: new Date(t + 30 * DAY) } });
  });

  it('a pass grants until its end, then reads expired; refunded it is canceled; stacked windows set its entitlements', () => {
    const running = fromAppStore(state({ transaction: passTx({ purchaseDate: t - 10 * DAY }), status: null }), pass30, NOW);
    expect(running.snapshot).toMatchObject({ kind: 'one_time', state: 'purchased', expiresAt: new Date(t + 20 * DAY) });
    expect(running.accessEnds).toEqual({ pass: new Date(t + 20 * DAY) });
    expect(fromAppStore(state({ transaction: passTx({ purchaseDate: t - 31 * DAY }) }), pass30, NOW).snapshot.state).toBe('expired');
    expect(fromAppStore(state({ transaction: passTx({ revocationDate: t }) }), pass30, NOW)).toMatchObject({ revoked: true, snapshot: { state: 'canceled' } });

    const windows = { pass: { startsAt: new Date(t + 5 * DAY), endsAt: new Date(t + 35 * DAY) }, bonus: { startsAt: NOW, endsAt: new Date(t + 30 * DAY) } };
    const stacked = fromAppStore(state({ transaction: passTx({ purchaseDate: t }) }), pass1m, NOW, windows);
    const change = plan(pass1m, stacked);
    expect(change.purchase).toMatchObject({ active: true, expiresAt: new Date(t + 35 * DAY), productType: 'non_renewing_subscription' });
    expect(change.purchase.entitlements).toMatchObject({ pass: { active: true, expiresAt: new Date(t + 35 * DAY) }, bonus: { active: true, expiresAt: new Date(t + 30 * DAY) } });
    // stored and reused (older data at hand): the same ends per entitlement
    expect(storedAppStorePurchase(change.purchase).accessEnds).toEqual({ pass: new Date(t + 35 * DAY), bonus: new Date(t + 30 * DAY) });
  });

  it('a catalog non_consumable without duration sold as Non-Renewing stays lifetime; a type mismatch is refused', () => {
    const legacy: CatalogProduct = { type: 'non_consumable', entitlements: ['x'] };
    expect(fromAppStore(state({ transaction: passTx() }), legacy, NOW).snapshot).toMatchObject({ state: 'purchased', expiresAt: null });
    expect(() => fromAppStore(state({ transaction: passTx({ type: 'Non-Consumable' }) }), pass30, NOW)).toThrow(DomainError);
  });
});

describe('partial refunds (revocationPercentage)', () => {
  it('takes back the share, rounded down, once; a larger refund later takes only the rest', () => {
    expect(takeBackCredits({ coins: 100 }, null, 50_000)).toEqual({ reversed: { coins: 50 }, credit: { coins: -50 } });
    expect(takeBackCredits({ coins: 300 }, null, 33_333)).toEqual({ reversed: { coins: 99 }, credit: { coins: -99 } });
    expect(takeBackCredits({ coins: 100 }, { coins: 50 }, 50_000)).toEqual({ reversed: { coins: 50 }, credit: {} });
    expect(takeBackCredits({ coins: 100 }, { coins: 50 }, null)).toEqual({ reversed: { coins: 100 }, credit: { coins: -50 } });
    expect(takeBackCredits({ coins: 100 }, { coins: 50 }, 10_000)).toEqual({ reversed: { coins: 50 }, credit: {} }); // never given back here
    expect(takeBackCredits(null, null, 50_000)).toEqual({ reversed: null, credit: {} });
    expect(takeBackCredits({ coins: 1 }, null, 99_999)).toEqual({ reversed: null, credit: {} });
  });

  it('through the plan: a consumable loses the share; the same refund again nothing; REFUND_REVERSED returns it', () => {
    const consumable = (over: Partial<AppStoreTransaction>) => fromAppStore(state({ transaction: tx({ type: 'Consumable', expiresDate: undefined, ...over }), status: null }), coins, NOW);
    const owned = plan(coins, consumable({})).purchase;
    const refund = plan(coins, consumable({ revocationDate: t, revocationPercentage: 50_000 }), owned);
    expect(refund.credit).toEqual({ coins: -50 });
    expect(refund.purchase).toMatchObject({ revoked: true, creditsReversed: { coins: 50 }, appStore: { revocationPercentage: 50_000 } });
    expect(plan(coins, consumable({ revocationDate: t, revocationPercentage: 50_000 }), refund.purchase).credit).toBeUndefined();
    expect(plan(coins, storedAppStorePurchase(refund.purchase), refund.purchase).credit).toBeUndefined();
    const reversed = plan(coins, consumable({}), refund.purchase);
    expect(reversed.credit).toEqual({ coins: 50 });
    expect(reversed.purchase).toMatchObject({ revoked: false, creditsReversed: null, appStore: { revocationPercentage: null } });
  });
});

describe('answering a consumption request', () => {
  const on: ConsumptionSettings = { answer: true, customerConsent: true, refundPreference: null };
  const owned = { uid: 'u1', credited: { coins: 100 } } as unknown as PurchaseRecord;

  it('nothing is sent without opt-in, without consent, or for a purchase this server never delivered', () => {
    expect(planConsumptionAnswer({ ...on, answer: false }, { productType: 'consumable', purchase: owned, balances: {} })).toEqual({ skip: 'not_opted_in' });
    expect(planConsumptionAnswer({ ...on, customerConsent: false }, { productType: 'consumable', purchase: owned, balances: {} })).toEqual({ skip: 'no_customer_consent' });
    expect(planConsumptionAnswer(on, { productType: 'consumable', purchase: null, balances: null })).toEqual({ skip: 'not_delivered_here' });
    expect(planConsumptionAnswer(on, { productType: 'non_consumable', purchase: { ...owned, uid: null }, balances: null })).toEqual({ skip: 'not_delivered_here' });
  });

  it('a consumable: the share of its credits no longer on the balance (a balance above them counts as unused)', () => {
    expect(consumedShare({ coins: 100 }, { coins: 25 })).toBe(75_000);
    expect(consumedShare({ coins: 100 }, { coins: 500 })).toBe(0);
    expect(consumedShare({ coins: 100 }, { coins: -20 })).toBe(100_000);
    expect(consumedShare({ coins: 3 }, { coins: 1 })).toBe(66_666);
    expect(consumedShare({ coins: 100, gems: 100 }, { coins: 100 })).toBe(50_000);
    const answer = planConsumptionAnswer({ ...on, refundPreference: 'DECLINE' }, { productType: 'consumable', purchase: owned, balances: { coins: 25 } });
    expect(answer).toEqual({
      send: { customerConsented: true, sampleContentProvided: false, deliveryStatus: 'DELIVERED', consumptionPercentage: 75_000, refundPreference: 'DECLINE' },
      notes: [],
    });
    expect(ConsumptionInfoSchema.safeParse((answer as { send: unknown }).send).success).toBe(true);
  });

  it('GRANT_PRORATED needs a consumption above 0 except for auto-renewables, which send no percentage', () => {
    const prorated = { ...on, refundPreference: 'GRANT_PRORATED' as const };
    expect(planConsumptionAnswer(prorated, { productType: 'consumable', purchase: owned, balances: { coins: 100 } })).toEqual({
      send: { customerConsented: true, sampleContentProvided: false, deliveryStatus: 'DELIVERED', consumptionPercentage: 0 },
      notes: ['refundPreference GRANT_PRORATED omitted: it needs a consumptionPercentage above 0'],
    });
    expect(planConsumptionAnswer(prorated, { productType: 'subscription', purchase: owned, balances: null })).toEqual({
      send: { customerConsented: true, sampleContentProvided: false, deliveryStatus: 'DELIVERED', refundPreference: 'GRANT_PRORATED' },
      notes: [],
    });
  });
});

describe('configuration of consumption answers', () => {
  const base = { APPLE_BUNDLE_ID: 'com.example.app', APPLE_APP_APPLE_ID: '1234567890' };
  const load = (env: Record<string, string>) => {
    const problems: string[] = [];
    return { config: loadAppleConfig(env, problems), problems };
  };

  it('is off by default; APPLE_CONSUMPTION_INFO needs the API key; the preference must be one of Apple\'s', () => {
    expect(load(base).config?.consumption).toEqual({ answer: false, customerConsent: false, refundPreference: null });
    expect(load({ ...base, APPLE_CONSUMPTION_INFO: 'true' }).problems).toEqual([expect.stringMatching(/^APPLE_CONSUMPTION_INFO: .*needs the App Store Server API key/)]);
    const bad = load({ ...base, APPLE_CONSUMPTION_CONSENT: 'yes', APPLE_REFUND_PREFERENCE: 'REFUND' }).problems;
    expect(bad).toEqual([expect.stringMatching(/^APPLE_CONSUMPTION_CONSENT: must be true or false/), expect.stringMatching(/^APPLE_REFUND_PREFERENCE: must be one of DECLINE, GRANT_FULL, GRANT_PRORATED/)]);
    expect(load({ APPLE_REFUND_PREFERENCE: 'DECLINE' }).problems).toEqual([expect.stringMatching(/^APPLE_BUNDLE_ID: required when APPLE_REFUND_PREFERENCE is set/)]);
    expect(load({ ...base, APPLE_CONSUMPTION_CONSENT: 'true', APPLE_REFUND_PREFERENCE: 'GRANT_FULL' }).config?.consumption).toEqual({
      answer: false,
      customerConsent: true,
      refundPreference: 'GRANT_FULL',
    });
  });
});
