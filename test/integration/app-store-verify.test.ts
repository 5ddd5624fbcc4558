import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestCa, decodeJwsPayload, tamper, type SimProductKind } from '../../tools/app-store-simulator';
import { startAppStoreStack, type AppStoreStack } from '../helpers/app-store-stack';

/**
 * verifyPurchase with platform app_store through the real parts: functions framework on 127.0.0.1,
 * Apple's library (SignedDataVerifier, AppStoreServerAPIClient, ReceiptUtility) against the App Store
 * simulator and its test root, the Firestore emulator. The API key is configured, Production and Sandbox
 * are accepted.
 */
let s: AppStoreStack;
beforeAll(async () => {
  s = await startAppStoreStack();
});
afterAll(async () => {
  await s?.close();
});

const MONTHLY = 'com.example.app.premium.monthly';
const YEARLY = 'com.example.app.premium.yearly';
const REMOVE_ADS = 'com.example.app.remove_ads';
const COINS = 'com.example.app.coins_100';
let seq = 0;
const newUid = () => `apple-user-${process.pid}-${++seq}`;
const buy = async (kind: SimProductKind, productId: string, extra: Record<string, unknown> = {}) =>
  (await s.apple.buy({ kind, productId, notify: false, ...extra })).purchase;
const jwsOf = (p: { originalTransactionId: string }, overrides?: Record<string, unknown>) =>
  s.apple.signTransaction(p.originalTransactionId, overrides);

async function expectRefused<R extends { status: number; json: any }>(status: number, code: string, send: () => Promise<R>, message?: RegExp): Promise<R> {
  const before = await s.dump();
  const res = await send();
  expect(res.status).toBe(status);
  expect(res.json?.error?.code).toBe(code);
  if (message) expect(res.json.error.message).toMatch(message);
  expect(await s.dump()).toEqual(before);
  return res;
}

