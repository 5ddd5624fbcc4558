import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PACKAGE, startFunctionsStack, type FunctionsStack } from '../helpers/verify-stack';

/**
 * verifyPurchase over HTTP through the real parts: functions framework on 127.0.0.1, the real Play
 * client against the Play simulator, the Firestore emulator.
 */
let s: FunctionsStack;
beforeAll(async () => {
  // No notifications reach this stack, so stored state is not kept current: every verification reads Play
  // (stored-state answers, which rely on RTDN and the sweep, are tested in restore.test.ts).
  s = await startFunctionsStack({ env: { PLAY_TRUST_STORED_STATE: 'false' } });
});
afterAll(async () => {
  await s?.close();
});

const sha256 = (x: string) => createHash('sha256').update(x).digest('hex');
let uidSeq = 0;
const newUid = () => `user-${process.pid}-${++uidSeq}`;

async function buy(input: Record<string, unknown>) {
  return s.sim.createPurchase({ packageName: PACKAGE, ...input } as never);
}
const body = (productId: string, purchaseToken: string, extra: Record<string, unknown> = {}) => ({
  packageName: PACKAGE,
  productId,
  purchaseToken,
  ...extra,
});
const entitlementDoc = async (uid: string, id: string) => (await s.db.doc(`users/${uid}/entitlements/${id}`).get()).data();
const purchaseDoc = async (token: string) => (await s.db.doc(`purchases/${sha256(token)}`).get()).data();

