import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAppStoreStack, type AppStoreStack } from '../helpers/app-store-stack';

/**
 * App Store edge cases through the real parts (App Store simulator, Firestore emulator, verifyPurchase
 * and appStoreNotifications), with the App Store Server API key and consumption answers opted in (the
 * app collects consent, refund preference DECLINE): non-renewing passes (active, expired, stacked per
 * user and entitlement), partial refunds, CONSUMPTION_REQUEST answered, Family Sharing, and a refund
 * of a past renewal re-read from Apple. The signed-data-only deployment: app-store-edge-cases-signed-only.
 */
let s: AppStoreStack;
beforeAll(async () => {
  s = await startAppStoreStack({
    env: { APPLE_CONSUMPTION_INFO: 'true', APPLE_CONSUMPTION_CONSENT: 'true', APPLE_REFUND_PREFERENCE: 'DECLINE' },
  });
});
afterAll(async () => {
  await s?.close();
});

const DAY = 86_400_000;
const PASS_30D = 'com.example.app.pass_30d';
const PASS_1M = 'com.example.app.pass_1m';
const LEGACY_PASS = 'com.example.app.legacy_pass';
const COINS = 'com.example.app.coins_100';
const MONTHLY = 'com.example.app.premium.monthly';
let seq = 0;
const newUid = () => `edge-user-${process.pid}-${++seq}`;
const newCustomer = () => `edge-customer-${process.pid}-${++seq}`;
const millis = (ts: { toMillis(): number } | null | undefined) => ts?.toMillis();
const iso = (ms: number) => new Date(ms).toISOString();
const plusOneMonth = (ms: number) => {
  const d = new Date(ms);
  d.setUTCMonth(d.getUTCMonth() + 1); // no month-end clamping needed away from the 29th-31st
  return d.getTime();
};

async function verifyJws(id: string, uid: string, overrides?: Record<string, unknown>) {
  return s.verify({ signedTransaction: await s.apple.signTransaction(id, overrides) }, uid);
}
const step = async (id: string, name: Parameters<AppStoreStack['apple']['transition']>[1], args: Record<string, unknown> = {}) => {
  const { notifications, purchase } = await s.apple.transition(id, name, args as never);
  for (const n of notifications) expect(n.delivery, `${n.notificationType} delivery`).toMatchObject({ status: 200 });
  return { notifications, purchase };
};

