import { Firestore } from '@google-cloud/firestore';
import { importPKCS8, SignJWT } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createAppStore } from '../../shared/app-store/adapter';
import { loadConfig } from '../../shared/config';
import type { ApplyAppStoreNotificationDeps } from '../../shared/core/apply-app-store-notification';
import { sweepAppleNotifications, type AppleSweepResult } from '../../shared/core/reconcile-apple';
import { createFirestoreStore } from '../../shared/store/firestore';
import { decodeJwsPayload, type SentNotification } from '../../tools/app-store-simulator';
import { startAppStoreStack, type AppStoreStack } from '../helpers/app-store-stack';

/**
 * reconcilePurchases' Apple step through the real parts: notifications the App Store simulator sent
 * while our endpoint was unreachable are read back with Get Notification History (Apple's client, the
 * simulator's bearer check) and applied by appStoreNotifications' own path into the Firestore emulator.
 */
let s: AppStoreStack;
let db: Firestore;
let deps: ApplyAppStoreNotificationDeps;
beforeAll(async () => {
  s = await startAppStoreStack({ reconcile: true }); // with the API key: the sweep needs it
  const config = loadConfig(process.env);
  db = new Firestore({ projectId: s.projectId, ignoreUndefinedProperties: true });
  deps = { catalog: config.catalog, appStore: createAppStore(config.apple!), store: createFirestoreStore(db), now: () => new Date() };
});
afterEach(() => {
  s.apple.restoreDeliveries();
  s.apple.clearFaults();
});
afterAll(async () => {
  await db?.terminate();
  await s?.close();
});

const MONTHLY = 'com.example.app.premium.monthly';
const REMOVE_ADS = 'com.example.app.remove_ads';
let seq = 0;
const newUid = () => `history-user-${process.pid}-${++seq}`;

/** A window edge after everything sent so far (the simulator's clock can run a few ms ahead of ours). */
const mark = () => Math.max(Date.now(), ...s.apple.notifications().map((n) => n.signedDate)) + 1;
const sweep = (startDate: number, o: { endDate?: number; maxCalls?: number; paginationToken?: string | null; environment?: 'Production' | 'Sandbox' } = {}) =>
  sweepAppleNotifications(deps, { environment: 'Production', startDate, endDate: o.endDate ?? mark(), maxCalls: 10, ...o });
const counts = (r: AppleSweepResult) => ({ applied: r.applied, duplicates: r.duplicates, skipped: r.skipped, failed: r.failed, done: r.done });
const uuidOf = (n: SentNotification) => n.notificationUUID;
const hasEvent = async (n: SentNotification) => (await db.doc(`events/asn:${uuidOf(n)}`).get()).exists;

/** A subscription its owner verified, then renewed and refunded: three notifications. */
async function subscriptionLife() {
  const uid = newUid();
  const { purchase, notifications } = await s.apple.buy({ kind: 'subscription', productId: MONTHLY });
  expect((await s.verify({ signedTransaction: await s.apple.signTransaction(purchase.originalTransactionId) }, uid)).status).toBe(200);
  const id = purchase.originalTransactionId;
  const renewal = (await s.apple.transition(id, 'renew')).notifications;
  const refund = (await s.apple.transition(id, 'refund')).notifications;
  return { uid, id, sent: [...notifications, ...renewal, ...refund] };
}
const view = async (uid: string, id: string) => {
  const e = await s.entitlement(uid, 'premium');
  const p = await s.purchaseDoc(id);
  return { entitlement: { active: e?.active, state: e?.state, productId: e?.productId }, purchase: { uid: p?.uid, state: p?.state, active: p?.active, revoked: p?.revoked } };
};

