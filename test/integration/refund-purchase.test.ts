import { createHash, randomBytes } from 'node:crypto';
import { deleteApp, initializeApp, type FirebaseApp } from 'firebase/app';
import { connectAuthEmulator, getAuth, signInAnonymously } from 'firebase/auth';
import { getFunctions, httpsCallableFromURL } from 'firebase/functions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setCustomClaims, startAuthEmulator } from '../../tools/emulators/auth';
import type { RunningEmulator } from '../../tools/emulators/gcloud';
import { PACKAGE, startFunctionsStack, type FunctionsStack } from '../helpers/verify-stack';

/**
 * refundPurchase through the real parts: the Firebase JS SDK (signed in at the Firebase Auth
 * emulator) calls the callable served on 127.0.0.1; the Play simulator and the Firestore emulator
 * behind it; RTDNs flow back through Pub/Sub to playRtdn.
 */
const projectId = `demo-${randomBytes(4).toString('hex')}`;
let auth: RunningEmulator;
let s: FunctionsStack;
let refundUrl: string;
const apps: FirebaseApp[] = [];

beforeAll(async () => {
  auth = await startAuthEmulator(projectId);
  s = await startFunctionsStack({ projectId, rtdn: true, env: { FIREBASE_AUTH_EMULATOR_HOST: auth.host } });
  const { getTestServer } = await import('@google-cloud/functions-framework/testing');
  const server = getTestServer('refundPurchase');
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  refundUrl = `http://127.0.0.1:${(server.address() as { port: number }).port}/`;
}, 90_000);
afterAll(async () => {
  for (const app of apps) await deleteApp(app);
  await s?.close();
  await auth?.stop();
});

const sha256 = (x: string) => createHash('sha256').update(x).digest('hex');

/** A signed-in SDK client; `claims` are set at the emulator and picked up by a token refresh. */
async function client(claims?: Record<string, unknown>) {
  const app = initializeApp({ projectId, apiKey: 'fake-api-key' }, `app-${apps.length}`);
  apps.push(app);
  const a = getAuth(app);
  connectAuthEmulator(a, `http://${auth.host}`, { disableWarnings: true });
  const { user } = await signInAnonymously(a);
  if (claims) {
    await setCustomClaims(auth.host, projectId, user.uid, claims);
    await user.getIdToken(true);
  }
  const fns = getFunctions(app);
  return {
    uid: user.uid,
    idToken: () => user.getIdToken(),
    refund: httpsCallableFromURL<Record<string, unknown>, Record<string, any>>(fns, refundUrl),
  };
}

let admin: Awaited<ReturnType<typeof client>>;
let customer: Awaited<ReturnType<typeof client>>;
beforeAll(async () => {
  admin = await client({ admin: true });
  customer = await client();
});

async function owned(input: Record<string, unknown>) {
  const p = await s.sim.createPurchase({ packageName: PACKAGE, ...input } as never);
  const res = await s.post(
    { packageName: PACKAGE, productId: input.productId, purchaseToken: p.purchaseToken },
    { token: await customer.idToken() },
  );
  expect(res.status).toBe(200);
  return p;
}
const callError = async (p: Promise<unknown>) => {
  try {
    await p;
  } catch (e) {
    return e as { code: string; message: string; details?: any };
  }
  throw new Error('expected the call to fail');
};
const ent = async (id: string) => (await s.db.doc(`users/${customer.uid}/entitlements/${id}`).get()).data();
/** The database once background notifications (RTDN via Pub/Sub) have stopped changing it. */
async function settled() {
  let last = JSON.stringify(await s.dump());
  for (;;) {
    await new Promise((r) => setTimeout(r, 1500));
    const now = await s.dump();
    if (JSON.stringify(now) === last) return now;
    last = JSON.stringify(now);
  }
}
const playCalls = (method: string) => s.sim.stats().calls[method] ?? 0;
/** What one purchase grants for an entitlement (the customer's entitlement documents gather many purchases). */
const source = async (id: string, token: string) => (await ent(id))?.sources?.[sha256(token)];