describe('non-renewing subscriptions (passes) grant for their duration, stacked per user and entitlement', () => {
  it('a pass grants until purchaseDate + duration and shows expiresAt', async () => {
    const uid = newUid();
    const { purchase } = await s.apple.buy({ kind: 'non_renewing', productId: PASS_30D });
    const bought = purchase.transactions[0]!.purchaseDate;
    const res = await verifyJws(purchase.originalTransactionId, uid);
    expect(res.status).toBe(200);
    expect(res.json.purchase).toMatchObject({ productType: 'non_renewing_subscription', state: 'purchased', active: true, expiresAt: iso(bought + 30 * DAY) });
    const pass = await s.entitlement(uid, 'season_pass');
    expect(pass).toMatchObject({ active: true, state: 'purchased', productId: PASS_30D });
    expect(millis(pass?.expiresAt)).toBe(bought + 30 * DAY);
    expect(await s.purchaseDoc(purchase.originalTransactionId)).toMatchObject({ uid, productType: 'non_renewing_subscription', active: true });
  });

  it('a pass bought longer ago than its duration verifies as expired (200, inactive)', async () => {
    const uid = newUid();
    const bought = Date.now() - 40 * DAY;
    const { purchase } = await s.apple.buy({ kind: 'non_renewing', productId: PASS_30D, purchaseDate: bought });
    const res = await verifyJws(purchase.originalTransactionId, uid);
    expect(res.status).toBe(200);
    expect(res.json.purchase).toMatchObject({ state: 'expired', active: false, expiresAt: iso(bought + 30 * DAY) });
    expect(await s.entitlement(uid, 'season_pass')).toMatchObject({ active: false, state: 'expired' });
    expect(millis((await s.entitlement(uid, 'season_pass'))?.expiresAt)).toBe(bought + 30 * DAY);
  });

  it('passes bought one after another extend access, whatever order they are verified in; re-verifying moves nothing', async () => {
    const [uid, customerId] = [newUid(), newCustomer()];
    const first = (await s.apple.buy({ kind: 'non_renewing', productId: PASS_30D, customerId, purchaseDate: Date.now() - 10 * DAY })).purchase;
    const second = (await s.apple.buy({ kind: 'non_renewing', productId: PASS_30D, customerId })).purchase;
    const a = first.transactions[0]!.purchaseDate;
    // the later pass first: it starts where the earlier one (bought on this Apple account, unverified yet) ends
    expect((await verifyJws(second.originalTransactionId, uid)).json.purchase.expiresAt).toBe(iso(a + 60 * DAY));
    expect((await verifyJws(first.originalTransactionId, uid)).json.purchase.expiresAt).toBe(iso(a + 30 * DAY));
    expect((await verifyJws(second.originalTransactionId, uid)).json.purchase.expiresAt).toBe(iso(a + 60 * DAY));
    const pass = await s.entitlement(uid, 'season_pass');
    expect(pass).toMatchObject({ active: true, purchaseId: s.purchaseId(second.originalTransactionId) });
    expect(millis(pass?.expiresAt)).toBe(a + 60 * DAY);
    expect(Object.keys(pass?.sources ?? {})).toHaveLength(2);
  });

  it('stacking is per entitlement: a pass granting two entitlements extends only the chain of each', async () => {
    const [uid, customerId] = [newUid(), newCustomer()];
    const first = (await s.apple.buy({ kind: 'non_renewing', productId: PASS_30D, customerId, purchaseDate: Date.now() - 5 * DAY })).purchase;
    const both = (await s.apple.buy({ kind: 'non_renewing', productId: PASS_1M, customerId })).purchase;
    await verifyJws(first.originalTransactionId, uid);
    const res = await verifyJws(both.originalTransactionId, uid);
    const firstEnd = first.transactions[0]!.purchaseDate + 30 * DAY;
    const bought = both.transactions[0]!.purchaseDate;
    expect(res.json.entitlements.season_pass).toMatchObject({ active: true, expiresAt: iso(plusOneMonth(firstEnd)) });
    expect(res.json.entitlements.bonus).toMatchObject({ active: true, expiresAt: iso(plusOneMonth(bought)) });
    expect(res.json.purchase.expiresAt).toBe(iso(plusOneMonth(firstEnd)));
  });

  it("another user's pass on the same Apple account is not stacked on", async () => {
    const [owner, other, customerId] = [newUid(), newUid(), newCustomer()];
    const theirs = (await s.apple.buy({ kind: 'non_renewing', productId: PASS_30D, customerId, purchaseDate: Date.now() - DAY })).purchase;
    const mine = (await s.apple.buy({ kind: 'non_renewing', productId: PASS_30D, customerId })).purchase;
    expect((await verifyJws(theirs.originalTransactionId, owner)).status).toBe(200);
    const res = await verifyJws(mine.originalTransactionId, other);
    expect(res.json.purchase.expiresAt).toBe(iso(mine.transactions[0]!.purchaseDate + 30 * DAY));
  });

  it('a refunded pass ends (verify answers 410); a catalog non_consumable sold as Non-Renewing stays lifetime', async () => {
    const uid = newUid();
    const { purchase } = await s.apple.buy({ kind: 'non_renewing', productId: PASS_30D });
    await verifyJws(purchase.originalTransactionId, uid);
    await step(purchase.originalTransactionId, 'refund');
    expect(await s.entitlement(uid, 'season_pass')).toMatchObject({ active: false, state: 'revoked' });
    expect((await verifyJws(purchase.originalTransactionId, uid)).status).toBe(410);

    const legacy = (await s.apple.buy({ kind: 'non_renewing', productId: LEGACY_PASS })).purchase;
    const res = await verifyJws(legacy.originalTransactionId, uid);
    expect(res.json.purchase).toMatchObject({ productType: 'non_consumable', state: 'purchased', active: true, expiresAt: null });
  });
});