describe('granting', () => {
  it('a non-consumable: claimed, granted for life, acknowledged at Play; verifying again gives the same result', async () => {
    const uid = newUid();
    const p = await buy({ type: 'product', productId: 'remove_ads' });
    const first = await s.post(body('remove_ads', p.purchaseToken), { uid });
    expect(first.status).toBe(200);
    expect(first.json.purchase).toMatchObject({
      id: sha256(p.purchaseToken),
      productId: 'remove_ads',
      productType: 'non_consumable',
      state: 'purchased',
      active: true,
      acknowledged: true,
    });
    expect(first.json.entitlements.no_ads).toMatchObject({ active: true, expiresAt: null, productId: 'remove_ads' });

    const ent = await entitlementDoc(uid, 'no_ads');
    expect(ent).toMatchObject({ active: true, expiresAt: null, productId: 'remove_ads', state: 'purchased' });
    expect(ent?.updatedAt).toBeDefined();
    const doc = await purchaseDoc(p.purchaseToken);
    expect(doc).toMatchObject({ uid, packageName: PACKAGE, productId: 'remove_ads', state: 'purchased' });
    expect(JSON.stringify(doc)).not.toContain(p.purchaseToken);
    expect(s.sim.get(p.purchaseToken)?.resource).toMatchObject({ acknowledgementState: 1 });

    const acksBefore = (await s.sim.stats()).calls['purchases.products.acknowledge'] ?? 0;
    const again = await s.post(body('remove_ads', p.purchaseToken), { uid });
    expect(again.status).toBe(200);
    expect(again.json).toEqual(first.json);
    expect((await s.sim.stats()).calls['purchases.products.acknowledge'] ?? 0).toBe(acksBefore);
  });

  it('a subscription: active until its expiry, acknowledged with purchases.subscriptions.acknowledge', async () => {
    const uid = newUid();
    const p = await buy({ type: 'subscription', productId: 'premium_monthly' });
    const res = await s.post(body('premium_monthly', p.purchaseToken), { uid });
    expect(res.status).toBe(200);
    expect(res.json.purchase).toMatchObject({ productType: 'subscription', state: 'active', active: true, acknowledged: true });
    const ent = await entitlementDoc(uid, 'premium');
    expect(ent?.active).toBe(true);
    expect(ent?.expiresAt.toDate().getTime()).toBeGreaterThan(Date.now() + 20 * 86_400_000);
    expect(s.sim.get(p.purchaseToken)?.resource).toMatchObject({
      acknowledgementState: 'ACKNOWLEDGEMENT_STATE_ACKNOWLEDGED',
    });
  });

  it('a consumable: credits x quantity once, consumes at Play; repeats credit nothing more', async () => {
    const uid = newUid();
    const p = await buy({ type: 'product', productId: 'coins_100', quantity: 2 });
    const first = await s.post(body('coins_100', p.purchaseToken), { uid });
    expect(first.status).toBe(200);
    expect(first.json.balances).toEqual({ coins: 200 });
    expect(first.json.purchase.consumed).toBe(true);
    expect(s.sim.get(p.purchaseToken)?.resource).toMatchObject({ consumptionState: 1 });
    const again = await s.post(body('coins_100', p.purchaseToken), { uid });
    expect(again.status).toBe(200);
    expect(again.json.balances).toEqual({ coins: 200 });
    expect((await s.db.doc(`users/${uid}`).get()).data()?.balances).toEqual({ coins: 200 });
  });

  it('a consumable verified concurrently is credited exactly once', async () => {
    const uid = newUid();
    const p = await buy({ type: 'product', productId: 'coins_100' });
    const results = await Promise.all(Array.from({ length: 4 }, () => s.post(body('coins_100', p.purchaseToken), { uid })));
    for (const r of results) expect(r.status).toBe(200);
    expect((await s.db.doc(`users/${uid}`).get()).data()?.balances).toEqual({ coins: 100 });
  });

  it('two consumables add up in one balance', async () => {
    const uid = newUid();
    for (const _ of [1, 2]) {
      const p = await buy({ type: 'product', productId: 'coins_100' });
      expect((await s.post(body('coins_100', p.purchaseToken), { uid })).status).toBe(200);
    }
    expect((await s.db.doc(`users/${uid}`).get()).data()?.balances).toEqual({ coins: 200 });
  });

  it('an expired subscription is a valid purchase: 200 with the entitlement inactive', async () => {
    const uid = newUid();
    const p = await buy({ type: 'subscription', productId: 'premium_monthly' });
    await s.sim.transition(p.purchaseToken, 'expire', {});
    const res = await s.post(body('premium_monthly', p.purchaseToken), { uid });
    expect(res.status).toBe(200);
    expect(res.json.purchase).toMatchObject({ state: 'expired', active: false });
    expect(await entitlementDoc(uid, 'premium')).toMatchObject({ active: false, state: 'expired' });
  });

  it.each([
    ['hold', 'on_hold', false],
    ['pause', 'paused', false],
    ['grace', 'in_grace_period', true],
    ['cancel', 'canceled', true],
  ])('a subscription after %s reads %s (active %s)', async (transition, state, active) => {
    const uid = newUid();
    const p = await buy({ type: 'subscription', productId: 'premium_monthly' });
    await s.sim.transition(p.purchaseToken, transition as never);
    const res = await s.post(body('premium_monthly', p.purchaseToken), { uid });
    expect(res.status).toBe(200);
    expect(res.json.purchase).toMatchObject({ state, active });
    expect(await entitlementDoc(uid, 'premium')).toMatchObject({ state, active });
  });

  it('test purchases are marked, and a missing orderId is no error', async () => {
    const uid = newUid();
    const p = await buy({ type: 'product', productId: 'remove_ads', test: true });
    const res = await s.post(body('remove_ads', p.purchaseToken), { uid });
    expect(res.status).toBe(200);
    expect(res.json.purchase.test).toBe(true);
    expect((await purchaseDoc(p.purchaseToken))?.test).toBe(true);
  });

  it('an obfuscatedExternalAccountId equal to sha256(uid) is accepted', async () => {
    const uid = newUid();
    const p = await buy({ type: 'product', productId: 'remove_ads', obfuscatedExternalAccountId: sha256(uid) });
    expect((await s.post(body('remove_ads', p.purchaseToken), { uid })).status).toBe(200);
  });

  it('a valid signedData/signature pair is accepted', async () => {
    const uid = newUid();
    const p = await buy({ type: 'product', productId: 'remove_ads' });
    const signedData = JSON.stringify({ packageName: PACKAGE, productId: 'remove_ads', purchaseToken: p.purchaseToken, purchaseState: 0 });
    const res = await s.post(body('remove_ads', p.purchaseToken, { signedData, signature: s.signPurchase(signedData) }), { uid });
    expect(res.status).toBe(200);
  });
});

