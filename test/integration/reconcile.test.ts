import { createHash, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PACKAGE, startFunctionsStack, type FunctionsStack } from '../helpers/verify-stack';

/**
 * reconcilePurchases through the real parts: the Play simulator (whose notifications reach nobody here,
 * as if lost), the Firestore emulator, and the function served by the functions framework, invoked with
 * a Pub/Sub CloudEvent as Cloud Scheduler's message arrives.
 */
let s: FunctionsStack;
beforeAll(async () => {
  s = await startFunctionsStack({ reconcile: true, serveRtdn: true, env: { PLAY_MAX_ATTEMPTS: '2' } });
});
afterAll(async () => {
  await s?.close();
});

const sha256 = (x: string) => createHash('sha256').update(x).digest('hex');
let seq = 0;
const newUid = () => `reconcile-user-${process.pid}-${++seq}`;
const ent = async (uid: string, id: string) => (await s.db.doc(`users/${uid}/entitlements/${id}`).get()).data();
const purchase = async (token: string) => (await s.db.doc(`purchases/${sha256(token)}`).get()).data();
const balances = async (uid: string) => (await s.db.doc(`users/${uid}`).get()).data()?.balances;
const verify = (uid: string, productId: string, purchaseToken: string) => s.post({ packageName: PACKAGE, productId, purchaseToken }, { uid });
const buy = (input: Record<string, unknown>) => s.sim.createPurchase({ packageName: PACKAGE, ...input } as never);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function run() {
  const { status, run } = await s.runReconcile();
  expect(status).toBe(204);
  expect(run).toMatchObject({ status: 'completed' });
  return run!;
}

describe('voided purchases nobody announced (a Console refund whose RTDN was lost)', () => {
  it('a non-consumable loses access and a consumable its credits, once; a second run and the late RTDN change nothing', async () => {
    const uid = newUid();
    const ads = await buy({ type: 'product', productId: 'remove_ads' });
    const coins = await buy({ type: 'product', productId: 'coins_100', quantity: 2 });
    expect((await verify(uid, 'remove_ads', ads.purchaseToken)).status).toBe(200);
    expect((await verify(uid, 'coins_100', coins.purchaseToken)).json.balances).toEqual({ coins: 200 });
    await s.sim.transition(ads.purchaseToken, 'refund', { revoke: true });
    await s.sim.transition(coins.purchaseToken, 'refund', { revoke: true });

    const first = await run();
    expect(first.counts[`voided:${PACKAGE}`]).toMatchObject({ applied: 2, failed: 0, done: true });
    expect(await ent(uid, 'no_ads')).toMatchObject({ active: false, state: 'revoked' });
    expect(await balances(uid)).toEqual({ coins: 0 });
    expect(first.changed).toEqual(expect.arrayContaining([sha256(ads.purchaseToken), sha256(coins.purchaseToken)]));

    const second = await run();
    expect(second.counts[`voided:${PACKAGE}`]).toMatchObject({ applied: 0 });
    expect(await balances(uid)).toEqual({ coins: 0 });

    // the notification Play sent arrives after all: nothing more is taken back
    const late = s.sim.notifications().find((n) => (n as any).voidedPurchaseNotification?.purchaseToken === coins.purchaseToken);
    expect(await s.pushRtdn(late)).toBe(204);
    expect(await balances(uid)).toEqual({ coins: 0 });
    expect(await purchase(coins.purchaseToken)).toMatchObject({ revoked: true, creditsReversed: { coins: 200 } });
  });

  it('a quantity-based partial refund takes back exactly the refunded units', async () => {
    const uid = newUid();
    const p = await buy({ type: 'product', productId: 'coins_100', quantity: 3 });
    expect((await verify(uid, 'coins_100', p.purchaseToken)).json.balances).toEqual({ coins: 300 });
    await s.sim.transition(p.purchaseToken, 'refund', { quantity: 1, revoke: true } as never);
    await run();
    expect(await balances(uid)).toEqual({ coins: 200 });
    await run();
    expect(await balances(uid)).toEqual({ coins: 200 });
    expect(await purchase(p.purchaseToken)).toMatchObject({ revoked: false, revokedUnits: { coins_100: 1 } });
  });

  it('a void of a token nobody verified is recorded unowned, and applies when its owner verifies', async () => {
    const p = await buy({ type: 'product', productId: 'coins_100' });
    await s.sim.transition(p.purchaseToken, 'refund', { revoke: true });
    await run();
    expect(await purchase(p.purchaseToken)).toMatchObject({ uid: null, revoked: true });
    const uid = newUid();
    expect((await verify(uid, 'coins_100', p.purchaseToken)).status).toBe(410);
    expect((await balances(uid)) ?? {}).toEqual({});
  });
});

describe('subscriptions past their stored expiry', () => {
  it('a renewal nobody announced extends access; an expiry nobody announced ends it', async () => {
    const uid = newUid();
    const renewing = await buy({ type: 'subscription', productId: 'premium_monthly', periodMs: 3_000 });
    expect((await verify(uid, 'premium_monthly', renewing.purchaseToken)).status).toBe(200);
    const before = (await purchase(renewing.purchaseToken))!.expiresAt.toMillis();
    const other = newUid();
    const ending = await buy({ type: 'subscription', productId: 'premium_yearly', periodMs: 3_000 });
    expect((await verify(other, 'premium_yearly', ending.purchaseToken)).status).toBe(200);
    await s.sim.transition(ending.purchaseToken, 'cancel');
    await sleep(3_500);

    const r = await run();
    expect(r.counts.lapsed!.applied).toBeGreaterThanOrEqual(2);
    const renewed = await purchase(renewing.purchaseToken);
    expect(renewed).toMatchObject({ active: true, state: 'active' });
    expect(renewed!.expiresAt.toMillis()).toBeGreaterThan(before);
    expect(await ent(uid, 'premium')).toMatchObject({ active: true });
    expect(await purchase(ending.purchaseToken)).toMatchObject({ active: false, state: 'expired' });
    expect(await ent(other, 'premium')).toMatchObject({ active: false, state: 'expired' });
    // a 3-second plan would lapse again every 3 seconds: end it so later runs have nothing to do
    await s.sim.transition(renewing.purchaseToken, 'revoke');
    await sleep(10);
    await run();
    expect(await purchase(renewing.purchaseToken)).toMatchObject({ active: false });
  });
});

