import { createHash } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { PubSub, type Subscription } from '@google-cloud/pubsub';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startAppStoreStack, type AppStoreStack } from '../helpers/app-store-stack';
import { PACKAGE } from '../helpers/verify-stack';

/**
 * RESTORE_POLICY=transfer through the real parts: verifyPurchase (Play simulator, App Store simulator),
 * refundPurchase (callable protocol, emulator ID tokens), the Firestore emulator, and the entitlement
 * events on the Pub/Sub emulator (a pull subscription). RESTORE_POLICY=refuse (the default) is
 * verify-purchase.test.ts's "one token, one owner" (409 purchase_claimed), unchanged.
 */
const TOPIC = 'transfer-events';
let s: AppStoreStack;
let refundUrl: string;
let pubsub: PubSub;
let sub: Subscription;
const received: { type: string; uid: string; data: Record<string, any> }[] = [];

beforeAll(async () => {
  process.env.PUBSUB_EMULATOR_HOST = inject('pubsubEmulatorHost');
  s = await startAppStoreStack({ env: { RESTORE_POLICY: 'transfer', RESTORE_TRANSFER_LIMIT: '3', ENTITLEMENT_EVENTS_TOPIC: TOPIC } });
  pubsub = new PubSub({ projectId: s.projectId });
  const [topic] = await pubsub.createTopic(TOPIC);
  [sub] = await topic.createSubscription('consumer');
  sub.on('message', (m) => {
    received.push({ type: m.attributes.type!, uid: m.attributes.uid!, data: JSON.parse(m.data.toString()) });
    m.ack();
  });
  const { getTestServer } = await import('@google-cloud/functions-framework/testing');
  const server = getTestServer('refundPurchase');
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  refundUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
}, 90_000);
afterAll(async () => {
  await sub?.close();
  await pubsub?.close();
  await s?.close();
});

const sha256 = (x: string) => createHash('sha256').update(x).digest('hex');
let seq = 0;
const newUid = () => `transfer-user-${process.pid}-${++seq}`;
const buy = (input: Record<string, unknown>) => s.sim.createPurchase({ packageName: PACKAGE, ...input } as never);
const verifyPlay = (uid: string, productId: string, purchaseToken: string) => s.post({ packageName: PACKAGE, productId, purchaseToken }, { uid });
const purchase = async (token: string) => (await s.db.doc(`purchases/${sha256(token)}`).get()).data();
const audits = async (purchaseId: string) =>
  (await s.db.collection('auditLog').where('purchaseId', '==', purchaseId).where('action', '==', 'purchase_transferred').get()).docs.map((d) => d.data());