describe('ownership', () => {
  it('one token, one owner: another user gets 409 purchase_claimed and nothing changes', async () => {
    const [a, b] = [newUid(), newUid()];
    const p = await buy({ type: 'product', productId: 'remove_ads' });
    expect((await s.post(body('remove_ads', p.purchaseToken), { uid: a })).status).toBe(200);
    const before = await s.dump();
    const stolen = await s.post(body('remove_ads', p.purchaseToken), { uid: b });
    expect(stolen.status).toBe(409);
    expect(stolen.json.error.code).toBe('purchase_claimed');
    expect(await s.dump()).toEqual(before);
    expect(await entitlementDoc(b, 'no_ads')).toBeUndefined();
  });

  it('concurrent claims by two users end with exactly one owner', async () => {
    const [a, b] = [newUid(), newUid()];
    const p = await buy({ type: 'subscription', productId: 'premium_monthly' });
    const results = await Promise.all([
      s.post(body('premium_monthly', p.purchaseToken), { uid: a }),
      s.post(body('premium_monthly', p.purchaseToken), { uid: b }),
    ]);
    expect(results.map((r) => r.status).sort()).toEqual([200, 409]);
    const winner = results[0]!.status === 200 ? a : b;
    const loser = winner === a ? b : a;
    expect((await purchaseDoc(p.purchaseToken))?.uid).toBe(winner);
    expect(await entitlementDoc(loser, 'premium')).toBeUndefined();
    expect((await entitlementDoc(winner, 'premium'))?.active).toBe(true);
  });

  it('an upgrade (linkedPurchaseToken) supersedes the old token for the same user', async () => {
    const uid = newUid();
    const old = await buy({ type: 'subscription', productId: 'premium_monthly' });
    expect((await s.post(body('premium_monthly', old.purchaseToken), { uid })).status).toBe(200);
    const upgrade = await buy({ type: 'subscription', productId: 'premium_yearly', linkedPurchaseToken: old.purchaseToken });
    const res = await s.post(body('premium_yearly', upgrade.purchaseToken), { uid });
    expect(res.status).toBe(200);
    expect(res.json.entitlements.premium).toMatchObject({ active: true, productId: 'premium_yearly' });
    const oldDoc = await purchaseDoc(old.purchaseToken);
    expect(oldDoc).toMatchObject({ supersededBy: sha256(upgrade.purchaseToken), active: false });
    const ent = await entitlementDoc(uid, 'premium');
    expect(ent?.sources[sha256(old.purchaseToken)]).toMatchObject({ active: false, state: 'superseded' });
    // verifying the old token again keeps it superseded
    const oldAgain = await s.post(body('premium_monthly', old.purchaseToken), { uid });
    expect(oldAgain.status).toBe(200);
    expect(oldAgain.json.purchase.active).toBe(false);
    expect((await entitlementDoc(uid, 'premium'))?.productId).toBe('premium_yearly');
  });

  it('a replacement of another user\'s subscription is refused, and the old token cannot be claimed by others', async () => {
    const [a, b] = [newUid(), newUid()];
    const old = await buy({ type: 'subscription', productId: 'premium_monthly' });
    expect((await s.post(body('premium_monthly', old.purchaseToken), { uid: a })).status).toBe(200);
    const upgrade = await buy({ type: 'subscription', productId: 'premium_yearly', linkedPurchaseToken: old.purchaseToken });
    const before = await s.dump();
    const res = await s.post(body('premium_yearly', upgrade.purchaseToken), { uid: b });
    expect(res.status).toBe(409);
    expect(res.json.error.code).toBe('purchase_claimed');
    expect(await s.dump()).toEqual(before);
  });

  it('a replacement whose old token we never saw keeps that old token for the same user', async () => {
    const [a, b] = [newUid(), newUid()];
    const old = await buy({ type: 'subscription', productId: 'premium_monthly' });
    const upgrade = await buy({ type: 'subscription', productId: 'premium_yearly', linkedPurchaseToken: old.purchaseToken });
    expect((await s.post(body('premium_yearly', upgrade.purchaseToken), { uid: a })).status).toBe(200);
    const res = await s.post(body('premium_monthly', old.purchaseToken), { uid: b });
    expect(res.status).toBe(409);
  });
});

