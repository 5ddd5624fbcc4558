import { generateKeyPairSync } from 'node:crypto';
import { androidpublisher, type androidpublisher_v3 } from '@googleapis/androidpublisher';
import { JWT } from 'google-auth-library';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  startPlaySimulator,
  type DeveloperNotification,
  type OutgoingNotification,
  type PlaySimulator,
} from '../../tools/play-simulator';

/**
 * The Play simulator driven through the real `@googleapis/androidpublisher` client and a real
 * google-auth-library JWT exchange, as the functions use them.
 */

const PKG = 'com.example.app';
const SCOPE = 'https://www.googleapis.com/auth/androidpublisher';
const GOOGLE_TOKEN_URL = 'https://oauth2.googleapis.com/token';
const DAY = 86_400_000;
const T0 = Date.UTC(2030, 0, 15, 12, 0, 0);

let sim: PlaySimulator;
let auth: JWT;
let api: androidpublisher_v3.Androidpublisher;
const received: OutgoingNotification[] = [];

/** A JWT client whose token exchange goes to the simulator (google-auth-library ignores token_uri). */
function jwtClient(email: string, privateKey: string): JWT {
  const jwt = new JWT({ email, key: privateKey, scopes: [SCOPE] });
  jwt.transporter.interceptors.request.add({
    resolved: async (config) => {
      if (String(config.url) === GOOGLE_TOKEN_URL) config.url = new URL(sim.tokenUrl);
      return config;
    },
  });
  return jwt;
}

function apiWith(auth: JWT): androidpublisher_v3.Androidpublisher {
  // The client's googleapis-common carries its own google-auth-library copy: same class, other type.
  return androidpublisher({ version: 'v3', auth: auth as never, rootUrl: sim.url });
}

interface HttpFailure {
  status?: number;
  reason?: string;
  message?: string;
}

/** The HTTP status and Google error reason of a rejected client call. */
async function failure(call: Promise<unknown>): Promise<HttpFailure> {
  try {
    await call;
  } catch (e) {
    const err = e as { response?: { status?: number; data?: { error?: { message?: string; errors?: { reason?: string }[] } } }; message?: string };
    const body = err.response?.data?.error;
    return { status: err.response?.status, reason: body?.errors?.[0]?.reason, message: body?.message ?? err.message };
  }
  throw new Error('expected the call to fail');
}

const dev = (n: OutgoingNotification): DeveloperNotification | undefined =>
  typeof n === 'object' && 'packageName' in n ? (n as DeveloperNotification) : undefined;

/** subscriptionNotification / oneTimeProductNotification types sent for a token, in order. */
async function typesFor(token: string): Promise<number[]> {
  await sim.idle();
  return received.flatMap((n) => {
    const d = dev(n);
    const s = d?.subscriptionNotification ?? d?.oneTimeProductNotification;
    return s?.purchaseToken === token ? [s.notificationType] : [];
  });
}

async function voidedFor(token: string): Promise<NonNullable<DeveloperNotification['voidedPurchaseNotification']>[]> {
  await sim.idle();
  return received.flatMap((n) => {
    const v = dev(n)?.voidedPurchaseNotification;
    return v?.purchaseToken === token ? [v] : [];
  });
}

const getProduct = (productId: string, token: string) =>
  api.purchases.products.get({ packageName: PKG, productId, token }).then((r) => r.data);
const getSub = (token: string) => api.purchases.subscriptionsv2.get({ packageName: PKG, token }).then((r) => r.data);

beforeAll(async () => {
  sim = await startPlaySimulator({ now: () => T0, onNotification: (n) => void received.push(n) });
  const key = sim.serviceAccountKey!;
  auth = jwtClient(key.client_email, key.private_key);
  api = apiWith(auth);
});

afterAll(async () => {
  await sim.close();
});

beforeEach(async () => {
  await sim.reset();
  received.length = 0;
});

