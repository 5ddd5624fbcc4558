import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { decodeJwsPayload, tamper } from '../../tools/app-store-simulator';
import { startAllFunctions, type AllFunctionsStack } from '../helpers/all-functions-stack';
import { dumpFirestoreExcept } from '../helpers/firestore-dump-except';
import { forge, tokenRecipe } from '../helpers/forged-tokens';
import {
  contentType,
  deepJson,
  describeRequest,
  gzip,
  hostileJson,
  hugeString,
  mutated,
  nastyString,
  notJsonObject,
  obj,
  Obj,
  otherMethod,
  runs,
  SEED,
  toJsonText,
  type HostileJson,
} from '../helpers/hostile';
import { rawRequest, type RawRequest, type RawResponse } from '../helpers/raw-http';
import { PACKAGE } from '../helpers/verify-stack';

/**
 * Hostile input, generated with fast-check, against all four functions over HTTP (the functions
 * framework on 127.0.0.1, production ID token checks: RS256 against a local certificate server, no
 * Auth-emulator switch; Apple configured against the App Store simulator's test root). Every case
 * must be refused with a 4xx and a clear error code (playRtdn: acked with a 2xx, the bad message
 * dead-lettered), never a 5xx or a dropped connection, and Firestore must be byte-for-byte what it
 * was (playRtdn: only `deadLetters` may grow). The database holds real purchases, so a refused
 * request that changed anything would show.
 *
 * Fixed seed (FC_SEED to change it, FC_RUNS_SCALE to run more or fewer cases); fast-check prints the
 * seed, the path and the shrunk counterexample when a property fails.
 */
type Fn = 'verifyPurchase' | 'refundPurchase' | 'appStoreNotifications' | 'playRtdn';

let a: AllFunctionsStack;
let certPem: string;
let projectId: string;
const OWNER = 'owner-1';
const MALLORY = 'mallory';
let malloryAuth: string;
let adminAuth: string;
/** Tokens owned by OWNER (a subscription and a consumable); one purchase nobody has verified. */
let ownedSub: string;
let ownedCoins: string;
let unclaimed: string;
/** An App Store notification already applied (a replay is a duplicate), and its decoded payload. */
let genuineNotification: string;
let genuinePayload: Record<string, any>;

beforeAll(async () => {
  a = await startAllFunctions();
  projectId = a.s.projectId;
  certPem = Object.values((await (await fetch(a.certs.url)).json()) as Record<string, string>)[0]!;
  const ownerAuth = `Bearer ${await a.signedToken(OWNER)}`;
  malloryAuth = `Bearer ${await a.signedToken(MALLORY)}`;
  adminAuth = `Bearer ${await a.signedToken('admin-1', { admin: true })}`;

  const buy = async (type: 'subscription' | 'product', productId: string) =>
    (await a.s.sim.createPurchase({ type, productId, packageName: PACKAGE } as never)).purchaseToken;
  const verify = async (body: Record<string, unknown>) => {
    const res = await rawRequest(a.urls.verifyPurchase, { headers: { 'content-type': 'application/json', authorization: ownerAuth }, body: JSON.stringify(body) });
    expect(res.status, res.text).toBe(200);
  };
  ownedSub = await buy('subscription', 'premium_monthly');
  ownedCoins = await buy('product', 'coins_100');
  unclaimed = await buy('product', 'remove_ads');
  await verify({ packageName: PACKAGE, productId: 'premium_monthly', purchaseToken: ownedSub });
  await verify({ packageName: PACKAGE, productId: 'coins_100', purchaseToken: ownedCoins });

  const { purchase, notifications } = await a.apple.buy({ kind: 'subscription', productId: 'com.example.app.premium.monthly' });
  expect(notifications[0]?.delivery).toMatchObject({ status: 200 });
  genuineNotification = notifications[0]!.signedPayload;
  genuinePayload = decodeJwsPayload(genuineNotification);
  await verify({ platform: 'app_store', signedTransaction: await a.apple.signTransaction(purchase.originalTransactionId) });
  console.log(`hostile-input: fast-check seed ${SEED} (FC_SEED to change it)`);
}, 120_000);
afterAll(async () => {
  await a?.close();
});

// ---------------------------------------------------------------------------------------------
// oracles

const HTTP_CODES = [
  'invalid_argument', 'unknown_product', 'invalid_signature', 'invalid_signed_data', 'apple_not_configured', 'unauthenticated',
  'permission_denied', 'package_not_allowed', 'account_mismatch', 'purchase_not_found', 'method_not_allowed', 'purchase_claimed',
  'purchase_pending', 'purchase_canceled', 'failed_precondition', 'payload_too_large',
];
const CALLABLE_STATUSES = ['INVALID_ARGUMENT', 'UNAUTHENTICATED', 'PERMISSION_DENIED', 'NOT_FOUND', 'ALREADY_EXISTS', 'FAILED_PRECONDITION'];

