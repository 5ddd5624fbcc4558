import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeJwsPayload, tamper, type SimProductKind } from '../../tools/app-store-simulator';
import { startAppStoreStack, type AppStoreStack } from '../helpers/app-store-stack';

/**
 * appStoreNotifications over HTTP through the real parts, in signed-data-only mode (no API key): the
 * simulator POSTs App Store Server Notifications V2 signed by its test CA, Apple's SignedDataVerifier
 * checks them, and their effect lands in users/{uid}/entitlements in the Firestore emulator.
 */
let s: AppStoreStack;
beforeAll(async () => {
  s = await startAppStoreStack({ apiKey: false });
});
afterAll(async () => {
  await s?.close();
});

const MONTHLY = 'com.example.app.premium.monthly';
const YEARLY = 'com.example.app.premium.yearly';
const REMOVE_ADS = 'com.example.app.remove_ads';
const COINS = 'com.example.app.coins_100';
let seq = 0;
const newUid = () => `asn-user-${process.pid}-${++seq}`;

/** A purchase notified (SUBSCRIBED / ONE_TIME_CHARGE) and then verified by its owner. */
async function owned(kind: SimProductKind, productId: string, extra: Record<string, unknown> = {}) {
  const uid = newUid();
  const { purchase, notifications } = await s.apple.buy({ kind, productId, ...extra });
  expect(notifications[0]?.delivery).toMatchObject({ status: 200 });
  const res = await s.verify({ signedTransaction: await s.apple.signTransaction(purchase.originalTransactionId) }, uid);
  expect(res.status).toBe(200);
  return { uid, id: purchase.originalTransactionId };
}
const step = async (id: string, name: Parameters<AppStoreStack['apple']['transition']>[1], args: Record<string, unknown> = {}) => {
  const { notifications } = await s.apple.transition(id, name, args as never);
  for (const n of notifications) expect(n.delivery, `${n.notificationType} delivery`).toMatchObject({ status: 200 });
  return notifications;
};
const premium = (uid: string) => s.entitlement(uid, 'premium');
const millis = (ts: { toMillis(): number } | undefined) => ts?.toMillis();