describe('unfinished purchases and dead letters', () => {
  it('an acknowledge that failed at verify is finished by the sweep', async () => {
    const uid = newUid();
    const p = await buy({ type: 'product', productId: 'remove_ads' });
    s.sim.injectFaults({ count: 2, pathContains: ':acknowledge', status: 503 } as never);
    const res = await verify(uid, 'remove_ads', p.purchaseToken);
    expect(res.json.purchase.acknowledged).toBe(false);
    expect(await purchase(p.purchaseToken)).toMatchObject({ needsFinish: true });
    const r = await run();
    expect(r.counts.unfinished!.applied).toBeGreaterThanOrEqual(1);
    expect(s.sim.get(p.purchaseToken)?.resource).toMatchObject({ acknowledgementState: 1 });
    expect(await purchase(p.purchaseToken)).toMatchObject({ needsFinish: false, acknowledged: true, syncError: null });
  });

  it('a dead letter recorded while Play did not know the token is replayed, applied and resolved', async () => {
    const p = await buy({ type: 'product', productId: 'remove_ads' });
    s.sim.injectFaults({ count: 1, pathContains: 'productsv2', status: 404 } as never);
    const notification = {
      version: '1.0',
      packageName: PACKAGE,
      eventTimeMillis: String(Date.now()),
      oneTimeProductNotification: { version: '1.0', notificationType: 1, purchaseToken: p.purchaseToken, sku: 'remove_ads' },
    };
    const messageId = randomUUID();
    expect(await s.pushRtdn(notification, messageId)).toBe(204);
    const letters = await s.db.collection('deadLetters').where('messageId', '==', messageId).get();
    expect(letters.docs[0]!.data()).toMatchObject({ replayable: true });
    expect(JSON.stringify(letters.docs[0]!.data())).not.toContain(p.purchaseToken);

    const r = await run();
    expect(r.counts.deadLetters!.applied).toBeGreaterThanOrEqual(1);
    expect(await purchase(p.purchaseToken)).toMatchObject({ state: 'purchased', uid: null });
    expect((await letters.docs[0]!.ref.get()).data()).toMatchObject({ replayable: false, lastReplay: { result: 'applied' } });
    expect((await s.db.doc(`events/rtdn:${messageId}`).get()).exists).toBe(true);
  });
});

describe('runs', () => {
  it('two runs at once: one works, the other is skipped; nothing is doubled', async () => {
    const uid = newUid();
    const p = await buy({ type: 'product', productId: 'coins_100' });
    expect((await verify(uid, 'coins_100', p.purchaseToken)).json.balances).toEqual({ coins: 100 });
    await s.sim.transition(p.purchaseToken, 'refund', { revoke: true });
    // the first run is still listing voided purchases (a slow Play) when the second one starts
    s.sim.injectFaults({ count: 1, pathContains: 'voidedpurchases', mode: 'delay', delayMs: 1_500 } as never);
    const first = s.runReconcile();
    await sleep(500);
    const second = await s.runReconcile();
    expect(second).toMatchObject({ status: 204, run: { status: 'skipped' } });
    expect(await first).toMatchObject({ status: 204, run: { status: 'completed' } });
    expect(await balances(uid)).toEqual({ coins: 0 });
  });

  it('a run where nothing changed costs one voided-purchases page per package and reads no purchase', async () => {
    await run(); // catch up with what earlier tests left
    s.sim.resetStats();
    const r = await run();
    expect(s.sim.stats().calls).toEqual({ 'purchases.voidedpurchases.list': 2 });
    expect(r.playCalls).toBe(2);
    for (const c of Object.values(r.counts) as { examined: number; applied: number }[]) expect(c.applied).toBe(0);
  });

  it('Play answering 403 on voidedpurchases.list is reported with what to grant; the other steps still run', async () => {
    const uid = newUid();
    const p = await buy({ type: 'product', productId: 'remove_ads' });
    s.sim.injectFaults({ count: 2, pathContains: ':acknowledge', status: 503 } as never);
    expect((await verify(uid, 'remove_ads', p.purchaseToken)).json.purchase.acknowledged).toBe(false);
    s.sim.injectFaults({ count: 2, pathContains: 'voidedpurchases', status: 403 } as never);
    const r = await run();
    expect(r.counts[`voided:${PACKAGE}`]).toMatchObject({ done: false });
    expect(r.counts[`voided:${PACKAGE}`]!.errors.join(' ')).toMatch(/View financial data/);
    expect(r.errors.join(' ')).toMatch(/View financial data/);
    expect(r.counts.unfinished!.applied).toBeGreaterThanOrEqual(1);
    expect(await purchase(p.purchaseToken)).toMatchObject({ acknowledged: true, needsFinish: false });
  });

  it('ignores message data other than {} with a warning, and records every run', async () => {
    const { status, run: r } = await s.runReconcile(randomUUID(), '{"please":"sweep everything"}');
    expect(status).toBe(204);
    expect(r).toMatchObject({ status: 'completed', errors: [] });
    expect(r!.startedAt.toMillis()).toBeLessThanOrEqual(r!.finishedAt.toMillis());
  });
});