const url = (fn: Fn) => a.urls[fn];
const rtdnPath = () => `/projects/${projectId}/topics/play-rtdn`;
const send = async (fn: Fn, r: RawRequest) => count(await rawRequest(url(fn), { ...r, ...(fn === 'playRtdn' && !r.path ? { path: rtdnPath() } : {}) }));
const explain = (fn: Fn, r: RawRequest, res: RawResponse) => `${fn}: ${describeRequest(r)}\n  -> ${res.status} ${res.text.slice(0, 300)}`;

/** A 4xx with one of our error codes (callable: a canonical status with the code in details). */
function expectRefused(fn: Fn, r: RawRequest, res: RawResponse, codes: string[] = HTTP_CODES): void {
  const what = explain(fn, r, res);
  if (fn === 'refundPurchase' && r.method === 'OPTIONS' && res.status === 204) return; // a CORS preflight, nothing read
  expect(res.status >= 400 && res.status < 500, what).toBe(true);
  if (r.method === 'HEAD') return; // no body, by definition
  const error = res.json?.error;
  expect(error?.message, what).toEqual(expect.any(String));
  expect(codes, what).toContain(fn === 'refundPurchase' ? (error.details?.code ?? error.code) : error.code);
  if (fn === 'refundPurchase') expect(CALLABLE_STATUSES, what).toContain(error.status);
}

/** playRtdn: a 2xx (acked), or a 4xx with a clear code for what is not an event at all; never 5xx. */
function expectAckedOrRefused(r: RawRequest, res: RawResponse, mustAck: boolean): void {
  const what = explain('playRtdn', r, res);
  if (mustAck || res.status < 300) {
    expect(res.status >= 200 && res.status < 300, what).toBe(true);
    return;
  }
  expectRefused('playRtdn', r, res);
}

/**
 * Runs `body` and checks that Firestore is exactly as before; with `deadLetters`, except for new
 * documents in `deadLetters` (append-only, read by query rather than dumped whole every time).
 */
async function unchanged(body: () => Promise<void>, o: { deadLetters?: boolean } = {}): Promise<void> {
  if (!o.deadLetters) {
    const before = await a.s.dump();
    await body();
    expect(await a.s.dump()).toEqual(before);
    return;
  }
  const before = await dumpFirestoreExcept(a.s.db, ['deadLetters']);
  const lettersBefore = new Set((await a.s.db.collection('deadLetters').select().get()).docs.map((d) => d.id));
  await body();
  expect(await dumpFirestoreExcept(a.s.db, ['deadLetters'])).toEqual(before);
  const letters = await a.s.db.collection('deadLetters').get();
  for (const d of letters.docs) {
    if (!lettersBefore.has(d.id)) expect(d.data(), d.id).toMatchObject({ source: 'play_rtdn', reason: expect.any(String), payload: expect.any(String) });
  }
}

const playCalls = () => JSON.stringify(a.s.sim.stats().calls);

/** Answers seen by the current property, by status and code: printed so a run shows what it covered. */
let tally = new Map<string, number>();
function count(res: RawResponse): RawResponse {
  const key = `${res.status} ${res.json?.error?.details?.code ?? res.json?.error?.code ?? res.json?.status ?? ''}`.trim();
  tally.set(key, (tally.get(key) ?? 0) + 1);
  return res;
}
beforeEach(() => {
  tally = new Map();
});
afterEach((ctx) => {
  const seen = [...tally].sort((x, y) => y[1] - x[1]).map(([k, n]) => `${k} x${n}`).join(', ');
  if (seen) console.log(`${ctx.task.name}: ${seen}`);
});

// ---------------------------------------------------------------------------------------------
// generators shared by the HTTP functions

const VERIFY_FIELDS = ['platform', 'packageName', 'productId', 'purchaseToken', 'signedData', 'signature', 'signedTransaction', 'transactionId', 'receipt'];
const REFUND_FIELDS = ['packageName', 'purchaseToken', 'action', 'reason', 'refundType', 'idempotencyKey'];
const ASN_FIELDS = ['signedPayload', 'data', 'notificationType'];
const RTDN_FIELDS = ['version', 'packageName', 'eventTimeMillis', 'subscriptionNotification', 'oneTimeProductNotification', 'testNotification'];
const RTDN_INNER_FIELDS = ['version', 'notificationType', 'purchaseToken', 'subscriptionId', 'sku'];
const ENVELOPE_FIELDS = ['subscription', 'message', 'data', 'messageId', 'message_id', 'attributes', 'publishTime', 'context', 'eventType', 'resource'];

interface Body {
  text: string | Buffer;
  gzip?: boolean;
}