describe('partial refunds take back exactly the refunded share of credits, once', () => {
  it('50 % of a consumable: half the coins back to Apple; the same refund seen again takes nothing more; REFUND_REVERSED returns it', async () => {
    const uid = newUid();
    const { purchase } = await s.apple.buy({ kind: 'consumable', productId: COINS });
    const id = purchase.originalTransactionId;
    expect((await verifyJws(id, uid)).json.balances).toEqual({ coins: 100 });
    const { notifications } = await step(id, 'refund', { percentage: 50_000 });
    expect(await s.balances(uid)).toEqual({ coins: 50 });
    expect(await s.purchaseDoc(id, true)).toMatchObject({ revoked: true, creditsReversed: { coins: 50 }, appStore: { revocationPercentage: 50_000 } });
    // the same delivery again, another notification about it, and a verification: nothing more is taken
    expect(await s.apple.deliver(notifications[0]!.signedPayload)).toMatchObject({ status: 200, body: '{"status":"duplicate"}' });
    expect((await s.apple.notify(id, 'REFUND')).delivery).toMatchObject({ status: 200, body: '{"status":"applied"}' });
    expect((await verifyJws(id, uid)).status).toBe(410);
    expect(await s.balances(uid)).toEqual({ coins: 50 });
    await step(id, 'refundReversed');
    expect(await s.balances(uid)).toEqual({ coins: 100 });
    expect(await s.purchaseDoc(id, true)).toMatchObject({ revoked: false, creditsReversed: null });
  });

  it('the share is rounded down in the user\'s favour (33.333 % of 300 coins takes 99)', async () => {
    const uid = newUid();
    const { purchase } = await s.apple.buy({ kind: 'consumable', productId: COINS, quantity: 3 });
    await verifyJws(purchase.originalTransactionId, uid);
    await step(purchase.originalTransactionId, 'refund', { percentage: 33_333 });
    expect(await s.balances(uid)).toEqual({ coins: 201 });
  });
});

describe('CONSUMPTION_REQUEST is answered with Send Consumption Information (opted in, consent collected)', () => {
  const notice = async (uuid: string) => (await s.db.doc(`adminNotices/app_store_consumption_request:${uuid}`).get()).data();

  it('a consumable: DELIVERED, the consumed share from the balance, the refund preference; recorded on the notice', async () => {
    const uid = newUid();
    const { purchase } = await s.apple.buy({ kind: 'consumable', productId: COINS });
    const id = purchase.originalTransactionId;
    await verifyJws(id, uid);
    await s.db.doc(`users/${uid}`).set({ balances: { coins: 25 } }, { merge: true }); // the user spent 75 coins
    const { notifications } = await step(id, 'consumptionRequest');
    expect(notifications[0]!.delivery).toMatchObject({ body: '{"status":"notice"}' });
    const body = { customerConsented: true, sampleContentProvided: false, deliveryStatus: 'DELIVERED', consumptionPercentage: 75_000, refundPreference: 'DECLINE' };
    expect(s.apple.consumptionInfo()).toEqual([expect.objectContaining({ transactionId: id, environment: 'Production', body })]);
    expect(await notice(notifications[0]!.notificationUUID)).toMatchObject({
      kind: 'app_store_consumption_request',
      purchaseId: s.purchaseId(id), // a consumable's first transaction id is its original one
      detail: { productId: COINS, reason: 'UNINTENDED_PURCHASE', consumptionInfo: { status: 'sent', request: body, notes: [] } },
    });
    // a redelivery is a duplicate: nothing is sent twice
    expect(await s.apple.deliver(notifications[0]!.signedPayload)).toMatchObject({ status: 200, body: '{"status":"duplicate"}' });
    expect(s.apple.consumptionInfo()).toHaveLength(1);
    expect(await s.balances(uid)).toEqual({ coins: 25 });
  });

  it('a subscription is sent without consumptionPercentage (Apple computes it); a purchase nobody verified is not answered', async () => {
    const before = s.apple.consumptionInfo().length;
    const uid = newUid();
    const sub = (await s.apple.buy({ kind: 'subscription', productId: MONTHLY })).purchase;
    await verifyJws(sub.originalTransactionId, uid);
    await step(sub.originalTransactionId, 'consumptionRequest');
    expect(s.apple.consumptionInfo().slice(before)).toEqual([
      expect.objectContaining({ body: { customerConsented: true, sampleContentProvided: false, deliveryStatus: 'DELIVERED', refundPreference: 'DECLINE' } }),
    ]);
    const unverified = (await s.apple.buy({ kind: 'consumable', productId: COINS })).purchase;
    const { notifications } = await step(unverified.originalTransactionId, 'consumptionRequest');
    expect((await notice(notifications[0]!.notificationUUID))?.detail.consumptionInfo).toEqual({ status: 'not_sent', reason: 'not_delivered_here' });
    expect(s.apple.consumptionInfo().slice(before)).toHaveLength(1);
  });

  it('Apple failing to take the answer gets a 503 (Apple delivers again), and the redelivery sends it', async () => {
    const uid = newUid();
    const { purchase } = await s.apple.buy({ kind: 'consumable', productId: COINS });
    await verifyJws(purchase.originalTransactionId, uid);
    const before = s.apple.consumptionInfo().length;
    s.apple.injectFaults({ pathContains: '/consumption/', status: 500, count: 3 });
    const { notifications } = await s.apple.transition(purchase.originalTransactionId, 'consumptionRequest');
    expect(notifications[0]!.delivery).toMatchObject({ status: 503 });
    expect(await notice(notifications[0]!.notificationUUID)).toBeUndefined();
    expect(await s.apple.deliver(notifications[0]!.signedPayload)).toMatchObject({ status: 200, body: '{"status":"notice"}' });
    expect(s.apple.consumptionInfo().slice(before)).toEqual([expect.objectContaining({ body: expect.objectContaining({ consumptionPercentage: 0 }) })]);
    expect((await notice(notifications[0]!.notificationUUID))?.detail.consumptionInfo).toMatchObject({ status: 'sent' });
  });
});