describe('acknowledgement failures and Play faults', () => {
  it('a failed acknowledge keeps the grant, is recorded, and the next verify acknowledges', async () => {
    const uid = newUid();
    const p = await buy({ type: 'product', productId: 'remove_ads' });
    // every attempt of the bounded retry (PLAY_MAX_ATTEMPTS, default 4) fails
    await s.sim.injectFaults({ count: 4, pathContains: 'acknowledge', status: 500 });
    const res = await s.post(body('remove_ads', p.purchaseToken), { uid });
    expect(res.status).toBe(200);
    expect(res.json.purchase).toMatchObject({ active: true, acknowledged: false });
    expect((await purchaseDoc(p.purchaseToken))?.syncError).toBeTruthy();
    expect((await entitlementDoc(uid, 'no_ads'))?.active).toBe(true);
    expect(s.sim.get(p.purchaseToken)?.resource).toMatchObject({ acknowledgementState: 0 });

    const retried = await s.post(body('remove_ads', p.purchaseToken), { uid });
    expect(retried.json.purchase.acknowledged).toBe(true);
    expect(s.sim.get(p.purchaseToken)?.resource).toMatchObject({ acknowledgementState: 1 });
    expect((await purchaseDoc(p.purchaseToken))?.syncError).toBeNull();
  });

  it('transient Play failures are retried within the request', async () => {
    const uid = newUid();
    const p = await buy({ type: 'product', productId: 'remove_ads' });
    await s.sim.injectFaults({ count: 2, pathContains: 'products', status: 503 });
    expect((await s.post(body('remove_ads', p.purchaseToken), { uid })).status).toBe(200);
  });

  it('a Play that answers too slowly is a timeout, retried', async () => {
    const uid = newUid();
    const p = await buy({ type: 'product', productId: 'remove_ads' });
    await s.sim.injectFaults({ count: 1, pathContains: 'products', mode: 'hang', delayMs: 3000 });
    expect((await s.post(body('remove_ads', p.purchaseToken), { uid })).status).toBe(200);
  });

  it('one token exchange serves many verifications', async () => {
    const stats = await s.sim.stats();
    expect(stats.tokenExchanges).toBe(1);
  });
});

