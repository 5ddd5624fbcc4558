import { createHash, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PACKAGE, startFunctionsStack, type FunctionsStack } from '../helpers/verify-stack';

/**
 * The Play paths real apps hit beyond the plain lifecycle, each played by the Play simulator as Play
 * plays it and checked end to end: simulator -> Pub/Sub emulator -> playRtdn and HTTP verifyPurchase
 * -> Firestore emulator, asserting end states in Firestore and at the simulator.
 */
let s: FunctionsStack;
beforeAll(async () => {
  // every verification here is about what a Play read does: stored-state answers are tested in restore.test.ts
  s = await startFunctionsStack({ rtdn: true, env: { PLAY_MAX_ATTEMPTS: '2', PLAY_TRUST_STORED_STATE: 'false' } });
});
afterAll(async () => {
  await s?.close();
});

const DAY = 86_400_000;
const sha256 = (x: string) => createHash('sha256').update(x).digest('hex');
let seq = 0;
const newUid = () => `paths-user-${process.pid}-${++seq}`;
const ent = async (uid: string, id: string) => (await s.db.doc(`users/${uid}/entitlements/${id}`).get()).data();
const purchase = async (token: string) => (await s.db.doc(`purchases/${sha256(token)}`).get()).data();
const balances = async (uid: string) => (await s.db.doc(`users/${uid}`).get()).data()?.balances;
const verify = (uid: string, productId: string, purchaseToken: string) => s.post({ packageName: PACKAGE, productId, purchaseToken }, { uid });
const buy = (input: Record<string, unknown>) => s.sim.createPurchase({ packageName: PACKAGE, ...input } as never);
const deadLetterCount = async () => (await s.db.collection('deadLetters').count().get()).data().count;
const subNotification = (token: string, notificationType: number) => ({
  version: '1.0',
  packageName: PACKAGE,
  eventTimeMillis: String(Date.now()),
  subscriptionNotification: { version: '1.0', notificationType, purchaseToken: token },
});
/** Waits until every notification the simulator sent so far has been applied (an event per message). */
async function settled(token: string, count: number) {
  await s.sim.idle();
  await s.eventually(async () => (await s.db.collection('events').where('purchaseId', '==', sha256(token)).count().get()).data().count >= count);
}

async function ownedSubscription(uid: string, input: Record<string, unknown> = {}) {
  const p = await buy({ type: 'subscription', productId: 'premium_monthly', ...input });
  const res = await verify(uid, 'premium_monthly', p.purchaseToken);
  expect(res.status).toBe(200);
  return p;
}

describe('1. a canceled pending plan change', () => {
  it('leaves the subscription the user still pays for granted, also after it renews', async () => {
    const uid = newUid();
    const old = await ownedSubscription(uid);
    const change = await buy({ type: 'subscription', productId: 'premium_yearly', linkedPurchaseToken: old.purchaseToken, pending: true });
    await s.sim.transition(change.purchaseToken, 'cancelPending');
    await s.eventually(async () => (await purchase(change.purchaseToken))?.state === 'pending_purchase_canceled');
    expect(s.sim.get(change.purchaseToken)?.resource).toMatchObject({ linkedPurchaseToken: old.purchaseToken });

    expect(await purchase(old.purchaseToken)).toMatchObject({ supersededBy: null, active: true, uid });
    const before = await ent(uid, 'premium');
    expect(before).toMatchObject({ active: true, state: 'active', purchaseId: sha256(old.purchaseToken) });

    await s.sim.transition(old.purchaseToken, 'renew');
    const renewed = await s.eventually(async () => {
      const e = await ent(uid, 'premium');
      return e && e.expiresAt.toMillis() > before!.expiresAt.toMillis() ? e : undefined;
    });
    expect(renewed).toMatchObject({ active: true, state: 'active' });
    expect((await verify(uid, 'premium_yearly', change.purchaseToken)).json.error.code).toBe('purchase_canceled');
    expect((await verify(uid, 'premium_monthly', old.purchaseToken)).json.purchase).toMatchObject({ active: true, state: 'active' });
  });
});