describe('actions', () => {
  it('revoke a subscription (full): Play revokes, the entitlement ends at once, the answer is the result', async () => {
    const p = await owned({ type: 'subscription', productId: 'premium_monthly' });
    const { data } = await admin.refund({ packageName: PACKAGE, purchaseToken: p.purchaseToken, action: 'revoke', reason: 'fraud report #42' });
    expect(data).toMatchObject({ status: 'revoked', action: 'revoke', refundType: 'full', purchaseId: sha256(p.purchaseToken), repeated: false });
    expect(await ent('premium')).toMatchObject({ active: false, state: 'revoked' });
    expect(s.sim.get(p.purchaseToken)?.resource).toMatchObject({ subscriptionState: 'SUBSCRIPTION_STATE_EXPIRED' });
  });

  it('revoke a subscription pro rata', async () => {
    const p = await owned({ type: 'subscription', productId: 'premium_monthly' });
    const { data } = await admin.refund({ packageName: PACKAGE, purchaseToken: p.purchaseToken, action: 'revoke', reason: 'outage', refundType: 'prorated' });
    expect(data.refundType).toBe('prorated');
  });

  it('refund a subscription: the latest order is refunded, access stays', async () => {
    const p = await owned({ type: 'subscription', productId: 'premium_monthly' });
    const { data } = await admin.refund({ packageName: PACKAGE, purchaseToken: p.purchaseToken, action: 'refund', reason: 'goodwill' });
    expect(data).toMatchObject({ status: 'refunded', orderId: s.sim.get(p.purchaseToken)?.orderId });
    expect((await ent('premium'))?.active).toBe(true);
  });

  it('cancel a subscription: renewal stops, no refund, access stays until expiry', async () => {
    const p = await owned({ type: 'subscription', productId: 'premium_monthly' });
    const { data } = await admin.refund({ packageName: PACKAGE, purchaseToken: p.purchaseToken, action: 'cancel', reason: 'user asked by mail' });
    expect(data.status).toBe('canceled');
    expect(s.sim.get(p.purchaseToken)?.resource).toMatchObject({ subscriptionState: 'SUBSCRIPTION_STATE_CANCELED' });
    await s.eventually(async () => (await ent('premium'))?.state === 'canceled');
    expect((await ent('premium'))?.active).toBe(true);
  });

  it('cancel types: user_requested_stop_renewals (default) the user can undo; developer_requested_stop_payments cannot be restored', async () => {
    const byUser = await owned({ type: 'subscription', productId: 'premium_monthly' });
    const first = await admin.refund({ packageName: PACKAGE, purchaseToken: byUser.purchaseToken, action: 'cancel', reason: 'asked by mail' });
    expect(first.data).toMatchObject({ status: 'canceled', cancellationType: 'user_requested_stop_renewals' });
    expect(s.sim.get(byUser.purchaseToken)?.resource).toMatchObject({ canceledStateContext: { userInitiatedCancellation: expect.any(Object) } });
    await s.sim.transition(byUser.purchaseToken, 'restart'); // the user restores it in the Play Store
    expect(s.sim.get(byUser.purchaseToken)?.resource).toMatchObject({ subscriptionState: 'SUBSCRIPTION_STATE_ACTIVE' });

    const byDeveloper = await owned({ type: 'subscription', productId: 'premium_monthly' });
    const body = { packageName: PACKAGE, purchaseToken: byDeveloper.purchaseToken, action: 'cancel', reason: 'fraud', cancellationType: 'developer_requested_stop_payments' };
    const second = await admin.refund(body);
    expect(second.data).toMatchObject({ status: 'canceled', cancellationType: 'developer_requested_stop_payments', repeated: false });
    expect(s.sim.get(byDeveloper.purchaseToken)?.resource).toMatchObject({
      subscriptionState: 'SUBSCRIPTION_STATE_CANCELED',
      canceledStateContext: { developerInitiatedCancellation: {} },
    });
    await expect(s.sim.transition(byDeveloper.purchaseToken, 'restart')).rejects.toThrow(/cannot be restored/);
    await s.eventually(async () => (await source('premium', byDeveloper.purchaseToken))?.state === 'canceled');
    expect((await source('premium', byDeveloper.purchaseToken))?.active).toBe(true); // paid until expiry

    const e = await callError(admin.refund({ ...body, action: 'revoke' }));
    expect(e.code).toBe('functions/invalid-argument');
    expect(e.message).toMatch(/cancellationType/);
  });

  it('revoke one add-on (productId): Play revokes that item only; its entitlement ends, the base plan goes on', async () => {
    const p = await owned({ type: 'subscription', productId: 'premium_monthly', addOns: [{ productId: 'extra_storage' }] });
    expect((await source('storage', p.purchaseToken))?.active).toBe(true);
    const revokes = playCalls('purchases.subscriptionsv2.revoke');
    const body = { packageName: PACKAGE, purchaseToken: p.purchaseToken, action: 'revoke', productId: 'extra_storage', reason: 'storage outage' };
    const { data } = await admin.refund(body);
    expect(data).toMatchObject({ status: 'revoked', refundType: 'item', productId: 'extra_storage', orderId: p.addOns![0]!.orderIds[0], repeated: false });
    expect(playCalls('purchases.subscriptionsv2.revoke')).toBe(revokes + 1);
    expect((await source('storage', p.purchaseToken))?.active).toBe(false);
    expect((await source('premium', p.purchaseToken))?.active).toBe(true);
    expect(s.sim.get(p.purchaseToken)?.resource).toMatchObject({ subscriptionState: 'SUBSCRIPTION_STATE_ACTIVE' });
    expect((await admin.refund(body)).data.repeated).toBe(true);

    for (const productId of ['coins_100', 'premium_yearly']) {
      const e = await callError(admin.refund({ ...body, productId }));
      expect(e.code).toBe('functions/invalid-argument');
      expect(e.message).toMatch(/line items/);
    }
    const single = await owned({ type: 'subscription', productId: 'premium_monthly' });
    const e = await callError(admin.refund({ ...body, purchaseToken: single.purchaseToken, productId: 'premium_monthly' }));
    expect(e.code).toBe('functions/invalid-argument');
    expect(playCalls('purchases.subscriptionsv2.revoke')).toBe(revokes + 1);
  });

  it('revoke a consumable: refunded with revoke at Play, credits taken back', async () => {
    const before = (await s.db.doc(`users/${customer.uid}`).get()).data()?.balances?.coins ?? 0;
    const p = await owned({ type: 'product', productId: 'coins_100' });
    const { data } = await admin.refund({ packageName: PACKAGE, purchaseToken: p.purchaseToken, action: 'revoke', reason: 'chargeback' });
    expect(data).toMatchObject({ status: 'revoked', orderId: p.orderId });
    expect((await s.db.doc(`users/${customer.uid}`).get()).data()?.balances.coins).toBe(before);
  });

  it('refund a non-consumable without revoking keeps access; revoking ends it', async () => {
    const p = await owned({ type: 'product', productId: 'remove_ads' });
    await admin.refund({ packageName: PACKAGE, purchaseToken: p.purchaseToken, action: 'refund', reason: 'goodwill' });
    expect((await ent('no_ads'))?.active).toBe(true);
    const q = await owned({ type: 'product', productId: 'remove_ads' });
    await admin.refund({ packageName: PACKAGE, purchaseToken: q.purchaseToken, action: 'revoke', reason: 'abuse' });
    const e = await ent('no_ads');
    expect(e?.sources[sha256(q.purchaseToken)]).toMatchObject({ active: false, state: 'revoked' });
  });
});

