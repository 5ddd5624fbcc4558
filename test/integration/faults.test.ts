import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOwnFirestore, type OwnFirestore } from '../helpers/own-firestore';
import { PACKAGE, startFunctionsStack, type FunctionsStack } from '../helpers/verify-stack';

/**
 * Faults through the real parts, without ever restarting the functions: the Play simulator failing
 * for a while (500, timeouts, slow answers, 429 quota refusals), and this file's own Firestore emulator frozen
 * (every call hangs) or killed and started again on the same port. Verifications must answer 503
 * `upstream_unavailable` with Retry-After while a dependency fails, never grant anything wrong, and
 * succeed once it is back; RTDNs (published by the simulator to Pub/Sub, pushed to playRtdn) must be
 * redelivered until each one is applied exactly once.
 *
 * Play calls time out after 1.5 s and are tried twice; a Firestore operation has 5 s.
 */
let fs: OwnFirestore;
let s: FunctionsStack;
beforeAll(async () => {
  fs = await startOwnFirestore();
  s = await startFunctionsStack({
    rtdn: true,
    env: { FIRESTORE_EMULATOR_HOST: fs.host, PLAY_MAX_ATTEMPTS: '2', PLAY_TIMEOUT_MS: '1500', FIRESTORE_TIMEOUT_MS: '5000' },
  });
  // The emulator's first transactions are slow (a cold JVM): warm it up before anything is measured.
  const token = await buy('product', 'remove_ads');
  expect((await settled(() => verify('warm-up', 'remove_ads', token))).status).toBe(200);
  // Its RTDN (delivered through Pub/Sub in the background) must have landed before tests compare dumps.
  const id = createHash('sha256').update(token).digest('hex');
  await s.eventually(async () => (await s.db.collection('events').where('purchaseId', '==', id).get()).size >= published(token), 60_000);
}, 120_000);
afterAll(async () => {
  await fs?.stop(); // thaws first if a test left it frozen
  await s?.close();
});

const sha256 = (x: string) => createHash('sha256').update(x).digest('hex');
let seq = 0;
const newUid = (name = 'user') => `${name}-${process.pid}-${++seq}`;
async function buy(type: 'product' | 'subscription', productId: string) {
  return (await s.sim.createPurchase({ type, productId, packageName: PACKAGE } as never)).purchaseToken;
}
const verify = (uid: string, productId: string, purchaseToken: string) => s.post({ packageName: PACKAGE, productId, purchaseToken }, { uid });
type Answer = Awaited<ReturnType<typeof verify>>;
const purchaseDoc = async (token: string) => (await s.db.doc(`purchases/${sha256(token)}`).get()).data();
const entitlement = async (uid: string, id: string) => (await s.db.doc(`users/${uid}/entitlements/${id}`).get()).data();
const balances = async (uid: string) => (await s.db.doc(`users/${uid}`).get()).data()?.balances;

function expectUnavailable(r: Answer, what = '') {
  expect(r.status, `${what} ${r.text}`).toBe(503);
  expect(r.json.error.code).toBe('upstream_unavailable');
  expect(Number(r.headers.get('retry-after')), 'Retry-After').toBeGreaterThan(0);
}
/** Retries while the answer is 503 (a dependency still recovering), up to ~60 s. */
async function settled(call: () => Promise<Answer>): Promise<Answer> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const r = await call();
    if (r.status !== 503 || Date.now() > deadline) return r;
    await new Promise((res) => setTimeout(res, 500));
  }
}
/** Notifications the simulator published about a token (each is one Pub/Sub message). */
const published = (token: string) => s.sim.notifications().filter((n) => JSON.stringify(n).includes(token)).length;
const eventsOf = async (token: string) => (await s.db.collection('events').where('purchaseId', '==', sha256(token)).get()).docs.map((d) => d.data());
/** Waits until every RTDN published about the token has been processed, each exactly once. */
async function allNotificationsProcessed(token: string, timeoutMs = 90_000) {
  await s.sim.idle();
  return s.eventually(async () => {
    const events = await eventsOf(token);
    return events.length === published(token) ? events : undefined;
  }, timeoutMs);
}