describe('2. failure policy: what may succeed later is redelivered, never dead-lettered', () => {
  it.each([
    [401, 1],
    [403, 1],
    [409, 2], // concurrentUpdate is retried within the delivery (PLAY_MAX_ATTEMPTS 2)
  ])('Play %i: playRtdn throws, and the redelivery applies it once Play answers', async (status, perDelivery) => {
    const uid = newUid();
    const p = await ownedSubscription(uid);
    await settled(p.purchaseToken, 1);
    const letters = await deadLetterCount();
    s.sim.injectFaults({ count: 2 * perDelivery, pathContains: 'subscriptionsv2', status } as never);
    await s.sim.transition(p.purchaseToken, 'hold');
    // the Pub/Sub emulator redelivers the failing message until Play answers
    const e = await s.eventually(async () => {
      const x = await ent(uid, 'premium');
      return x?.state === 'on_hold' ? x : undefined;
    });
    expect(e.active).toBe(false);
    expect(s.sim.stats().faultsServed).toBeGreaterThanOrEqual(2 * perDelivery);
    expect(await deadLetterCount()).toBe(letters);
  });

  it('a direct delivery during a 403 answers 500 (nack) and the same message later answers 204, applied once', async () => {
    const uid = newUid();
    const p = await ownedSubscription(uid);
    await settled(p.purchaseToken, 1);
    const letters = await deadLetterCount();
    const messageId = randomUUID();
    s.sim.injectFaults({ count: 1, pathContains: 'subscriptionsv2', status: 403 } as never);
    expect(await s.pushRtdn(subNotification(p.purchaseToken, 2), messageId)).toBe(500);
    expect((await s.db.doc(`events/rtdn:${messageId}`).get()).exists).toBe(false);
    expect(await s.pushRtdn(subNotification(p.purchaseToken, 2), messageId)).toBe(204);
    expect((await s.db.doc(`events/rtdn:${messageId}`).get()).data()).toMatchObject({ applied: true });
    expect(await deadLetterCount()).toBe(letters);
  });

  it('verify answers 503 upstream_unavailable with Retry-After when Play refuses our credentials', async () => {
    const uid = newUid();
    const p = await buy({ type: 'product', productId: 'remove_ads' });
    s.sim.injectFaults({ count: 1, pathContains: 'productsv2', status: 403 } as never);
    const res = await verify(uid, 'remove_ads', p.purchaseToken);
    expect(res.status).toBe(503);
    expect(res.json.error.code).toBe('upstream_unavailable');
    expect(res.headers.get('retry-after')).toBeTruthy();
    expect(await purchase(p.purchaseToken)).toBeUndefined();
  });

  it('a Play answer that fails our schema is redelivered, not dead-lettered', async () => {
    const uid = newUid();
    const p = await ownedSubscription(uid);
    await settled(p.purchaseToken, 1);
    const letters = await deadLetterCount();
    s.sim.injectFaults({ count: 2, pathContains: 'subscriptionsv2', mode: 'malformed', body: { lineItems: 'not a list' } } as never);
    const messageId = randomUUID();
    expect(await s.pushRtdn(subNotification(p.purchaseToken, 2), messageId)).toBe(500);
    expect(await deadLetterCount()).toBe(letters);
    expect((await verify(uid, 'premium_monthly', p.purchaseToken)).status).toBe(503);
    expect(await s.pushRtdn(subNotification(p.purchaseToken, 2), messageId)).toBe(204);
  });
});

