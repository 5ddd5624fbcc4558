import { createHash } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PACKAGE, startFunctionsStack, type FunctionsStack } from '../helpers/verify-stack';

/**
 * Abuse through the real parts: concurrent bursts against one purchase (two users claiming one token,
 * one consumable verified many times at once, one refund requested many times at once) and tokens
 * used for another app or product. Bursts are small (the Firestore emulator serializes transactions
 * on one document slowly) and no assertion depends on timing: an answer may be `503
 * upstream_unavailable` (retry later) under contention, but never a wrong grant.
 */
let s: FunctionsStack;
let refundUrl: string;
let refundServer: Server;
beforeAll(async () => {
  s = await startFunctionsStack({ env: { PLAY_MAX_ATTEMPTS: '2' } });
  const { getTestServer } = await import('@google-cloud/functions-framework/testing');
  refundServer = getTestServer('refundPurchase');
  await new Promise<void>((r) => refundServer.listen(0, '127.0.0.1', r));
  refundUrl = `http://127.0.0.1:${(refundServer.address() as AddressInfo).port}/`;
});
afterAll(async () => {
  if (refundServer) await new Promise<void>((r) => refundServer.close(() => r()));
  await s?.close();
});

const sha256 = (x: string) => createHash('sha256').update(x).digest('hex');
let seq = 0;
const newUid = (name: string) => `${name}-${process.pid}-${++seq}`;
const buy = async (input: Record<string, unknown>) => (await s.sim.createPurchase({ packageName: PACKAGE, ...input } as never)).purchaseToken;
const verify = (uid: string, productId: string, purchaseToken: string, packageName = PACKAGE) => s.post({ packageName, productId, purchaseToken }, { uid });
const purchaseDoc = async (token: string) => (await s.db.doc(`purchases/${sha256(token)}`).get()).data();
const entitlement = async (uid: string, id: string) => (await s.db.doc(`users/${uid}/entitlements/${id}`).get()).data();
const balances = async (uid: string) => (await s.db.doc(`users/${uid}`).get()).data()?.balances as Record<string, number> | undefined;
const playCalls = (method: string) => s.sim.stats().calls[method] ?? 0;

type Answer = { status: number; json: any; headers: Headers };
/** Allowed under contention: a 503 that says to retry later (with Retry-After). */
function expectRetryLater(r: Answer) {
  expect(r.status).toBe(503);
  expect(r.json.error.code).toBe('upstream_unavailable');
  expect(Number(r.headers.get('retry-after'))).toBeGreaterThan(0);
}
/** Retries a request until it is not "retry later" (contention), at most a few times. */
async function settled(call: () => Promise<Answer>): Promise<Answer> {
  for (let i = 0; ; i++) {
    const r = await call();
    if (r.status !== 503 || i === 4) return r;
    await new Promise((res) => setTimeout(res, 500));
  }
}
/** alternate(a, b, n): a, b, a, b, ... n of each, so that neither user is always first. */
const alternate = <T>(x: T, y: T, n: number) => Array.from({ length: 2 * n }, (_, i) => (i % 2 === 0 ? x : y));

describe('one token, two users, concurrent bursts', () => {
  for (const [type, productId, check] of [
    ['subscription', 'premium_monthly', 'premium'],
    ['product', 'remove_ads', 'no_ads'],
    ['product', 'coins_100', 'coins'],
  ] as const) {
    it(`${productId}: 2 users x 4 requests at once -> exactly one owner, the other always 409`, async () => {
      const alice = newUid('alice');
      const bob = newUid('bob');
      const token = await buy({ type, productId });
      const order = seq % 2 ? alternate(alice, bob, 4) : alternate(bob, alice, 4);
      const answers = await Promise.all(order.map(async (uid) => ({ uid, r: await verify(uid, productId, token) })));

      for (const { r } of answers) {
        if (r.status === 503) expectRetryLater(r);
        else if (r.status !== 200) {
          expect(r.status).toBe(409);
          expect(r.json.error.code).toBe('purchase_claimed');
        }
      }
      // The owner is whoever Firestore says (should every request of the burst have had to retry
      // later, the first user's retry claims it); every 200 went to them and every 409 to the other.
      await settled(() => verify(order[0]!, productId, token));
      const owner = (await purchaseDoc(token))?.uid;
      expect([alice, bob]).toContain(owner);
      const other = owner === alice ? bob : alice;
      for (const { uid, r } of answers) {
        if (r.status === 200) expect(uid).toBe(owner);
        if (r.status === 409) expect(uid).toBe(other);
      }
      // After the burst: the other user is refused for good, the owner gets the same answer again.
      expect((await settled(() => verify(other, productId, token))).status).toBe(409);
      expect((await settled(() => verify(owner, productId, token))).status).toBe(200);

      if (check === 'coins') {
        expect(await balances(owner)).toEqual({ coins: 100 });
        expect(await balances(other)).toBeUndefined();
      } else {
        expect((await entitlement(owner, check))?.active).toBe(true);
        expect(await entitlement(other, check)).toBeUndefined();
      }
      const users = await s.db.collection('users').get();
      expect(users.docs.map((d) => d.id)).not.toContain(other);
    }, 60_000);
  }

  it('a purchase made for one account (obfuscatedExternalAccountId) raced by another user: only its account gets it', async () => {
    const alice = newUid('alice');
    const bob = newUid('bob');
    const token = await buy({ type: 'subscription', productId: 'premium_monthly', obfuscatedExternalAccountId: sha256(alice) });
    const answers = await Promise.all(alternate(bob, alice, 3).map(async (uid) => ({ uid, r: await verify(uid, 'premium_monthly', token) })));
    for (const { uid, r } of answers) {
      if (uid === bob) {
        expect(r.status).toBe(403);
        expect(r.json.error.code).toBe('account_mismatch');
      } else if (r.status !== 200) expectRetryLater(r);
    }
    expect((await purchaseDoc(token))?.uid).toBe(alice);
    expect(await entitlement(bob, 'premium')).toBeUndefined();
  }, 60_000);
});