describe('refusals: nothing is written (run first, on a nearly empty database)', () => {
  const uid = 'refused-user';

  it('a forged JWS (another CA), a tampered one, and one whose chain lacks Apple\'s OIDs: 400 invalid_signed_data', async () => {
    const p = await buy('subscription', MONTHLY);
    const forged = await s.apple.signTransaction(p.originalTransactionId, {}, { ca: s.apple.foreignCa });
    await expectRefused(400, 'invalid_signed_data', () => s.verify({ signedTransaction: forged }, uid), /not signed by Apple/);
    const genuine = await jwsOf(p);
    const longer = tamper(genuine, (x) => {
      x.expiresDate = Date.now() + 10 * 365 * 86_400_000;
    });
    await expectRefused(400, 'invalid_signed_data', () => s.verify({ signedTransaction: longer }, uid), /altered/);
    const noOids = await createTestCa({ withoutAppleOids: true });
    const lookalike = await s.apple.signTransaction(p.originalTransactionId, {}, { ca: noOids });
    await expectRefused(400, 'invalid_signed_data', () => s.verify({ signedTransaction: lookalike }, uid));
    const unsigned = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${genuine.split('.')[1]}.x`;
    await expectRefused(400, 'invalid_signed_data', () => s.verify({ signedTransaction: unsigned }, uid));
  });

  it('another app\'s transaction, and an Xcode (StoreKit testing) one: 400 invalid_signed_data', async () => {
    const p = await buy('non_consumable', REMOVE_ADS);
    const otherApp = await jwsOf(p, { bundleId: 'com.evil.app' });
    await expectRefused(400, 'invalid_signed_data', () => s.verify({ signedTransaction: otherApp }, uid), /another app/);
    const xcode = await jwsOf(await buy('non_consumable', REMOVE_ADS, { environment: 'Xcode' }));
    await expectRefused(400, 'invalid_signed_data', () => s.verify({ signedTransaction: xcode }, uid), /Xcode/);
    const localTesting = await jwsOf(p, { environment: 'LocalTesting' });
    await expectRefused(400, 'invalid_signed_data', () => s.verify({ signedTransaction: localTesting }, uid), /not signed by Apple/);
  });

  it('403 account_mismatch: the appAccountToken of another user', async () => {
    const p = await buy('subscription', MONTHLY, { appAccountToken: s.appAccountTokenFor('someone-else') });
    await expectRefused(403, 'account_mismatch', async () => s.verify({ signedTransaction: await jwsOf(p) }, uid));
    await expectRefused(403, 'account_mismatch', () => s.verify({ transactionId: p.originalTransactionId }, uid));
  });

  it('404 purchase_not_found: another productId than the transaction\'s, an unknown transactionId, an empty receipt', async () => {
    const p = await buy('non_consumable', REMOVE_ADS);
    await expectRefused(404, 'purchase_not_found', async () => s.verify({ signedTransaction: await jwsOf(p), productId: COINS }, uid), /not "com.example.app.coins_100"/);
    await expectRefused(404, 'purchase_not_found', () => s.verify({ transactionId: '9999999999999999' }, uid));
    await expectRefused(404, 'purchase_not_found', async () => s.verify({ receipt: s.apple.receipt([]) }, uid), /no in-app purchase/);
  });

  it('400 unknown_product; 400 invalid_argument for a broken body, a non-receipt, two forms at once', async () => {
    const p = await buy('non_consumable', 'com.example.app.not_in_catalog');
    await expectRefused(400, 'unknown_product', async () => s.verify({ signedTransaction: await jwsOf(p) }, uid));
    await expectRefused(400, 'invalid_argument', () => s.verify({ receipt: Buffer.from('not a receipt').toString('base64') }, uid), /StoreKit 1 app receipt/);
    await expectRefused(400, 'invalid_argument', async () => s.verify({ signedTransaction: await jwsOf(p), transactionId: '1' }, uid), /exactly one/);
    await expectRefused(400, 'invalid_argument', () => s.verify({ purchaseToken: 'x' }, uid), /purchaseToken/);
    await expectRefused(400, 'invalid_argument', () => s.verify({ transactionId: 'GPA.1234-5678-9012-34567' }, uid), /only digits/);
  });

  it('401 unauthenticated without an ID token', async () => {
    const p = await buy('non_consumable', REMOVE_ADS);
    const jws = await jwsOf(p);
    await expectRefused(401, 'unauthenticated', () => s.post({ platform: 'app_store', signedTransaction: jws }));
  });

  it('503 upstream_unavailable with Retry-After while the App Store Server API keeps failing', async () => {
    const p = await buy('subscription', MONTHLY);
    s.apple.injectFaults({ count: 3, status: 503 });
    const r = await expectRefused(503, 'upstream_unavailable', async () => s.verify({ signedTransaction: await jwsOf(p) }, uid));
    expect(Number(r.headers.get('retry-after'))).toBeGreaterThan(0);
  });
});

describe('granting, in every form', () => {
  it('signedTransaction: a subscription is claimed and granted until it expires; verifying again returns the same', async () => {
    const uid = newUid();
    const p = await buy('subscription', MONTHLY);
    const jws = await jwsOf(p);
    const first = await s.verify({ signedTransaction: jws }, uid);
    expect(first.status).toBe(200);
    expect(first.json.purchase).toMatchObject({
      id: s.purchaseId(p.originalTransactionId),
      platform: 'app_store',
      packageName: 'com.example.app',
      productId: MONTHLY,
      productType: 'subscription',
      state: 'active',
      active: true,
      test: false,
      environment: 'Production',
      familyShared: false,
    });
    expect(new Date(first.json.purchase.expiresAt).getTime()).toBe(p.transactions[0]!.expiresDate);
    const ent = await s.entitlement(uid, 'premium');
    expect(ent).toMatchObject({ active: true, productId: MONTHLY, state: 'active', purchaseId: s.purchaseId(p.originalTransactionId) });
    const doc = await s.purchaseDoc(p.originalTransactionId);
    expect(doc).toMatchObject({ uid, platform: 'app_store', packageName: 'com.example.app', productId: MONTHLY, state: 'active' });
    expect(JSON.stringify(doc)).not.toContain(p.originalTransactionId); // ids are hashed, never stored raw

    const again = await s.verify({ signedTransaction: jws }, uid);
    expect(again.json).toEqual(first.json);
  });

  it('transactionId: looked up with the App Store Server API (Production first, then Sandbox)', async () => {
    const uid = newUid();
    const prod = await buy('non_consumable', REMOVE_ADS);
    const res = await s.verify({ transactionId: prod.originalTransactionId }, uid);
    expect(res.status).toBe(200);
    expect(res.json.entitlements.no_ads).toMatchObject({ active: true, expiresAt: null, productId: REMOVE_ADS, state: 'purchased' });

    const before = s.apple.stats().calls.getTransactionInfo ?? 0;
    const sandbox = await buy('subscription', MONTHLY, { environment: 'Sandbox' });
    const sb = await s.verify({ transactionId: sandbox.originalTransactionId }, uid);
    expect(sb.status).toBe(200);
    expect(sb.json.purchase).toMatchObject({ environment: 'Sandbox', test: true, active: true });
    expect((s.apple.stats().calls.getTransactionInfo ?? 0) - before).toBe(2); // Production said 404, Sandbox found it
  });

  it('receipt: the purchase is found in the receipt owner\'s history (V2), by productId or the receipt\'s own chain', async () => {
    const uid = newUid();
    const customerId = `customer-${uid}`;
    const ads = await buy('non_consumable', REMOVE_ADS, { customerId });
    const sub = await buy('subscription', MONTHLY, { customerId });
    await s.apple.transition(sub.originalTransactionId, 'renew', {}, { deliver: false });
    const receipt = s.apple.receipt([ads.originalTransactionId, sub.originalTransactionId]);

    const bySub = await s.verify({ receipt, productId: MONTHLY }, uid);
    expect(bySub.status).toBe(200);
    expect(bySub.json.purchase).toMatchObject({ productId: MONTHLY, id: s.purchaseId(sub.originalTransactionId), active: true });
    // the renewal, newer than the receipt, decides the expiry
    expect(new Date(bySub.json.purchase.expiresAt).getTime()).toBe(s.apple.get(sub.originalTransactionId).transactions[1]!.expiresDate);

    const byChain = await s.verify({ receipt }, uid); // the receipt's first in-app purchase
    expect(byChain.json.purchase).toMatchObject({ productId: REMOVE_ADS, id: s.purchaseId(ads.originalTransactionId) });
    expect(s.apple.stats().calls.getTransactionHistoryV2).toBeGreaterThanOrEqual(2);
  });

  it('a consumable credits credits x quantity once per transaction, whichever form and however often', async () => {
    const uid = newUid();
    const a = await buy('consumable', COINS, { quantity: 2 });
    const b = await buy('consumable', COINS);
    const jws = await jwsOf(a);
    const first = await s.verify({ signedTransaction: jws }, uid);
    expect(first.json.balances).toEqual({ coins: 200 });
    await Promise.all([s.verify({ signedTransaction: jws }, uid), s.verify({ transactionId: a.originalTransactionId }, uid)]);
    expect(await s.balances(uid)).toEqual({ coins: 200 });
    expect((await s.verify({ transactionId: b.originalTransactionId }, uid)).json.balances).toEqual({ coins: 300 });
  });

  it('an appAccountToken equal to uuid5(URL, uid) is accepted, in StoreKit\'s uppercase too', async () => {
    const uid = newUid();
    const p = await buy('non_consumable', REMOVE_ADS, { appAccountToken: s.appAccountTokenFor(uid).toUpperCase() });
    expect((await s.verify({ signedTransaction: await jwsOf(p) }, uid)).status).toBe(200);
  });

  it('Family Sharing: the member\'s own transaction is granted and marked familyShared', async () => {
    const [buyer, member] = [newUid(), newUid()];
    const p = await buy('subscription', MONTHLY);
    const shared = (await s.apple.transition(p.originalTransactionId, 'familyShare', {}, { deliver: false })).purchase;
    expect((await s.verify({ signedTransaction: await jwsOf(p) }, buyer)).json.purchase.familyShared).toBe(false);
    const res = await s.verify({ signedTransaction: await jwsOf(shared) }, member);
    expect(res.status).toBe(200);
    expect(res.json.purchase).toMatchObject({ familyShared: true, active: true });
    expect(await s.purchaseDoc(shared.originalTransactionId)).toMatchObject({ uid: member, familyShared: true });
    expect((await s.entitlement(member, 'premium'))?.active).toBe(true);
  });

  it('one entitlement document whichever store: Play and App Store purchases are two sources of "premium"', async () => {
    const uid = newUid();
    const play = await s.sim.createPurchase({ type: 'subscription', productId: 'premium_monthly', packageName: 'com.example.app' } as never);
    expect((await s.post({ packageName: 'com.example.app', productId: 'premium_monthly', purchaseToken: play.purchaseToken }, { uid })).status).toBe(200);
    const p = await buy('subscription', YEARLY, { periodMs: 365 * 86_400_000 });
    expect((await s.verify({ signedTransaction: await jwsOf(p) }, uid)).status).toBe(200);
    const ent = await s.entitlement(uid, 'premium');
    expect(Object.keys(ent?.sources ?? {})).toHaveLength(2);
    expect(ent).toMatchObject({ active: true, productId: YEARLY }); // the longer-lasting source shows
  });
});

describe('Apple\'s current state decides (API key configured)', () => {
  it('an old JWS of a subscription that has since expired, been refunded or upgraded reads as Apple says now', async () => {
    const uid = newUid();
    const p = await buy('subscription', MONTHLY);
    const old = await jwsOf(p);
    expect((await s.verify({ signedTransaction: old }, uid)).json.purchase.active).toBe(true);

    await s.apple.transition(p.originalTransactionId, 'changeProduct', { productId: YEARLY, when: 'now' }, { deliver: false });
    const upgraded = await s.verify({ signedTransaction: old }, uid);
    expect(upgraded.json.purchase).toMatchObject({ productId: YEARLY, active: true });
    expect(await s.entitlement(uid, 'premium')).toMatchObject({ productId: YEARLY, active: true });

    await s.apple.transition(p.originalTransactionId, 'refund', {}, { deliver: false });
    const refunded = await s.verify({ signedTransaction: old }, uid);
    expect(refunded.status).toBe(200); // a revoked subscription is a valid purchase, inactive
    expect(refunded.json.purchase).toMatchObject({ state: 'revoked', active: false });
    expect(await s.entitlement(uid, 'premium')).toMatchObject({ active: false, state: 'revoked' });
  });

  it('an expired subscription: 200 with the entitlement inactive', async () => {
    const uid = newUid();
    const p = await buy('subscription', MONTHLY);
    await s.apple.transition(p.originalTransactionId, 'expire', {}, { deliver: false });
    const res = await s.verify({ transactionId: p.originalTransactionId }, uid);
    expect(res.status).toBe(200);
    expect(res.json.purchase).toMatchObject({ state: 'expired', active: false });
  });

  it('a refunded one-time purchase: 410 for a newcomer (nothing written), 410 for its owner whose access ends', async () => {
    const owner = newUid();
    const p = await buy('non_consumable', REMOVE_ADS);
    expect((await s.verify({ transactionId: p.originalTransactionId }, owner)).status).toBe(200);
    await s.apple.transition(p.originalTransactionId, 'refund', {}, { deliver: false });
    const res = await s.verify({ transactionId: p.originalTransactionId }, owner);
    expect(res.status).toBe(410);
    expect(res.json.error.code).toBe('purchase_canceled');
    expect(await s.entitlement(owner, 'no_ads')).toMatchObject({ active: false, state: 'revoked' });

    const q = await buy('non_consumable', REMOVE_ADS);
    await s.apple.transition(q.originalTransactionId, 'refund', {}, { deliver: false });
    await expectRefused(410, 'purchase_canceled', () => s.verify({ transactionId: q.originalTransactionId }, newUid()));
  });

  it('transient App Store failures are retried within the request', async () => {
    const p = await buy('non_consumable', REMOVE_ADS);
    s.apple.injectFaults({ count: 2, status: 503 });
    expect((await s.verify({ transactionId: p.originalTransactionId }, newUid())).status).toBe(200);
  });
});

describe('ownership: one owner per originalTransactionId', () => {
  it('another user presenting the JWS, the transactionId or a receipt of a claimed purchase gets 409; nothing changes', async () => {
    const [a, b] = [newUid(), newUid()];
    const p = await buy('subscription', MONTHLY);
    const jws = await jwsOf(p);
    expect((await s.verify({ signedTransaction: jws }, a)).status).toBe(200);
    await s.apple.transition(p.originalTransactionId, 'renew', {}, { deliver: false });
    const renewal = await s.apple.signTransaction(p.originalTransactionId);
    expect(decodeJwsPayload(renewal).transactionId).not.toBe(p.originalTransactionId);
    for (const body of [{ signedTransaction: jws }, { signedTransaction: renewal }, { transactionId: p.originalTransactionId }, { receipt: s.apple.receipt([p.originalTransactionId]) }]) {
      const r = await s.verify(body, b);
      expect(r.status).toBe(409);
      expect(r.json.error.code).toBe('purchase_claimed');
    }
    expect(await s.entitlement(b, 'premium')).toBeUndefined();
    expect((await s.purchaseDoc(p.originalTransactionId))?.uid).toBe(a);
  });

  it('a stolen JWS carrying its owner\'s appAccountToken is refused before any claim: 403', async () => {
    const [a, thief] = [newUid(), newUid()];
    const p = await buy('non_consumable', REMOVE_ADS, { appAccountToken: s.appAccountTokenFor(a) });
    const jws = await jwsOf(p);
    const stolen = await s.verify({ signedTransaction: jws }, thief);
    expect(stolen.status).toBe(403);
    expect(await s.purchaseDoc(p.originalTransactionId)).toBeUndefined();
    expect((await s.verify({ signedTransaction: jws }, a)).status).toBe(200);
  });

  it('concurrent claims by two users end with exactly one owner', async () => {
    const [a, b] = [newUid(), newUid()];
    const p = await buy('subscription', MONTHLY);
    const jws = await jwsOf(p);
    const results = await Promise.all([s.verify({ signedTransaction: jws }, a), s.verify({ signedTransaction: jws }, b)]);
    expect(results.map((r) => r.status).sort()).toEqual([200, 409]);
    const winner = results[0]!.status === 200 ? a : b;
    expect((await s.purchaseDoc(p.originalTransactionId))?.uid).toBe(winner);
    expect(await s.entitlement(winner === a ? b : a, 'premium')).toBeUndefined();
  });
});

describe('notifications with the API key: Apple\'s current state is re-read', () => {
  it('an old DID_FAIL_TO_RENEW delivered after the renewal leaves the subscription active', async () => {
    const uid = newUid();
    const p = await buy('subscription', MONTHLY);
    await s.verify({ signedTransaction: await jwsOf(p) }, uid);
    const failed = (await s.apple.transition(p.originalTransactionId, 'failRenew', {}, { deliver: false })).notifications[0]!;
    await s.apple.transition(p.originalTransactionId, 'renew', {}, { deliver: false });
    const res = await s.apple.deliver(failed.signedPayload);
    expect(res).toMatchObject({ status: 200 });
    expect(await s.entitlement(uid, 'premium')).toMatchObject({ active: true, state: 'active' });
    expect(s.apple.stats().calls.getAllSubscriptionStatuses).toBeGreaterThan(0);
  });

  it('a transient App Store failure answers 503 (Apple retries); the retry applies it once', async () => {
    const uid = newUid();
    const p = await buy('subscription', MONTHLY);
    await s.verify({ signedTransaction: await jwsOf(p) }, uid);
    s.apple.injectFaults({ count: 3, status: 500 });
    const expired = (await s.apple.transition(p.originalTransactionId, 'expire', {})).notifications[0]!;
    expect(expired.delivery).toMatchObject({ status: 503 });
    expect((await s.entitlement(uid, 'premium'))?.active).toBe(true);
    expect(await s.apple.deliver(expired.signedPayload)).toMatchObject({ status: 200, body: '{"status":"applied"}' });
    expect(await s.apple.deliver(expired.signedPayload)).toMatchObject({ status: 200, body: '{"status":"duplicate"}' });
    expect(await s.entitlement(uid, 'premium')).toMatchObject({ active: false, state: 'expired' });
  });
});