/** Any body: not JSON, JSON of the wrong shape, a valid one made wrong, > 64 KiB, deeply nested, gzipped. */
function anyBody(fields: string[], base: Record<string, HostileJson>): fc.Arbitrary<Body> {
  return fc.oneof(
    notJsonObject.map((text) => ({ text })),
    hostileJson(fields).map((v) => ({ text: toJsonText(v) })),
    mutated(base, fields).map((v) => ({ text: toJsonText(v) })),
    hugeString(64 * 1024 + 1, 200_000).map((s) => ({ text: JSON.stringify({ ...base, [fields[0]!]: s }) })),
    deepJson(1_000, 30_000).map((v) => ({ text: toJsonText(v) })),
    mutated(base, fields).map((v) => ({ text: toJsonText(v), gzip: true })),
  );
}

/** A request with any method, content type and body; `auth` is the Authorization header to send (if any). */
function anyRequest(fields: string[], base: Record<string, HostileJson>, auth: () => string | undefined, wrap?: (b: string) => string) {
  return fc
    .record({
      method: fc.oneof({ weight: 4, arbitrary: fc.constant('POST') }, { weight: 1, arbitrary: otherMethod }),
      type: contentType,
      body: anyBody(fields, base),
      wrapped: fc.boolean(),
      withAuth: fc.boolean(),
    })
    .map(({ method, type, body, wrapped, withAuth }): RawRequest => {
      const headers: Record<string, string> = {};
      if (type) headers['content-type'] = type;
      const authorization = withAuth ? auth() : undefined;
      if (authorization) headers.authorization = authorization;
      let text = body.text;
      if (wrap && wrapped && typeof text === 'string') text = wrap(text);
      if (body.gzip) headers['content-encoding'] = 'gzip';
      return { method, headers, ...(method === 'GET' || method === 'HEAD' ? {} : { body: body.gzip && typeof text === 'string' ? gzip(text) : text }) };
    });
}

// ---------------------------------------------------------------------------------------------

describe('verifyPurchase', () => {
  it('any method, content type and body: a 4xx with a code, nothing written', async () => {
    // Even a valid body is refused here: the purchase belongs to OWNER and the caller is MALLORY.
    const base = { packageName: PACKAGE, productId: 'premium_monthly', purchaseToken: ownedSub };
    await unchanged(() =>
      fc.assert(
        fc.asyncProperty(anyRequest(VERIFY_FIELDS, base, () => malloryAuth), async (r) => {
          expectRefused('verifyPurchase', r, await send('verifyPurchase', r));
        }),
        runs(250),
      ),
    );
  }, 90_000);

  it('valid Play and App Store bodies made wrong, from a signed-in user: refused, nothing written', async () => {
    // Plausible values get past the schema to Play, the signature check and the claim: another
    // product, another app, another user's token, a token Play does not know, a forged signedData.
    const plausible: Record<string, HostileJson[]> = {
      platform: ['google_play', 'app_store'],
      packageName: [PACKAGE, 'com.example.other', 'com.evil.app'],
      productId: ['premium_monthly', 'premium_yearly', 'remove_ads', 'coins_100', 'com.example.app.premium.monthly', 'not_in_catalog'],
      purchaseToken: [ownedSub, ownedCoins, 'unknown-token-abcdefghijklmnopqrstuvwxyz', 'GPA.1234-5678-9012-34567'],
      signedData: [JSON.stringify({ orderId: 'GPA.1', packageName: PACKAGE, productId: 'coins_100', purchaseToken: ownedCoins }), '{}'],
      signature: ['c2lnbmF0dXJl', Buffer.alloc(256, 7).toString('base64')],
      transactionId: ['2000000000000001', '0'],
    };
    const play = { packageName: PACKAGE, productId: 'coins_100', purchaseToken: ownedCoins };
    const apple = { platform: 'app_store', signedTransaction: tamper(genuineNotification, (p) => (p.x = 1)) };
    const body = fc.oneof(
      { weight: 3, arbitrary: mutated(play, VERIFY_FIELDS, plausible) },
      mutated(apple, VERIFY_FIELDS, plausible),
      mutated({ platform: 'app_store', transactionId: '2000000000000001' }, VERIFY_FIELDS, plausible),
    );
    await unchanged(() =>
      fc.assert(
        fc.asyncProperty(body, async (b) => {
          const r: RawRequest = { headers: { 'content-type': 'application/json', authorization: malloryAuth }, body: toJsonText(b) };
          expectRefused('verifyPurchase', r, await send('verifyPurchase', r));
        }),
        runs(200),
      ),
    );
  }, 90_000);

  it('forged or tampered ID tokens with a valid body for an unclaimed purchase: 401, Play not called, nothing written', async () => {
    const body = JSON.stringify({ packageName: PACKAGE, productId: 'remove_ads', purchaseToken: unclaimed });
    const claims = fc.constantFrom<Record<string, unknown> | undefined>(undefined, { admin: true }, { firebase: { sign_in_provider: 'custom' } });
    await unchanged(() =>
      fc.assert(
        fc.asyncProperty(tokenRecipe, claims, async (recipe, c) => {
          const { authorization } = await forge(recipe, { projectId, uid: MALLORY, certs: a.certs, publicCertPem: certPem, ...(c ? { claims: c } : {}) });
          const calls = playCalls();
          const r: RawRequest = { headers: { 'content-type': 'application/json', authorization }, body };
          const res = await send('verifyPurchase', r);
          expectRefused('verifyPurchase', r, res, ['unauthenticated']);
          expect(res.status).toBe(401);
          expect(playCalls(), `${recipe.kind}: Play was called`).toBe(calls);
        }),
        runs(200),
      ),
    );
  }, 90_000);
});