describe('one-time products', () => {
  it('gets, acknowledges (twice), consumes; a second consume fails', async () => {
    const p = await sim.createPurchase({ type: 'product', productId: 'coins_100', test: true, obfuscatedExternalAccountId: 'acct-1' });
    expect(p.purchaseToken).toMatch(/^[a-z]{24}\.[A-Za-z0-9_-]{100,}$/);
    expect(p.orderId).toMatch(/^GPA\.\d{4}-\d{4}-\d{4}-\d{5}$/);

    const before = await getProduct('coins_100', p.purchaseToken);
    expect(before).toMatchObject({
      kind: 'androidpublisher#productPurchase',
      purchaseTimeMillis: String(T0),
      purchaseState: 0,
      consumptionState: 0,
      acknowledgementState: 0,
      purchaseType: 0,
      orderId: p.orderId,
      quantity: 1,
      obfuscatedExternalAccountId: 'acct-1',
    });

    const ack = await api.purchases.products.acknowledge({ packageName: PKG, productId: 'coins_100', token: p.purchaseToken, requestBody: {} });
    expect(ack.status).toBe(204);
    expect((await getProduct('coins_100', p.purchaseToken)).acknowledgementState).toBe(1);
    await api.purchases.products.acknowledge({ packageName: PKG, productId: 'coins_100', token: p.purchaseToken, requestBody: {} });

    await api.purchases.products.consume({ packageName: PKG, productId: 'coins_100', token: p.purchaseToken });
    expect((await getProduct('coins_100', p.purchaseToken)).consumptionState).toBe(1);
    const again = await failure(api.purchases.products.consume({ packageName: PKG, productId: 'coins_100', token: p.purchaseToken }));
    expect(again.status).toBe(400);
    expect(await typesFor(p.purchaseToken)).toEqual([1]);
  });

  it('pending: no orderId, cannot be acknowledged; completes or is canceled with RTDN 1 / 2', async () => {
    const p = await sim.createPurchase({ type: 'product', productId: 'gems', pending: true });
    const pending = await getProduct('gems', p.purchaseToken);
    expect(pending.purchaseState).toBe(2);
    expect(pending.orderId).toBeUndefined();
    const ack = await failure(api.purchases.products.acknowledge({ packageName: PKG, productId: 'gems', token: p.purchaseToken, requestBody: {} }));
    expect(ack).toMatchObject({ status: 400, reason: 'invalidPurchaseState' });

    const done = await sim.transition(p.purchaseToken, 'complete');
    expect((await getProduct('gems', p.purchaseToken)).orderId).toBe(done.orderId);

    const q = await sim.createPurchase({ type: 'product', productId: 'gems', pending: true });
    await sim.transition(q.purchaseToken, 'cancelPending');
    expect((await getProduct('gems', q.purchaseToken)).purchaseState).toBe(1);
    expect(await typesFor(p.purchaseToken)).toEqual([1]);
    expect(await typesFor(q.purchaseToken)).toEqual([2]);
    const n = received.map(dev).find((d) => d?.oneTimeProductNotification?.purchaseToken === p.purchaseToken);
    expect(n).toEqual({
      version: '1.0',
      packageName: PKG,
      eventTimeMillis: String(T0),
      oneTimeProductNotification: { version: '1.0', notificationType: 1, purchaseToken: p.purchaseToken, sku: 'gems' },
    });
  });

  it('refunds an order once (revoke → purchaseState 1, listed as voided); the second refund fails 400', async () => {
    const p = await sim.createPurchase({ type: 'product', productId: 'coins_100', acknowledged: true });
    const orderId = p.orderId!;
    const first = await api.orders.refund({ packageName: PKG, orderId, revoke: true });
    expect(first.status).toBe(204);
    expect((await getProduct('coins_100', p.purchaseToken)).purchaseState).toBe(1);
    const second = await failure(api.orders.refund({ packageName: PKG, orderId, revoke: true }));
    expect(second).toMatchObject({ status: 400, reason: 'orderAlreadyRefunded' });

    const list = await api.purchases.voidedpurchases.list({ packageName: PKG });
    expect(list.data.voidedPurchases).toEqual([
      expect.objectContaining({ purchaseToken: p.purchaseToken, orderId, voidedSource: 1, voidedTimeMillis: String(T0) }),
    ]);
    expect(await voidedFor(p.purchaseToken)).toEqual([{ purchaseToken: p.purchaseToken, orderId, productType: 2, refundType: 1 }]);
  });

  it('refunds and revokes an unacknowledged purchase after 3 days, like Play', async () => {
    const p = await sim.createPurchase({ type: 'product', productId: 'coins_100' });
    await sim.advanceTime(3 * DAY + 1);
    expect((await getProduct('coins_100', p.purchaseToken)).purchaseState).toBe(1);
    const list = await api.purchases.voidedpurchases.list({ packageName: PKG });
    expect(list.data.voidedPurchases?.[0]).toMatchObject({ purchaseToken: p.purchaseToken, voidedSource: 2, voidedReason: 8 });
  });
});

