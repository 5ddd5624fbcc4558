import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { deleteApp, initializeApp, type FirebaseApp } from 'firebase/app';
import { connectAuthEmulator, getAuth, signInAnonymously } from 'firebase/auth';
import { getFunctions, httpsCallableFromURL } from 'firebase/functions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../shared/config';
import { refundPurchase, type RefundDeps, type RefundRequest } from '../../shared/core/refund-purchase';
import { createRuntime, type Runtime } from '../../shared/runtime';
import type { PurchaseStore } from '../../shared/store/purchase-record';
import { setCustomClaims, startAuthEmulator } from '../../tools/emulators/auth';
import type { RunningEmulator } from '../../tools/emulators/gcloud';
import { PACKAGE, startFunctionsStack, type FunctionsStack } from '../helpers/verify-stack';

/**
 * refundPurchase exactly once, through the real parts (the Firebase JS SDK against the callable, the
 * Play simulator, the Firestore emulator, RTDNs through Pub/Sub): answers from Play that are lost, a
 * process that dies between Play and the local step, and answers to Play's pending refund reviews.
 */
const projectId = `demo-${randomBytes(4).toString('hex')}`;
let auth: RunningEmulator;
let s: FunctionsStack;
let rt: Runtime;
let refund: ReturnType<typeof httpsCallableFromURL<Record<string, unknown>, Record<string, any>>>;
let adminUid: string;
let customerToken: () => Promise<string>;
let customerUid: string;
const apps: FirebaseApp[] = [];

async function signIn(claims?: Record<string, unknown>) {
  const app = initializeApp({ projectId, apiKey: 'fake-api-key' }, `app-${apps.length}`);
  apps.push(app);
  const a = getAuth(app);
  connectAuthEmulator(a, `http://${auth.host}`, { disableWarnings: true });
  const { user } = await signInAnonymously(a);
  if (claims) {
    await setCustomClaims(auth.host, projectId, user.uid, claims);
    await user.getIdToken(true);
  }
  return { app, user };
}