describe('never twice', () => {
  it('a repeated request returns the first result without calling Play again', async () => {
    const p = await owned({ type: 'product', productId: 'remove_ads' });
    const body = { packageName: PACKAGE, purchaseToken: p.purchaseToken, action: 'refund', reason: 'goodwill' };
    const first = await admin.refund(body);
    const calls = playCalls('orders.refund');
    const again = await admin.refund(body);
    expect(again.data).toEqual({ ...first.data, repeated: true });
    expect(playCalls('orders.refund')).toBe(calls);
  });

  it('concurrent repeats refund once at Play', async () => {
    const p = await owned({ type: 'subscription', productId: 'premium_monthly' });
    const calls = playCalls('purchases.subscriptionsv2.revoke');
    const body = { packageName: PACKAGE, purchaseToken: p.purchaseToken, action: 'revoke', reason: 'double click' };
    const results = await Promise.all([admin.refund(body), admin.refund(body), admin.refund(body)]);
    expect(playCalls('purchases.subscriptionsv2.revoke')).toBe(calls + 1);
    expect(results.filter((r) => r.data.repeated === false)).toHaveLength(1);
    for (const r of results) expect(r.data.status).toBe('revoked');
  });

  it('an idempotencyKey makes a request once', async () => {
    const p = await owned({ type: 'product', productId: 'remove_ads' });
    const body = { packageName: PACKAGE, purchaseToken: p.purchaseToken, action: 'revoke', reason: 'abuse', idempotencyKey: 'ticket-1234' };
    await admin.refund(body);
    expect((await admin.refund(body)).data.repeated).toBe(true);
  });

  it("an idempotencyKey is bound to its purchase and action: reused for another is INVALID_ARGUMENT, never the first one's result", async () => {
    const p = await owned({ type: 'product', productId: 'remove_ads' });
    const q = await owned({ type: 'product', productId: 'remove_ads' });
    const body = { packageName: PACKAGE, purchaseToken: p.purchaseToken, action: 'refund', reason: 'goodwill', idempotencyKey: `ticket-${randomBytes(4).toString('hex')}` };
    const first = await admin.refund(body);
    const calls = playCalls('orders.refund');
    for (const other of [{ purchaseToken: q.purchaseToken }, { action: 'revoke' }]) {
      const e = await callError(admin.refund({ ...body, ...other }));
      expect(e.code).toBe('functions/invalid-argument');
      expect(e.message).toMatch(/idempotencyKey/);
    }
    expect(playCalls('orders.refund')).toBe(calls);
    expect(s.sim.get(q.purchaseToken)?.resourceV2?.productLineItem?.[0]?.productOfferDetails?.refundableQuantity).toBe(1);
    expect((await source('no_ads', p.purchaseToken))?.active).toBe(true); // the refund kept access; no revoke happened
    expect((await admin.refund(body)).data).toEqual({ ...first.data, repeated: true });
  });
});