describe('refundPurchase (callable protocol)', () => {
  const wrap = (text: string) => `{"data":${text}}`;

  it('any method, content type and body, as an admin: a 4xx with a canonical status and a code, nothing written', async () => {
    // The action is never valid, so even a well-formed request is refused before Play or the audit log.
    const base = { packageName: PACKAGE, purchaseToken: ownedSub, action: 'explode', reason: 'fraud report' };
    await unchanged(() =>
      fc.assert(
        fc.asyncProperty(anyRequest(REFUND_FIELDS, base, () => adminAuth, wrap), async (r) => {
          expectRefused('refundPurchase', r, await send('refundPurchase', r));
        }),
        runs(200),
      ),
    );
  }, 90_000);

  it('valid data made wrong, as an admin: INVALID_ARGUMENT, Play not called, nothing written (not even the audit log)', async () => {
    const base = { packageName: PACKAGE, purchaseToken: ownedSub, action: 'explode', reason: 'fraud report', refundType: 'full', idempotencyKey: 'ticket-12345' };
    await unchanged(() =>
      fc.assert(
        fc.asyncProperty(mutated(base, REFUND_FIELDS), async (data) => {
          const calls = playCalls();
          const r: RawRequest = { headers: { 'content-type': 'application/json', authorization: adminAuth }, body: wrap(toJsonText(data)) };
          expectRefused('refundPurchase', r, await send('refundPurchase', r), ['invalid_argument', 'payload_too_large']);
          expect(playCalls()).toBe(calls);
        }),
        runs(200),
      ),
    );
  }, 90_000);

  it('forged admin tokens and non-admin claims with valid data: UNAUTHENTICATED or PERMISSION_DENIED, nothing called or written', async () => {
    const data = JSON.stringify({ data: { packageName: PACKAGE, purchaseToken: ownedSub, action: 'revoke', reason: 'fraud report' } });
    const notAdmin = fc.constantFrom<unknown>('true', 1, [true], { value: true }, 'yes', null, false, 'TRUE');
    const attempt = fc.oneof(
      tokenRecipe.map((recipe) => ({ recipe, adminClaim: true as unknown })),
      notAdmin.map((adminClaim) => ({ recipe: undefined, adminClaim })),
    );
    await unchanged(() =>
      fc.assert(
        fc.asyncProperty(attempt, async ({ recipe, adminClaim }) => {
          const authorization = recipe
            ? (await forge(recipe, { projectId, uid: 'forger', claims: { admin: true }, certs: a.certs, publicCertPem: certPem })).authorization
            : `Bearer ${await a.signedToken('not-an-admin', { admin: adminClaim })}`;
          const calls = playCalls();
          const r: RawRequest = { headers: { 'content-type': 'application/json', authorization }, body: data };
          const res = await send('refundPurchase', r);
          expectRefused('refundPurchase', r, res, recipe ? ['unauthenticated'] : ['permission_denied']);
          expect(res.status).toBe(recipe ? 401 : 403);
          expect(playCalls()).toBe(calls);
        }),
        runs(150),
      ),
    );
  }, 90_000);
});