describe('Play quota exhausted (429)', () => {
  const callsTo = (method: string) => s.sim.stats().calls[method] ?? 0;
  const SUBS = 'purchases.subscriptionsv2.get';
  const ONE_TIME = 'purchases.productsv2.getproductpurchasev2';

  it('honours Retry-After: the instance holds that quota bucket (503 with the time left, no Play call), other buckets go on, then it serves again', async () => {
    const [a, b] = [await buy('subscription', 'premium_monthly'), await buy('subscription', 'premium_yearly')];
    const ads = await buy('product', 'remove_ads');
    for (const t of [a, b, ads]) await allNotificationsProcessed(t);
    const before = await s.dump();
    s.sim.injectFaults({ count: 1, pathContains: a, status: 429, retryAfterSeconds: 3 });
    const subsCalls = callsTo(SUBS);

    const refused = await verify(newUid(), 'premium_monthly', a);
    expectUnavailable(refused);
    expect(Number(refused.headers.get('retry-after'))).toBe(3);
    expect(callsTo(SUBS) - subsCalls, 'a 429 is not retried at once').toBe(1);

    const held = await verify(newUid(), 'premium_yearly', b);
    expectUnavailable(held, 'another subscription while held');
    expect(Number(held.headers.get('retry-after'))).toBeLessThanOrEqual(3);
    expect(callsTo(SUBS) - subsCalls, 'held calls never reach Play').toBe(1);
    expect(await s.dump()).toEqual(before);

    const other = await verify(newUid(), 'remove_ads', ads);
    expect(other.status, `one-time purchases are another bucket: ${other.text}`).toBe(200);

    await new Promise((r) => setTimeout(r, 3_100));
    const uid = newUid();
    const ok = await verify(uid, 'premium_monthly', a);
    expect(ok.status, ok.text).toBe(200);
    expect((await entitlement(uid, 'premium'))?.active).toBe(true);
  }, 60_000);

  it('without Retry-After: its own backoff, doubling while Play keeps refusing, reset by a success', async () => {
    const token = await buy('product', 'coins_100');
    await allNotificationsProcessed(token);
    s.sim.injectFaults({ count: 2, pathContains: token, status: 429 });
    const uid = newUid();
    const first = await verify(uid, 'coins_100', token);
    expectUnavailable(first);
    expect(Number(first.headers.get('retry-after'))).toBe(1);
    const calls = callsTo(ONE_TIME);
    expectUnavailable(await verify(uid, 'coins_100', token), 'held');
    expect(callsTo(ONE_TIME)).toBe(calls);

    await new Promise((r) => setTimeout(r, 1_100));
    const second = await verify(uid, 'coins_100', token);
    expectUnavailable(second, 'refused again');
    expect(Number(second.headers.get('retry-after')), 'the hold doubles').toBe(2);

    await new Promise((r) => setTimeout(r, 2_100));
    const ok = await verify(uid, 'coins_100', token);
    expect(ok.status, ok.text).toBe(200);
    expect(await balances(uid)).toEqual({ coins: 100 });
  }, 60_000);
});

