import { createHash, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PACKAGE, startFunctionsStack, type FunctionsStack } from '../helpers/verify-stack';

/**
 * playRtdn through the real parts: the Play simulator publishes each lifecycle change to a Pub/Sub
 * emulator topic, whose push subscription delivers it to playRtdn (functions framework on
 * 127.0.0.1), which re-reads Play and writes the Firestore emulator.
 */
let s: FunctionsStack;
beforeAll(async () => {
  s = await startFunctionsStack({ rtdn: true, env: { PLAY_MAX_ATTEMPTS: '2' } });
});
afterAll(async () => {
  await s?.close();
});

const sha256 = (x: string) => createHash('sha256').update(x).digest('hex');
let seq = 0;
const newUid = () => `rtdn-user-${process.pid}-${++seq}`;
const ent = async (uid: string, id: string) => (await s.db.doc(`users/${uid}/entitlements/${id}`).get()).data();
const purchase = async (token: string) => (await s.db.doc(`purchases/${sha256(token)}`).get()).data();
const verify = (uid: string, productId: string, purchaseToken: string) =>
  s.post({ packageName: PACKAGE, productId, purchaseToken }, { uid });

const push = (notification: unknown, messageId?: string) => s.pushRtdn(notification, messageId);
const subNotification = (token: string, notificationType: number) => ({
  version: '1.0',
  packageName: PACKAGE,
  eventTimeMillis: String(Date.now()),
  subscriptionNotification: { version: '1.0', notificationType, purchaseToken: token },
});
const deadLetters = async () => (await s.db.collection('deadLetters').get()).docs.map((d) => d.data());

async function subscriptionOwnedBy(uid: string) {
  const p = await s.sim.createPurchase({ type: 'subscription', productId: 'premium_monthly', packageName: PACKAGE } as never);
  expect((await verify(uid, 'premium_monthly', p.purchaseToken)).status).toBe(200);
  return p;
}
const entitlementIs = (uid: string, state: string, active: boolean) =>
  s.eventually(async () => {
    const e = await ent(uid, 'premium');
    return e?.state === state && e.active === active ? e : undefined;
  });

describe('subscription lifecycle through RTDN', () => {
  it('renew, grace, hold, recover, pause, resume, cancel, restart, expire each end in the right entitlement', async () => {
    const uid = newUid();
    const p = await subscriptionOwnedBy(uid);
    const first = await ent(uid, 'premium');
    await s.sim.transition(p.purchaseToken, 'renew');
    const renewed = await s.eventually(async () => {
      const e = await ent(uid, 'premium');
      return e && e.expiresAt.toMillis() > first!.expiresAt.toMillis() ? e : undefined;
    });
    expect(renewed.active).toBe(true);

    const steps: [string, string, boolean][] = [
      ['grace', 'in_grace_period', true],
      ['hold', 'on_hold', false],
      ['recover', 'active', true],
      ['pause', 'paused', false],
      ['resume', 'active', true],
      ['cancel', 'canceled', true],
      ['restart', 'active', true],
      ['expire', 'expired', false],
    ];
    for (const [transition, state, active] of steps) {
      await s.sim.transition(p.purchaseToken, transition as never);
      await entitlementIs(uid, state, active);
    }
    expect((await purchase(p.purchaseToken))?.uid).toBe(uid);
  });

  it('a revoke ends access at once', async () => {
    const uid = newUid();
    const p = await subscriptionOwnedBy(uid);
    await s.sim.transition(p.purchaseToken, 'revoke', { refund: 'full' });
    const e = await s.eventually(async () => {
      const x = await ent(uid, 'premium');
      return x && !x.active ? x : undefined;
    });
    expect(['expired', 'revoked']).toContain(e.state);
  });

  it('deferral moves the expiry', async () => {
    const uid = newUid();
    const p = await subscriptionOwnedBy(uid);
    const before = (await ent(uid, 'premium'))!.expiresAt.toMillis();
    await s.sim.transition(p.purchaseToken, 'defer', { durationMs: 7 * 86_400_000 });
    await s.eventually(async () => ((await ent(uid, 'premium'))?.expiresAt.toMillis() ?? 0) >= before + 7 * 86_400_000);
  });

  it('an upgrade notified before any verify moves the entitlement to the new plan for the same owner', async () => {
    const uid = newUid();
    const old = await subscriptionOwnedBy(uid);
    const upgrade = await s.sim.createPurchase({
      type: 'subscription',
      productId: 'premium_yearly',
      packageName: PACKAGE,
      linkedPurchaseToken: old.purchaseToken,
    } as never);
    const e = await s.eventually(async () => {
      const x = await ent(uid, 'premium');
      return x?.productId === 'premium_yearly' && x.active ? x : undefined;
    });
    expect(e.purchaseId).toBe(sha256(upgrade.purchaseToken));
    expect((await purchase(old.purchaseToken))?.supersededBy).toBe(sha256(upgrade.purchaseToken));
    expect((await purchase(upgrade.purchaseToken))?.uid).toBe(uid);
  });

  it('types without a simulated transition (11, 17, 18, 19, 22 and unknown ones) re-read Play and apply generically', async () => {
    const uid = newUid();
    const p = await subscriptionOwnedBy(uid);
    for (const type of [11, 17, 18, 19, 22, 99]) expect(await push(subNotification(p.purchaseToken, type))).toBe(204);
    const events = await s.db.collection('events').where('purchaseId', '==', sha256(p.purchaseToken)).get();
    const types = events.docs.map((d) => d.data().type);
    for (const type of [11, 17, 18, 19, 22, 99]) expect(types).toContain(`subscription:${type}`);
    expect((await ent(uid, 'premium'))?.active).toBe(true);
  });
});