describe('sweepAppleNotifications', () => {
  it('applies what never reached us as if it had been delivered; a second sweep finds only duplicates', async () => {
    const from = mark();
    const delivered = await subscriptionLife();
    for (const n of delivered.sent) expect(n.delivery).toMatchObject({ status: 200 });

    s.apple.failDeliveries();
    const lost = await subscriptionLife();
    for (const n of lost.sent) expect(n.delivery).toEqual({ error: expect.stringMatching(/simulated delivery failure/) });
    expect((await s.entitlement(lost.uid, 'premium'))?.active).toBe(true); // the refund never arrived
    s.apple.restoreDeliveries();

    const endDate = mark();
    const first = await sweep(from, { endDate });
    expect(counts(first)).toEqual({ applied: 3, duplicates: 3, skipped: 0, failed: 0, done: true });
    expect(first).toMatchObject({ calls: 1, pages: 1, errors: [], paginationToken: null });
    for (const n of lost.sent) expect(await hasEvent(n), n.notificationType).toBe(true);
    expect(await view(lost.uid, lost.id)).toEqual({
      ...(await view(delivered.uid, delivered.id)),
      purchase: { ...(await view(delivered.uid, delivered.id)).purchase, uid: lost.uid },
    });
    expect((await view(lost.uid, lost.id)).entitlement).toMatchObject({ active: false, state: 'revoked' });

    const before = await s.dump();
    expect(counts(await sweep(from, { endDate }))).toEqual({ applied: 0, duplicates: 6, skipped: 0, failed: 0, done: true });
    expect(await s.dump()).toEqual(before);
  });

  it('pages over more than 20 notifications, a run of maxCalls 1 resuming with the token', async () => {
    const from = mark();
    s.apple.failDeliveries();
    const { purchase } = await s.apple.buy({ kind: 'subscription', productId: MONTHLY, notify: true });
    for (let i = 0; i < 24; i++) await s.apple.transition(purchase.originalTransactionId, 'setAutoRenew', { enabled: i % 2 === 1 });
    const endDate = mark();

    const first = await sweep(from, { endDate, maxCalls: 1 });
    expect(first).toMatchObject({ calls: 1, pages: 1, applied: 20, done: false, paginationToken: expect.any(String) });
    const second = await sweep(from, { endDate, maxCalls: 1, paginationToken: first.paginationToken });
    expect(second).toMatchObject({ calls: 1, pages: 1, applied: 5, duplicates: 0, done: true, paginationToken: null });
    expect(await s.purchaseDoc(purchase.originalTransactionId)).toMatchObject({ uid: null, state: 'active' }); // unowned until verified
  });

  it('skips (never throws on) a notification for another app or not signed by Apple; writes nothing for them', async () => {
    const from = mark();
    s.apple.failDeliveries();
    await s.apple.buy({ kind: 'non_consumable', productId: REMOVE_ADS, bundleId: 'com.other.app' });
    await s.apple.buy({ kind: 'non_consumable', productId: REMOVE_ADS, forged: true });
    const before = await s.dump();
    const r = await sweep(from);
    expect(counts(r)).toEqual({ applied: 0, duplicates: 0, skipped: 2, failed: 0, done: true });
    expect(r.errors).toEqual([expect.stringMatching(/signed for another app/), expect.stringMatching(/not signed by Apple/)]);
    expect(await s.dump()).toEqual(before);
  });

  it('a notification failing transiently is counted and retried by the next sweep; the rest of the page applies', async () => {
    const from = mark();
    s.apple.failDeliveries();
    const a = (await s.apple.buy({ kind: 'subscription', productId: MONTHLY })).notifications[0]!;
    const b = (await s.apple.buy({ kind: 'subscription', productId: MONTHLY })).notifications[0]!;
    const endDate = mark();
    s.apple.injectFaults({ pathContains: '/inApps/v1/subscriptions/', count: 3 }); // every attempt for the first one
    const first = await sweep(from, { endDate });
    expect(counts(first)).toEqual({ applied: 1, duplicates: 0, skipped: 0, failed: 1, done: true });
    expect(first.errors).toEqual([expect.stringMatching(/upstream_unavailable/)]);
    expect([await hasEvent(a), await hasEvent(b)]).toEqual([false, true]);
    // failed > 0: the checkpoint stays, the window is swept again
    expect(counts(await sweep(from, { endDate }))).toEqual({ applied: 1, duplicates: 1, skipped: 0, failed: 0, done: true });
    expect(await hasEvent(a)).toBe(true);
  });

  it('the history call failing throws upstream_unavailable; without the API key the step is apple_not_configured', async () => {
    s.apple.injectFaults({ pathContains: '/notifications/history', count: 3 });
    await expect(sweep(mark() - 1000)).rejects.toMatchObject({ code: 'upstream_unavailable' });
    const config = loadConfig(process.env);
    for (const appStore of [null, createAppStore({ ...config.apple!, apiKey: null })]) {
      await expect(sweepAppleNotifications({ ...deps, appStore }, { environment: 'Production', startDate: 0, endDate: 1, maxCalls: 1 })).rejects.toMatchObject({
        code: 'apple_not_configured',
      });
    }
  });

  it('per environment; a startDate past what Apple keeps is raised; a refused token restarts the window', async () => {
    const from = mark();
    s.apple.failDeliveries();
    await s.apple.buy({ kind: 'subscription', productId: MONTHLY, environment: 'Sandbox' });
    const endDate = mark();
    expect(counts(await sweep(from, { endDate }))).toMatchObject({ applied: 0, done: true });
    const old = await sweep(Date.now() - 40 * 86_400_000, { endDate, environment: 'Sandbox' }); // Sandbox keeps 30 days
    expect(old).toMatchObject({ applied: 1, done: true });
    expect(old.errors).toEqual([expect.stringMatching(/no longer kept by Apple/)]);
    const restarted = await sweep(from, { endDate, environment: 'Sandbox', paginationToken: 'not-a-token' });
    expect(restarted).toMatchObject({ calls: 2, pages: 1, duplicates: 1, done: true });
    expect(restarted.errors).toEqual([expect.stringMatching(/token was refused/)]);
  });
});