describe('3. voids are per order', () => {
  it('a chargeback of a past renewal order keeps the subscription Play still reports active; later renewals grant', async () => {
    const uid = newUid();
    const p = await ownedSubscription(uid);
    await s.sim.transition(p.purchaseToken, 'renew');
    const renewed = await s.sim.transition(p.purchaseToken, 'renew');
    const pastOrder = renewed.orderIds[1]!;
    await s.sim.transition(p.purchaseToken, 'chargeback', { orderId: pastOrder } as never);
    await s.eventually(async () => ((await purchase(p.purchaseToken))?.voidedOrderIds ?? []).includes(pastOrder));
    expect(await purchase(p.purchaseToken)).toMatchObject({ revoked: false, active: true, state: 'active' });
    const before = await ent(uid, 'premium');
    expect(before).toMatchObject({ active: true, state: 'active' });

    await s.sim.transition(p.purchaseToken, 'renew');
    await s.eventually(async () => ((await ent(uid, 'premium'))?.expiresAt.toMillis() ?? 0) > before!.expiresAt.toMillis());
    expect(await ent(uid, 'premium')).toMatchObject({ active: true, state: 'active' });
  });

  it('a refund without revoke sends no void and leaves access; a revocation ends it (Play reports it revoked)', async () => {
    const uid = newUid();
    const p = await ownedSubscription(uid);
    const sent = s.sim.notifications().length;
    await s.sim.transition(p.purchaseToken, 'refund', { revoke: false });
    await s.sim.idle();
    const after = s.sim.notifications().slice(sent);
    expect(after.filter((n) => typeof n === 'object' && 'voidedPurchaseNotification' in n)).toHaveLength(0);
    expect(await ent(uid, 'premium')).toMatchObject({ active: true });

    await s.sim.transition(p.purchaseToken, 'revoke');
    await s.eventually(async () => (await purchase(p.purchaseToken))?.state === 'expired' || undefined);
    expect(await ent(uid, 'premium')).toMatchObject({ active: false });
  });
});

describe('4. add-ons: every line item grants', () => {
  it('a base plan and an add-on grant both, with their own expiry; any of the productIds verifies the same', async () => {
    const uid = newUid();
    const p = await buy({ type: 'subscription', productId: 'premium_monthly', addOns: [{ productId: 'extra_storage', periodMs: 10 * DAY }] });
    const viaAddOn = await verify(uid, 'extra_storage', p.purchaseToken);
    expect(viaAddOn.status).toBe(200);
    expect(viaAddOn.json.entitlements.premium).toMatchObject({ active: true, productId: 'premium_monthly' });
    expect(viaAddOn.json.entitlements.storage).toMatchObject({ active: true, productId: 'extra_storage' });
    const viaBase = await verify(uid, 'premium_monthly', p.purchaseToken);
    expect(viaBase.json).toEqual(viaAddOn.json);
    const premium = (await ent(uid, 'premium'))!;
    const storage = (await ent(uid, 'storage'))!;
    expect(storage.expiresAt.toMillis()).toBeLessThan(premium.expiresAt.toMillis());
    expect(s.sim.get(p.purchaseToken)?.resource).toMatchObject({ acknowledgementState: 'ACKNOWLEDGEMENT_STATE_ACKNOWLEDGED' });

    // an RTDN keeps both; refunding the add-on alone ends only its entitlement
    await s.sim.transition(p.purchaseToken, 'revoke', { refund: 'item', productId: 'extra_storage' } as never);
    await s.eventually(async () => (await ent(uid, 'storage'))?.active === false || undefined);
    expect(await ent(uid, 'premium')).toMatchObject({ active: true, productId: 'premium_monthly' });
    await s.sim.transition(p.purchaseToken, 'renew');
    await s.eventually(async () => ((await ent(uid, 'premium'))?.expiresAt.toMillis() ?? 0) > premium.expiresAt.toMillis() || undefined);
    expect(await ent(uid, 'storage')).toMatchObject({ active: false });
  });
});