describe('Family Sharing: a family member owns their own transaction', () => {
  it('the member verifies it (never refused as theft), renews with the purchaser, and REVOKE ends the member only', async () => {
    const [buyer, member] = [newUid(), newUid()];
    const bought = (await s.apple.buy({ kind: 'subscription', productId: MONTHLY, appAccountToken: s.appAccountTokenFor(buyer) })).purchase;
    expect((await verifyJws(bought.originalTransactionId, buyer)).status).toBe(200);
    const { purchase: shared } = await step(bought.originalTransactionId, 'familyShare', { customerId: newCustomer() });
    expect(shared.originalTransactionId).not.toBe(bought.originalTransactionId);
    expect(shared.ownership).toBe('FAMILY_SHARED');

    // even a token naming the purchaser's account does not make the member's claim theft
    const res = await verifyJws(shared.originalTransactionId, member, { appAccountToken: s.appAccountTokenFor(buyer) });
    expect(res.status).toBe(200);
    expect(res.json.purchase).toMatchObject({ familyShared: true, active: true, state: 'active' });
    expect((await s.verify({ transactionId: shared.originalTransactionId }, member)).json.purchase).toMatchObject({ familyShared: true });
    expect((await verifyJws(shared.originalTransactionId, buyer)).json.error.code).toBe('purchase_claimed');

    const { notifications } = await step(bought.originalTransactionId, 'renew');
    expect(notifications.map((n) => n.notificationType)).toEqual(['DID_RENEW', 'DID_RENEW']);
    expect(millis((await s.entitlement(member, 'premium'))?.expiresAt)).toBe(s.apple.get(shared.originalTransactionId).transactions.at(-1)!.expiresDate);

    await step(shared.originalTransactionId, 'revoke');
    expect(await s.entitlement(member, 'premium')).toMatchObject({ active: false, state: 'revoked' });
    expect(await s.purchaseDoc(shared.originalTransactionId)).toMatchObject({ uid: member, familyShared: true, revoked: true });
    expect(await s.entitlement(buyer, 'premium')).toMatchObject({ active: true, state: 'active' });
    expect(await s.purchaseDoc(bought.originalTransactionId)).toMatchObject({ uid: buyer, familyShared: false, revoked: false });
  });
});

describe('a refund of a past renewal, with the API key', () => {
  it('re-reads the subscription: the current period stays', async () => {
    const uid = newUid();
    const { purchase } = await s.apple.buy({ kind: 'subscription', productId: MONTHLY });
    const id = purchase.originalTransactionId;
    await verifyJws(id, uid);
    await step(id, 'renew');
    await step(id, 'renew');
    const [, pastRenewal, current] = s.apple.get(id).transactions;
    const { notifications } = await step(id, 'refund', { transactionId: pastRenewal!.transactionId });
    expect(notifications.map((n) => n.notificationType)).toEqual(['REFUND']);
    expect(await s.entitlement(uid, 'premium')).toMatchObject({ active: true, state: 'active' });
    expect(millis((await s.entitlement(uid, 'premium'))?.expiresAt)).toBe(current!.expiresDate);
  });
});