const callAdmin = async (data: Record<string, unknown>, claims: Record<string, unknown> = { admin: true }) => {
  const res = await fetch(refundUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${s.idToken('support-admin', claims)}` },
    body: JSON.stringify({ data }),
  });
  return { status: res.status, json: (await res.json()) as any };
};

async function owned(uid: string, input: Record<string, unknown>, productId: string) {
  const p = await buy(input);
  expect((await verifyPlay(uid, productId, p.purchaseToken)).status).toBe(200);
  return p;
}

describe('RESTORE_POLICY=transfer, Play', () => {
  it('a one-time purchase moves: the previous owner loses the entitlement at once, the new owner gets it, audited, TRANSFER for both', async () => {
    const [a, b] = [newUid(), newUid()];
    const p = await owned(a, { type: 'product', productId: 'remove_ads' }, 'remove_ads');
    const res = await verifyPlay(b, 'remove_ads', p.purchaseToken);
    expect(res.status).toBe(200);
    expect(res.json.entitlements.no_ads).toMatchObject({ active: true, purchaseId: sha256(p.purchaseToken) });
    expect(await purchase(p.purchaseToken)).toMatchObject({ uid: b, lastTransfer: { from: a, to: b, actor: 'restore' } });
    expect((await s.entitlement(a, 'no_ads'))).toBeUndefined();
    expect(await s.entitlement(b, 'no_ads')).toMatchObject({ active: true });
    const [entry, ...more] = await audits(sha256(p.purchaseToken));
    expect(more).toEqual([]);
    expect(entry).toMatchObject({ from: a, to: b, actor: { uid: 'restore' }, transfersInWindow: 1, overLimit: false, platform: 'google_play' });
    await s.eventually(async () => received.some((e) => e.uid === a && e.type === 'TRANSFER') && received.some((e) => e.uid === b && e.type === 'TRANSFER'));
    expect(received.find((e) => e.uid === a && e.type === 'TRANSFER')!.data).toMatchObject({ active: false, entitlements: ['no_ads'], purchaseId: sha256(p.purchaseToken) });
    expect(received.find((e) => e.uid === b && e.type === 'TRANSFER')!.data).toMatchObject({ active: true, entitlements: ['no_ads'] });
  });

  it('a subscription moves; another source of the same entitlement keeps the previous owner premium', async () => {
    const [a, b] = [newUid(), newUid()];
    const monthly = await owned(a, { type: 'subscription', productId: 'premium_monthly' }, 'premium_monthly');
    expect((await verifyPlay(b, 'premium_monthly', monthly.purchaseToken)).json.entitlements.premium).toMatchObject({ active: true });
    expect(await s.entitlement(a, 'premium')).toBeUndefined();
    // the previous owner buys their own yearly plan; moving the monthly back to them and away again leaves the yearly
    await owned(a, { type: 'subscription', productId: 'premium_yearly' }, 'premium_yearly');
    expect((await verifyPlay(a, 'premium_monthly', monthly.purchaseToken)).status).toBe(200);
    expect((await verifyPlay(b, 'premium_monthly', monthly.purchaseToken)).status).toBe(200);
    const left = await s.entitlement(a, 'premium');
    expect(left).toMatchObject({ active: true, productId: 'premium_yearly' });
    expect(Object.keys(left!.sources)).toHaveLength(1);
    expect((await purchase(monthly.purchaseToken))?.transfers).toHaveLength(3);
  });

  it('an upgraded subscription moves; the replaced token stays superseded with its owner, and grants nobody', async () => {
    const [a, b] = [newUid(), newUid()];
    const old = await owned(a, { type: 'subscription', productId: 'premium_monthly' }, 'premium_monthly');
    const upgrade = await owned(a, { type: 'subscription', productId: 'premium_yearly', linkedPurchaseToken: old.purchaseToken }, 'premium_yearly');
    expect((await verifyPlay(b, 'premium_yearly', upgrade.purchaseToken)).json.entitlements.premium).toMatchObject({ active: true, productId: 'premium_yearly' });
    expect(await purchase(old.purchaseToken)).toMatchObject({ uid: a, active: false, supersededBy: sha256(upgrade.purchaseToken) });
    expect(await s.entitlement(a, 'premium')).toMatchObject({ active: false });
    expect(await s.entitlement(b, 'premium')).toMatchObject({ active: true, purchaseId: sha256(upgrade.purchaseToken) });
  });

  it('the 4th transfer within 30 days: 409 transfer_limit_reached, nothing changes', async () => {
    const users = [newUid(), newUid(), newUid(), newUid(), newUid()];
    const p = await owned(users[0]!, { type: 'product', productId: 'sticker_pack' }, 'sticker_pack');
    for (const uid of users.slice(1, 4)) expect((await verifyPlay(uid, 'sticker_pack', p.purchaseToken)).status).toBe(200);
    const before = await s.dump();
    const res = await verifyPlay(users[4]!, 'sticker_pack', p.purchaseToken);
    expect(res.status).toBe(409);
    expect(res.json.error).toMatchObject({ code: 'transfer_limit_reached' });
    expect(res.json.error.message).toMatch(/transfer limit \(3\) was reached/);
    expect(await s.dump()).toEqual(before);
    expect(await purchase(p.purchaseToken)).toMatchObject({ uid: users[3] });
    // the owner's own repeat is not a transfer
    expect((await verifyPlay(users[3]!, 'sticker_pack', p.purchaseToken)).status).toBe(200);
  });

  it('an account-bound purchase stays 403 whatever the policy', async () => {
    const [a, b] = [newUid(), newUid()];
    const p = await owned(a, { type: 'product', productId: 'remove_ads', obfuscatedExternalAccountId: sha256(a) }, 'remove_ads');
    const res = await verifyPlay(b, 'remove_ads', p.purchaseToken);
    expect(res.status).toBe(403);
    expect(res.json.error.code).toBe('account_mismatch');
    expect(await purchase(p.purchaseToken)).toMatchObject({ uid: a, accountBinding: sha256(a) });
    // nor does an admin move it against the binding
    const admin = await callAdmin({ action: 'transfer', packageName: PACKAGE, purchaseToken: p.purchaseToken, toUid: b, reason: 'support ticket 1' });
    expect(admin.status).toBe(403);
    expect(admin.json.error.details.code).toBe('account_mismatch');
    expect(await purchase(p.purchaseToken)).toMatchObject({ uid: a });
  });

  it('three users verify the same token at once: exactly one owner at the end, records consistent', async () => {
    const a = newUid();
    const p = await owned(a, { type: 'product', productId: 'remove_ads' }, 'remove_ads');
    const others = [newUid(), newUid(), newUid()];
    const results = await Promise.all(others.map((uid) => verifyPlay(uid, 'remove_ads', p.purchaseToken)));
    for (const r of results) expect([200, 409, 503]).toContain(r.status);
    const record = (await purchase(p.purchaseToken))!;
    expect(others).toContain(record.uid);
    const moves = await audits(sha256(p.purchaseToken));
    expect(record.transfers).toHaveLength(moves.length);
    expect(moves.length).toBeGreaterThanOrEqual(1);
    // the moves form one chain from a to the owner
    const chain = moves.sort((x, y) => x.at.toMillis() - y.at.toMillis());
    expect(chain[0]!.from).toBe(a);
    for (let i = 1; i < chain.length; i++) expect(chain[i]!.from).toBe(chain[i - 1]!.to);
    expect(chain.at(-1)!.to).toBe(record.uid);
    for (const uid of [a, ...others]) {
      const doc = await s.entitlement(uid, 'no_ads');
      if (uid === record.uid) expect(doc).toMatchObject({ active: true, purchaseId: record.id });
      else expect(doc).toBeUndefined();
    }
  });

  it('a consumable never moves: 409, the credits stay with the user who got them', async () => {
    const [a, b] = [newUid(), newUid()];
    const p = await owned(a, { type: 'product', productId: 'coins_100' }, 'coins_100');
    expect(await s.balances(a)).toEqual({ coins: 100 });
    const res = await verifyPlay(b, 'coins_100', p.purchaseToken);
    expect(res.status).toBe(409);
    expect(res.json.error).toMatchObject({ code: 'purchase_claimed' });
    expect(res.json.error.message).toMatch(/consumables never transfer/);
    expect(await s.balances(a)).toEqual({ coins: 100 });
    expect(await s.balances(b)).toBeUndefined();
    expect(await purchase(p.purchaseToken)).toMatchObject({ uid: a, credited: { coins: 100 } });
    const admin = await callAdmin({ action: 'transfer', packageName: PACKAGE, purchaseToken: p.purchaseToken, toUid: b, reason: 'support ticket 2' });
    expect(admin.status).toBe(400);
    expect(admin.json.error.status).toBe('FAILED_PRECONDITION');
  });
});

describe('RESTORE_POLICY=transfer, App Store', () => {
  it('an Apple purchase moves to the user who verifies it', async () => {
    const [a, b] = [newUid(), newUid()];
    const { purchase: p } = await s.apple.buy({ kind: 'non_consumable', productId: 'com.example.app.remove_ads', notify: false });
    const jws = await s.apple.signTransaction(p.originalTransactionId);
    expect((await s.verify({ signedTransaction: jws }, a)).status).toBe(200);
    const res = await s.verify({ signedTransaction: jws }, b);
    expect(res.status).toBe(200);
    expect(res.json.entitlements.no_ads).toMatchObject({ active: true });
    expect(await s.purchaseDoc(p.originalTransactionId)).toMatchObject({ uid: b, lastTransfer: { from: a, to: b } });
    expect(await s.entitlement(a, 'no_ads')).toBeUndefined();
    expect(await audits(s.purchaseId(p.originalTransactionId))).toMatchObject([{ from: a, to: b, platform: 'app_store' }]);
  });

  it('an admin moves an Apple purchase by its purchaseId (the bundle id as packageName)', async () => {
    const [a, b] = [newUid(), newUid()];
    const { purchase: p } = await s.apple.buy({ kind: 'subscription', productId: 'com.example.app.premium.monthly', notify: false });
    expect((await s.verify({ signedTransaction: await s.apple.signTransaction(p.originalTransactionId) }, a)).status).toBe(200);
    const id = s.purchaseId(p.originalTransactionId);
    const res = await callAdmin({ action: 'transfer', packageName: s.apple.bundleId, purchaseId: id, toUid: b, reason: 'family account change' });
    expect(res.json.result).toMatchObject({ status: 'transferred', from: a, to: b, purchaseId: id });
    expect(await s.entitlement(a, 'premium')).toBeUndefined();
    expect(await s.entitlement(b, 'premium')).toMatchObject({ active: true });
    const wrong = await callAdmin({ action: 'transfer', packageName: 'com.example.other', purchaseId: id, toUid: a, reason: 'wrong package' });
    expect(wrong.json.error.status).toBe('INVALID_ARGUMENT');
  });

  it('an appAccountToken naming the owner stays 403', async () => {
    const [a, b] = [newUid(), newUid()];
    const { purchase: p } = await s.apple.buy({ kind: 'subscription', productId: 'com.example.app.premium.monthly', notify: false, appAccountToken: s.appAccountTokenFor(a) });
    const jws = await s.apple.signTransaction(p.originalTransactionId);
    expect((await s.verify({ signedTransaction: jws }, a)).status).toBe(200);
    expect((await s.verify({ signedTransaction: jws }, b)).json.error.code).toBe('account_mismatch');
    expect(await s.purchaseDoc(p.originalTransactionId)).toMatchObject({ uid: a });
  });
});

describe('refundPurchase action "transfer"', () => {
  it('an admin moves a purchase: audited, idempotent (a repeat answers the first result), TRANSFER events', async () => {
    const [a, b] = [newUid(), newUid()];
    const p = await owned(a, { type: 'subscription', productId: 'premium_monthly' }, 'premium_monthly');
    const data = { action: 'transfer', packageName: PACKAGE, purchaseToken: p.purchaseToken, toUid: b, reason: 'changed accounts, ticket 3' };
    const first = await callAdmin(data);
    expect(first.status).toBe(200);
    expect(first.json.result).toMatchObject({ status: 'transferred', from: a, to: b, purchaseId: sha256(p.purchaseToken), repeated: false, overLimit: false });
    expect(await s.entitlement(a, 'premium')).toBeUndefined();
    expect(await s.entitlement(b, 'premium')).toMatchObject({ active: true });
    const again = await callAdmin(data);
    expect(again.json.result).toEqual({ ...first.json.result, repeated: true });
    const moves = await audits(sha256(p.purchaseToken));
    expect(moves).toMatchObject([{ from: a, to: b, actor: { uid: 'support-admin' }, reason: 'changed accounts, ticket 3' }]);
    const attempts = (await s.db.collection('auditLog').where('purchaseId', '==', sha256(p.purchaseToken)).where('action', '==', 'transfer').get()).docs.map((d) => d.data().outcome);
    expect(attempts.sort()).toEqual(['ok', 'repeated']);
    await s.eventually(async () => received.some((e) => e.uid === a && e.type === 'TRANSFER') && received.some((e) => e.uid === b && e.type === 'TRANSFER'));
  });

  it('admins pass the limit (audited as overLimit); an idempotencyKey reused for another user is refused', async () => {
    const users = [newUid(), newUid(), newUid(), newUid(), newUid()];
    const p = await owned(users[0]!, { type: 'product', productId: 'movie_rental' }, 'movie_rental');
    for (const uid of users.slice(1, 4)) expect((await verifyPlay(uid, 'movie_rental', p.purchaseToken)).status).toBe(200);
    const data = { action: 'transfer', packageName: PACKAGE, purchaseId: sha256(p.purchaseToken), toUid: users[4], reason: 'fraud review', idempotencyKey: `key-${users[4]}` };
    const res = await callAdmin(data);
    expect(res.json.result).toMatchObject({ to: users[4], transfersInWindow: 4, overLimit: true });
    expect((await audits(sha256(p.purchaseToken))).filter((m) => m.overLimit)).toHaveLength(1);
    const reused = await callAdmin({ ...data, toUid: users[0] });
    expect(reused.json.error.status).toBe('INVALID_ARGUMENT');
    expect(await purchase(p.purchaseToken)).toMatchObject({ uid: users[4] });
  });

  it('a non-admin gets PERMISSION_DENIED and nothing moves', async () => {
    const [a, b] = [newUid(), newUid()];
    const p = await owned(a, { type: 'product', productId: 'remove_ads' }, 'remove_ads');
    const res = await callAdmin({ action: 'transfer', packageName: PACKAGE, purchaseToken: p.purchaseToken, toUid: b, reason: 'please' }, {});
    expect(res.status).toBe(403);
    expect(res.json.error.status).toBe('PERMISSION_DENIED');
    expect(await purchase(p.purchaseToken)).toMatchObject({ uid: a });
  });
});