describe('5. out-of-app re-subscribe', () => {
  it('goes to the expired subscription\'s owner, is granted and acknowledged from the RTDN path, and is not refunded', async () => {
    const uid = newUid();
    const old = await ownedSubscription(uid);
    await s.sim.transition(old.purchaseToken, 'expire');
    await s.eventually(async () => (await ent(uid, 'premium'))?.active === false || undefined);

    const resub = await buy({ type: 'subscription', productId: 'premium_monthly', outOfAppExpiredToken: old.purchaseToken });
    await s.eventually(async () => (await purchase(resub.purchaseToken))?.uid === uid || undefined);
    await s.eventually(async () => (await ent(uid, 'premium'))?.active === true || undefined);
    expect((await ent(uid, 'premium'))?.purchaseId).toBe(sha256(resub.purchaseToken));
    await s.eventually(async () => s.sim.get(resub.purchaseToken)?.resource.acknowledgementState === 'ACKNOWLEDGEMENT_STATE_ACKNOWLEDGED');

    // Play's 3-day refund of unacknowledged purchases does not happen
    await s.sim.advanceTime(4 * DAY);
    expect(s.sim.get(resub.purchaseToken)?.resource).toMatchObject({ subscriptionState: 'SUBSCRIPTION_STATE_ACTIVE' });
    expect(s.sim.get(resub.purchaseToken)?.resource).not.toHaveProperty('outOfAppPurchaseContext');
    // another user cannot take it
    expect((await verify(newUid(), 'premium_monthly', resub.purchaseToken)).json.error.code).toBe('purchase_claimed');
  });

  it('an acknowledge that fails on the RTDN path is redelivered and finished', async () => {
    const uid = newUid();
    const old = await ownedSubscription(uid);
    await s.sim.transition(old.purchaseToken, 'expire');
    s.sim.injectFaults({ count: 2, pathContains: ':acknowledge', status: 503 } as never);
    const resub = await buy({ type: 'subscription', productId: 'premium_monthly', outOfAppExpiredToken: old.purchaseToken });
    await s.eventually(async () => s.sim.get(resub.purchaseToken)?.resource.acknowledgementState === 'ACKNOWLEDGEMENT_STATE_ACKNOWLEDGED');
    await s.eventually(async () => (await purchase(resub.purchaseToken))?.syncError === null || undefined);
    expect(await purchase(resub.purchaseToken)).toMatchObject({ uid, acknowledged: true });
  });
});

describe('6. an older Play read never overwrites a newer one', () => {
  it('a verify whose Play read is slow lands after an RTDN that applied ON_HOLD: access stays off', async () => {
    const uid = newUid();
    const p = await ownedSubscription(uid);
    await settled(p.purchaseToken, 1);
    s.sim.injectFaults({ count: 1, pathContains: 'subscriptionsv2', method: 'GET', mode: 'stale', delayMs: 2_000 } as never);
    const slow = verify(uid, 'premium_monthly', p.purchaseToken);
    await new Promise((r) => setTimeout(r, 300)); // the verify's read has arrived (and describes ACTIVE)
    await s.sim.transition(p.purchaseToken, 'hold');
    await s.eventually(async () => (await ent(uid, 'premium'))?.state === 'on_hold' || undefined);
    const res = await slow;
    expect(res.status).toBe(200);
    expect(res.json.purchase).toMatchObject({ state: 'on_hold', active: false });
    expect(await ent(uid, 'premium')).toMatchObject({ state: 'on_hold', active: false });
  });

  it('the same holds for a record nobody owns yet (an RTDN read that started earlier loses to a later one)', async () => {
    const p = await buy({ type: 'subscription', productId: 'premium_monthly' });
    await settled(p.purchaseToken, 1);
    s.sim.injectFaults({ count: 1, pathContains: 'subscriptionsv2', method: 'GET', mode: 'stale', delayMs: 2_000 } as never);
    const slow = s.pushRtdn(subNotification(p.purchaseToken, 2));
    await new Promise((r) => setTimeout(r, 300));
    await s.sim.transition(p.purchaseToken, 'cancel');
    await s.eventually(async () => (await purchase(p.purchaseToken))?.state === 'canceled' || undefined);
    expect(await slow).toBe(204);
    expect(await purchase(p.purchaseToken)).toMatchObject({ state: 'canceled', uid: null });
  });
});

