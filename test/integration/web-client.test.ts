import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { deleteApp, initializeApp, type FirebaseApp } from 'firebase/app';
import { connectAuthEmulator, getAuth, signInAnonymously, type User } from 'firebase/auth';
import { connectFirestoreEmulator, getFirestore, type Firestore } from 'firebase/firestore';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  accountHash,
  hasAccess,
  verifyPurchase,
  VerifyPurchaseError,
  watchEntitlements,
  type Entitlement,
} from '../../examples/clients/web';
import { startAuthEmulator } from '../../tools/emulators/auth';
import type { RunningEmulator } from '../../tools/emulators/gcloud';
import { PACKAGE, startFunctionsStack, type FunctionsStack } from '../helpers/verify-stack';

/**
 * The web client sample (examples/clients/web) against the real parts: the Firebase JS SDK signed in at
 * the Auth emulator, verifyPurchase served on 127.0.0.1 with the Play simulator behind it, RTDNs through
 * Pub/Sub to playRtdn, and the entitlement listener reading the Firestore emulator under firestore.rules.
 */
const projectId = `demo-${randomBytes(4).toString('hex')}`;
let auth: RunningEmulator;
let s: FunctionsStack;
const apps: FirebaseApp[] = [];
const stops: (() => void)[] = [];

beforeAll(async () => {
  auth = await startAuthEmulator(projectId);
  s = await startFunctionsStack({ projectId, rtdn: true, env: { FIREBASE_AUTH_EMULATOR_HOST: auth.host, PLAY_MAX_ATTEMPTS: '2' } });
  // Client SDK reads are checked against the project's rules, as in production.
  const rules = readFileSync(resolve(__dirname, '../../firestore.rules'), 'utf8');
  const res = await fetch(`http://${inject('firestoreEmulatorHost')}/emulator/v1/projects/${projectId}:securityRules`, {
    method: 'PUT',
    body: JSON.stringify({ rules: { files: [{ content: rules }] } }),
  });
  expect(res.status, await res.text()).toBe(200);
}, 90_000);
afterAll(async () => {
  for (const stop of stops) stop();
  for (const app of apps) await deleteApp(app);
  await s?.close();
  await auth?.stop();
});

/** An app instance: its own Firebase app, signed in anonymously, Firestore at the emulator. */
async function signedInApp(): Promise<{ user: User; db: Firestore }> {
  const app = initializeApp({ projectId, apiKey: 'fake-api-key' }, `web-${apps.length}`);
  apps.push(app);
  const a = getAuth(app);
  connectAuthEmulator(a, `http://${auth.host}`, { disableWarnings: true });
  const db = getFirestore(app);
  const [host, port] = inject('firestoreEmulatorHost').split(':') as [string, string];
  connectFirestoreEmulator(db, host, Number(port));
  const { user } = await signInAnonymously(a);
  return { user, db };
}

/** Every snapshot the listener delivered, and a way to wait for one that satisfies a condition. */
function listen(db: Firestore, uid: string) {
  const seen: Record<string, Entitlement>[] = [];
  const errors: Error[] = [];
  const waiters: (() => void)[] = [];
  stops.push(
    watchEntitlements(
      db,
      uid,
      (all) => {
        seen.push(all);
        for (const w of waiters.splice(0)) w();
      },
      (e) => errors.push(e),
    ),
  );
  const until = async (ok: (all: Record<string, Entitlement>) => boolean, timeoutMs = 20_000) => {
    const deadline = Date.now() + timeoutMs;
    while (!seen.some(ok)) {
      if (errors.length) throw errors[0];
      if (Date.now() > deadline) throw new Error(`no such snapshot within ${timeoutMs} ms: ${JSON.stringify(seen.at(-1))}`);
      await new Promise<void>((r) => {
        waiters.push(r);
        setTimeout(r, 200);
      });
    }
    return seen.find(ok)!;
  };
  return { seen, errors, until };
}

const sha256 = (x: string) => createHash('sha256').update(x).digest('hex');
const processed = (token: string) =>
  s.eventually(async () => {
    await s.sim.idle();
    const published = s.sim.notifications().filter((n) => JSON.stringify(n).includes(token)).length;
    const events = await s.db.collection('events').where('purchaseId', '==', sha256(token)).get();
    return published > 0 && events.size === published;
  }, 30_000);