describe('subscriptions', () => {
  it('goes active → grace → hold → recover → cancel → expire, with the RTDN of each step', async () => {
    const s = await sim.createPurchase({ type: 'subscription', productId: 'premium', acknowledged: true, test: true, obfuscatedExternalAccountId: 'acct-2' });
    const active = await getSub(s.purchaseToken);
    expect(active).toMatchObject({
      kind: 'androidpublisher#subscriptionPurchaseV2',
      subscriptionState: 'SUBSCRIPTION_STATE_ACTIVE',
      acknowledgementState: 'ACKNOWLEDGEMENT_STATE_ACKNOWLEDGED',
      startTime: new Date(T0).toISOString(),
      testPurchase: {},
      externalAccountIdentifiers: { obfuscatedExternalAccountId: 'acct-2' },
    });
    expect(active.lineItems?.[0]).toMatchObject({
      productId: 'premium',
      expiryTime: new Date(T0 + 30 * DAY).toISOString(),
      autoRenewingPlan: { autoRenewEnabled: true },
      offerDetails: { basePlanId: 'monthly' },
      latestSuccessfulOrderId: s.orderId,
    });

    await sim.transition(s.purchaseToken, 'grace', { durationMs: 7 * DAY });
    const grace = await getSub(s.purchaseToken);
    expect(grace.subscriptionState).toBe('SUBSCRIPTION_STATE_IN_GRACE_PERIOD');
    expect(grace.lineItems?.[0]?.expiryTime).toBe(new Date(T0 + 7 * DAY).toISOString());

    await sim.transition(s.purchaseToken, 'hold');
    const hold = await getSub(s.purchaseToken);
    expect(hold.subscriptionState).toBe('SUBSCRIPTION_STATE_ON_HOLD');
    expect(Date.parse(hold.lineItems?.[0]?.expiryTime ?? '')).toBeLessThanOrEqual(sim.now());

    await sim.transition(s.purchaseToken, 'recover');
    const recovered = await getSub(s.purchaseToken);
    expect(recovered.subscriptionState).toBe('SUBSCRIPTION_STATE_ACTIVE');
    expect(recovered.lineItems?.[0]?.latestSuccessfulOrderId).toBe(`${s.orderId}..0`);

    await sim.transition(s.purchaseToken, 'cancel', { surveyReason: 'CANCEL_SURVEY_REASON_COST_RELATED' });
    const canceled = await getSub(s.purchaseToken);
    expect(canceled.subscriptionState).toBe('SUBSCRIPTION_STATE_CANCELED');
    expect(canceled.lineItems?.[0]?.autoRenewingPlan?.autoRenewEnabled).toBe(false);
    expect(canceled.canceledStateContext?.userInitiatedCancellation?.cancelSurveyResult?.reason).toBe('CANCEL_SURVEY_REASON_COST_RELATED');
    expect(Date.parse(canceled.lineItems?.[0]?.expiryTime ?? '')).toBeGreaterThan(sim.now());

    await sim.advanceTime(31 * DAY);
    expect((await getSub(s.purchaseToken)).subscriptionState).toBe('SUBSCRIPTION_STATE_EXPIRED');
    expect(await typesFor(s.purchaseToken)).toEqual([4, 6, 5, 1, 3, 13]);
  });

  it('renews by the clock with Play-style order ids; restart undoes a cancel; pause and resume', async () => {
    const s = await sim.createPurchase({ type: 'subscription', productId: 'premium', acknowledged: true });
    await sim.advanceTime(30 * DAY);
    const renewed = await getSub(s.purchaseToken);
    expect(renewed.subscriptionState).toBe('SUBSCRIPTION_STATE_ACTIVE');
    expect(renewed.lineItems?.[0]?.latestSuccessfulOrderId).toBe(`${s.orderId}..0`);
    expect(renewed.lineItems?.[0]?.expiryTime).toBe(new Date(T0 + 60 * DAY).toISOString());

    await sim.transition(s.purchaseToken, 'cancel');
    await sim.transition(s.purchaseToken, 'restart');
    expect((await getSub(s.purchaseToken)).subscriptionState).toBe('SUBSCRIPTION_STATE_ACTIVE');
    await sim.transition(s.purchaseToken, 'pause', { durationMs: 10 * DAY });
    const paused = await getSub(s.purchaseToken);
    expect(paused.subscriptionState).toBe('SUBSCRIPTION_STATE_PAUSED');
    expect(paused.pausedStateContext?.autoResumeTime).toBe(new Date(sim.now() + 10 * DAY).toISOString());
    await sim.advanceTime(10 * DAY);
    expect((await getSub(s.purchaseToken)).subscriptionState).toBe('SUBSCRIPTION_STATE_ACTIVE');
    expect(await typesFor(s.purchaseToken)).toEqual([4, 2, 3, 7, 10, 1]);
  });

  it('revokes through the API (EXPIRED at once, RTDN 12 + voided); revoking again fails as expired', async () => {
    const s = await sim.createPurchase({ type: 'subscription', productId: 'premium', acknowledged: true });
    const res = await api.purchases.subscriptionsv2.revoke({
      packageName: PKG,
      token: s.purchaseToken,
      requestBody: { revocationContext: { fullRefund: {} } },
    });
    expect(res.status).toBe(200);
    const revoked = await getSub(s.purchaseToken);
    expect(revoked.subscriptionState).toBe('SUBSCRIPTION_STATE_EXPIRED');
    expect(revoked.canceledStateContext).toEqual({ developerInitiatedCancellation: {} });
    expect(await typesFor(s.purchaseToken)).toEqual([4, 12]);
    expect(await voidedFor(s.purchaseToken)).toEqual([{ purchaseToken: s.purchaseToken, orderId: s.orderId, productType: 1, refundType: 1 }]);

    const again = await failure(
      api.purchases.subscriptionsv2.revoke({ packageName: PKG, token: s.purchaseToken, requestBody: { revocationContext: { proratedRefund: {} } } }),
    );
    expect(again).toMatchObject({ status: 400, reason: 'subscriptionExpired', message: 'The subscription cannot be refunded or revoked because it has expired.' });
  });

  it('cancels through the API, acknowledges with subscriptions.acknowledge, defers with the etag', async () => {
    const s = await sim.createPurchase({ type: 'subscription', productId: 'premium' });
    await api.purchases.subscriptions.acknowledge({ packageName: PKG, subscriptionId: 'premium', token: s.purchaseToken, requestBody: {} });
    const sub = await getSub(s.purchaseToken);
    expect(sub.acknowledgementState).toBe('ACKNOWLEDGEMENT_STATE_ACKNOWLEDGED');

    const deferred = await api.purchases.subscriptionsv2.defer({
      packageName: PKG,
      token: s.purchaseToken,
      requestBody: { deferralContext: { deferDuration: `${DAY / 1000}s`, etag: sub.etag } },
    });
    expect(deferred.data.itemExpiryTimeDetails?.[0]?.expiryTime).toBe(new Date(T0 + 31 * DAY).toISOString());

    await api.purchases.subscriptionsv2.cancel({
      packageName: PKG,
      token: s.purchaseToken,
      requestBody: { cancellationContext: { cancellationType: 'DEVELOPER_REQUESTED_STOP_PAYMENTS' } },
    });
    const canceled = await getSub(s.purchaseToken);
    expect(canceled.subscriptionState).toBe('SUBSCRIPTION_STATE_CANCELED');
    expect(canceled.canceledStateContext).toEqual({ developerInitiatedCancellation: {} });
    expect(await typesFor(s.purchaseToken)).toEqual([4, 9, 3]);
  });

  it('refunds a subscription order without revoking: access stays; voided list type 1 shows it', async () => {
    const s = await sim.createPurchase({ type: 'subscription', productId: 'premium', acknowledged: true });
    await api.orders.refund({ packageName: PKG, orderId: s.orderId!, revoke: false });
    expect((await getSub(s.purchaseToken)).subscriptionState).toBe('SUBSCRIPTION_STATE_ACTIVE');
    expect((await api.purchases.voidedpurchases.list({ packageName: PKG })).data.voidedPurchases).toBeUndefined();
    const withSubs = await api.purchases.voidedpurchases.list({ packageName: PKG, type: 1 });
    expect(withSubs.data.voidedPurchases?.map((v) => v.orderId)).toEqual([s.orderId]);
  });

  it('pending subscription canceled → PENDING_PURCHASE_CANCELED and RTDN 20', async () => {
    const s = await sim.createPurchase({ type: 'subscription', productId: 'premium', pending: true });
    expect((await getSub(s.purchaseToken)).subscriptionState).toBe('SUBSCRIPTION_STATE_PENDING');
    await sim.transition(s.purchaseToken, 'cancelPending');
    expect((await getSub(s.purchaseToken)).subscriptionState).toBe('SUBSCRIPTION_STATE_PENDING_PURCHASE_CANCELED');
    expect(await typesFor(s.purchaseToken)).toEqual([20]);
  });
});