describe('errors', () => {
  const audit = async () => (await s.db.collection('auditLog').get()).docs.map((d) => d.data());

  it('UNAUTHENTICATED without a token, PERMISSION_DENIED for a non-admin: nothing called or written', async () => {
    const p = await owned({ type: 'product', productId: 'remove_ads' });
    // the purchase's own notification must have landed (a busy machine delivers it late), then all is quiet
    const id = createHash('sha256').update(p.purchaseToken).digest('hex');
    await s.eventually(async () => (await s.db.collection('events').where('purchaseId', '==', id).count().get()).data().count >= 1, 30_000);
    const before = await settled();
    const calls = JSON.stringify(s.sim.stats().calls);
    const anonymous = httpsCallableFromURL(getFunctions(initializeApp({ projectId, apiKey: 'k' }, 'anon')), refundUrl);
    const e1 = await callError(anonymous({ packageName: PACKAGE, purchaseToken: p.purchaseToken, action: 'refund', reason: 'x y z' }));
    expect(e1.code).toBe('functions/unauthenticated');
    const e2 = await callError(customer.refund({ packageName: PACKAGE, purchaseToken: p.purchaseToken, action: 'refund', reason: 'please' }));
    expect(e2.code).toBe('functions/permission-denied');
    expect(await s.dump()).toEqual(before);
    expect(JSON.stringify(s.sim.stats().calls)).toBe(calls);
  });

  it('INVALID_ARGUMENT for bad data, with what is wrong', async () => {
    const e = await callError(admin.refund({ packageName: PACKAGE, purchaseToken: 'x', action: 'explode', reason: 'r' }));
    expect(e.code).toBe('functions/invalid-argument');
    expect(e.message).toMatch(/action/);
    const e2 = await callError(admin.refund({ packageName: PACKAGE, purchaseToken: 'x', action: 'revoke', reason: 'fine reason', extra: 1 }));
    expect(e2.code).toBe('functions/invalid-argument');
  });

  it('NOT_FOUND for a token nobody knows', async () => {
    const e = await callError(admin.refund({ packageName: PACKAGE, purchaseToken: 'no-such-token-anywhere', action: 'revoke', reason: 'test' }));
    expect(e.code).toBe('functions/not-found');
  });

  it("FAILED_PRECONDITION with Play's reason: revoking an expired subscription, refunding twice, canceling a one-time purchase", async () => {
    const sub = await owned({ type: 'subscription', productId: 'premium_monthly' });
    await s.sim.transition(sub.purchaseToken, 'expire');
    const e1 = await callError(admin.refund({ packageName: PACKAGE, purchaseToken: sub.purchaseToken, action: 'revoke', reason: 'late' }));
    expect(e1.code).toBe('functions/failed-precondition');
    expect(e1.message).toMatch(/expired/i);

    const one = await owned({ type: 'product', productId: 'remove_ads' });
    await s.sim.transition(one.purchaseToken, 'refund', {}); // refunded in the Play Console
    const e2 = await callError(admin.refund({ packageName: PACKAGE, purchaseToken: one.purchaseToken, action: 'refund', reason: 'again' }));
    expect(e2.code).toBe('functions/failed-precondition');
    expect(e2.message).toMatch(/refunded/i);

    const e3 = await callError(admin.refund({ packageName: PACKAGE, purchaseToken: one.purchaseToken, action: 'cancel', reason: 'nope' }));
    expect(e3.code).toBe('functions/failed-precondition');
  });

  it('UNAVAILABLE when Play fails a money-moving call (made once, never retried blindly), and a later retry succeeds', async () => {
    const p = await owned({ type: 'product', productId: 'remove_ads' });
    s.sim.injectFaults({ count: 1, pathContains: ':refund', status: 503 });
    const body = { packageName: PACKAGE, purchaseToken: p.purchaseToken, action: 'refund', reason: 'retry me' };
    const calls = playCalls('orders.refund');
    const e = await callError(admin.refund(body));
    expect(e.code).toBe('functions/unavailable');
    expect(playCalls('orders.refund')).toBe(calls + 1);
    expect((await admin.refund(body)).data).toMatchObject({ status: 'refunded', repeated: false });
    expect(playCalls('orders.refund')).toBe(calls + 2);
  });

  it('every admin attempt is audited: who, action, reason, outcome', async () => {
    const entries = await audit();
    expect(entries.length).toBeGreaterThan(5);
    expect(entries.every((e) => e.actor.uid === admin.uid)).toBe(true);
    const outcomes = new Set(entries.map((e) => e.outcome));
    for (const o of ['ok', 'repeated', 'refused', 'failed']) expect(outcomes).toContain(o);
    expect(entries.find((e) => e.reason === 'fraud report #42')).toMatchObject({ action: 'revoke', outcome: 'ok' });
  });

  it('the callable protocol: wrong method or body shape is INVALID_ARGUMENT; CORS preflight answered', async () => {
    const token = await admin.idToken();
    const get = await fetch(refundUrl, { method: 'GET', headers: { authorization: `Bearer ${token}` } });
    expect(get.status).toBe(400);
    expect(((await get.json()) as any).error.status).toBe('INVALID_ARGUMENT');
    const noData = await fetch(refundUrl, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ packageName: PACKAGE }),
    });
    expect(noData.status).toBe(400);
    const notJson = await fetch(refundUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{oops' });
    expect(notJson.status).toBe(400);
    expect(((await notJson.json()) as any).error.status).toBe('INVALID_ARGUMENT');
    const preflight = await fetch(refundUrl, {
      method: 'OPTIONS',
      headers: { origin: 'https://admin.example.com', 'access-control-request-method': 'POST' },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe('https://admin.example.com');
    expect(preflight.headers.get('access-control-allow-headers')).toMatch(/Authorization/);
  });
});