describe('notifications before verification', () => {
  it('a purchase notified before anyone verified it is stored unowned, then granted when the owner verifies', async () => {
    const p = await s.sim.createPurchase({ type: 'subscription', productId: 'premium_monthly', packageName: PACKAGE } as never);
    const stored = await s.eventually(() => purchase(p.purchaseToken));
    expect(stored).toMatchObject({ uid: null, state: 'active' });
    const uid = newUid();
    expect((await verify(uid, 'premium_monthly', p.purchaseToken)).status).toBe(200);
    expect(await ent(uid, 'premium')).toMatchObject({ active: true, state: 'active' });
  });

  it('one-time products: pending, then completed, then verified; consumables are credited at claim', async () => {
    const p = await s.sim.createPurchase({ type: 'product', productId: 'coins_100', packageName: PACKAGE, pending: true } as never);
    await s.sim.transition(p.purchaseToken, 'complete');
    await s.eventually(async () => (await purchase(p.purchaseToken))?.state === 'purchased');
    expect((await purchase(p.purchaseToken))?.credited).toBeNull();
    const uid = newUid();
    const res = await verify(uid, 'coins_100', p.purchaseToken);
    expect(res.json.balances).toEqual({ coins: 100 });
  });

  it('a canceled pending one-time purchase is recorded canceled', async () => {
    const p = await s.sim.createPurchase({ type: 'product', productId: 'remove_ads', packageName: PACKAGE, pending: true } as never);
    await s.sim.transition(p.purchaseToken, 'cancelPending');
    await s.eventually(async () => (await purchase(p.purchaseToken))?.state === 'canceled');
  });

  it('a canceled pending subscription (type 20) is recorded', async () => {
    const p = await s.sim.createPurchase({ type: 'subscription', productId: 'premium_monthly', packageName: PACKAGE, pending: true } as never);
    await s.sim.transition(p.purchaseToken, 'cancelPending');
    await s.eventually(async () => (await purchase(p.purchaseToken))?.state === 'pending_purchase_canceled');
  });
});

describe('voided purchases', () => {
  it('a refunded consumable is revoked and its credits taken back (the balance may go negative)', async () => {
    const uid = newUid();
    const p = await s.sim.createPurchase({ type: 'product', productId: 'coins_100', packageName: PACKAGE, quantity: 2 } as never);
    expect((await verify(uid, 'coins_100', p.purchaseToken)).json.balances).toEqual({ coins: 200 });
    await s.db.doc(`users/${uid}`).set({ balances: { coins: 50 } }, { merge: true }); // the user spent 150
    await s.sim.transition(p.purchaseToken, 'refund', { revoke: true });
    await s.eventually(async () => (await s.db.doc(`users/${uid}`).get()).data()?.balances.coins === -150);
    expect(await purchase(p.purchaseToken)).toMatchObject({ revoked: true, creditsReversed: { coins: 200 } });
  });

  it('a refunded non-consumable loses its entitlement at once', async () => {
    const uid = newUid();
    const p = await s.sim.createPurchase({ type: 'product', productId: 'remove_ads', packageName: PACKAGE } as never);
    expect((await verify(uid, 'remove_ads', p.purchaseToken)).status).toBe(200);
    await s.sim.transition(p.purchaseToken, 'refund', { revoke: true });
    await s.eventually(async () => {
      const e = await ent(uid, 'no_ads');
      return e?.active === false && e.state === 'revoked';
    });
  });

  it('a void for a token never seen is recorded revoked, so it can never be claimed for access', async () => {
    const token = `never-seen-${randomUUID()}`;
    expect(
      await push({ version: '1.0', packageName: PACKAGE, eventTimeMillis: '1', voidedPurchaseNotification: { purchaseToken: token, orderId: 'GPA.1', productType: 2, refundType: 1 } }),
    ).toBe(204);
    expect(await purchase(token)).toMatchObject({ revoked: true, uid: null });
  });
});