describe('errors as Play answers them', () => {
  it('404 purchaseTokenNotFound for an unknown token; 400 invalidValue for another product, package or type', async () => {
    const p = await sim.createPurchase({ type: 'product', productId: 'coins_100' });
    expect(await failure(getProduct('coins_100', 'nosuchtoken'))).toMatchObject({ status: 404, reason: 'purchaseTokenNotFound' });
    expect(await failure(getProduct('coins_500', p.purchaseToken))).toMatchObject({ status: 400, reason: 'invalidValue' });
    expect(await failure(api.purchases.products.get({ packageName: 'com.other', productId: 'coins_100', token: p.purchaseToken }))).toMatchObject({
      status: 400,
      reason: 'invalidValue',
    });
    expect(await failure(getSub(p.purchaseToken))).toMatchObject({ status: 400, reason: 'invalidValue' });
  });

  it('401 without or with a foreign bearer token; %3A-encoded actions work', async () => {
    const p = await sim.createPurchase({ type: 'product', productId: 'coins_100' });
    const path = `${sim.url}androidpublisher/v3/applications/${PKG}/purchases/products/coins_100/tokens/${p.purchaseToken}`;
    const anonymous = await fetch(path);
    expect(anonymous.status).toBe(401);
    expect(((await anonymous.json()) as { error: { code: number } }).error.code).toBe(401);
    expect((await fetch(path, { headers: { authorization: 'Bearer ya29.not-ours' } })).status).toBe(401);

    const token = (await auth.getAccessToken()).token;
    const ack = await fetch(`${path}%3Aacknowledge`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
    expect(ack.status).toBe(204);
    expect((await getProduct('coins_100', p.purchaseToken)).acknowledgementState).toBe(1);
  });
});

describe('OAuth token endpoint', () => {
  it('refuses an assertion signed with another key, or from an unknown account: invalid_grant', async () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048, privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });
    const key = sim.serviceAccountKey!;
    await expect(jwtClient(key.client_email, privateKey).getAccessToken()).rejects.toThrow(/invalid_grant: Invalid JWT Signature/);
    await expect(jwtClient('someone@else.iam.gserviceaccount.com', key.private_key).getAccessToken()).rejects.toThrow(/invalid_grant/);
    expect(sim.stats().tokenRejections).toBe(2);
    expect(sim.stats().tokenExchanges).toBe(0);
  });

  it('one token exchange serves many calls', async () => {
    const key = sim.serviceAccountKey!;
    const fresh = apiWith(jwtClient(key.client_email, key.private_key));
    const p = await sim.createPurchase({ type: 'product', productId: 'coins_100' });
    for (let i = 0; i < 5; i++) await fresh.purchases.products.get({ packageName: PKG, productId: 'coins_100', token: p.purchaseToken });
    expect(sim.stats()).toMatchObject({ tokenExchanges: 1, calls: { 'purchases.products.get': 5 }, unauthorized: 0 });
  });
});