describe('consumables under concurrency', () => {
  it('one consumable (quantity 3) verified 8 times at once by its buyer is credited exactly once', async () => {
    const uid = newUid('buyer');
    const token = await buy({ type: 'product', productId: 'coins_100', quantity: 3 });
    const answers = await Promise.all(Array.from({ length: 8 }, () => verify(uid, 'coins_100', token)));
    for (const r of answers) if (r.status !== 200) expectRetryLater(r);
    expect((await settled(() => verify(uid, 'coins_100', token))).status).toBe(200); // once more, after the burst
    expect(await balances(uid)).toEqual({ coins: 300 });
    expect(await purchaseDoc(token)).toMatchObject({ uid, credited: { coins: 300 } });
    expect(s.sim.get(token)?.resource).toMatchObject({ consumptionState: 1 }); // consumed at Play
    expect((await purchaseDoc(token))?.syncError ?? null).toBeNull();
  }, 60_000);

  it('four consumables verified at once (twice each) by one user add up exactly: no lost update on the balance', async () => {
    const uid = newUid('buyer');
    const tokens = await Promise.all(Array.from({ length: 4 }, () => buy({ type: 'product', productId: 'coins_100' })));
    const answers = await Promise.all([...tokens, ...tokens].map((t) => verify(uid, 'coins_100', t)));
    for (const r of answers) if (r.status !== 200) expectRetryLater(r);
    for (const t of tokens) expect((await settled(() => verify(uid, 'coins_100', t))).status).toBe(200);
    expect(await balances(uid)).toEqual({ coins: 400 });
  }, 60_000);
});