describe('Play failing for a while', () => {
  const cases = [
    { name: 'HTTP 500', fault: { status: 500 }, type: 'subscription', productId: 'premium_monthly' },
    { name: 'no answer (timeouts)', fault: { mode: 'hang', delayMs: 4_000 }, type: 'product', productId: 'coins_100' },
    { name: 'answers slower than the timeout', fault: { mode: 'delay', delayMs: 2_500 }, type: 'subscription', productId: 'premium_yearly' },
  ] as const;
  for (const c of cases) {
    it(`${c.name}: 503 upstream_unavailable with Retry-After and nothing written, then the right grant`, async () => {
      const uid = newUid();
      const token = await buy(c.type, c.productId);
      await allNotificationsProcessed(token); // the purchase's RTDN must not take the faults meant for verify
      const before = await s.dump();
      const served = s.sim.stats().faultsServed;
      s.sim.injectFaults({ count: 4, pathContains: token, ...c.fault }); // two verifications, two attempts each
      for (let i = 0; i < 2; i++) {
        expectUnavailable(await verify(uid, c.productId, token), `attempt ${i + 1}`);
        expect(await s.dump()).toEqual(before);
      }
      expect(s.sim.stats().faultsServed - served).toBe(4);

      const ok = await settled(() => verify(uid, c.productId, token));
      expect(ok.status, ok.text).toBe(200);
      expect((await purchaseDoc(token))?.uid).toBe(uid);
      if (c.productId === 'coins_100') expect(await balances(uid)).toEqual({ coins: 100 });
      else expect((await entitlement(uid, 'premium'))?.active).toBe(true);
    }, 60_000);
  }

  it('slow but within the timeout: granted at once', async () => {
    const uid = newUid();
    const token = await buy('product', 'remove_ads');
    await allNotificationsProcessed(token);
    s.sim.injectFaults({ count: 2, pathContains: token, mode: 'delay', delayMs: 700 });
    const r = await verify(uid, 'remove_ads', token);
    expect(r.status, r.text).toBe(200);
    expect(r.json.purchase).toMatchObject({ active: true, acknowledged: true });
  });

  it('acknowledge (or consume) failing: the grant stands, the failure is recorded, the next verification finishes it; credits once', async () => {
    const uid = newUid();
    const ads = await buy('product', 'remove_ads');
    const coins = await buy('product', 'coins_100');
    await allNotificationsProcessed(ads);
    await allNotificationsProcessed(coins);
    s.sim.injectFaults({ count: 2, pathContains: `${ads}:acknowledge`, status: 503 });
    s.sim.injectFaults({ count: 2, pathContains: `${coins}:consume`, status: 500 });

    const first = await Promise.all([verify(uid, 'remove_ads', ads), verify(uid, 'coins_100', coins)]);
    expect(first.map((r) => r.status)).toEqual([200, 200]);
    expect(first[0]!.json.purchase.acknowledged).toBe(false);
    expect(first[1]!.json.purchase.consumed).toBe(false);
    expect(await purchaseDoc(ads)).toMatchObject({ uid, syncError: expect.stringMatching(/unavailable/i) });
    expect(await purchaseDoc(coins)).toMatchObject({ uid, credited: { coins: 100 }, syncError: expect.any(String) });
    expect((await entitlement(uid, 'no_ads'))?.active).toBe(true);
    expect(s.sim.get(ads)?.resource).toMatchObject({ acknowledgementState: 0 });

    const again = [await verify(uid, 'remove_ads', ads), await verify(uid, 'coins_100', coins)];
    expect(again[0]!.json.purchase.acknowledged).toBe(true);
    expect(again[1]!.json.purchase.consumed).toBe(true);
    expect(await purchaseDoc(ads)).toMatchObject({ syncError: null, acknowledged: true });
    expect(await purchaseDoc(coins)).toMatchObject({ syncError: null, consumed: true });
    expect(s.sim.get(ads)?.resource).toMatchObject({ acknowledgementState: 1 });
    expect(await balances(uid)).toEqual({ coins: 100 });
  }, 60_000);

  it('RTDNs during a Play outage are redelivered by Pub/Sub until each is applied once, ending in Play’s state', async () => {
    const uid = newUid();
    const token = await buy('subscription', 'premium_monthly');
    expect((await settled(() => verify(uid, 'premium_monthly', token))).status).toBe(200);
    await allNotificationsProcessed(token);
    const before = published(token);
    const served = s.sim.stats().faultsServed;
    s.sim.injectFaults({ count: 10, pathContains: token, status: 503 });
    for (const t of ['grace', 'hold', 'recover', 'cancel'] as const) await s.sim.transition(token, t);
    expect(published(token) - before).toBe(4);

    const events = await allNotificationsProcessed(token);
    expect(s.sim.stats().faultsServed - served).toBe(10); // every fault was met by a delivery, and then retried
    expect(new Set(events.map((e) => e.id)).size).toBe(events.length);
    expect(await entitlement(uid, 'premium')).toMatchObject({ state: 'canceled', active: true });
    const letters = await s.db.collection('deadLetters').get();
    expect(letters.docs.map((d) => d.data().reason)).toEqual([]);
  }, 120_000);
});