describe('refusals: every error of the contract, and nothing written', () => {
  async function expectRefused(
    status: number,
    code: string,
    send: () => Promise<{ status: number; json: any; headers: Headers }>,
  ) {
    const before = await s.dump();
    const res = await send();
    expect(res.status).toBe(status);
    expect(res.json?.error?.code).toBe(code);
    expect(typeof res.json.error.message).toBe('string');
    expect(res.json.error.message.length).toBeGreaterThan(10);
    expect(await s.dump()).toEqual(before);
    return res;
  }
  const uid = 'refused-user';

  it('400 invalid_argument: not JSON, missing, ill-typed and unknown fields', async () => {
    const p = await buy({ type: 'product', productId: 'remove_ads' });
    await expectRefused(400, 'invalid_argument', () => s.post('{not json', { uid }));
    await expectRefused(400, 'invalid_argument', () => s.post('{not json', { uid, headers: { 'content-type': 'text/plain' } }));
    await expectRefused(400, 'invalid_argument', () => s.post('[]', { uid }));
    await expectRefused(400, 'invalid_argument', () => s.post({ packageName: PACKAGE, productId: 'remove_ads' }, { uid }));
    await expectRefused(400, 'invalid_argument', () => s.post(body('remove_ads', 42 as never), { uid }));
    const r = await expectRefused(400, 'invalid_argument', () =>
      s.post(body('remove_ads', p.purchaseToken, { admin: true }), { uid }),
    );
    expect(r.json.error.message).toContain('admin');
  });

  it('400 invalid_argument: an order id sent as the purchase token, explained', async () => {
    const r = await expectRefused(400, 'invalid_argument', () => s.post(body('remove_ads', 'GPA.1234-5678-9012-34567'), { uid }));
    expect(r.json.error.message).toMatch(/order id/i);
  });

  it('400 invalid_argument: a Firebase callable envelope is explained (this is a plain HTTP function)', async () => {
    const p = await buy({ type: 'product', productId: 'remove_ads' });
    const res = await s.post({ data: body('remove_ads', p.purchaseToken) }, { uid });
    expect(res.status).toBe(400);
    expect(res.json.error).toMatchObject({ code: 'invalid_argument' });
    expect(res.json.error.message).toMatch(/plain HTTP function.*top level/);
    expect(await purchaseDoc(p.purchaseToken)).toBeUndefined();
  });

  it('400 unknown_product', async () => {
    const p = await buy({ type: 'product', productId: 'remove_ads' });
    await expectRefused(400, 'unknown_product', () => s.post(body('gold_bar', p.purchaseToken), { uid }));
  });

  it('400 invalid_signature: tampered, wrong signature, or not matching the request', async () => {
    const p = await buy({ type: 'product', productId: 'remove_ads' });
    const signedData = JSON.stringify({ packageName: PACKAGE, productId: 'remove_ads', purchaseToken: p.purchaseToken });
    const signature = s.signPurchase(signedData);
    const tampered = signedData.replace('remove_ads', 'coins_100');
    await expectRefused(400, 'invalid_signature', () => s.post(body('remove_ads', p.purchaseToken, { signedData: tampered, signature }), { uid }));
    await expectRefused(400, 'invalid_signature', () =>
      s.post(body('remove_ads', p.purchaseToken, { signedData, signature: Buffer.from('nope').toString('base64') }), { uid }),
    );
    const other = JSON.stringify({ packageName: PACKAGE, productId: 'coins_100', purchaseToken: p.purchaseToken });
    await expectRefused(400, 'invalid_signature', () =>
      s.post(body('remove_ads', p.purchaseToken, { signedData: other, signature: s.signPurchase(other) }), { uid }),
    );
  });

  it('401 unauthenticated: missing, malformed, expired, wrong audience', async () => {
    const p = await buy({ type: 'product', productId: 'remove_ads' });
    const b = body('remove_ads', p.purchaseToken);
    await expectRefused(401, 'unauthenticated', () => s.post(b));
    await expectRefused(401, 'unauthenticated', () => s.post(b, { token: 'garbage' }));
    const { emulatorIdToken } = await import('../helpers/id-tokens');
    const expired = emulatorIdToken({ projectId: s.projectId, uid, iat: Math.floor(Date.now() / 1000) - 7200, expiresInSeconds: 3600 });
    await expectRefused(401, 'unauthenticated', () => s.post(b, { token: expired }));
    const foreign = emulatorIdToken({ projectId: 'another-project', uid });
    await expectRefused(401, 'unauthenticated', () => s.post(b, { token: foreign }));
  });

  it('403 package_not_allowed', async () => {
    const p = await buy({ type: 'product', productId: 'remove_ads', packageName: 'com.evil.app' });
    await expectRefused(403, 'package_not_allowed', () =>
      s.post({ packageName: 'com.evil.app', productId: 'remove_ads', purchaseToken: p.purchaseToken }, { uid }),
    );
  });

  it('403 account_mismatch', async () => {
    const p = await buy({ type: 'product', productId: 'remove_ads', obfuscatedExternalAccountId: sha256('someone-else') });
    await expectRefused(403, 'account_mismatch', () => s.post(body('remove_ads', p.purchaseToken), { uid }));
  });

  it('404 purchase_not_found: unknown token, or a token of another product or package', async () => {
    await expectRefused(404, 'purchase_not_found', () => s.post(body('remove_ads', 'unknown-token-abcdefghijklmnop'), { uid }));
    const p = await buy({ type: 'product', productId: 'coins_100' });
    await expectRefused(404, 'purchase_not_found', () => s.post(body('remove_ads', p.purchaseToken), { uid }));
    const other = await buy({ type: 'product', productId: 'remove_ads', packageName: 'com.example.other' });
    await expectRefused(404, 'purchase_not_found', () => s.post(body('remove_ads', other.purchaseToken), { uid }));
    const sub = await buy({ type: 'subscription', productId: 'premium_monthly' });
    await expectRefused(404, 'purchase_not_found', () => s.post(body('premium_yearly', sub.purchaseToken), { uid }));
  });

  it('405 method_not_allowed', async () => {
    const r = await expectRefused(405, 'method_not_allowed', () => s.post(undefined, { uid, method: 'GET' }));
    expect(r.headers.get('allow')).toBe('POST');
  });

  it('409 purchase_pending: nothing granted', async () => {
    const p = await buy({ type: 'product', productId: 'coins_100', pending: true });
    await expectRefused(409, 'purchase_pending', () => s.post(body('coins_100', p.purchaseToken), { uid }));
    const sub = await buy({ type: 'subscription', productId: 'premium_monthly', pending: true });
    await expectRefused(409, 'purchase_pending', () => s.post(body('premium_monthly', sub.purchaseToken), { uid }));
  });

  it('410 purchase_canceled: a canceled one-time purchase or a canceled pending subscription', async () => {
    const p = await buy({ type: 'product', productId: 'remove_ads', pending: true });
    await s.sim.transition(p.purchaseToken, 'cancelPending', {});
    await expectRefused(410, 'purchase_canceled', () => s.post(body('remove_ads', p.purchaseToken), { uid }));
    const sub = await buy({ type: 'subscription', productId: 'premium_monthly', pending: true });
    await s.sim.transition(sub.purchaseToken, 'cancelPending', {});
    await expectRefused(410, 'purchase_canceled', () => s.post(body('premium_monthly', sub.purchaseToken), { uid }));
  });

  it('410 for its owner after a refund, and the entitlement ends', async () => {
    const owner = newUid();
    const p = await buy({ type: 'product', productId: 'remove_ads' });
    expect((await s.post(body('remove_ads', p.purchaseToken), { uid: owner })).status).toBe(200);
    await s.sim.transition(p.purchaseToken, 'refund', { revoke: true });
    const res = await s.post(body('remove_ads', p.purchaseToken), { uid: owner });
    expect(res.status).toBe(410);
    expect(await entitlementDoc(owner, 'no_ads')).toMatchObject({ active: false, state: 'revoked' });
    expect(await purchaseDoc(p.purchaseToken)).toMatchObject({ revoked: true, active: false });
  });

  it('410 for the owner of a consumable refunded at Play (no notification here): credits taken back once', async () => {
    const owner = newUid();
    const p = await buy({ type: 'product', productId: 'coins_100', quantity: 2 });
    expect((await s.post(body('coins_100', p.purchaseToken), { uid: owner })).json.balances).toEqual({ coins: 200 });
    await s.sim.transition(p.purchaseToken, 'refund', { revoke: true });
    for (let i = 0; i < 2; i++) {
      const res = await s.post(body('coins_100', p.purchaseToken), { uid: owner });
      expect(res.status).toBe(410);
      expect(res.json.error.code).toBe('purchase_canceled');
    }
    expect((await s.db.doc(`users/${owner}`).get()).data()?.balances).toEqual({ coins: 0 });
    expect(await purchaseDoc(p.purchaseToken)).toMatchObject({ revoked: true, creditsReversed: { coins: 200 } });
  });

  it('413 payload_too_large', async () => {
    await expectRefused(413, 'payload_too_large', () =>
      s.post(body('remove_ads', 'x', { signature: 'a'.repeat(70 * 1024) }), { uid }),
    );
  });

  it('503 upstream_unavailable with Retry-After when Play keeps failing', async () => {
    const p = await buy({ type: 'product', productId: 'remove_ads' });
    await s.sim.injectFaults({ count: 4, pathContains: 'products', status: 503 });
    const r = await expectRefused(503, 'upstream_unavailable', () => s.post(body('remove_ads', p.purchaseToken), { uid }));
    expect(Number(r.headers.get('retry-after'))).toBeGreaterThan(0);
  });
});