beforeAll(async () => {
  auth = await startAuthEmulator(projectId);
  s = await startFunctionsStack({ projectId, rtdn: true, env: { FIREBASE_AUTH_EMULATOR_HOST: auth.host } });
  rt = createRuntime(loadConfig());
  const { getTestServer } = await import('@google-cloud/functions-framework/testing');
  const server = getTestServer('refundPurchase');
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/`;
  const admin = await signIn({ admin: true });
  adminUid = admin.user.uid;
  refund = httpsCallableFromURL(getFunctions(admin.app), url);
  const customer = await signIn();
  customerUid = customer.user.uid;
  customerToken = () => customer.user.getIdToken();
}, 90_000);
afterAll(async () => {
  for (const app of apps) await deleteApp(app);
  await s?.close();
  await auth?.stop();
});

const sha256 = (x: string) => createHash('sha256').update(x).digest('hex');
const playCalls = (method: string) => s.sim.stats().calls[method] ?? 0;
const source = async (entitlement: string, token: string) =>
  (await s.db.doc(`users/${customerUid}/entitlements/${entitlement}`).get()).data()?.sources?.[sha256(token)];
const ledgerOf = async (purchaseToken: string) =>
  (await s.db.collection('refundLedger').where('request.purchaseId', '==', sha256(purchaseToken)).get()).docs.map((d) => d.data());

async function owned(input: Record<string, unknown>) {
  const p = await s.sim.createPurchase({ packageName: PACKAGE, ...input } as never);
  const res = await s.post({ packageName: PACKAGE, productId: input.productId, purchaseToken: p.purchaseToken }, { token: await customerToken() });
  expect(res.status).toBe(200);
  return p;
}
const callError = async (p: Promise<unknown>) => {
  try {
    await p;
  } catch (e) {
    return e as { code: string; message: string };
  }
  throw new Error('expected the call to fail');
};

describe('a money-moving call whose answer from Play is lost', () => {
  it('a subscription revoke: UNAVAILABLE, then the retry finishes it (repeated), Play revoked once, access ended here', async () => {
    const p = await owned({ type: 'subscription', productId: 'premium_monthly' });
    const before = playCalls('purchases.subscriptionsv2.revoke');
    s.sim.injectFaults({ mode: 'lost', method: 'POST', pathContains: ':revoke' });
    const body = { packageName: PACKAGE, purchaseToken: p.purchaseToken, action: 'revoke', reason: 'lost answer' };
    expect((await callError(refund(body))).code).toBe('functions/unavailable');
    expect(s.sim.get(p.purchaseToken)?.resource).toMatchObject({ subscriptionState: 'SUBSCRIPTION_STATE_EXPIRED' }); // Play did it

    const { data } = await refund(body);
    expect(data).toMatchObject({ status: 'revoked', refundType: 'full', repeated: true });
    expect(playCalls('purchases.subscriptionsv2.revoke') - before).toBe(1);
    expect(await source('premium', p.purchaseToken)).toMatchObject({ active: false, state: 'revoked' });
    expect((await ledgerOf(p.purchaseToken)).map((e) => e.status)).toEqual(['done']);
    expect((await refund(body)).data).toEqual(data);
  });

  it('a one-time revoke (orders.refund?revoke=true) and a refund without revoke: finished on retry, each order refunded once', async () => {
    const coinsBefore = (await s.db.doc(`users/${customerUid}`).get()).data()?.balances?.coins ?? 0;
    const coins = await owned({ type: 'product', productId: 'coins_100' });
    const ads = await owned({ type: 'product', productId: 'remove_ads' });
    const before = playCalls('orders.refund');
    for (const [p, action] of [[coins, 'revoke'], [ads, 'refund']] as const) {
      s.sim.injectFaults({ mode: 'lost', method: 'POST', pathContains: 'orders' });
      const body = { packageName: PACKAGE, purchaseToken: p.purchaseToken, action, reason: 'lost answer' };
      expect((await callError(refund(body))).code).toBe('functions/unavailable');
      const { data } = await refund(body);
      expect(data).toMatchObject({ status: action === 'revoke' ? 'revoked' : 'refunded', orderId: p.orderId, repeated: true });
    }
    expect(playCalls('orders.refund') - before).toBe(2); // one per order: the retries read the purchase instead
    expect((await s.db.doc(`users/${customerUid}`).get()).data()?.balances?.coins).toBe(coinsBefore);
    expect((await source('no_ads', ads.purchaseToken))?.active).toBe(true);
  });

  it("a subscription refund without revoke: Play's state cannot show it, so the retry asks again and Play's \"already refunded\" settles it", async () => {
    const p = await owned({ type: 'subscription', productId: 'premium_monthly' });
    const before = playCalls('orders.refund');
    s.sim.injectFaults({ mode: 'lost', method: 'POST', pathContains: 'orders' });
    const body = { packageName: PACKAGE, purchaseToken: p.purchaseToken, action: 'refund', reason: 'lost answer' };
    expect((await callError(refund(body))).code).toBe('functions/unavailable');
    expect((await refund(body)).data).toMatchObject({ status: 'refunded', orderId: p.orderId, repeated: true });
    expect(playCalls('orders.refund') - before).toBe(2); // the second one refused: orderAlreadyRefunded
    expect((await source('premium', p.purchaseToken))?.active).toBe(true);
  });

  it("a refusal after a lost answer is success only if Play's state shows our action: a user's cancel is not our developer cancel", async () => {
    const p = await owned({ type: 'subscription', productId: 'premium_monthly' });
    s.sim.injectFaults({ mode: 'lost', method: 'POST', pathContains: ':cancel' });
    await s.sim.transition(p.purchaseToken, 'cancel');
    const body = { packageName: PACKAGE, purchaseToken: p.purchaseToken, action: 'cancel', cancellationType: 'developer_requested_stop_payments', reason: 'x y z' };
    // the cancel above was the user's; our (lost) developer cancel is refused by Play and the state shows the user's
    expect((await callError(refund(body))).code).toBe('functions/unavailable');
    const e = await callError(refund(body));
    expect(e.code).toBe('functions/failed-precondition');
  });
});

describe('a process that dies between Play and the local step', () => {
  const admin = { uid: 'core-admin', email: null };
  const depsWith = (store: PurchaseStore, now = () => new Date()): RefundDeps => ({
    catalog: rt.config.catalog,
    packageNames: rt.config.packageNames,
    play: rt.play,
    store,
    now,
  });
  /** A store whose `method` fails `times` times, as if the process had died there. */
  function failing(method: 'applyPurchaseEvent' | 'markLedgerAtStore' | 'finishLedgerEntry', times = 1): PurchaseStore {
    let left = times;
    const real = rt.store[method] as (...a: unknown[]) => Promise<unknown>;
    return {
      ...rt.store,
      [method]: (...args: unknown[]) => (left-- > 0 ? Promise.reject(new Error(`simulated crash in ${method}`)) : real(...args)),
    };
  }

  it('the local revoke failed once: the entry stays at_store and the next attempt finishes it without calling Play', async () => {
    const p = await owned({ type: 'product', productId: 'remove_ads' });
    const req: RefundRequest = { packageName: PACKAGE, purchaseToken: p.purchaseToken, action: 'revoke', reason: 'crash test' };
    const deps = depsWith(failing('applyPurchaseEvent'));
    const before = playCalls('orders.refund');
    await expect(refundPurchase(deps, admin, req)).rejects.toMatchObject({ code: 'upstream_unavailable', message: /Play will not be asked again/ });
    expect((await ledgerOf(p.purchaseToken)).map((e) => e.status)).toEqual(['at_store']);

    expect(await refundPurchase(deps, admin, req)).toMatchObject({ status: 'revoked', repeated: true });
    expect(playCalls('orders.refund') - before).toBe(1);
    expect(await source('no_ads', p.purchaseToken)).toMatchObject({ active: false, state: 'revoked' });
    expect((await ledgerOf(p.purchaseToken)).map((e) => e.status)).toEqual(['done']);
  });

  it('an add-on revoke whose local refresh failed is finished by the next attempt', async () => {
    const p = await owned({ type: 'subscription', productId: 'premium_monthly', addOns: [{ productId: 'extra_storage' }] });
    const req: RefundRequest = { packageName: PACKAGE, purchaseToken: p.purchaseToken, action: 'revoke', productId: 'extra_storage', reason: 'crash test' };
    const deps = depsWith(failing('applyPurchaseEvent'));
    const before = playCalls('purchases.subscriptionsv2.revoke');
    await expect(refundPurchase(deps, admin, req)).rejects.toMatchObject({ code: 'upstream_unavailable' });
    expect(await refundPurchase(deps, admin, req)).toMatchObject({ status: 'revoked', refundType: 'item', repeated: true });
    expect(playCalls('purchases.subscriptionsv2.revoke') - before).toBe(1);
    expect((await source('storage', p.purchaseToken))?.active).toBe(false);
    expect((await source('premium', p.purchaseToken))?.active).toBe(true);
  });

  it('died right after Play answered, nothing recorded: once the attempt is stale, the next one finds it done at Play', async () => {
    const p = await owned({ type: 'subscription', productId: 'premium_monthly' });
    const req: RefundRequest = { packageName: PACKAGE, purchaseToken: p.purchaseToken, action: 'revoke', reason: 'crash test' };
    const store = failing('markLedgerAtStore');
    const dead = { ...store, finishLedgerEntry: () => Promise.reject(new Error('simulated crash')) };
    const before = playCalls('purchases.subscriptionsv2.revoke');
    await expect(refundPurchase(depsWith(dead), admin, req)).rejects.toThrow(/simulated crash/);
    expect((await ledgerOf(p.purchaseToken)).map((e) => e.status)).toEqual(['in_progress']);

    const later = () => new Date(Date.now() + 121_000);
    expect(await refundPurchase(depsWith(rt.store, later), admin, req)).toMatchObject({ status: 'revoked', repeated: true });
    expect(playCalls('purchases.subscriptionsv2.revoke') - before).toBe(1);
    expect(await source('premium', p.purchaseToken)).toMatchObject({ active: false, state: 'revoked' });
  });
});

describe('answering pendingRefundReviewNotification (review_refund)', () => {
  /** Play opens a review: the notification reaches playRtdn, which records the notice and keeps the raw token server-only. */
  async function openReview(token: string) {
    const view = await s.sim.transition(token, 'openRefundReview', { refundReason: 'REFUND_REASON_OTHER' });
    const review = view.refundReviews!.at(-1)!;
    const noticeId = `play_pending_refund_review:${sha256(review.pendingRefundToken)}`;
    await s.eventually(async () => (await s.db.doc(`adminNotices/${noticeId}`).get()).exists);
    return { review, noticeId };
  }
  const notice = async (id: string) => (await s.db.doc(`adminNotices/${id}`).get()).data();

  it('approve (by noticeId): Play refunds the order with revoke, access ends, the notice shows the answer; a repeat is answered once', async () => {
    const p = await owned({ type: 'product', productId: 'remove_ads' });
    const { review, noticeId } = await openReview(p.purchaseToken);
    expect(JSON.stringify(await notice(noticeId))).not.toContain(review.pendingRefundToken);
    expect((await s.db.doc(`refundReviewTokens/${noticeId}`).get()).data()).toMatchObject({ token: review.pendingRefundToken, orderId: p.orderId });

    const body = { packageName: PACKAGE, action: 'review_refund', noticeId, refundPreference: 'approve', reason: 'fair request' };
    const { data } = await refund(body);
    expect(data).toMatchObject({ status: 'answered', action: 'review_refund', orderId: p.orderId, refundPreference: 'approve', repeated: false });
    const at = s.sim.get(p.purchaseToken)!;
    expect(at.refundReviews?.at(-1)).toMatchObject({ answer: 'approve' });
    expect(at.resourceV2?.purchaseStateContext?.purchaseState).toBe('CANCELLED');
    expect(await notice(noticeId)).toMatchObject({ status: 'answered', answer: 'approve', answeredBy: { uid: adminUid } });
    expect((await notice(noticeId))?.answeredAt).toBeDefined();
    await s.eventually(async () => (await source('no_ads', p.purchaseToken))?.active === false); // the void's RTDN

    const calls = playCalls('orders.reviewrefund');
    expect((await refund(body)).data).toEqual({ ...data, repeated: true });
    expect(playCalls('orders.reviewrefund')).toBe(calls);
    const audit = (await s.db.collection('auditLog').where('action', '==', 'review_refund').get()).docs.map((d) => d.data());
    expect(audit.map((a) => a.outcome).sort()).toEqual(['ok', 'repeated']);
    expect(JSON.stringify(audit)).not.toContain(review.pendingRefundToken);
  });

  it('decline (by the raw token and order): the review closes, access stays; answering it again is FAILED_PRECONDITION without Play', async () => {
    const p = await owned({ type: 'subscription', productId: 'premium_monthly' });
    const { review, noticeId } = await openReview(p.purchaseToken);
    const body = {
      packageName: PACKAGE,
      action: 'review_refund',
      pendingRefundToken: review.pendingRefundToken,
      orderId: review.orderId,
      refundPreference: 'decline',
      sampleContentProvided: true,
      reason: 'used all month',
    };
    expect((await refund(body)).data).toMatchObject({ status: 'answered', refundPreference: 'decline' });
    expect(s.sim.get(p.purchaseToken)?.refundReviews?.at(-1)).toMatchObject({ answer: 'decline' });
    expect(s.sim.get(p.purchaseToken)?.resource).toMatchObject({ subscriptionState: 'SUBSCRIPTION_STATE_ACTIVE' });
    expect(await notice(noticeId)).toMatchObject({ status: 'answered', answer: 'decline' });

    const calls = playCalls('orders.reviewrefund');
    const e = await callError(refund({ ...body, refundPreference: 'approve', idempotencyKey: `change-${randomUUID()}` }));
    expect(e.code).toBe('functions/failed-precondition');
    expect(e.message).toMatch(/already answered \(decline\)/);
    expect(playCalls('orders.reviewrefund')).toBe(calls);
    expect((await callError(refund({ ...body, orderId: 'GPA.0000-0000-0000-00000' }))).code).toBe('functions/invalid-argument');
  });

  it('a review notified more than 24 h ago is FAILED_PRECONDITION without calling Play', async () => {
    const pendingRefundToken = `prt.${randomUUID()}`;
    const notification = {
      version: '1.0',
      packageName: PACKAGE,
      eventTimeMillis: String(Date.now() - 25 * 3_600_000),
      pendingRefundReviewNotification: { version: '1.0', pendingRefundToken, orderId: `GPA.${randomUUID()}` },
    };
    expect(await s.pushRtdn(notification)).toBe(204);
    const noticeId = `play_pending_refund_review:${sha256(pendingRefundToken)}`;
    const calls = playCalls('orders.reviewrefund');
    const e = await callError(refund({ packageName: PACKAGE, action: 'review_refund', noticeId, refundPreference: 'decline', reason: 'too late' }));
    expect(e.code).toBe('functions/failed-precondition');
    expect(e.message).toMatch(/24 hours/);
    expect(playCalls('orders.reviewrefund')).toBe(calls);
    const unknown = `play_pending_refund_review:${sha256('never notified')}`;
    expect((await callError(refund({ packageName: PACKAGE, action: 'review_refund', noticeId: unknown, refundPreference: 'decline', reason: 'nope' }))).code).toBe(
      'functions/not-found',
    );
  });

  it("the simulator's orders:reviewrefund checks the token and takes one answer", async () => {
    const p = await owned({ type: 'product', productId: 'sticker_pack' });
    const { review } = await openReview(p.purchaseToken);
    const answer = (pendingRefundToken: string) => rt.play.reviewRefund(PACKAGE, review.orderId, { pendingRefundToken, preference: 'decline', sampleContentProvided: false });
    await expect(answer('prt.wrong')).rejects.toMatchObject({ code: 'purchase_not_found' }); // 400 invalidValue
    await answer(review.pendingRefundToken);
    await expect(answer(review.pendingRefundToken)).rejects.toMatchObject({ code: 'failed_precondition', message: /already answered/ });
  });

  // Last: it moves the simulator's clock a day ahead.
  it("after Play's 24 h (the simulator's clock) Play refuses the answer: FAILED_PRECONDITION, the notice stays open", async () => {
    const p = await owned({ type: 'product', productId: 'remove_ads' });
    const { noticeId } = await openReview(p.purchaseToken);
    await s.sim.advanceTime(25 * 3_600_000);
    const e = await callError(refund({ packageName: PACKAGE, action: 'review_refund', noticeId, refundPreference: 'approve', reason: 'late' }));
    expect(e.code).toBe('functions/failed-precondition');
    expect(e.message).toMatch(/24 hours/);
    expect((await notice(noticeId))?.status).toBe('open');
    expect(s.sim.get(p.purchaseToken)?.resourceV2?.purchaseStateContext?.purchaseState).toBe('PURCHASED');
  });
});