describe('refunds requested concurrently', () => {
  async function callRefund(adminUid: string, data: Record<string, unknown>): Promise<Answer> {
    const res = await fetch(refundUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${s.idToken(adminUid, { admin: true })}` },
      body: JSON.stringify({ data }),
    });
    return { status: res.status, json: await res.json(), headers: res.headers };
  }
  async function owned(input: Record<string, unknown>) {
    const uid = newUid('customer');
    const token = await buy(input);
    expect((await verify(uid, input.productId as string, token)).status).toBe(200);
    return { uid, token };
  }
  /** Every answer is the result or "already being carried out, retry"; retries end in the result. */
  async function expectOneResult(answers: Answer[], data: Record<string, unknown>, status: string) {
    for (const r of answers) {
      if (r.status === 200) expect(r.json.result.status).toBe(status);
      else {
        expect(r.status).toBe(503);
        expect(r.json.error).toMatchObject({ status: 'UNAVAILABLE', details: { code: 'upstream_unavailable' } });
      }
    }
    expect(answers.filter((r) => r.status === 200 && r.json.result.repeated === false).length).toBeLessThanOrEqual(1);
    const again = await settled(() => callRefund('admin-retry', data));
    expect(again.status).toBe(200);
    expect(again.json.result).toMatchObject({ status, repeated: true });
  }

  it('a subscription revoked by 2 admins x 3 clicks at once is revoked (and refunded) once at Play', async () => {
    const { uid, token } = await owned({ type: 'subscription', productId: 'premium_monthly' });
    const data = { packageName: PACKAGE, purchaseToken: token, action: 'revoke', reason: 'chargeback reported' };
    const before = playCalls('purchases.subscriptionsv2.revoke');
    const answers = await Promise.all(alternate('admin-a', 'admin-b', 3).map((admin) => callRefund(admin, data)));
    await expectOneResult(answers, data, 'revoked');
    expect(playCalls('purchases.subscriptionsv2.revoke') - before).toBe(1);
    expect(await entitlement(uid, 'premium')).toMatchObject({ active: false, state: 'revoked' });
    const ledger = await s.db.collection('refundLedger').where('request.purchaseId', '==', sha256(token)).get();
    expect(ledger.docs.map((d) => d.data().status)).toEqual(['done']);
  }, 60_000);

  it('a one-time purchase refunded 6 times at once (same idempotency key) is refunded once at Play', async () => {
    const { uid, token } = await owned({ type: 'product', productId: 'remove_ads' });
    const data = { packageName: PACKAGE, purchaseToken: token, action: 'revoke', reason: 'fraud', idempotencyKey: `ticket-${seq}` };
    const before = playCalls('orders.refund');
    const answers = await Promise.all(Array.from({ length: 6 }, () => callRefund('admin-a', data)));
    await expectOneResult(answers, data, 'revoked');
    expect(playCalls('orders.refund') - before).toBe(1);
    expect((await entitlement(uid, 'no_ads'))?.active).toBe(false);
  }, 60_000);
});

describe('a token for another app or product', () => {
  it('is refused in every combination, even raced against the right claim, and stays claimable by the right request', async () => {
    const uid = newUid('claimer');
    const removeAds = await buy({ type: 'product', productId: 'remove_ads' });
    const monthly = await buy({ type: 'subscription', productId: 'premium_monthly' });
    const otherApp = await buy({ type: 'product', productId: 'remove_ads', packageName: 'com.example.other' });
    const wrong: [string, string, string, number, string][] = [
      // [claimed productId, token, claimed package, status, code]
      ['coins_100', removeAds, PACKAGE, 404, 'purchase_not_found'], // another one-time product
      ['premium_monthly', removeAds, PACKAGE, 404, 'purchase_not_found'], // a one-time token as a subscription
      ['premium_yearly', monthly, PACKAGE, 404, 'purchase_not_found'], // another subscription
      ['remove_ads', monthly, PACKAGE, 404, 'purchase_not_found'], // a subscription token as a one-time product
      ['remove_ads', otherApp, PACKAGE, 404, 'purchase_not_found'], // another app's token under ours
      ['remove_ads', removeAds, 'com.example.other', 404, 'purchase_not_found'], // our token under the other app
      ['remove_ads', removeAds, 'com.evil.app', 403, 'package_not_allowed'], // an app this deployment does not serve
      ['premium_lifetime', removeAds, PACKAGE, 400, 'unknown_product'], // a product not in the catalog
    ];
    const before = await s.dump();
    const answers = await Promise.all(wrong.map(([productId, token, pkg]) => verify(uid, productId, token, pkg)));
    answers.forEach((r, i) => {
      const [productId, , pkg, status, code] = wrong[i]!;
      expect({ productId, pkg, status: r.status, code: r.json?.error?.code }).toEqual({ productId, pkg, status, code });
    });
    expect(await s.dump()).toEqual(before);

    // The same wrong claims raced against the right ones: only the right ones grant, once.
    const racing = await Promise.all([
      ...wrong.map(([productId, token, pkg]) => verify(uid, productId, token, pkg)),
      verify(uid, 'remove_ads', removeAds),
      verify(uid, 'premium_monthly', monthly),
    ]);
    racing.slice(0, wrong.length).forEach((r, i) => expect(r.status).toBe(wrong[i]![3]));
    for (const r of racing.slice(wrong.length)) if (r.status !== 200) expectRetryLater(r);
    expect((await settled(() => verify(uid, 'remove_ads', removeAds))).json.purchase).toMatchObject({ productId: 'remove_ads', active: true });
    expect((await settled(() => verify(uid, 'premium_monthly', monthly))).json.purchase).toMatchObject({ productId: 'premium_monthly', active: true });
    expect(await purchaseDoc(otherApp)).toBeUndefined();
    expect(await balances(uid)).toBeUndefined(); // coins_100 was never credited
    expect(Object.keys((await purchaseDoc(removeAds))?.entitlements ?? {})).toEqual(['no_ads']);
    expect(Object.keys((await purchaseDoc(monthly))?.entitlements ?? {})).toEqual(['premium']);
  }, 60_000);
});