describe('Firestore failing', () => {
  it('frozen (every call hangs): 503 with Retry-After, no wrong grant; thawed: everything recovers, every RTDN applied once', async () => {
    const alice = newUid('alice');
    const bob = newUid('bob');
    const owned = await buy('product', 'remove_ads');
    const sub = await buy('subscription', 'premium_monthly');
    expect((await settled(() => verify(alice, 'remove_ads', owned))).status).toBe(200);
    expect((await settled(() => verify(alice, 'premium_monthly', sub))).status).toBe(200);
    await allNotificationsProcessed(sub);

    fs.freeze();
    let fresh: string;
    try {
      fresh = await buy('product', 'coins_100'); // its RTDN cannot be stored yet
      await s.sim.transition(sub, 'cancel'); // nor this one
      const during = await Promise.all([verify(bob, 'remove_ads', owned), verify(alice, 'coins_100', fresh), verify(bob, 'premium_monthly', sub)]);
      for (const r of during) expectUnavailable(r, 'while frozen');
      await new Promise((r) => setTimeout(r, 3_000)); // Pub/Sub keeps redelivering meanwhile
    } finally {
      fs.thaw();
    }

    // Nothing restarted: the same function instances answer as before, with the right owners.
    const bobAgain = await settled(() => verify(bob, 'remove_ads', owned));
    expect(bobAgain.status).toBe(409);
    expect(bobAgain.json.error.code).toBe('purchase_claimed');
    expect((await settled(() => verify(bob, 'premium_monthly', sub))).status).toBe(409);
    const aliceCoins = await settled(() => verify(alice, 'coins_100', fresh));
    expect(aliceCoins.status, aliceCoins.text).toBe(200);
    expect(await balances(alice)).toEqual({ coins: 100 });
    expect(await entitlement(bob, 'no_ads')).toBeUndefined();
    expect(await entitlement(bob, 'premium')).toBeUndefined();

    await allNotificationsProcessed(sub);
    await allNotificationsProcessed(fresh);
    expect(await entitlement(alice, 'premium')).toMatchObject({ state: 'canceled', active: true });
  }, 180_000);

  it('killed and started again on the same port: 503 while down; after the restart verifications succeed and every RTDN sent meanwhile is applied once', async () => {
    const carol = newUid('carol');
    await fs.kill();
    const tokens: string[] = [];
    try {
      // Purchases made while the database is gone: their RTDNs fail and are redelivered.
      tokens.push(await buy('product', 'remove_ads'), await buy('subscription', 'premium_monthly'), await buy('product', 'coins_100'));
      await s.sim.transition(tokens[1]!, 'cancel');
      const during = await Promise.all([verify(carol, 'remove_ads', tokens[0]!), verify(carol, 'premium_monthly', tokens[1]!)]);
      for (const r of during) expectUnavailable(r, 'while killed');
      await new Promise((r) => setTimeout(r, 3_000));
    } finally {
      await fs.restart();
    }

    // The emulator keeps data in memory, so the restarted one starts empty; the functions were not
    // restarted, and their Firestore client reconnects on its own.
    for (const t of tokens) await allNotificationsProcessed(t);
    for (const t of tokens) {
      // Recorded from its RTDN. A verification answered 503 may still have committed once the database
      // was back (the client's own retry outlives our deadline): then it belongs to who asked, carol.
      expect([null, carol]).toContain((await purchaseDoc(t))?.uid);
    }
    expect((await purchaseDoc(tokens[1]!))?.state).toBe('canceled');
    const ok = await settled(() => verify(carol, 'remove_ads', tokens[0]!));
    expect(ok.status, ok.text).toBe(200);
    expect((await settled(() => verify(carol, 'coins_100', tokens[2]!))).status).toBe(200);
    expect(await balances(carol)).toEqual({ coins: 100 });
    expect((await entitlement(carol, 'no_ads'))?.active).toBe(true);
    expect((await s.db.collection('deadLetters').get()).size).toBe(0);
  }, 180_000);
});