describe('refused payloads: 400 and nothing written', () => {
  async function expectRefusedDelivery(send: () => Promise<unknown>, code: string, message?: RegExp) {
    const before = await s.dump();
    const delivery = (await send()) as { status: number; body: string };
    expect(delivery.status).toBe(400);
    const body = JSON.parse(delivery.body);
    expect(body.error.code).toBe(code);
    if (message) expect(body.error.message).toMatch(message);
    expect(await s.dump()).toEqual(before);
  }
  const sent = async (p: Promise<{ notifications: { delivery?: unknown }[] }>) => (await p).notifications[0]!.delivery;

  it('forged (signed under another root), tampered, and with a forged transaction inside', async () => {
    await expectRefusedDelivery(() => sent(s.apple.buy({ kind: 'subscription', productId: MONTHLY, forged: true })), 'invalid_signed_data', /not signed by Apple/);
    const { notifications } = await s.apple.buy({ kind: 'subscription', productId: MONTHLY, deliver: false });
    const genuine = notifications[0]!.signedPayload;
    const relabeled = tamper(genuine, (x) => {
      x.notificationType = 'REFUND';
    });
    await expectRefusedDelivery(() => s.apple.deliver(relabeled), 'invalid_signed_data', /altered/);
    const payload = decodeJwsPayload<{ data: Record<string, unknown> }>(genuine);
    const innerForged = await s.apple.sign({
      ...payload,
      notificationUUID: crypto.randomUUID(),
      data: { ...payload.data, signedTransactionInfo: await s.apple.sign(decodeJwsPayload(payload.data.signedTransactionInfo as string), { ca: s.apple.foreignCa }) },
    });
    await expectRefusedDelivery(() => s.apple.deliver(innerForged), 'invalid_signed_data', /transaction is not signed by Apple/);
  });

  it('for another app (bundle id, App Apple ID), for Xcode, or mixing environments', async () => {
    await expectRefusedDelivery(() => sent(s.apple.buy({ kind: 'non_consumable', productId: REMOVE_ADS, bundleId: 'com.other.app' })), 'invalid_signed_data', /another app/);
    const { notifications } = await s.apple.buy({ kind: 'non_consumable', productId: REMOVE_ADS, deliver: false });
    const payload = decodeJwsPayload<{ data: Record<string, unknown> }>(notifications[0]!.signedPayload);
    const otherAppId = await s.apple.sign({ ...payload, data: { ...payload.data, appAppleId: 999 } });
    await expectRefusedDelivery(() => s.apple.deliver(otherAppId), 'invalid_signed_data', /another app/);
    await expectRefusedDelivery(() => sent(s.apple.buy({ kind: 'subscription', productId: MONTHLY, environment: 'Xcode' })), 'invalid_signed_data', /Xcode/);
    const mixed = await s.apple.sign({ ...payload, data: { ...payload.data, environment: 'Sandbox' } });
    await expectRefusedDelivery(() => s.apple.deliver(mixed), 'invalid_signed_data', /different environments/);
  });

  it('not a notification body: 400 invalid_argument; not POST: 405', async () => {
    const before = await s.dump();
    for (const body of ['{not json', '{}', { signedPayload: 'abc' }, { signedPayload: 42 }]) {
      const r = await s.notifyRaw(body);
      expect(r.status).toBe(400);
      expect(r.json.error.code).toBe('invalid_argument');
    }
    const get = await fetch(s.notificationsUrl);
    expect(get.status).toBe(405);
    expect(await s.dump()).toEqual(before);
  });

  it('TEST is acknowledged and writes nothing', async () => {
    const before = await s.dump();
    expect((await s.apple.sendTestNotification()).delivery).toMatchObject({ status: 200, body: '{"status":"test"}' });
    expect(await s.dump()).toEqual(before);
  });
});

describe('a purchase nobody verified yet', () => {
  it('is stored unowned (nothing granted), then applied when its owner verifies', async () => {
    const { purchase } = await s.apple.buy({ kind: 'subscription', productId: MONTHLY });
    const id = purchase.originalTransactionId;
    expect(await s.purchaseDoc(id)).toMatchObject({ uid: null, state: 'active', platform: 'app_store' });
    await step(id, 'failRenew', { grace: true });
    expect(await s.purchaseDoc(id)).toMatchObject({ uid: null, state: 'in_grace_period' });
    // the device still holds the purchase-time JWS: older than what the notification stored
    const uid = newUid();
    const res = await s.verify({ signedTransaction: await s.apple.signTransaction(id, { signedDate: purchase.transactions[0]!.purchaseDate }) }, uid);
    expect(res.status).toBe(200);
    expect(res.json.purchase).toMatchObject({ state: 'in_grace_period', active: true });
    expect(await premium(uid)).toMatchObject({ active: true, state: 'in_grace_period' });
    expect((await s.verify({ transactionId: id }, newUid())).status).toBe(400); // no API key: apple_not_configured
  });

  it('a consumable charged before verification is credited once, on verification', async () => {
    const { purchase } = await s.apple.buy({ kind: 'consumable', productId: COINS, quantity: 3 });
    expect(await s.purchaseDoc(purchase.originalTransactionId, true)).toMatchObject({ uid: null, credited: null });
    const uid = newUid();
    const jws = await s.apple.signTransaction(purchase.originalTransactionId);
    expect((await s.verify({ signedTransaction: jws }, uid)).json.balances).toEqual({ coins: 300 });
    expect((await s.verify({ signedTransaction: jws }, uid)).json.balances).toEqual({ coins: 300 });
  });

  it('ONE_TIME_CHARGE of a non-consumable is kept unowned and claimed by its first verifier only', async () => {
    const { purchase, notifications } = await s.apple.buy({ kind: 'non_consumable', productId: REMOVE_ADS });
    expect(notifications[0]!.notificationType).toBe('ONE_TIME_CHARGE');
    expect(await s.purchaseDoc(purchase.originalTransactionId)).toMatchObject({ uid: null, state: 'purchased', active: true });
    const jws = await s.apple.signTransaction(purchase.originalTransactionId);
    const [a, b] = [newUid(), newUid()];
    expect((await s.verify({ signedTransaction: jws }, a)).status).toBe(200);
    expect((await s.verify({ signedTransaction: jws }, b)).json.error.code).toBe('purchase_claimed');
    expect(await s.entitlement(b, 'no_ads')).toBeUndefined();
  });
});