describe('fault injection', () => {
  it('fails the next call with 500, then serves; the client retry sees a 503 through', async () => {
    const p = await sim.createPurchase({ type: 'product', productId: 'coins_100' });
    sim.injectFaults({ status: 500, pathContains: '/purchases/products/' });
    const failed = await failure(api.purchases.products.get({ packageName: PKG, productId: 'coins_100', token: p.purchaseToken }, { retry: false }));
    expect(failed).toMatchObject({ status: 500, reason: 'backendError' });
    expect((await getProduct('coins_100', p.purchaseToken)).purchaseState).toBe(0);

    sim.injectFaults({ status: 503 });
    expect((await getProduct('coins_100', p.purchaseToken)).purchaseState).toBe(0);
    expect(sim.stats()).toMatchObject({ faultsServed: 2, calls: { 'purchases.products.get': 4 } });
  });

  it('hangs a call past the client timeout; a path filter leaves other calls alone', async () => {
    const p = await sim.createPurchase({ type: 'product', productId: 'coins_100' });
    sim.injectFaults({ mode: 'hang', delayMs: 2000, pathContains: ':consume' });
    expect((await getProduct('coins_100', p.purchaseToken)).purchaseState).toBe(0);
    const started = Date.now();
    const hung = await failure(
      api.purchases.products.consume({ packageName: PKG, productId: 'coins_100', token: p.purchaseToken }, { timeout: 200, retry: false }),
    );
    expect(hung.status).toBeUndefined();
    expect(Date.now() - started).toBeLessThan(1500);
    expect(sim.stats().faultsServed).toBe(1);
  });
});

