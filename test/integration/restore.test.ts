import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PACKAGE, startFunctionsStack, type FunctionsStack } from '../helpers/verify-stack';

/**
 * Restores cost no Play quota: an owner's repeat verification of a purchase whose stored state is
 * current is answered from Firestore (`source: "store"`, no Play call); anything else reads Play. The
 * stored state is kept current by RTDN (Pub/Sub emulator -> playRtdn), as in production.
 */
let s: FunctionsStack;
beforeAll(async () => {
  s = await startFunctionsStack({ rtdn: true });
});
afterAll(async () => {
  await s?.close();
});

const MINUTE = 60_000;
const sha256 = (x: string) => createHash('sha256').update(x).digest('hex');
let seq = 0;
const newUid = () => `restore-user-${process.pid}-${++seq}`;
const buy = (input: Record<string, unknown>) => s.sim.createPurchase({ packageName: PACKAGE, ...input } as never);
const verify = (uid: string, productId: string, purchaseToken: string) => s.post({ packageName: PACKAGE, productId, purchaseToken }, { uid });
const purchase = async (token: string) => (await s.db.doc(`purchases/${sha256(token)}`).get()).data();
const playReads = () => {
  const c = s.sim.stats().calls;
  return (c['purchases.subscriptionsv2.get'] ?? 0) + (c['purchases.productsv2.getproductpurchasev2'] ?? 0);
};
/** The purchase's own notification has landed, so nothing else writes it meanwhile. */
const settled = (token: string) =>
  s.eventually(async () => (await s.db.collection('events').where('purchaseId', '==', sha256(token)).count().get()).data().count >= 1);

async function owned(uid: string, input: Record<string, unknown>, productId: string) {
  const p = await buy(input);
  const first = await verify(uid, productId, p.purchaseToken);
  expect(first.status).toBe(200);
  expect(first.json.source).toBe('play');
  await settled(p.purchaseToken);
  return { p, first };
}

describe('answered from Firestore, no Play call', () => {
  it.each([
    ['a non-consumable', { type: 'product', productId: 'remove_ads' }, 'remove_ads'],
    ['a consumable', { type: 'product', productId: 'coins_100', quantity: 2 }, 'coins_100'],
    ['a subscription far from its expiry', { type: 'subscription', productId: 'premium_monthly' }, 'premium_monthly'],
  ])('%s verified again by its owner', async (_what, input, productId) => {
    const uid = newUid();
    const { p, first } = await owned(uid, input, productId);
    const before = playReads();
    const again = await verify(uid, productId, p.purchaseToken);
    expect(again.status).toBe(200);
    expect(again.json.source).toBe('store');
    expect(playReads()).toBe(before);
    const { source: _a, ...a } = first.json;
    const { source: _b, ...b } = again.json;
    expect(b).toEqual(a);
  });
});

describe('anything else reads Play', () => {
  it('another user: 409, read from Play', async () => {
    const { p } = await owned(newUid(), { type: 'product', productId: 'remove_ads' }, 'remove_ads');
    const before = playReads();
    expect((await verify(newUid(), 'remove_ads', p.purchaseToken)).json.error.code).toBe('purchase_claimed');
    expect(playReads()).toBe(before + 1);
  });

  it('a subscription within the margin of its expiry', async () => {
    const uid = newUid();
    const { p } = await owned(uid, { type: 'subscription', productId: 'premium_monthly', periodMs: 30 * MINUTE }, 'premium_monthly');
    expect((await verify(uid, 'premium_monthly', p.purchaseToken)).json.source).toBe('play');
  });

  it('a purchase revoked while stored: the void notification makes the next verify read Play (410)', async () => {
    const uid = newUid();
    const { p } = await owned(uid, { type: 'product', productId: 'remove_ads' }, 'remove_ads');
    await s.sim.transition(p.purchaseToken, 'refund', { revoke: true });
    await s.eventually(async () => (await purchase(p.purchaseToken))?.revoked === true || undefined);
    const res = await verify(uid, 'remove_ads', p.purchaseToken);
    expect(res.status).toBe(410);
  });

  it('a subscription on hold while stored: not trusted, Play says on_hold', async () => {
    const uid = newUid();
    const { p } = await owned(uid, { type: 'subscription', productId: 'premium_monthly' }, 'premium_monthly');
    await s.sim.transition(p.purchaseToken, 'hold');
    await s.eventually(async () => (await purchase(p.purchaseToken))?.state === 'on_hold' || undefined);
    const res = await verify(uid, 'premium_monthly', p.purchaseToken);
    expect(res.json).toMatchObject({ source: 'play', purchase: { state: 'on_hold', active: false } });
  });

  it('a subscription expired while stored: the next verify reads Play and grants nothing', async () => {
    const uid = newUid();
    const { p } = await owned(uid, { type: 'subscription', productId: 'premium_monthly' }, 'premium_monthly');
    await s.sim.transition(p.purchaseToken, 'expire');
    await s.eventually(async () => (await purchase(p.purchaseToken))?.state === 'expired' || undefined);
    const before = playReads();
    const res = await verify(uid, 'premium_monthly', p.purchaseToken);
    expect(res.json).toMatchObject({ source: 'play', purchase: { state: 'expired', active: false } });
    expect(res.json.entitlements.premium?.active ?? false).toBe(false);
    expect(playReads()).toBe(before + 1);
  });

  it('a subscription renewed while stored: the stored answer has the renewed expiry', async () => {
    const uid = newUid();
    const { p, first } = await owned(uid, { type: 'subscription', productId: 'premium_monthly' }, 'premium_monthly');
    await s.sim.transition(p.purchaseToken, 'renew');
    await s.eventually(async () => ((await purchase(p.purchaseToken))?.expiresAt.toMillis() ?? 0) > Date.parse(first.json.purchase.expiresAt) || undefined);
    const res = await verify(uid, 'premium_monthly', p.purchaseToken);
    expect(res.json.source).toBe('store');
    const atPlay = s.sim.get(p.purchaseToken)!.resource as { lineItems: { expiryTime: string }[] };
    expect(Date.parse(res.json.purchase.expiresAt)).toBe(Date.parse(atPlay.lineItems[0]!.expiryTime));
  });

  // last in this file: it leaves acknowledge failing
  it('a purchase not finished at Play (acknowledge failing) reads Play every time', async () => {
    const uid = newUid();
    const p = await buy({ type: 'product', productId: 'remove_ads' });
    s.sim.injectFaults({ count: 1000, pathContains: ':acknowledge', status: 503 } as never);
    expect((await verify(uid, 'remove_ads', p.purchaseToken)).json.purchase.acknowledged).toBe(false);
    await settled(p.purchaseToken);
    const before = playReads();
    const res = await verify(uid, 'remove_ads', p.purchaseToken);
    expect(res.json).toMatchObject({ source: 'play', purchase: { acknowledged: false } });
    expect(playReads()).toBe(before + 1);
    expect(await purchase(p.purchaseToken)).toMatchObject({ needsFinish: true });
  });
});