describe('every notification type\'s effect on users/{uid}/entitlements', () => {
  it('DID_RENEW extends; DID_FAIL_TO_RENEW without grace stops access; DID_RENEW BILLING_RECOVERY restores it', async () => {
    const { uid, id } = await owned('subscription', MONTHLY);
    await step(id, 'renew');
    expect(millis((await premium(uid))?.expiresAt)).toBe(s.apple.get(id).transactions[1]!.expiresDate);
    const [failed] = await step(id, 'failRenew');
    expect(failed!.subtype).toBeUndefined();
    expect(await premium(uid)).toMatchObject({ active: false, state: 'on_hold' });
    const [recovered] = await step(id, 'renew');
    expect(recovered!.subtype).toBe('BILLING_RECOVERY');
    expect(await premium(uid)).toMatchObject({ active: true, state: 'active' });
  });

  it('DID_FAIL_TO_RENEW GRACE_PERIOD keeps access until the grace period ends; GRACE_PERIOD_EXPIRED stops it', async () => {
    const { uid, id } = await owned('subscription', MONTHLY);
    await step(id, 'failRenew', { grace: true, graceMs: 6 * 86_400_000 });
    const grace = await premium(uid);
    expect(grace).toMatchObject({ active: true, state: 'in_grace_period' });
    expect(millis(grace?.expiresAt)).toBe(s.apple.get(id).gracePeriodExpiresDate);
    await step(id, 'graceExpire');
    expect(await premium(uid)).toMatchObject({ active: false, state: 'on_hold' });
  });

  it('EXPIRED ends access; OFFER_REDEEMED (RESUBSCRIBE) and SUBSCRIBED (RESUBSCRIBE) bring it back', async () => {
    const { uid, id } = await owned('subscription', MONTHLY);
    const [expired] = await step(id, 'expire');
    expect(expired!.subtype).toBe('VOLUNTARY');
    expect(await premium(uid)).toMatchObject({ active: false, state: 'expired' });
    const [offer] = await step(id, 'redeemOffer', { offerIdentifier: 'winback' });
    expect(offer).toMatchObject({ notificationType: 'OFFER_REDEEMED', subtype: 'RESUBSCRIBE' });
    expect(await premium(uid)).toMatchObject({ active: true, state: 'active' });
    await step(id, 'expire', { reason: 'BILLING_RETRY' });
    expect((await premium(uid))?.active).toBe(false);
    await step(id, 'resubscribe');
    expect((await premium(uid))?.active).toBe(true);
  });

  it('DID_CHANGE_RENEWAL_STATUS: auto-renew off reads "canceled" with access until expiry; on again reads "active"', async () => {
    const { uid, id } = await owned('subscription', MONTHLY);
    await step(id, 'setAutoRenew', { enabled: false });
    expect(await premium(uid)).toMatchObject({ active: true, state: 'canceled' });
    expect((await s.purchaseDoc(id))?.state).toBe('canceled');
    await step(id, 'setAutoRenew', { enabled: true });
    expect(await premium(uid)).toMatchObject({ active: true, state: 'active' });
  });

  it('DID_CHANGE_RENEWAL_PREF: UPGRADE switches the product now, DOWNGRADE waits for the renewal', async () => {
    const { uid, id } = await owned('subscription', MONTHLY);
    await step(id, 'changeProduct', { productId: YEARLY, when: 'now' });
    expect(await premium(uid)).toMatchObject({ active: true, productId: YEARLY });
    expect((await s.purchaseDoc(id))?.productId).toBe(YEARLY);
    await step(id, 'changeProduct', { productId: MONTHLY, when: 'renewal' });
    expect(await premium(uid)).toMatchObject({ active: true, productId: YEARLY });
  });

  it('RENEWAL_EXTENDED moves the expiry', async () => {
    const { uid, id } = await owned('subscription', MONTHLY);
    const before = millis((await premium(uid))?.expiresAt)!;
    await step(id, 'extend', { ms: 5 * 86_400_000 });
    expect(millis((await premium(uid))?.expiresAt)).toBe(before + 5 * 86_400_000);
  });

  it('REFUND revokes a subscription; REFUND_REVERSED restores it; REFUND_DECLINED changes nothing', async () => {
    const { uid, id } = await owned('subscription', MONTHLY);
    await step(id, 'refundDeclined');
    expect(await premium(uid)).toMatchObject({ active: true, state: 'active' });
    await step(id, 'refund');
    expect(await premium(uid)).toMatchObject({ active: false, state: 'revoked' });
    expect((await s.purchaseDoc(id))?.revoked).toBe(true);
    await step(id, 'refundReversed');
    expect(await premium(uid)).toMatchObject({ active: true, state: 'active' });
    expect((await s.purchaseDoc(id))?.revoked).toBe(false);
  });

  it('REFUND of a consumable takes its credits back once; REFUND_REVERSED gives them back once', async () => {
    const { uid, id } = await owned('consumable', COINS);
    expect(await s.balances(uid)).toEqual({ coins: 100 });
    const [refund] = await step(id, 'refund');
    expect(await s.balances(uid)).toEqual({ coins: 0 });
    expect(await s.apple.deliver(refund!.signedPayload)).toMatchObject({ status: 200, body: '{"status":"duplicate"}' });
    expect(await s.balances(uid)).toEqual({ coins: 0 });
    await step(id, 'refundReversed');
    expect(await s.balances(uid)).toEqual({ coins: 100 });
  });

  it('REFUND of a non-consumable ends it for good (verify then answers 410)', async () => {
    const { uid, id } = await owned('non_consumable', REMOVE_ADS);
    await step(id, 'refund');
    expect(await s.entitlement(uid, 'no_ads')).toMatchObject({ active: false, state: 'revoked' });
    const again = await s.verify({ signedTransaction: await s.apple.signTransaction(id) }, uid);
    expect(again.status).toBe(410);
  });

  it('REVOKE withdraws a family member\'s access; refunding the purchaser revokes the members too', async () => {
    const buyer = await owned('subscription', MONTHLY);
    const [shareA, shareB] = [
      (await s.apple.transition(buyer.id, 'familyShare', { customerId: 'family-a' })).purchase,
      (await s.apple.transition(buyer.id, 'familyShare', { customerId: 'family-b' })).purchase,
    ];
    const [memberA, memberB] = [newUid(), newUid()];
    for (const [member, share] of [[memberA, shareA], [memberB, shareB]] as const) {
      const res = await s.verify({ signedTransaction: await s.apple.signTransaction(share.originalTransactionId) }, member);
      expect(res.json.purchase).toMatchObject({ familyShared: true, active: true });
    }
    const [revoke] = await step(shareA.originalTransactionId, 'revoke');
    expect(revoke!.notificationType).toBe('REVOKE');
    expect(await premium(memberA)).toMatchObject({ active: false, state: 'revoked' });
    expect((await premium(memberB))?.active).toBe(true);
    const sent = await step(buyer.id, 'refund');
    expect(sent.map((n) => n.notificationType)).toEqual(['REFUND', 'REVOKE']);
    expect((await premium(memberB))?.active).toBe(false);
    expect((await premium(buyer.uid))?.active).toBe(false);
  });

  it('CONSUMPTION_REQUEST is recorded for an admin; access and credits stay', async () => {
    const { uid, id } = await owned('consumable', COINS);
    const [request] = await step(id, 'consumptionRequest');
    expect(JSON.parse((request!.delivery as { body: string }).body)).toEqual({ status: 'notice' });
    const notices = await s.db.collection('adminNotices').where('kind', '==', 'app_store_consumption_request').get();
    expect(notices.docs.map((d) => d.data())).toEqual([
      expect.objectContaining({ purchaseId: expect.stringMatching(/^[0-9a-f]{64}$/), detail: expect.objectContaining({ productId: COINS, reason: 'UNINTENDED_PURCHASE' }) }),
    ]);
    expect(await s.balances(uid)).toEqual({ coins: 100 });
  });

  it('an unknown or unhandled type re-states the purchase generically; a product outside the catalog is a dead letter', async () => {
    const { uid, id } = await owned('subscription', MONTHLY);
    s.apple.get(id).autoRenewStatus = 0; // changed at Apple without its own notification
    const n = await s.apple.notify(id, 'SOMETHING_APPLE_ADDS_LATER');
    expect(n.delivery).toMatchObject({ status: 200, body: '{"status":"applied"}' });
    expect((await premium(uid))?.state).toBe('canceled');
    const price = await s.apple.notify(id, 'PRICE_INCREASE', 'PENDING');
    expect(price.delivery).toMatchObject({ status: 200 });

    const stranger = await s.apple.buy({ kind: 'non_consumable', productId: 'com.example.app.not_in_catalog' });
    expect(stranger.notifications[0]!.delivery).toMatchObject({ status: 200, body: '{"status":"dead_letter"}' });
    const letters = await s.db.collection('deadLetters').where('messageId', '==', stranger.notifications[0]!.notificationUUID).get();
    expect(letters.size).toBe(1);
    expect(letters.docs[0]!.data().reason).toMatch(/not in the catalog/);
    expect(letters.docs[0]!.data().payload).not.toContain(stranger.purchase.originalTransactionId);
  });
});