describe('delivery: duplicates, order, poison, faults', () => {
  it('the same message delivered 10 times takes effect once', async () => {
    const uid = newUid();
    const p = await s.sim.createPurchase({ type: 'product', productId: 'coins_100', packageName: PACKAGE } as never);
    expect((await verify(uid, 'coins_100', p.purchaseToken)).status).toBe(200);
    // the purchase's own notification (through Pub/Sub) lands first, so it cannot race the void below
    await s.eventually(async () => (await s.db.collection('events').where('purchaseId', '==', sha256(p.purchaseToken)).count().get()).data().count >= 1 || undefined);
    const void1 = {
      version: '1.0',
      packageName: PACKAGE,
      eventTimeMillis: String(Date.now()),
      voidedPurchaseNotification: { purchaseToken: p.purchaseToken, orderId: p.orderId, productType: 2, refundType: 1 },
    };
    const messageId = randomUUID();
    for (let i = 0; i < 10; i++) expect(await push(void1, messageId)).toBe(204);
    expect((await s.db.doc(`users/${uid}`).get()).data()?.balances).toEqual({ coins: 0 });
    expect((await s.db.doc(`events/rtdn:${messageId}`).get()).exists).toBe(true);
    // a second, different message for the same void changes nothing more either
    expect(await push(void1)).toBe(204);
    expect((await s.db.doc(`users/${uid}`).get()).data()?.balances).toEqual({ coins: 0 });
  });

  it('a burst delivered in reverse order ends in the same state as in order', async () => {
    const uid = newUid();
    const p = await subscriptionOwnedBy(uid);
    for (const t of ['grace', 'hold', 'recover', 'cancel']) await s.sim.transition(p.purchaseToken, t as never);
    await entitlementIs(uid, 'canceled', true);
    const types = [6, 5, 1, 3];
    for (const type of types.reverse()) expect(await push(subNotification(p.purchaseToken, type))).toBe(204);
    expect(await ent(uid, 'premium')).toMatchObject({ state: 'canceled', active: true });
  });

  it('poison messages are dead-lettered and acked, never retried forever', async () => {
    const before = (await deadLetters()).length;
    expect(await push('not json at all')).toBe(204);
    expect(await push({ version: '1.0', packageName: PACKAGE })).toBe(204); // no eventTime, no kind
    expect(await push({ ...subNotification('x', 2), packageName: 'com.foreign.app' })).toBe(204);
    expect(await push(subNotification('unknown-token-for-play', 2))).toBe(204); // Play: 404
    const res = await fetch(new URL(`projects/${s.projectId}/topics/play-rtdn`, s.rtdnUrl), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ message: { data: '%%%not-base64%%%', messageId: randomUUID() }, subscription: 'x' }),
    });
    expect(res.status).toBe(204);
    const letters = await deadLetters();
    expect(letters.length - before).toBe(5);
    const reasons = letters.map((l) => l.reason).join('\n');
    expect(reasons).toMatch(/not JSON/);
    expect(reasons).toMatch(/com\.foreign\.app/);
    expect(reasons).toMatch(/purchase_not_found/);
    expect(JSON.stringify(letters)).not.toContain('unknown-token-for-play');

    // through Pub/Sub too: a malformed message published by the simulator is dead-lettered once
    await s.sim.sendNotification('{"broken": ');
    await s.eventually(async () => (await deadLetters()).length === before + 6);
    await new Promise((r) => setTimeout(r, 2500));
    expect((await deadLetters()).length).toBe(before + 6);
  });

  it('a test notification is acked and changes nothing', async () => {
    expect(await push({ version: '1.0', packageName: PACKAGE, eventTimeMillis: '1', testNotification: { version: '1.0' } })).toBe(204);
  });

  it('Play failing for a while: the message is retried by Pub/Sub and applied once Play recovers', async () => {
    const uid = newUid();
    const p = await subscriptionOwnedBy(uid);
    // each delivery makes PLAY_MAX_ATTEMPTS (2) attempts: 6 faults fail three deliveries
    s.sim.injectFaults({ count: 6, pathContains: 'subscriptionsv2', status: 503 });
    const direct = await push(subNotification(p.purchaseToken, 5));
    expect(direct).toBe(500); // transient: not acked
    await s.sim.transition(p.purchaseToken, 'hold');
    await entitlementIs(uid, 'on_hold', false);
    expect(s.sim.stats().faultsServed).toBeGreaterThanOrEqual(6);
  });
});