describe('App Store simulator: Get Notification History', () => {
  async function history(body: Record<string, unknown>, o: { sandbox?: boolean; token?: string; bearer?: string | null } = {}) {
    const key = await importPKCS8(s.apple.apiKey.privateKeyPem, 'ES256');
    const now = Math.floor(Date.now() / 1000);
    const jwt = await new SignJWT({ bid: s.apple.bundleId })
      .setProtectedHeader({ alg: 'ES256', kid: s.apple.apiKey.keyId, typ: 'JWT' })
      .setIssuer(s.apple.apiKey.issuerId)
      .setAudience('appstoreconnect-v1')
      .setIssuedAt(now)
      .setExpirationTime(now + 300)
      .sign(key);
    const url = `${o.sandbox ? s.apple.sandboxUrl : s.apple.url}/inApps/v1/notifications/history${o.token ? `?paginationToken=${o.token}` : ''}`;
    const bearer = o.bearer === undefined ? jwt : o.bearer;
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(bearer ? { authorization: `Bearer ${bearer}` } : {}) },
      body: JSON.stringify(body),
    });
    return { status: res.status, json: (res.status === 401 ? undefined : await res.json()) as any };
  }
  const types = (r: { json: any }) =>
    (r.json.notificationHistory as { signedPayload: string }[]).map((h) => decodeJwsPayload<{ notificationType: string }>(h.signedPayload).notificationType);

  it('filters by sent time, onlyFailures, notificationType and customer; records every send attempt', async () => {
    const startDate = mark();
    const ok = await s.apple.buy({ kind: 'subscription', productId: MONTHLY });
    s.apple.failDeliveries({ count: 1 });
    await s.apple.transition(ok.purchase.originalTransactionId, 'renew');
    const other = await s.apple.buy({ kind: 'non_consumable', productId: REMOVE_ADS });
    const endDate = mark();

    const all = await history({ startDate, endDate });
    expect(all.status).toBe(200);
    expect(types(all)).toEqual(['SUBSCRIBED', 'DID_RENEW', 'ONE_TIME_CHARGE']);
    expect(all.json.hasMore).toBe(false);
    expect(all.json.notificationHistory.map((h: { sendAttempts: { sendAttemptResult: string }[] }) => h.sendAttempts.map((a) => a.sendAttemptResult))).toEqual([
      ['SUCCESS'],
      ['NO_RESPONSE'],
      ['SUCCESS'],
    ]);
    expect(types(await history({ startDate, endDate, onlyFailures: true }))).toEqual(['DID_RENEW']);
    expect(types(await history({ startDate, endDate, notificationType: 'ONE_TIME_CHARGE' }))).toEqual(['ONE_TIME_CHARGE']);
    expect(types(await history({ startDate, endDate, transactionId: other.purchase.originalTransactionId }))).toEqual(['ONE_TIME_CHARGE']);
    expect(types(await history({ startDate, endDate }, { sandbox: true }))).toEqual([]);
    expect(types(await history({ startDate: ok.notifications[0]!.signedDate + 1, endDate }))).toEqual(['DID_RENEW', 'ONE_TIME_CHARGE']);

    // a replay after the fact is one more attempt on the same record
    await s.apple.deliver(all.json.notificationHistory[1].signedPayload);
    expect(types(await history({ startDate, endDate, onlyFailures: true }))).toEqual([]);
  });

  it("Apple's errors: bearer, dates, filters, token", async () => {
    const now = Date.now();
    expect((await history({ startDate: now - 1000, endDate: now }, { bearer: null })).status).toBe(401);
    const code = async (body: Record<string, unknown>, o = {}) => {
      const r = await history(body, o);
      expect(r.status).toBe(400);
      return r.json.errorCode;
    };
    expect(await code({ endDate: now })).toBe(4000015);
    expect(await code({ startDate: now - 1000 })).toBe(4000016);
    expect(await code({ startDate: now, endDate: now - 1000 })).toBe(4000013);
    expect(await code({ startDate: now - 181 * 86_400_000, endDate: now })).toBe(4000012);
    expect(await code({ startDate: now - 31 * 86_400_000, endDate: now }, { sandbox: true })).toBe(4000012);
    expect(await code({ startDate: now - 1000, endDate: now, transactionId: '1', notificationType: 'REFUND' })).toBe(4000019);
    expect(await code({ startDate: now - 1000, endDate: now }, { token: 'garbage' })).toBe(4000014);
    expect((await history({ startDate: now - 179 * 86_400_000, endDate: now })).status).toBe(200);
  });
});