describe('web client', () => {
  it('signs in, buys with the account hash, verifies, and sees the entitlement arrive through the listener', async () => {
    const { user, db } = await signedInApp();
    const w = listen(db, user.uid);
    await w.until((all) => Object.keys(all).length === 0); // the first snapshot: nothing yet

    const p = await s.sim.createPurchase({
      type: 'subscription',
      packageName: PACKAGE,
      productId: 'premium_monthly',
      obfuscatedExternalAccountId: await accountHash(user.uid),
    });
    const out = await verifyPurchase(s.url, user, { packageName: PACKAGE, productId: 'premium_monthly', purchaseToken: p.purchaseToken });
    expect(out.kind).toBe('verified');
    if (out.kind !== 'verified') return;
    expect(out.result.purchase).toMatchObject({ productId: 'premium_monthly', active: true, acknowledged: true });
    expect(out.result.entitlements.premium).toMatchObject({ active: true });

    const snap = await w.until((all) => hasAccess(all.premium));
    expect(snap.premium).toMatchObject({ id: 'premium', productId: 'premium_monthly', active: true });
    expect(snap.premium!.expiresAt!.getTime()).toBeGreaterThan(Date.now());
    expect(w.errors).toEqual([]);
    expect(s.sim.get(p.purchaseToken)?.resource, 'the server acknowledged, not the client').toMatchObject({ acknowledgementState: 'ACKNOWLEDGEMENT_STATE_ACKNOWLEDGED' });
  });

  it("the listener is refused another user's entitlements (firestore.rules)", async () => {
    const a = await signedInApp();
    const b = await signedInApp();
    const w = listen(b.db, a.user.uid);
    await expect(w.until(() => true, 10_000)).rejects.toMatchObject({ code: 'permission-denied' });
  });

  it('a pending purchase: the client reports pending, nothing granted; once paid, verifying again grants and the listener shows it', async () => {
    const { user, db } = await signedInApp();
    const w = listen(db, user.uid);
    const p = await s.sim.createPurchase({ type: 'product', packageName: PACKAGE, productId: 'remove_ads', pending: true, obfuscatedExternalAccountId: await accountHash(user.uid) });
    const req = { packageName: PACKAGE, productId: 'remove_ads', purchaseToken: p.purchaseToken };
    const out = await verifyPurchase(s.url, user, req);
    expect(out).toMatchObject({ kind: 'pending', retryAfterSeconds: expect.any(Number) });
    expect((await w.until(() => true)).no_ads).toBeUndefined();
    expect(s.sim.get(p.purchaseToken)?.resource).toMatchObject({ acknowledgementState: 0 });

    // Play Billing reports the purchase PURCHASED to the app, which verifies again.
    await s.sim.transition(p.purchaseToken, 'complete');
    expect((await verifyPurchase(s.url, user, req)).kind).toBe('verified');
    const snap = await w.until((all) => hasAccess(all.no_ads));
    expect(snap.no_ads).toMatchObject({ productId: 'remove_ads', expiresAt: null });
  }, 60_000);

  it('a pending payment that is abandoned: the client reports canceled (410), nothing granted', async () => {
    const { user } = await signedInApp();
    const p = await s.sim.createPurchase({ type: 'product', packageName: PACKAGE, productId: 'movie_rental', pending: true, obfuscatedExternalAccountId: await accountHash(user.uid) });
    await s.sim.transition(p.purchaseToken, 'cancelPending');
    const out = await verifyPurchase(s.url, user, { packageName: PACKAGE, productId: 'movie_rental', purchaseToken: p.purchaseToken });
    expect(out.kind).toBe('canceled');
    expect((await s.db.doc(`users/${user.uid}/entitlements/movie`).get()).exists).toBe(false);
  });

  it('another account: the purchase is reported as owned elsewhere, nothing granted to the caller', async () => {
    const owner = await signedInApp();
    const other = await signedInApp();
    const p = await s.sim.createPurchase({ type: 'product', packageName: PACKAGE, productId: 'sticker_pack', obfuscatedExternalAccountId: await accountHash(owner.user.uid) });
    const req = { packageName: PACKAGE, productId: 'sticker_pack', purchaseToken: p.purchaseToken };
    expect(await verifyPurchase(s.url, other.user, req)).toMatchObject({ kind: 'owned_by_other_account', code: 'account_mismatch' });
    expect((await verifyPurchase(s.url, owner.user, req)).kind).toBe('verified');
    expect((await s.db.doc(`users/${other.user.uid}/entitlements/stickers`).get()).exists).toBe(false);
  });

  it('an unknown product: an error carrying the server code', async () => {
    const { user } = await signedInApp();
    const err = await verifyPurchase(s.url, user, { packageName: PACKAGE, productId: 'nope', purchaseToken: 'tok-1' }).catch((e) => e);
    expect(err).toBeInstanceOf(VerifyPurchaseError);
    expect(err).toMatchObject({ status: 400, code: 'unknown_product' });
  });

  it('Play failing (503): the client waits the Retry-After seconds, retries and succeeds', async () => {
    const { user, db } = await signedInApp();
    const w = listen(db, user.uid);
    const p = await s.sim.createPurchase({ type: 'subscription', packageName: PACKAGE, productId: 'extra_storage', obfuscatedExternalAccountId: await accountHash(user.uid) });
    await processed(p.purchaseToken); // the purchase's own RTDN must not take the faults meant for the client
    const served = s.sim.stats().faultsServed;
    s.sim.injectFaults({ count: 2, pathContains: p.purchaseToken, status: 503 }); // one verification's attempts

    const waits: number[] = [];
    const retryAfter: (string | null)[] = [];
    const realFetch = globalThis.fetch;
    globalThis.fetch = async (...args) => {
      const res = await realFetch(...args);
      if (String(args[0]) === s.url) retryAfter.push(res.headers.get('retry-after'));
      return res;
    };
    try {
      const out = await verifyPurchase(
        s.url,
        user,
        { packageName: PACKAGE, productId: 'extra_storage', purchaseToken: p.purchaseToken },
        { sleep: (ms) => (waits.push(ms), new Promise((r) => setTimeout(r, ms))) },
      );
      expect(out.kind).toBe('verified');
    } finally {
      globalThis.fetch = realFetch;
    }
    expect(s.sim.stats().faultsServed - served).toBe(2);
    expect(retryAfter.length, 'one 503, then the 200').toBe(2);
    expect(Number(retryAfter[0])).toBeGreaterThan(0);
    expect(waits).toEqual([Number(retryAfter[0]) * 1000]);
    expect(hasAccess((await w.until((all) => hasAccess(all.storage))).storage)).toBe(true);
  }, 60_000);

  it('Play still failing after the retry budget: an error with upstream_unavailable and the server\'s Retry-After', async () => {
    const { user } = await signedInApp();
    const p = await s.sim.createPurchase({ type: 'product', packageName: PACKAGE, productId: 'coins_100', obfuscatedExternalAccountId: await accountHash(user.uid) });
    await processed(p.purchaseToken);
    s.sim.injectFaults({ count: 4, pathContains: p.purchaseToken, status: 503 }); // two verifications' attempts
    const waits: number[] = [];
    const err = await verifyPurchase(
      s.url,
      user,
      { packageName: PACKAGE, productId: 'coins_100', purchaseToken: p.purchaseToken },
      { maxAttempts: 2, maxWaitSeconds: 1, sleep: async (ms) => void waits.push(ms) },
    ).catch((e) => e);
    expect(err).toBeInstanceOf(VerifyPurchaseError);
    expect(err).toMatchObject({ status: 503, code: 'upstream_unavailable', retryAfterSeconds: expect.any(Number) });
    expect(waits, 'one wait, capped at maxWaitSeconds').toEqual([1000]);
    expect((await s.db.doc(`users/${user.uid}`).get()).data()?.balances?.coins).toBeUndefined();
  }, 60_000);

  it('an ID token the server refuses (401): refreshed once and sent again', async () => {
    const { user } = await signedInApp();
    const p = await s.sim.createPurchase({ type: 'product', packageName: PACKAGE, productId: 'remove_ads', obfuscatedExternalAccountId: await accountHash(user.uid) });
    const asked: boolean[] = [];
    const stale = { getIdToken: async (force?: boolean) => (asked.push(!!force), force ? user.getIdToken(true) : 'not-a-token') };
    const out = await verifyPurchase(s.url, stale, { packageName: PACKAGE, productId: 'remove_ads', purchaseToken: p.purchaseToken });
    expect(out.kind).toBe('verified');
    expect(asked).toEqual([false, true]);
    const never = { getIdToken: async () => 'not-a-token' };
    await expect(verifyPurchase(s.url, never, { packageName: PACKAGE, productId: 'remove_ads', purchaseToken: p.purchaseToken })).rejects.toMatchObject({ status: 401, code: 'unauthenticated' });
  });
});
