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

  it('refunds a subscription order without revoking: access stays; not listed as voided, no voided RTDN', async () => {
    const s = await sim.createPurchase({ type: 'subscription', productId: 'premium', acknowledged: true });
    await api.orders.refund({ packageName: PKG, orderId: s.orderId!, revoke: false });
    expect((await getSub(s.purchaseToken)).subscriptionState).toBe('SUBSCRIPTION_STATE_ACTIVE');
    // "Only revoked orders will be shown in the Voided Purchases API."
    expect((await api.purchases.voidedpurchases.list({ packageName: PKG, type: 1 })).data.voidedPurchases).toBeUndefined();
    expect(await voidedFor(s.purchaseToken)).toEqual([]);
    expect(await failure(api.orders.refund({ packageName: PKG, orderId: s.orderId! }))).toMatchObject({ status: 400, reason: 'orderAlreadyRefunded' });
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

const getV2 = (token: string) => api.purchases.productsv2.getproductpurchasev2({ packageName: PKG, token }).then((r) => r.data);
const listVoided = (params: Omit<androidpublisher_v3.Params$Resource$Purchases$Voidedpurchases$List, 'packageName'> = {}) =>
  api.purchases.voidedpurchases.list({ packageName: PKG, ...params }).then((r) => r.data);
const iso = (ms: number) => new Date(ms).toISOString();

describe('subscriptions with add-ons', () => {
  it('renders each add-on as a line item with its own expiry and orders; each renews on its own period', async () => {
    const s = await sim.createPurchase({
      type: 'subscription',
      productId: 'premium',
      acknowledged: true,
      addOns: [{ productId: 'extra_storage' }, { productId: 'hd', basePlanId: 'weekly', periodMs: 7 * DAY, priceMicros: 990_000 }],
    });
    const [storage, hd] = s.addOns!;
    const storageOrder = storage!.orderIds[0]!;
    const hdOrder = hd!.orderIds[0]!;
    expect(new Set([s.orderId, storageOrder, hdOrder]).size).toBe(3);
    expect(hdOrder).toMatch(/^GPA\.\d{4}-\d{4}-\d{4}-\d{5}$/);

    const sub = await getSub(s.purchaseToken);
    expect(sub.subscriptionState).toBe('SUBSCRIPTION_STATE_ACTIVE');
    expect(sub.lineItems).toEqual([
      expect.objectContaining({ productId: 'premium', expiryTime: iso(T0 + 30 * DAY), latestSuccessfulOrderId: s.orderId }),
      expect.objectContaining({
        productId: 'extra_storage',
        expiryTime: iso(T0 + 30 * DAY),
        autoRenewingPlan: { autoRenewEnabled: true, recurringPrice: { currencyCode: 'USD', units: '4', nanos: 990_000_000 } },
        offerDetails: { basePlanId: 'monthly', offerTags: [] },
        latestSuccessfulOrderId: storageOrder,
      }),
      expect.objectContaining({
        productId: 'hd',
        expiryTime: iso(T0 + 7 * DAY),
        autoRenewingPlan: { autoRenewEnabled: true, recurringPrice: { currencyCode: 'USD', units: '0', nanos: 990_000_000 } },
        offerDetails: { basePlanId: 'weekly', offerTags: [] },
        latestSuccessfulOrderId: hdOrder,
      }),
    ]);

    await sim.advanceTime(7 * DAY);
    const week = await getSub(s.purchaseToken);
    expect(week.lineItems?.map((i) => [i.latestSuccessfulOrderId, i.expiryTime])).toEqual([
      [s.orderId, iso(T0 + 30 * DAY)],
      [storageOrder, iso(T0 + 30 * DAY)],
      [`${hdOrder}..0`, iso(T0 + 14 * DAY)],
    ]);

    await sim.advanceTime(23 * DAY);
    const month = await getSub(s.purchaseToken);
    expect(month.lineItems?.map((i) => [i.latestSuccessfulOrderId, i.expiryTime])).toEqual([
      [`${s.orderId}..0`, iso(T0 + 60 * DAY)],
      [`${storageOrder}..0`, iso(T0 + 60 * DAY)],
      [`${hdOrder}..3`, iso(T0 + 35 * DAY)],
    ]);
    // 7, 14, 21, 28 (hd) and 30 (base with extra_storage, one RTDN).
    expect(await typesFor(s.purchaseToken)).toEqual([4, 2, 2, 2, 2, 2]);
  });

  it('itemBasedRefund revokes one add-on (refunded, voided, access ends now); the rest continues', async () => {
    const s = await sim.createPurchase({ type: 'subscription', productId: 'premium', acknowledged: true, addOns: [{ productId: 'extra_storage' }, { productId: 'hd' }] });
    const storageOrder = s.addOns![0]!.orderIds[0]!;
    const revoke = (productId: string) =>
      api.purchases.subscriptionsv2.revoke({ packageName: PKG, token: s.purchaseToken, requestBody: { revocationContext: { itemBasedRefund: { productId } } } });
    expect(await failure(revoke('premium'))).toMatchObject({ status: 400, reason: 'invalidValue' });
    expect(await failure(revoke('nope'))).toMatchObject({ status: 400, reason: 'invalidValue' });

    await sim.advanceTime(DAY);
    expect((await revoke('extra_storage')).status).toBe(200);
    const sub = await getSub(s.purchaseToken);
    expect(sub.subscriptionState).toBe('SUBSCRIPTION_STATE_ACTIVE');
    expect(sub.lineItems?.[0]).toMatchObject({ expiryTime: iso(T0 + 30 * DAY), autoRenewingPlan: { autoRenewEnabled: true } });
    expect(sub.lineItems?.[1]).toMatchObject({ expiryTime: iso(T0 + DAY), autoRenewingPlan: { autoRenewEnabled: false }, latestSuccessfulOrderId: storageOrder });
    expect(sub.lineItems?.[2]).toMatchObject({ expiryTime: iso(T0 + 30 * DAY), autoRenewingPlan: { autoRenewEnabled: true } });
    expect((await listVoided({ type: 1 })).voidedPurchases).toEqual([
      expect.objectContaining({ purchaseToken: s.purchaseToken, orderId: storageOrder, voidedSource: 1, voidedTimeMillis: String(T0 + DAY) }),
    ]);
    expect(await voidedFor(s.purchaseToken)).toEqual([{ purchaseToken: s.purchaseToken, orderId: storageOrder, productType: 1, refundType: 1 }]);
    expect(await failure(revoke('extra_storage'))).toMatchObject({ status: 400, reason: 'invalidPurchaseState' });

    // The same through the control API, for the other add-on.
    const hd = await sim.transition(s.purchaseToken, 'revoke', { refund: 'item', productId: 'hd' });
    expect((hd.resource as androidpublisher_v3.Schema$SubscriptionPurchaseV2).lineItems?.[2]?.autoRenewingPlan?.autoRenewEnabled).toBe(false);
    expect(await typesFor(s.purchaseToken)).toEqual([4, 17, 17]);

    await sim.advanceTime(29 * DAY);
    const renewed = await getSub(s.purchaseToken);
    expect(renewed.subscriptionState).toBe('SUBSCRIPTION_STATE_ACTIVE');
    expect(renewed.lineItems?.map((i) => i.latestSuccessfulOrderId)).toEqual([`${s.orderId}..0`, storageOrder, s.addOns![1]!.orderIds[0]]);
  });

  it('cancelAddOn: the add-on stops renewing and lapses at its expiry; the token state follows the items', async () => {
    const s = await sim.createPurchase({ type: 'subscription', productId: 'premium', acknowledged: true, addOns: [{ productId: 'extra_storage' }] });
    const storageOrder = s.addOns![0]!.orderIds[0]!;
    await sim.transition(s.purchaseToken, 'cancelAddOn', { productId: 'extra_storage' });
    const canceled = await getSub(s.purchaseToken);
    expect(canceled.subscriptionState).toBe('SUBSCRIPTION_STATE_ACTIVE');
    expect(canceled.lineItems?.[1]?.autoRenewingPlan?.autoRenewEnabled).toBe(false);
    await expect(sim.transition(s.purchaseToken, 'cancelAddOn', { productId: 'premium' })).rejects.toMatchObject({ code: 400, reason: 'invalidValue' });

    await sim.advanceTime(30 * DAY);
    const lapsed = await getSub(s.purchaseToken);
    expect(lapsed.subscriptionState).toBe('SUBSCRIPTION_STATE_ACTIVE');
    expect(lapsed.lineItems).toEqual([
      expect.objectContaining({ productId: 'premium', expiryTime: iso(T0 + 60 * DAY), latestSuccessfulOrderId: `${s.orderId}..0` }),
      expect.objectContaining({ productId: 'extra_storage', expiryTime: iso(T0 + 30 * DAY), latestSuccessfulOrderId: storageOrder }),
    ]);
    expect(await typesFor(s.purchaseToken)).toEqual([4, 17, 2]);
  });

  it('a canceled subscription stays CANCELED until its last item expires', async () => {
    const s = await sim.createPurchase({ type: 'subscription', productId: 'premium', acknowledged: true, addOns: [{ productId: 'yearly_pack', periodMs: 60 * DAY }] });
    await sim.transition(s.purchaseToken, 'cancel');
    const canceled = await getSub(s.purchaseToken);
    expect(canceled.lineItems?.map((i) => i.autoRenewingPlan?.autoRenewEnabled)).toEqual([false, false]);
    await sim.advanceTime(30 * DAY + 1);
    expect((await getSub(s.purchaseToken)).subscriptionState).toBe('SUBSCRIPTION_STATE_CANCELED');
    await sim.advanceTime(30 * DAY);
    expect((await getSub(s.purchaseToken)).subscriptionState).toBe('SUBSCRIPTION_STATE_EXPIRED');
    expect(await typesFor(s.purchaseToken)).toEqual([4, 3, 13]);
  });
});

describe('plan changes and re-subscriptions', () => {
  it('a plan change awaiting payment that is canceled leaves the old subscription as it is, renewing (RTDN 20)', async () => {
    const old = await sim.createPurchase({ type: 'subscription', productId: 'premium', acknowledged: true });
    const change = await sim.createPurchase({ type: 'subscription', productId: 'premium_plus', linkedPurchaseToken: old.purchaseToken, pending: true });
    expect(await getSub(change.purchaseToken)).toMatchObject({ subscriptionState: 'SUBSCRIPTION_STATE_PENDING', linkedPurchaseToken: old.purchaseToken });
    expect((await getSub(old.purchaseToken)).subscriptionState).toBe('SUBSCRIPTION_STATE_ACTIVE');

    await sim.transition(change.purchaseToken, 'cancelPending');
    expect(await getSub(change.purchaseToken)).toMatchObject({
      subscriptionState: 'SUBSCRIPTION_STATE_PENDING_PURCHASE_CANCELED',
      linkedPurchaseToken: old.purchaseToken,
    });
    expect(await typesFor(change.purchaseToken)).toEqual([20]);
    const oldNow = await getSub(old.purchaseToken);
    expect(oldNow).toMatchObject({ subscriptionState: 'SUBSCRIPTION_STATE_ACTIVE', lineItems: [expect.objectContaining({ autoRenewingPlan: expect.objectContaining({ autoRenewEnabled: true }) })] });
    expect(oldNow.canceledStateContext).toBeUndefined();

    await sim.advanceTime(30 * DAY);
    expect((await getSub(old.purchaseToken)).lineItems?.[0]?.latestSuccessfulOrderId).toBe(`${old.orderId}..0`);
    expect(await typesFor(old.purchaseToken)).toEqual([4, 2]);

    // Completing a pending change replaces the old subscription.
    const paid = await sim.createPurchase({ type: 'subscription', productId: 'premium_plus', linkedPurchaseToken: old.purchaseToken, pending: true });
    await sim.transition(paid.purchaseToken, 'complete');
    expect(await getSub(old.purchaseToken)).toMatchObject({ subscriptionState: 'SUBSCRIPTION_STATE_EXPIRED', canceledStateContext: { replacementCancellation: {} } });
  });

  it('an out-of-app re-subscribe carries outOfAppPurchaseContext until acknowledged', async () => {
    const old = await sim.createPurchase({
      type: 'subscription',
      productId: 'premium',
      acknowledged: true,
      obfuscatedExternalAccountId: 'acct-9',
      obfuscatedExternalProfileId: 'prof-9',
    });
    const early = sim.createPurchase({ type: 'subscription', productId: 'premium', outOfAppExpiredToken: old.purchaseToken });
    await expect(early).rejects.toMatchObject({ code: 400, reason: 'badRequest' });
    await sim.transition(old.purchaseToken, 'expire');

    const again = await sim.createPurchase({ type: 'subscription', productId: 'premium', outOfAppExpiredToken: old.purchaseToken });
    const sub = await getSub(again.purchaseToken);
    expect(sub).toMatchObject({
      subscriptionState: 'SUBSCRIPTION_STATE_ACTIVE',
      acknowledgementState: 'ACKNOWLEDGEMENT_STATE_PENDING',
      outOfAppPurchaseContext: {
        expiredPurchaseToken: old.purchaseToken,
        expiredExternalAccountIdentifiers: { obfuscatedExternalAccountId: 'acct-9', obfuscatedExternalProfileId: 'prof-9' },
      },
    });
    expect(sub.linkedPurchaseToken).toBeUndefined();
    expect(sub.externalAccountIdentifiers).toBeUndefined();
    expect(await typesFor(again.purchaseToken)).toEqual([4]);

    await api.purchases.subscriptions.acknowledge({ packageName: PKG, subscriptionId: 'premium', token: again.purchaseToken, requestBody: {} });
    expect((await getSub(again.purchaseToken)).outOfAppPurchaseContext).toBeUndefined();

    const product = await sim.createPurchase({ type: 'product', productId: 'coins_100' });
    for (const token of [product.purchaseToken, 'nosuchtoken']) {
      await expect(sim.createPurchase({ type: 'subscription', productId: 'premium', outOfAppExpiredToken: token })).rejects.toMatchObject({ code: 400 });
    }
  });

  it('an unacknowledged out-of-app re-subscribe is refunded after 3 days', async () => {
    const old = await sim.createPurchase({ type: 'subscription', productId: 'premium', acknowledged: true });
    await sim.transition(old.purchaseToken, 'expire');
    const again = await sim.createPurchase({ type: 'subscription', productId: 'premium', outOfAppExpiredToken: old.purchaseToken });
    // The old token had no account ids: no expiredExternalAccountIdentifiers.
    expect((await getSub(again.purchaseToken)).outOfAppPurchaseContext).toEqual({ expiredPurchaseToken: old.purchaseToken });
    await sim.advanceTime(3 * DAY + 1);
    expect((await getSub(again.purchaseToken)).subscriptionState).toBe('SUBSCRIPTION_STATE_EXPIRED');
    expect((await listVoided({ type: 1 })).voidedPurchases).toEqual([expect.objectContaining({ orderId: again.orderId, voidedSource: 2, voidedReason: 8 })]);
  });
});

describe('refunds, revocations, chargebacks', () => {
  it('a product refund without revoke: purchase unchanged, not listed, no voided RTDN; a second refund fails', async () => {
    const p = await sim.createPurchase({ type: 'product', productId: 'coins_100', acknowledged: true, quantity: 2 });
    const refunded = await sim.transition(p.purchaseToken, 'refund');
    expect(refunded.resource).toMatchObject({ purchaseState: 0, refundableQuantity: 0 });
    expect((await listVoided({ type: 1, includeQuantityBasedPartialRefund: true })).voidedPurchases).toBeUndefined();
    expect(await voidedFor(p.purchaseToken)).toEqual([]);
    await expect(sim.transition(p.purchaseToken, 'refund', { revoke: true })).rejects.toMatchObject({ code: 400, reason: 'orderAlreadyRefunded' });
  });

  it('a subscription refund with revoke: listed, voided RTDN, REVOKED and EXPIRED', async () => {
    const s = await sim.createPurchase({ type: 'subscription', productId: 'premium', acknowledged: true });
    await api.orders.refund({ packageName: PKG, orderId: s.orderId!, revoke: true });
    const sub = await getSub(s.purchaseToken);
    expect(sub).toMatchObject({ subscriptionState: 'SUBSCRIPTION_STATE_EXPIRED', canceledStateContext: { developerInitiatedCancellation: {} } });
    expect((await listVoided()).voidedPurchases).toBeUndefined();
    expect((await listVoided({ type: 1 })).voidedPurchases).toEqual([expect.objectContaining({ orderId: s.orderId, voidedSource: 1, voidedReason: 0 })]);
    expect(await typesFor(s.purchaseToken)).toEqual([4, 12]);
    expect(await voidedFor(s.purchaseToken)).toEqual([{ purchaseToken: s.purchaseToken, orderId: s.orderId, productType: 1, refundType: 1 }]);
  });

  it('a chargeback of a past renewal order voids that order; the subscription stays ACTIVE and renews', async () => {
    const s = await sim.createPurchase({ type: 'subscription', productId: 'premium', acknowledged: true });
    await sim.advanceTime(60 * DAY);
    const renewal = `${s.orderId}..0`;
    const after = await sim.transition(s.purchaseToken, 'chargeback', { orderId: renewal });
    expect(after.orderId).toBe(`${s.orderId}..1`);
    expect((await getSub(s.purchaseToken)).subscriptionState).toBe('SUBSCRIPTION_STATE_ACTIVE');
    expect((await listVoided({ type: 1 })).voidedPurchases).toEqual([
      expect.objectContaining({ purchaseToken: s.purchaseToken, orderId: renewal, purchaseTimeMillis: String(T0 + 30 * DAY), voidedSource: 2, voidedReason: 7 }),
    ]);
    expect(await voidedFor(s.purchaseToken)).toEqual([{ purchaseToken: s.purchaseToken, orderId: renewal, productType: 1, refundType: 1 }]);
    await expect(sim.transition(s.purchaseToken, 'chargeback', { orderId: renewal })).rejects.toMatchObject({ reason: 'orderAlreadyRefunded' });

    await sim.advanceTime(30 * DAY);
    expect((await getSub(s.purchaseToken)).lineItems?.[0]?.latestSuccessfulOrderId).toBe(`${s.orderId}..2`);
    expect(await typesFor(s.purchaseToken)).toEqual([4, 2, 2, 2]);
  });

  it('a chargeback of a product cancels it', async () => {
    const p = await sim.createPurchase({ type: 'product', productId: 'coins_100', acknowledged: true, quantity: 3 });
    await sim.transition(p.purchaseToken, 'chargeback');
    expect(await getProduct('coins_100', p.purchaseToken)).toMatchObject({ purchaseState: 1, refundableQuantity: 0 });
    expect((await getV2(p.purchaseToken)).purchaseStateContext?.purchaseState).toBe('CANCELLED');
    expect((await listVoided()).voidedPurchases).toEqual([expect.objectContaining({ orderId: p.orderId, voidedSource: 2, voidedReason: 7 })]);
  });

  it('quantity-based partial refunds: listed only with includeQuantityBasedPartialRefund; the last one is a full refund', async () => {
    const p = await sim.createPurchase({ type: 'product', productId: 'coins_100', acknowledged: true, quantity: 5 });
    await expect(sim.transition(p.purchaseToken, 'refund', { quantity: 1 })).rejects.toThrow(/needs revoke: true/);
    await sim.transition(p.purchaseToken, 'refund', { quantity: 2, revoke: true });
    await sim.transition(p.purchaseToken, 'refund', { quantity: 1, revoke: true });
    expect(await getProduct('coins_100', p.purchaseToken)).toMatchObject({ purchaseState: 0, refundableQuantity: 2 });
    expect((await listVoided()).voidedPurchases).toBeUndefined();
    expect((await listVoided({ includeQuantityBasedPartialRefund: true })).voidedPurchases?.map((v) => [v.orderId, v.voidedQuantity])).toEqual([
      [p.orderId, 2],
      [p.orderId, 1],
    ]);
    await expect(sim.transition(p.purchaseToken, 'refund', { quantity: 3, revoke: true })).rejects.toMatchObject({ code: 400 });

    await sim.transition(p.purchaseToken, 'refund', { quantity: 2, revoke: true });
    expect(await getProduct('coins_100', p.purchaseToken)).toMatchObject({ purchaseState: 1, refundableQuantity: 0 });
    const full = (await listVoided()).voidedPurchases;
    expect(full).toEqual([expect.objectContaining({ orderId: p.orderId })]);
    expect(full?.[0]?.voidedQuantity).toBeUndefined();
    expect((await listVoided({ includeQuantityBasedPartialRefund: true })).voidedPurchases).toHaveLength(3);
    expect((await voidedFor(p.purchaseToken)).map((v) => v.refundType)).toEqual([2, 2, 1]);
    await expect(sim.transition(p.purchaseToken, 'refund', { revoke: true })).rejects.toMatchObject({ reason: 'orderAlreadyRefunded' });
  });
});

describe('voidedpurchases.list', () => {
  const revokedProduct = async (productId = 'coins_100', recordDelayMs?: number) => {
    const p = await sim.createPurchase({ type: 'product', productId, acknowledged: true });
    await sim.transition(p.purchaseToken, 'refund', { revoke: true, ...(recordDelayMs === undefined ? {} : { recordDelayMs }) });
    return p;
  };

  it('type 0 lists one-time products only, type 1 subscriptions too', async () => {
    const p = await revokedProduct();
    const s = await sim.createPurchase({ type: 'subscription', productId: 'premium', acknowledged: true });
    await sim.transition(s.purchaseToken, 'revoke');
    expect((await listVoided()).voidedPurchases?.map((v) => v.orderId)).toEqual([p.orderId]);
    expect((await listVoided({ type: 1 })).voidedPurchases?.map((v) => v.orderId)).toEqual([p.orderId, s.orderId]);
  });

  it('filters on the time Google recorded the void, not voidedTimeMillis; startTime no older than 30 days; endTime clamped to now', async () => {
    const late = await revokedProduct('coins_100', 2 * DAY);
    const prompt = await revokedProduct('coins_500');
    expect((await listVoided()).voidedPurchases?.map((v) => v.orderId)).toEqual([prompt.orderId]);
    // An endTime in the future is read as now: the late record is not seen yet.
    expect((await listVoided({ endTime: String(T0 + 5 * DAY) })).voidedPurchases?.map((v) => v.orderId)).toEqual([prompt.orderId]);

    await sim.advanceTime(2 * DAY);
    expect((await listVoided()).voidedPurchases?.map((v) => v.orderId)).toEqual([prompt.orderId, late.orderId]);
    const recent = (await listVoided({ startTime: String(T0 + DAY) })).voidedPurchases;
    expect(recent).toEqual([expect.objectContaining({ orderId: late.orderId, voidedTimeMillis: String(T0) })]);
    expect((await listVoided({ endTime: String(T0 + DAY) })).voidedPurchases?.map((v) => v.orderId)).toEqual([prompt.orderId]);

    const tooOld = await failure(listVoided({ startTime: String(sim.now() - 31 * DAY) }));
    expect(tooOld).toMatchObject({ status: 400, reason: 'invalidValue' });
    expect(sim.stats().calls['purchases.voidedpurchases.list']).toBe(6);
  });

  it('pages with maxResults and tokens, stable when voids are recorded meanwhile; startIndex', async () => {
    const orders: string[] = [];
    for (let i = 0; i < 5; i++) orders.push((await revokedProduct(`coins_${i}`)).orderId!);
    const first = await listVoided({ maxResults: 2 });
    expect(first.pageInfo).toEqual({ totalResults: 5, resultPerPage: 2, startIndex: 0 });
    const seen = first.voidedPurchases!.map((v) => v.orderId);
    orders.push((await revokedProduct('coins_new')).orderId!);

    let token = first.tokenPagination?.nextPageToken;
    while (token) {
      const page = await listVoided({ maxResults: 2, token, startTime: String(sim.now() - 40 * DAY) });
      seen.push(...page.voidedPurchases!.map((v) => v.orderId));
      token = page.tokenPagination?.nextPageToken ?? undefined;
    }
    expect(seen).toEqual(orders);
    expect((await listVoided({ startIndex: 3, maxResults: 10 })).voidedPurchases?.map((v) => v.orderId)).toEqual(orders.slice(3));
    expect(await failure(listVoided({ token: 'garbage' }))).toMatchObject({ status: 400, reason: 'invalidValue' });
  });
});

describe('productsv2.getproductpurchasev2', () => {
  it('a purchase: line item with offer details, PURCHASED, completion time, order; consume and acknowledge show', async () => {
    const p = await sim.createPurchase({
      type: 'product',
      productId: 'coins_100',
      quantity: 2,
      offerId: 'spring-sale',
      purchaseOptionId: 'bundle',
      obfuscatedExternalAccountId: 'acct-1',
      regionCode: 'DE',
    });
    const v2 = await getV2(p.purchaseToken);
    expect(v2).toEqual({
      kind: 'androidpublisher#productPurchaseV2',
      productLineItem: [
        {
          productId: 'coins_100',
          productOfferDetails: {
            consumptionState: 'CONSUMPTION_STATE_YET_TO_BE_CONSUMED',
            quantity: 2,
            refundableQuantity: 2,
            offerId: 'spring-sale',
            offerTags: [],
            offerToken: expect.stringMatching(/^[A-Za-z0-9_-]{20,}$/),
            purchaseOptionId: 'bundle',
          },
        },
      ],
      purchaseStateContext: { purchaseState: 'PURCHASED' },
      acknowledgementState: 'ACKNOWLEDGEMENT_STATE_PENDING',
      orderId: p.orderId,
      purchaseCompletionTime: iso(T0),
      regionCode: 'DE',
      obfuscatedExternalAccountId: 'acct-1',
    });
    expect(p.resourceV2).toEqual(v2);
    await api.purchases.products.consume({ packageName: PKG, productId: 'coins_100', token: p.purchaseToken });
    expect(await getV2(p.purchaseToken)).toMatchObject({
      acknowledgementState: 'ACKNOWLEDGEMENT_STATE_ACKNOWLEDGED',
      productLineItem: [{ productOfferDetails: { consumptionState: 'CONSUMPTION_STATE_CONSUMED' } }],
    });
    expect(sim.stats().calls['purchases.productsv2.getproductpurchasev2']).toBe(2);
  });

  it('pending (no order, no completion time), completed later, canceled; test purchases; rentals and pre-orders', async () => {
    const p = await sim.createPurchase({ type: 'product', productId: 'gems', pending: true });
    const pending = await getV2(p.purchaseToken);
    expect(pending.purchaseStateContext).toEqual({ purchaseState: 'PENDING' });
    expect(pending.orderId).toBeUndefined();
    expect(pending.purchaseCompletionTime).toBeUndefined();
    await sim.advanceTime(3_600_000);
    await sim.transition(p.purchaseToken, 'complete');
    expect(await getV2(p.purchaseToken)).toMatchObject({ purchaseStateContext: { purchaseState: 'PURCHASED' }, purchaseCompletionTime: iso(T0 + 3_600_000) });

    const q = await sim.createPurchase({ type: 'product', productId: 'gems', pending: true });
    await sim.transition(q.purchaseToken, 'cancelPending');
    expect((await getV2(q.purchaseToken)).purchaseStateContext).toEqual({ purchaseState: 'CANCELLED' });

    const t = await sim.createPurchase({ type: 'product', productId: 'gems', test: true });
    expect((await getV2(t.purchaseToken)).testPurchaseContext).toEqual({ fopType: 'TEST' });
    expect((await getV2(p.purchaseToken)).testPurchaseContext).toBeUndefined();

    const rent = await sim.createPurchase({ type: 'product', productId: 'movie', rental: true, purchaseOptionId: 'rent' });
    expect((await getV2(rent.purchaseToken)).productLineItem?.[0]?.productOfferDetails).toMatchObject({ rentOfferDetails: {}, purchaseOptionId: 'rent' });
    const pre = await sim.createPurchase({ type: 'product', productId: 'season_pass', preorderReleaseTime: T0 + 10 * DAY });
    const preItem = (await getV2(pre.purchaseToken)).productLineItem?.[0]?.productOfferDetails;
    expect(preItem?.preorderOfferDetails).toEqual({ preorderReleaseTime: iso(T0 + 10 * DAY) });
    expect(preItem?.rentOfferDetails).toBeUndefined();
  });

  it('a multi-product purchase: several line items, RTDN without sku, partial refunds per line item', async () => {
    const p = await sim.createPurchase({ type: 'product', productId: 'coins_100', acknowledged: true, extraProducts: [{ productId: 'gems', quantity: 3 }] });
    const v2 = await getV2(p.purchaseToken);
    expect(v2.productLineItem?.map((i) => [i.productId, i.productOfferDetails?.quantity])).toEqual([
      ['coins_100', 1],
      ['gems', 3],
    ]);
    await sim.idle();
    const n = received.map(dev).find((d) => d?.oneTimeProductNotification?.purchaseToken === p.purchaseToken);
    expect(n?.oneTimeProductNotification).toEqual({ version: '1.0', notificationType: 1, purchaseToken: p.purchaseToken });
    expect((await getProduct('coins_100', p.purchaseToken)).quantity).toBe(1);

    await sim.transition(p.purchaseToken, 'refund', { quantity: 2, revoke: true, productId: 'gems' });
    expect((await getV2(p.purchaseToken)).productLineItem?.map((i) => i.productOfferDetails?.refundableQuantity)).toEqual([1, 1]);
    await expect(sim.transition(p.purchaseToken, 'refund', { quantity: 1, revoke: true, productId: 'nope' })).rejects.toMatchObject({ reason: 'invalidValue' });
  });

  it('404 purchaseTokenNotFound for an unknown token; 400 invalidValue for a subscription or another package', async () => {
    const s = await sim.createPurchase({ type: 'subscription', productId: 'premium' });
    const p = await sim.createPurchase({ type: 'product', productId: 'coins_100' });
    expect(await failure(getV2('nosuchtoken'))).toMatchObject({ status: 404, reason: 'purchaseTokenNotFound' });
    expect(await failure(getV2(s.purchaseToken))).toMatchObject({ status: 400, reason: 'invalidValue' });
    const other = api.purchases.productsv2.getproductpurchasev2({ packageName: 'com.other', token: p.purchaseToken });
    expect(await failure(other)).toMatchObject({ status: 400, reason: 'invalidValue' });
  });
});

describe('fault modes', () => {
  it("401/403/409/410 errors carry Play's reasons", async () => {
    const p = await sim.createPurchase({ type: 'product', productId: 'coins_100' });
    const cases = [
      [401, 'permissionDenied'],
      [403, 'userInsufficientPermission'],
      [409, 'concurrentUpdate'],
      [410, 'purchaseTokenNoLongerValid'],
    ] as const;
    for (const [status, reason] of cases) {
      sim.injectFaults({ status });
      expect(await failure(api.purchases.products.get({ packageName: PKG, productId: 'coins_100', token: p.purchaseToken }, { retry: false }))).toMatchObject({ status, reason });
    }
    sim.injectFaults({ status: 401 });
    const res = await fetch(`${sim.url}androidpublisher/v3/applications/${PKG}/purchases/productsv2/tokens/${p.purchaseToken}`);
    expect(await res.json()).toEqual({
      error: {
        code: 401,
        message: 'The current user has insufficient permissions to perform the requested operation.',
        errors: [{ domain: 'androidpublisher', reason: 'permissionDenied', message: 'The current user has insufficient permissions to perform the requested operation.' }],
        status: 'UNAUTHENTICATED',
      },
    });
  });

  const served = async (n: number) => {
    for (let i = 0; i < 200 && sim.stats().faultsServed < n; i++) await new Promise((r) => setTimeout(r, 5));
    expect(sim.stats().faultsServed).toBe(n);
  };

  it('stale: the answer reflects the state at arrival, sent late; a stale write is done at arrival', async () => {
    const s = await sim.createPurchase({ type: 'subscription', productId: 'premium', acknowledged: true });
    sim.injectFaults({ mode: 'stale', delayMs: 300, method: 'GET', pathContains: 'subscriptionsv2' });
    const read = getSub(s.purchaseToken);
    await served(1);
    await sim.transition(s.purchaseToken, 'cancel');
    expect((await read).subscriptionState).toBe('SUBSCRIPTION_STATE_ACTIVE');
    expect((await getSub(s.purchaseToken)).subscriptionState).toBe('SUBSCRIPTION_STATE_CANCELED');

    const p = await sim.createPurchase({ type: 'product', productId: 'coins_100' });
    sim.injectFaults({ mode: 'stale', delayMs: 300, pathContains: ':acknowledge' });
    const ack = api.purchases.products.acknowledge({ packageName: PKG, productId: 'coins_100', token: p.purchaseToken, requestBody: {} });
    await served(2);
    for (let i = 0; i < 100 && sim.get(p.purchaseToken)?.resource.acknowledgementState !== 1; i++) await new Promise((r) => setTimeout(r, 5));
    expect(sim.get(p.purchaseToken)?.resource.acknowledgementState).toBe(1);
    expect((await ack).status).toBe(204);
  });

  it('lost: the work is done and its RTDNs go out, but the client gets no answer', async () => {
    const s = await sim.createPurchase({ type: 'subscription', productId: 'premium', acknowledged: true });
    sim.injectFaults({ mode: 'lost', method: 'POST', pathContains: s.purchaseToken });
    const cancel = api.purchases.subscriptionsv2.cancel(
      { packageName: PKG, token: s.purchaseToken, requestBody: { cancellationContext: { cancellationType: 'USER_REQUESTED_STOP_RENEWALS' } } },
      { retry: false },
    );
    const lost = await failure(cancel);
    expect(lost.status).toBeUndefined();
    expect(lost.message).toMatch(/socket hang up|ECONNRESET|fetch failed|terminated/i);
    expect((await getSub(s.purchaseToken)).subscriptionState).toBe('SUBSCRIPTION_STATE_CANCELED');
    expect(await typesFor(s.purchaseToken)).toEqual([4, 3]);
    expect(sim.stats().faultsServed).toBe(1);
  });
});

describe('control API over HTTP: new inputs', () => {
  const post = async (path: string, body: unknown) => {
    const res = await fetch(`${sim.url}_sim/${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: res.status, body: (await res.json()) as Record<string, any> };
  };

  it('creates add-ons and multi-product purchases; cancelAddOn, chargeback and lost faults; rejects inconsistent arguments', async () => {
    const s = await post('purchases', { type: 'subscription', productId: 'premium', addOns: [{ productId: 'hd' }] });
    expect(s.body.addOns).toEqual([{ productId: 'hd', orderIds: [expect.stringMatching(/^GPA\./)] }]);
    const token = s.body.purchaseToken as string;
    expect((await post(`purchases/${token}/cancelAddOn`, { productId: 'hd' })).body.resource.lineItems[1].autoRenewingPlan.autoRenewEnabled).toBe(false);
    expect((await post(`purchases/${token}/revoke`, { refund: 'item' })).status).toBe(400);
    expect((await post(`purchases/${token}/revoke`, { productId: 'hd' })).status).toBe(400);
    expect((await post(`purchases/${token}/refund`, { quantity: 1 })).body.error.message).toMatch(/revoke/);
    expect((await post(`purchases/${token}/chargeback`, {})).body.resource.subscriptionState).toBe('SUBSCRIPTION_STATE_ACTIVE');

    const p = await post('purchases', { type: 'product', productId: 'coins_100', extraProducts: [{ productId: 'gems' }] });
    expect(p.body.resourceV2.productLineItem).toHaveLength(2);
    expect(p.body.resource.kind).toBe('androidpublisher#productPurchase');
    expect((await post('purchases', { type: 'subscription', productId: 'premium', prepaid: true, addOns: [{ productId: 'hd' }] })).status).toBe(400);
    expect((await post('faults', { mode: 'lost', method: 'POST' })).body.pendingFaults).toBe(1);
    expect((await post('faults', { mode: 'stale', method: 'PUT' })).status).toBe(400);
  });
});