describe('control API over HTTP', () => {
  const control = async (path: string, body?: unknown, contentType = 'application/json') => {
    const res = await fetch(`${sim.url}_sim/${path}`, {
      method: body === undefined ? 'GET' : 'POST',
      headers: { 'content-type': contentType },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Record<string, any> };
  };

  it('creates, transitions and reads purchases; rejects bad input with a clear 400', async () => {
    const created = await control('purchases', { type: 'subscription', productId: 'premium', acknowledged: true });
    expect(created.status).toBe(201);
    const token = created.body.purchaseToken as string;
    expect(created.body.resource.subscriptionState).toBe('SUBSCRIPTION_STATE_ACTIVE');

    const grace = await control(`purchases/${token}/grace`, {});
    expect(grace.body.resource.subscriptionState).toBe('SUBSCRIPTION_STATE_IN_GRACE_PERIOD');
    expect((await control(`purchases/${token}`)).body.resource.subscriptionState).toBe('SUBSCRIPTION_STATE_IN_GRACE_PERIOD');

    const invalid = await control(`purchases/${token}/restart`, {});
    expect(invalid.status).toBe(400);
    expect(invalid.body.error.message).toMatch(/cannot restart a subscription in SUBSCRIPTION_STATE_IN_GRACE_PERIOD/);
    const badBody = await control('purchases', { type: 'product', productId: 'x', quantity: 0 });
    expect(badBody.status).toBe(400);
    expect(badBody.body.error.message).toMatch(/quantity/);
    expect((await control(`purchases/${token}/explode`, {})).body.error.message).toMatch(/Unknown transition "explode"/);
    expect((await control('purchases/nope')).status).toBe(404);
  });

  it('advances the clock, injects faults, reports stats and passes raw notifications through', async () => {
    const s = await control('purchases', { type: 'subscription', productId: 'premium', acknowledged: true, prepaid: true });
    expect((await control('clock', { advanceMs: 31 * DAY })).body.now).toBe(T0 + 31 * DAY);
    expect((await control(`purchases/${s.body.purchaseToken}`)).body.resource.subscriptionState).toBe('SUBSCRIPTION_STATE_EXPIRED');

    expect((await control('faults', { count: 2, status: 429, target: 'token' })).body.pendingFaults).toBe(2);
    expect((await control('faults', { status: 200 })).status).toBe(400);

    await control('notifications', 'not json {', 'text/plain');
    await control('notifications', { message: 'no packageName' });
    expect(received.slice(-2)).toEqual(['not json {', { message: 'no packageName' }]);

    const stats = await control('stats');
    expect(stats.body).toMatchObject({ faultsServed: 0, notificationsSent: 4 });
    await control('reset', {});
    expect((await control('clock')).body.now).toBe(T0);
  });
});