describe('7. the purchase\'s own account id decides its owner', () => {
  it('an RTDN never gives a replacement to the old token\'s owner against its account id; the user it names can verify it', async () => {
    const a = newUid();
    const b = newUid();
    const old = await ownedSubscription(a);
    const upgrade = await buy({
      type: 'subscription',
      productId: 'premium_yearly',
      linkedPurchaseToken: old.purchaseToken,
      obfuscatedExternalAccountId: sha256(b),
    });
    await s.eventually(async () => (await purchase(upgrade.purchaseToken))?.state === 'active' || undefined);
    expect((await purchase(upgrade.purchaseToken))?.uid).toBeNull();
    expect((await verify(a, 'premium_yearly', upgrade.purchaseToken)).json.error.code).toBe('account_mismatch');
    const res = await verify(b, 'premium_yearly', upgrade.purchaseToken);
    expect(res.status).toBe(200);
    expect(res.json.entitlements.premium).toMatchObject({ active: true, productId: 'premium_yearly' });
    expect(await purchase(upgrade.purchaseToken)).toMatchObject({ uid: b, acknowledged: true });
    // Play replaced the old subscription: its owner's access from it ends
    expect(await purchase(old.purchaseToken)).toMatchObject({ uid: a, supersededBy: sha256(upgrade.purchaseToken) });
  });
});

describe('8. one-time products through productsv2', () => {
  it('are read with productsv2 (never the legacy products.get), then acknowledged and consumed with products.*', async () => {
    const uid = newUid();
    s.sim.resetStats();
    const p = await buy({ type: 'product', productId: 'coins_100', quantity: 3 });
    expect((await verify(uid, 'coins_100', p.purchaseToken)).json.balances).toEqual({ coins: 300 });
    await settled(p.purchaseToken, 1); // the purchase's own notification may race the verification
    const calls = s.sim.stats().calls;
    expect(calls['purchases.productsv2.getproductpurchasev2']).toBeGreaterThanOrEqual(1);
    expect(calls['purchases.products.get'] ?? 0).toBe(0);
    expect(calls['purchases.products.consume']).toBeGreaterThanOrEqual(1);
    expect(s.sim.get(p.purchaseToken)?.resourceV2?.productLineItem?.[0]?.productOfferDetails?.consumptionState).toBe('CONSUMPTION_STATE_CONSUMED');
    await s.eventually(async () => (await purchase(p.purchaseToken))?.consumed === true || undefined);
    expect(await purchase(p.purchaseToken)).toMatchObject({ consumed: true, syncError: null });
  });

  it('quantity-based partial refunds take back exactly the refunded share of credits, once each', async () => {
    const uid = newUid();
    const p = await buy({ type: 'product', productId: 'coins_100', quantity: 3 });
    expect((await verify(uid, 'coins_100', p.purchaseToken)).json.balances).toEqual({ coins: 300 });
    await s.sim.transition(p.purchaseToken, 'refund', { quantity: 1, revoke: true } as never);
    await s.eventually(async () => (await balances(uid))?.coins === 200 || undefined);
    expect(await purchase(p.purchaseToken)).toMatchObject({ creditsReversed: { coins: 100 }, revoked: false });
    // a re-read and a repeat verify take nothing more
    expect((await verify(uid, 'coins_100', p.purchaseToken)).json.balances).toEqual({ coins: 200 });
    await s.sim.transition(p.purchaseToken, 'refund', { quantity: 2, revoke: true } as never);
    await s.eventually(async () => (await balances(uid))?.coins === 0 || undefined);
    expect(await purchase(p.purchaseToken)).toMatchObject({ creditsReversed: { coins: 300 }, revoked: true });
  });

  it('a non-consumable bought twice keeps access until nothing refundable is left', async () => {
    const uid = newUid();
    const p = await buy({ type: 'product', productId: 'sticker_pack', quantity: 2 });
    expect((await verify(uid, 'sticker_pack', p.purchaseToken)).status).toBe(200);
    await s.sim.transition(p.purchaseToken, 'refund', { quantity: 1, revoke: true } as never);
    await s.eventually(async () => ((await purchase(p.purchaseToken))?.revokedUnits?.sticker_pack ?? 0) === 1 || undefined);
    expect(await ent(uid, 'stickers')).toMatchObject({ active: true });
    await s.sim.transition(p.purchaseToken, 'refund', { quantity: 1, revoke: true } as never);
    await s.eventually(async () => (await ent(uid, 'stickers'))?.active === false || undefined);
    expect(await ent(uid, 'stickers')).toMatchObject({ state: 'revoked' });
  });

  it('a rental grants for its catalog duration, never for life', async () => {
    const uid = newUid();
    const p = await buy({ type: 'product', productId: 'movie_rental', rental: true });
    const res = await verify(uid, 'movie_rental', p.purchaseToken);
    expect(res.status).toBe(200);
    const completed = Date.parse(s.sim.get(p.purchaseToken)!.resourceV2!.purchaseCompletionTime!);
    expect(Date.parse(res.json.entitlements.movie.expiresAt)).toBe(completed + 2 * DAY);
    expect(res.json.entitlements.movie.active).toBe(true);
    expect((await ent(uid, 'movie'))?.expiresAt.toMillis()).toBe(completed + 2 * DAY);
  });

  it('a multi-product purchase notified without sku is read through productsv2 and grants every product', async () => {
    const p = await buy({ type: 'product', productId: 'coins_100', extraProducts: [{ productId: 'remove_ads' }] });
    await s.sim.idle();
    const sent = s.sim.notifications().find(
      (n) => typeof n === 'object' && (n as any).oneTimeProductNotification?.purchaseToken === p.purchaseToken,
    ) as any;
    expect(sent.oneTimeProductNotification).not.toHaveProperty('sku');
    await s.eventually(async () => (await purchase(p.purchaseToken))?.state === 'purchased' || undefined);
    expect((await purchase(p.purchaseToken))?.items.map((i: { productId: string }) => i.productId)).toEqual(['coins_100', 'remove_ads']);
    const uid = newUid();
    const res = await verify(uid, 'remove_ads', p.purchaseToken);
    expect(res.status).toBe(200);
    expect(res.json.balances).toEqual({ coins: 100 });
    expect(res.json.entitlements.no_ads).toMatchObject({ active: true });
  });
});