describe('appStoreNotifications', () => {
  it('any method, content type and body: a 4xx with a code, nothing written', async () => {
    const base = { signedPayload: tamper(genuineNotification, (p) => (p.notificationType = 'REFUND')) };
    await unchanged(() =>
      fc.assert(
        fc.asyncProperty(anyRequest(ASN_FIELDS, base, () => undefined), async (r) => {
          expectRefused('appStoreNotifications', r, await send('appStoreNotifications', r));
        }),
        runs(200),
      ),
    );
  }, 90_000);

  it('forged, tampered, re-signed and foreign signedPayloads: 400, nothing written', async () => {
    const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
    const [gHeader, gBody, gSig] = genuineNotification.split('.') as [string, string, string];
    const header = JSON.parse(Buffer.from(gHeader, 'base64url').toString()) as { x5c: string[] };
    type Recipe =
      | { kind: 'foreign_ca' }
      | { kind: 'tampered'; field: string; value: HostileJson }
      | { kind: 'header'; header: Record<string, unknown> }
      | { kind: 'signature'; sig: string }
      | { kind: 'random'; parts: string[] }
      | { kind: 'other_app'; bundleId: string }
      | { kind: 'xcode' }
      | { kind: 'inner_forged' };
    const recipe: fc.Arbitrary<Recipe> = fc.oneof(
      fc.constant({ kind: 'foreign_ca' as const }),
      fc.record({ kind: fc.constant('tampered' as const), field: fc.constantFrom('notificationType', 'subtype', 'notificationUUID', 'signedDate', 'data', '__proto__'), value: hostileJson() }),
      fc.record({
        kind: fc.constant('header' as const),
        header: fc.constantFrom<Record<string, unknown>>(
          { alg: 'none' },
          { alg: 'HS256' },
          { alg: 'RS256' },
          { alg: 'ES256', x5c: [] },
          { alg: 'ES256', x5c: ['bm90IGEgY2VydA=='] },
          { alg: 'ES256', x5c: [...header.x5c].reverse() },
          { alg: 'ES256', x5c: header.x5c.slice(0, 1) },
          { alg: 'ES256', x5c: [...a.apple.foreignCa.x5c] },
          { alg: 'ES256', x5c: 'not an array' },
        ),
      }),
      fc.record({ kind: fc.constant('signature' as const), sig: fc.base64String({ minLength: 4, maxLength: 120 }).map((s) => Buffer.from(s).toString('base64url')) }),
      fc.record({ kind: fc.constant('random' as const), parts: fc.tuple(nastyString, nastyString, nastyString).map((p) => p.map((x) => Buffer.from(x).toString('base64url') || 'e30')) }),
      fc.record({ kind: fc.constant('other_app' as const), bundleId: nastyString }),
      fc.constant({ kind: 'xcode' as const }),
      fc.constant({ kind: 'inner_forged' as const }),
    );
    const make = async (r: Recipe): Promise<string> => {
      const fresh: Record<string, any> = { ...genuinePayload, notificationUUID: randomUUID() };
      switch (r.kind) {
        case 'foreign_ca':
          return a.apple.sign(fresh, { ca: a.apple.foreignCa });
        case 'tampered':
          return tamper(genuineNotification, (p) => Object.defineProperty(p, r.field, { value: JSON.parse(toJsonText(r.value)), enumerable: true }));
        case 'header':
          return `${b64({ ...header, ...r.header })}.${gBody}.${gSig}`;
        case 'signature':
          return `${gHeader}.${gBody}.${r.sig}`;
        case 'random':
          return r.parts.join('.');
        case 'other_app':
          return a.apple.sign({ ...fresh, data: { ...fresh.data, bundleId: r.bundleId === a.apple.bundleId ? 'com.evil.app' : r.bundleId } });
        case 'xcode':
          return a.apple.sign({ ...fresh, data: { ...fresh.data, environment: 'Xcode' } });
        case 'inner_forged':
          return a.apple.sign({
            ...fresh,
            data: { ...fresh.data, signedTransactionInfo: await a.apple.sign(decodeJwsPayload(fresh.data.signedTransactionInfo), { ca: a.apple.foreignCa }) },
          });
      }
    };
    await unchanged(() =>
      fc.assert(
        fc.asyncProperty(recipe, async (rec) => {
          const r: RawRequest = { headers: { 'content-type': 'application/json' }, body: JSON.stringify({ signedPayload: await make(rec) }) };
          const res = await send('appStoreNotifications', r);
          expectRefused('appStoreNotifications', r, res, ['invalid_signed_data', 'invalid_argument']);
          expect(res.status, rec.kind).toBe(400);
        }),
        runs(120),
      ),
    );
  }, 90_000);

  it('a genuine notification replayed (with extra fields) is a duplicate and changes nothing', async () => {
    await unchanged(async () => {
      for (const body of [{ signedPayload: genuineNotification }, { signedPayload: genuineNotification, __proto__x: 1, notificationType: 'REFUND' }]) {
        const res = await send('appStoreNotifications', { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
        expect(res.status).toBe(200);
        expect(res.json).toEqual({ status: 'duplicate' });
      }
    });
  });
});

describe('playRtdn', () => {
  let unknownSeq = 0;
  /** Tokens Play does not know: a notification about one is dead-lettered (purchase_not_found). */
  const unknownToken = () => `unknown-${process.pid}-${++unknownSeq}`;
  const notification = fc.oneof(
    fc.constant(() => obj({ version: '1.0', packageName: PACKAGE, eventTimeMillis: String(Date.now()), subscriptionNotification: obj({ version: '1.0', notificationType: 4, purchaseToken: unknownToken() }) })),
    fc.constant(() => obj({ version: '1.0', packageName: PACKAGE, eventTimeMillis: Date.now(), oneTimeProductNotification: obj({ version: '1.0', notificationType: 1, purchaseToken: unknownToken(), sku: 'coins_100' }) })),
    fc.constant(() => obj({ version: '1.0', packageName: PACKAGE, eventTimeMillis: String(Date.now()), testNotification: obj({ version: '1.0' }) })),
  );
  /** A notification made wrong at the top or inside its kind (never a valid void or refund review: those write by design). */
  const hostileNotification: fc.Arbitrary<() => HostileJson> = fc.oneof(
    notification.chain((make) => {
      const base = Object.fromEntries((make() as Obj).entries);
      return mutated(base, RTDN_FIELDS).map((m) => () => m);
    }),
    notification.chain((make) => {
      const top = make() as Obj;
      const [kind, inner] = top.entries[top.entries.length - 1]! as [string, Obj];
      return mutated(Object.fromEntries(inner.entries), RTDN_INNER_FIELDS).map((m) => () => new Obj([...top.entries.slice(0, -1), [kind, m]]));
    }),
    hostileJson(RTDN_FIELDS).map((v) => () => v),
    deepJson(100, 20_000).map((v) => () => v),
    notification.map((make) => make),
  );
  const messageId = fc.oneof({ weight: 3, arbitrary: fc.bigInt({ min: 1n, max: 10n ** 17n }).map(String) }, { weight: 1, arbitrary: nastyString });

  it('Pub/Sub pushes with any notification inside: acked (2xx), bad ones dead-lettered, nothing else written', async () => {
    const push = fc.record({
      make: hostileNotification,
      encoding: fc.constantFrom('base64', 'base64', 'base64', 'base64url', 'raw', 'not-base64'),
      messageId,
      attributes: fc.option(hostileJson(), { nil: undefined }),
    });
    await unchanged(
      () =>
        fc.assert(
          fc.asyncProperty(push, async ({ make, encoding, messageId: id, attributes }) => {
            const text = toJsonText(make());
            const data =
              encoding === 'raw' ? text : encoding === 'not-base64' ? `%%${text.slice(0, 50)}` : Buffer.from(text).toString(encoding === 'base64' ? 'base64' : 'base64url');
            const message = new Obj([['data', data], ['messageId', id], ...(attributes === undefined ? [] : ([['attributes', attributes]] as [string, HostileJson][]))]);
            const r: RawRequest = {
              headers: { 'content-type': 'application/json' },
              body: toJsonText(obj({ subscription: `projects/${projectId}/subscriptions/s`, message })),
            };
            const before = (await a.s.db.collection('deadLetters').count().get()).data().count;
            expectAckedOrRefused(r, await send('playRtdn', r), true);
            const after = (await a.s.db.collection('deadLetters').count().get()).data().count;
            expect(after - before, `at most one dead letter per message: ${describeRequest(r)}`).toBeLessThanOrEqual(1);
          }),
          runs(120),
        ),
      { deadLetters: true },
    );
  }, 120_000);

  it('malformed envelopes and CloudEvents (structured, binary, background): acked or refused with a code, never 5xx', async () => {
    const hostileEnvelope = fc.oneof(
      hostileJson(ENVELOPE_FIELDS),
      mutated({ subscription: 's', message: obj({ data: Buffer.from('{}').toString('base64'), messageId: '1' }) }, ENVELOPE_FIELDS),
      mutated({ message: obj({ data: Buffer.from('{"packageName":"com.example.app"}').toString('base64'), messageId: '2', attributes: obj({}) }) }, ENVELOPE_FIELDS),
    );
    const event = fc.oneof(
      hostileEnvelope.map((v) => ({ form: 'push' as const, v })),
      fc.record({ form: fc.constant('structured' as const), id: nastyString, type: nastyString, data: hostileEnvelope }),
      fc.record({ form: fc.constant('binary' as const), id: nastyString, type: fc.oneof(nastyString, fc.constant('google.cloud.pubsub.topic.v1.messagePublished')), v: hostileEnvelope }),
      fc.record({
        form: fc.constant('background' as const),
        eventType: fc.oneof(nastyString, fc.constantFrom('google.pubsub.topic.publish', 'providers/cloud.pubsub/eventTypes/topic.publish', 'providers/google.firebase.database/eventTypes/ref.write', 'providers/cloud.firestore/eventTypes/document.write')),
        resource: hostileJson(),
        data: hostileJson(),
        nested: fc.boolean(),
      }),
    );
    const printable = (s: string) => s.replace(/[^\x20-\x7e]/g, '') || 'x';
    await unchanged(
      () =>
        fc.assert(
          fc.asyncProperty(event, async (e) => {
            let r: RawRequest;
            if (e.form === 'push') r = { headers: { 'content-type': 'application/json' }, body: toJsonText(e.v) };
            else if (e.form === 'structured') {
              r = {
                headers: { 'content-type': 'application/cloudevents+json' },
                body: toJsonText(obj({ specversion: '1.0', id: e.id, type: e.type, source: '//pubsub.googleapis.com/x', data: e.data })),
              };
            } else if (e.form === 'binary') {
              r = {
                headers: { 'content-type': 'application/json', 'ce-id': printable(e.id), 'ce-specversion': '1.0', 'ce-type': printable(e.type), 'ce-source': '//pubsub.googleapis.com/x' },
                body: toJsonText(e.v),
              };
            } else {
              const context = obj({ eventId: 'e1', timestamp: new Date().toISOString(), eventType: e.eventType, resource: e.resource });
              r = {
                headers: { 'content-type': 'application/json' },
                body: toJsonText(e.nested ? obj({ context, data: e.data }) : new Obj([...context.entries, ['data', e.data]])),
              };
            }
            expectAckedOrRefused(r, await send('playRtdn', r), false);
          }),
          runs(120),
        ),
      { deadLetters: true },
    );
  }, 120_000);

  it('any method, content type and body: acked or refused with a code, never 5xx', async () => {
    const base = { subscription: 's', message: obj({ data: Buffer.from('{"testNotification":{}}').toString('base64'), messageId: '3' }) };
    await unchanged(
      () =>
        fc.assert(
          fc.asyncProperty(anyRequest(ENVELOPE_FIELDS, base, () => undefined), async (r) => {
            expectAckedOrRefused(r, await send('playRtdn', r), false);
          }),
          runs(100),
        ),
      { deadLetters: true },
    );
  }, 120_000);
});

describe('regressions found by these properties', () => {
  it('a gzip bomb is refused before it is inflated', async () => {
    // 64 MiB of JSON in 64 KiB: inflating it used to cost the instance ~3x that in memory (a 255 KiB
    // request took +700 MiB and 4 s of CPU), enough to kill a 256 MiB function instance.
    const bomb = gzip(`{"packageName":"${' '.repeat(64 * 1024 * 1024)}"}`);
    for (const fn of ['verifyPurchase', 'refundPurchase', 'appStoreNotifications', 'playRtdn'] as const) {
      const r: RawRequest = { headers: { 'content-type': 'application/json', 'content-encoding': 'gzip', authorization: malloryAuth }, body: bomb };
      const res = await send(fn, r);
      expectRefused(fn, r, res, ['invalid_argument']);
      expect(res.json.error.message).toMatch(/Content-Encoding/);
    }
  });

  it('a Pub/Sub message nested 20,000 levels deep is dead-lettered and acked (it used to throw RangeError: 500, redelivered forever)', async () => {
    await unchanged(
      async () => {
        const data = Buffer.from('{"a":'.repeat(20_000) + '1' + '}'.repeat(20_000)).toString('base64');
        const r: RawRequest = { headers: { 'content-type': 'application/json' }, body: JSON.stringify({ subscription: 's', message: { data, messageId: '424242' } }) };
        expectAckedOrRefused(r, await send('playRtdn', r), true);
      },
      { deadLetters: true },
    );
    const letters = await a.s.db.collection('deadLetters').where('messageId', '==', '424242').get();
    expect(letters.size).toBe(1);
  });

  it('a Pub/Sub messageId that is not a Firestore document id (a slash) is still processed once (it used to be a 500 forever)', async () => {
    const n = { version: '1.0', packageName: PACKAGE, eventTimeMillis: String(Date.now()), subscriptionNotification: { version: '1.0', notificationType: 4, purchaseToken: ownedSub } };
    const body = JSON.stringify({ subscription: 's', message: { data: Buffer.from(JSON.stringify(n)).toString('base64'), messageId: 'a/b/../c' } });
    for (let i = 0; i < 2; i++) {
      const res = await send('playRtdn', { headers: { 'content-type': 'application/json' }, body });
      expect(res.status).toBe(204);
    }
    const events = await a.s.db.collection('events').where('type', '==', 'subscription:4').get();
    expect(events.docs.filter((d) => d.id.startsWith('rtdn:'))).toHaveLength(1);
  });

  it('Pub/Sub messages that could not be stored as given (unpaired surrogates, a JSON string, a 300 KB messageId) are dead-lettered and acked (they used to be 500s forever)', async () => {
    const b64 = (text: string) => Buffer.from(text).toString('base64');
    const test = JSON.stringify({ version: '1.0', packageName: PACKAGE, eventTimeMillis: '1', testNotification: {} });
    const cases = [
      { data: b64(test.replace('"1.0"', '"\\ud800"')), messageId: '515151' }, // an escaped lone surrogate inside
      { data: b64('"\\udfff"'), messageId: '525252' }, // a JSON string (it was taken for the failure reason)
      { data: 'not base64!', messageId: 'id-\ud800-535353' }, // a lone surrogate messageId on an undecodable message
      { data: 'not base64!', messageId: 'x'.repeat(300_000) }, // a messageId longer than a document may be
    ];
    await unchanged(
      async () => {
        for (const message of cases) {
          const r: RawRequest = { headers: { 'content-type': 'application/json' }, body: JSON.stringify({ subscription: 's', message }) };
          expectAckedOrRefused(r, await send('playRtdn', r), true);
        }
      },
      { deadLetters: true },
    );
    const reasons = (await a.s.db.collection('deadLetters').where('messageId', 'in', ['515151', '525252', 'id-\ufffd-535353']).get()).docs.map((d) => d.data().reason);
    expect(reasons.sort()).toEqual(['message data holds an unpaired UTF-16 surrogate', 'message data is a JSON string, not a notification', 'message data is not base64 of UTF-8 text']);
  });

  it('a mistyped value with an uncomparable `length` ({"length":{"toString":{}}}) is refused with a code (zod threw: 500)', async () => {
    const evil = '{"length":{"toString":{}}}';
    await unchanged(
      async () => {
        const json = { 'content-type': 'application/json' };
        const cases: [Fn, RawRequest, number][] = [
          ['verifyPurchase', { headers: { ...json, authorization: malloryAuth }, body: `{"packageName":${evil},"productId":"coins_100","purchaseToken":"${ownedCoins}"}` }, 400],
          ['refundPurchase', { headers: { ...json, authorization: adminAuth }, body: `{"data":{"packageName":${evil},"purchaseToken":"${ownedSub}","action":"revoke","reason":"fraud"}}` }, 400],
          ['appStoreNotifications', { headers: json, body: `{"signedPayload":${evil}}` }, 400],
        ];
        for (const [fn, r, status] of cases) {
          const res = await send(fn, r);
          expectRefused(fn, r, res, ['invalid_argument']);
          expect(res.status).toBe(status);
        }
        const n = `{"version":"1.0","packageName":${evil},"eventTimeMillis":"1","testNotification":{}}`;
        const r: RawRequest = { headers: json, body: JSON.stringify({ subscription: 's', message: { data: Buffer.from(n).toString('base64'), messageId: '545454' } }) };
        expectAckedOrRefused(r, await send('playRtdn', r), true);
      },
      { deadLetters: true },
    );
    expect((await a.s.db.collection('deadLetters').where('messageId', '==', '545454').get()).docs.map((d) => d.data().reason)).toEqual([
      expect.stringMatching(/wrong type/),
    ]);
  });

  it('non-POST and non-JSON requests to playRtdn are 4xx with a code, not the framework’s 500 or HTML 404', async () => {
    for (const r of [
      { method: 'GET' },
      { method: 'PUT', headers: { 'content-type': 'application/json' }, body: '{}' },
      { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'hello' },
      { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"context":{"eventType":"google.pubsub.topic.publish","resource":5},"data":null}' },
    ] satisfies RawRequest[]) {
      expectAckedOrRefused(r, await send('playRtdn', r), false);
    }
  });
});

describe('control: the same requests, made genuine, get through', () => {
  it('no prototype was polluted in the process that served all of the above', () => {
    // The functions ran in this process: a `__proto__` or `constructor.prototype` key that reached
    // an object merge would show here.
    expect(Object.keys(Object.prototype)).toEqual([]);
    expect(Object.keys(Array.prototype)).toEqual([]);
    const probe = {} as Record<string, unknown>;
    for (const k of ['admin', 'uid', 'x', 'a', 'packageName', 'polluted']) expect(probe[k], k).toBeUndefined();
  });

  it('the unclaimed purchase verified with a genuine token is granted; a genuine RTDN is applied', async () => {
    const res = await send('verifyPurchase', {
      headers: { 'content-type': 'application/json', authorization: malloryAuth },
      body: JSON.stringify({ packageName: PACKAGE, productId: 'remove_ads', purchaseToken: unclaimed }),
    });
    expect(res.status, res.text).toBe(200);
    expect((await a.s.db.doc(`users/${MALLORY}/entitlements/no_ads`).get()).data()?.active).toBe(true);
    const n = { version: '1.0', packageName: PACKAGE, eventTimeMillis: String(Date.now()), oneTimeProductNotification: { version: '1.0', notificationType: 1, purchaseToken: unclaimed, sku: 'remove_ads' } };
    const id = String(Date.now());
    const ack = await send('playRtdn', {
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ subscription: 's', message: { data: Buffer.from(JSON.stringify(n)).toString('base64'), messageId: id } }),
    });
    expect(ack.status).toBe(204);
    expect((await a.s.db.doc(`events/rtdn:${id}`).get()).data()).toMatchObject({ applied: true });
  });
});