describe('reconcilePurchases runs the Apple step', () => {
  it('applies App Store notifications that never reached us, per environment, and keeps a checkpoint', async () => {
    s.apple.failDeliveries();
    const lost = await subscriptionLife();
    s.apple.restoreDeliveries();
    expect((await s.entitlement(lost.uid, 'premium'))?.active).toBe(true);

    const { status, run } = await s.runReconcile();
    expect(status).toBe(204);
    expect(run!.counts['appStore:Production']).toMatchObject({ failed: 0, done: true });
    expect(run!.counts['appStore:Production'].applied).toBeGreaterThanOrEqual(3);
    expect(run!.counts['appStore:Sandbox']).toMatchObject({ failed: 0, done: true });
    expect((await s.entitlement(lost.uid, 'premium'))?.active).toBe(false);
    const checkpoint = (await s.db.doc('reconcileState/checkpoint:appStore:Production').get()).data();
    expect(checkpoint).toMatchObject({ complete: true, failed: 0, paginationToken: null });

    const again = await s.runReconcile();
    expect(again.run!.counts['appStore:Production'].applied).toBe(0);
  });

  it('re-reads an App Store subscription whose stored expiry passed with no notification (a renewal)', async () => {
    const uid = newUid();
    const { purchase } = await s.apple.buy({ kind: 'subscription', productId: MONTHLY, periodMs: 2_000 });
    expect((await s.verify({ signedTransaction: await s.apple.signTransaction(purchase.originalTransactionId) }, uid)).status).toBe(200);
    const before = (await s.purchaseDoc(purchase.originalTransactionId))!.expiresAt.toMillis();
    await new Promise((r) => setTimeout(r, 2_200)); // the stored expiry passes
    s.apple.failDeliveries();
    await s.apple.transition(purchase.originalTransactionId, 'renew'); // renewed for 2 s more, unannounced
    s.apple.restoreDeliveries();

    const { run } = await s.runReconcile();
    expect(run!.counts.lapsed!.applied).toBeGreaterThanOrEqual(1);
    const after = await s.purchaseDoc(purchase.originalTransactionId);
    expect(after).toMatchObject({ active: true, uid });
    expect(after!.expiresAt.toMillis()).toBeGreaterThan(before);
    expect(await s.entitlement(uid, 'premium')).toMatchObject({ active: true });
  });
});