describe('9. a refund seen on a re-read', () => {
  it('an owned consumable refunded at Play loses its credits exactly once, whichever path sees it first', async () => {
    const uid = newUid();
    const p = await buy({ type: 'product', productId: 'coins_100' });
    expect((await verify(uid, 'coins_100', p.purchaseToken)).json.balances).toEqual({ coins: 100 });
    await s.sim.transition(p.purchaseToken, 'refund', { revoke: true });
    const [res] = await Promise.all([verify(uid, 'coins_100', p.purchaseToken), s.sim.idle()]);
    expect(res.status).toBe(410);
    await settled(p.purchaseToken, 2);
    expect(await balances(uid)).toEqual({ coins: 0 });
    expect(await purchase(p.purchaseToken)).toMatchObject({ revoked: true, creditsReversed: { coins: 100 } });
  });
});

describe('10. pending refund reviews', () => {
  it('are recorded once per notification, however often it is delivered', async () => {
    const orderId = `GPA.${randomUUID()}`;
    const review = {
      version: '1.0',
      packageName: PACKAGE,
      eventTimeMillis: String(Date.now()),
      pendingRefundReviewNotification: { version: '1.0', pendingRefundToken: `prt-${randomUUID()}`, orderId },
    };
    const messageId = randomUUID();
    for (let i = 0; i < 3; i++) expect(await s.pushRtdn(review, messageId)).toBe(204);
    expect(await s.pushRtdn(review)).toBe(204); // republished under another message id
    const notices = await s.db.collection('adminNotices').where('detail.orderId', '==', orderId).get();
    expect(notices.size).toBe(1);
    expect(JSON.stringify(notices.docs[0]!.data())).not.toContain(review.pendingRefundReviewNotification.pendingRefundToken);
  });
});