describe('duplicates and order', () => {
  it('a notification delivered many times, also at once, takes effect once', async () => {
    const { uid, id } = await owned('consumable', COINS);
    const { notifications } = await s.apple.transition(id, 'refund', {}, { deliver: false });
    const payload = notifications[0]!.signedPayload;
    const replies = await Promise.all([1, 2, 3].map(() => s.apple.deliver(payload)));
    expect(replies.every((r) => (r as { status: number }).status === 200)).toBe(true);
    expect(await s.balances(uid)).toEqual({ coins: 0 });
    expect((await s.db.doc(`events/asn:${notifications[0]!.notificationUUID}`).get()).data()).toMatchObject({ applied: true, type: 'REFUND' });
  });

  it('an older notification delivered after a newer one never moves the purchase back', async () => {
    const { uid, id } = await owned('subscription', MONTHLY);
    const failed = (await s.apple.transition(id, 'failRenew', {}, { deliver: false })).notifications[0]!;
    const renewed = (await s.apple.transition(id, 'renew', {}, { deliver: false })).notifications[0]!;
    expect(await s.apple.deliver(renewed.signedPayload)).toMatchObject({ status: 200, body: '{"status":"applied"}' });
    expect(await s.apple.deliver(failed.signedPayload)).toMatchObject({ status: 200, body: '{"status":"stale"}' });
    expect(await premium(uid)).toMatchObject({ active: true, state: 'active' });
    expect((await s.db.doc(`events/asn:${failed.notificationUUID}`).get()).data()).toMatchObject({ applied: false });
  });

  it('a device JWS older than a REFUND notification does not bring access back', async () => {
    const { uid, id } = await owned('subscription', MONTHLY);
    const oldJws = await s.apple.signTransaction(id);
    await step(id, 'refund');
    const res = await s.verify({ signedTransaction: oldJws }, uid);
    expect(res.json.purchase).toMatchObject({ state: 'revoked', active: false });
    expect((await premium(uid))?.active).toBe(false);
  });
});
