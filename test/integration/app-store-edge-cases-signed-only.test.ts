import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAppStoreStack, type AppStoreStack } from '../helpers/app-store-stack';

/**
 * App Store edge cases in signed-data-only mode (no App Store Server API key, so no consumption
 * answers either): notifications are applied as Apple signed them, through the real parts (App Store
 * simulator, Firestore emulator, verifyPurchase and appStoreNotifications). The API-key deployment:
 * app-store-edge-cases.test.ts.
 */
let s: AppStoreStack;
beforeAll(async () => {
  s = await startAppStoreStack({ apiKey: false });
});
afterAll(async () => {
  await s?.close();
});

const DAY = 86_400_000;
const MONTHLY = 'com.example.app.premium.monthly';
const COINS = 'com.example.app.coins_100';
const PASS_30D = 'com.example.app.pass_30d';
let seq = 0;
const newUid = () => `edge-so-user-${process.pid}-${++seq}`;
const millis = (ts: { toMillis(): number } | null | undefined) => ts?.toMillis();
const iso = (ms: number) => new Date(ms).toISOString();

const step = async (id: string, name: Parameters<AppStoreStack['apple']['transition']>[1], args: Record<string, unknown> = {}) => {
  const { notifications } = await s.apple.transition(id, name, args as never);
  for (const n of notifications) expect(n.delivery, `${n.notificationType} delivery`).toMatchObject({ status: 200 });
  return notifications;
};
const status = (n: { delivery?: unknown }) => JSON.parse((n.delivery as { body: string }).body).status;

describe('signed data about an older transaction never overwrites the current period', () => {
  it('a REFUND of a past renewal keeps the current period (and its REFUND_REVERSED too); a refund of the current one ends it', async () => {
    const uid = newUid();
    const { purchase } = await s.apple.buy({ kind: 'subscription', productId: MONTHLY });
    const id = purchase.originalTransactionId;
    expect((await s.verify({ signedTransaction: await s.apple.signTransaction(id) }, uid)).status).toBe(200);
    await step(id, 'renew');
    await step(id, 'renew');
    const [, pastRenewal, current] = s.apple.get(id).transactions;
    const expectCurrentPeriod = async () => {
      const premium = await s.entitlement(uid, 'premium');
      expect(premium).toMatchObject({ active: true, state: 'active' });
      expect(millis(premium?.expiresAt)).toBe(current!.expiresDate);
      const doc = await s.purchaseDoc(id);
      expect(doc).toMatchObject({ state: 'active', active: true, revoked: false });
      expect(millis(doc?.expiresAt)).toBe(current!.expiresDate);
      expect(millis(doc?.appStore.latestTransaction.expiresDate)).toBe(current!.expiresDate);
    };

    const [refund] = await step(id, 'refund', { transactionId: pastRenewal!.transactionId });
    expect(status(refund!)).toBe('past_transaction');
    await expectCurrentPeriod();
    expect((await s.db.doc(`events/asn:${refund!.notificationUUID}`).get()).data()).toMatchObject({ applied: false, detail: { skipped: 'past_transaction' } });
    const [reversed] = await step(id, 'refundReversed', { transactionId: pastRenewal!.transactionId });
    expect(status(reversed!)).toBe('past_transaction');
    await expectCurrentPeriod();

    // the device's JWS of the old renewal, freshly signed, does not move it back either
    const oldJws = await s.apple.signTransaction(id, { transactionId: pastRenewal!.transactionId, purchaseDate: pastRenewal!.purchaseDate, expiresDate: pastRenewal!.expiresDate });
    const res = await s.verify({ signedTransaction: oldJws }, uid);
    expect(res.json.purchase).toMatchObject({ state: 'active', active: true, expiresAt: iso(current!.expiresDate!) });
    await expectCurrentPeriod();

    const [refundCurrent] = await step(id, 'refund');
    expect(status(refundCurrent!)).toBe('applied');
    expect(await s.entitlement(uid, 'premium')).toMatchObject({ active: false, state: 'revoked' });
  });
});

describe('CONSUMPTION_REQUEST without opt-in (no API key)', () => {
  it('is recorded for an admin, with why nothing was sent; access and credits stay', async () => {
    const uid = newUid();
    const { purchase } = await s.apple.buy({ kind: 'consumable', productId: COINS });
    await s.verify({ signedTransaction: await s.apple.signTransaction(purchase.originalTransactionId) }, uid);
    const [request] = await step(purchase.originalTransactionId, 'consumptionRequest', { reason: 'OTHER' });
    expect(status(request!)).toBe('notice');
    const notice = (await s.db.doc(`adminNotices/app_store_consumption_request:${request!.notificationUUID}`).get()).data();
    expect(notice).toMatchObject({
      kind: 'app_store_consumption_request',
      status: 'open',
      detail: { productId: COINS, reason: 'OTHER', consumptionInfo: { status: 'not_sent', reason: 'not_opted_in' } },
    });
    expect(s.apple.consumptionInfo()).toEqual([]);
    expect(await s.balances(uid)).toEqual({ coins: 100 });
  });
});

describe('passes and partial refunds from the signed payload alone', () => {
  it('a pass counts from its own purchase date (no history to stack on without the key); an old one is expired', async () => {
    const uid = newUid();
    const customerId = `edge-so-customer-${process.pid}`;
    const first = (await s.apple.buy({ kind: 'non_renewing', productId: PASS_30D, customerId, purchaseDate: Date.now() - 10 * DAY })).purchase;
    const second = (await s.apple.buy({ kind: 'non_renewing', productId: PASS_30D, customerId })).purchase;
    for (const p of [first, second]) {
      const res = await s.verify({ signedTransaction: await s.apple.signTransaction(p.originalTransactionId) }, uid);
      expect(res.json.purchase).toMatchObject({ active: true, expiresAt: iso(p.transactions[0]!.purchaseDate + 30 * DAY) });
    }
    expect(millis((await s.entitlement(uid, 'season_pass'))?.expiresAt)).toBe(second.transactions[0]!.purchaseDate + 30 * DAY);
    const old = (await s.apple.buy({ kind: 'non_renewing', productId: PASS_30D, purchaseDate: Date.now() - 31 * DAY })).purchase;
    const res = await s.verify({ signedTransaction: await s.apple.signTransaction(old.originalTransactionId) }, newUid());
    expect(res.status).toBe(200);
    expect(res.json.purchase).toMatchObject({ state: 'expired', active: false });
  });

  it('a 50 % refund notification takes back half the coins, once', async () => {
    const uid = newUid();
    const { purchase } = await s.apple.buy({ kind: 'consumable', productId: COINS, quantity: 2 });
    await s.verify({ signedTransaction: await s.apple.signTransaction(purchase.originalTransactionId) }, uid);
    const [refund] = await step(purchase.originalTransactionId, 'refund', { percentage: 50_000 });
    expect(await s.balances(uid)).toEqual({ coins: 100 });
    expect(await s.apple.deliver(refund!.signedPayload)).toMatchObject({ body: '{"status":"duplicate"}' });
    await s.apple.notify(purchase.originalTransactionId, 'REFUND');
    expect(await s.balances(uid)).toEqual({ coins: 100 });
  });
});
