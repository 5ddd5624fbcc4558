import { createHash, randomBytes } from 'node:crypto';
import { deleteApp, initializeApp, type FirebaseApp } from 'firebase/app';
import { connectAuthEmulator, createUserWithEmailAndPassword, getAuth, type User } from 'firebase/auth';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAuthEmulator, setCustomClaims } from '../../tools/emulators/auth';
import type { RunningEmulator } from '../../tools/emulators/gcloud';
import { createClaimsAccount } from '../../shared/auth/claims-account';
import { PACKAGE, startFunctionsStack, type FunctionsStack } from '../helpers/verify-stack';

/**
 * ENTITLEMENT_CLAIMS_KEY through the real parts: the Firebase Auth emulator (firebase-tools), users
 * signed in with the Firebase JS SDK, verifyPurchase and playRtdn with the Play simulator behind them.
 * After each change the user's refreshed ID token carries `iap: { <entitlement>: <expiry s | 0> }`
 * for the active entitlements, next to the user's other claims.
 */
const projectId = `demo-${randomBytes(4).toString('hex')}`;
const KEY = 'iap';
let auth: RunningEmulator;
let s: FunctionsStack;
const apps: FirebaseApp[] = [];

beforeAll(async () => {
  auth = await startAuthEmulator(projectId);
  s = await startFunctionsStack({
    projectId,
    rtdn: true,
    reconcile: true,
    env: { FIREBASE_AUTH_EMULATOR_HOST: auth.host, ENTITLEMENT_CLAIMS_KEY: KEY, PLAY_MAX_ATTEMPTS: '2', RESTORE_POLICY: 'transfer' },
  });
}, 90_000);
afterAll(async () => {
  for (const app of apps) await deleteApp(app);
  await s?.close();
  await auth?.stop();
});

async function newUser(): Promise<User> {
  const app = initializeApp({ projectId, apiKey: 'fake-api-key' }, `claims-${apps.length}`);
  apps.push(app);
  const a = getAuth(app);
  connectAuthEmulator(a, `http://${auth.host}`, { disableWarnings: true });
  const { user } = await createUserWithEmailAndPassword(a, `u${randomBytes(4).toString('hex')}@example.com`, 'secret-password');
  return user;
}

const sha256 = (x: string) => createHash('sha256').update(x).digest('hex');
/** The claims of a freshly minted ID token (what the app sees after getIdToken(true)). */
const claimsOf = async (u: User) => (await u.getIdTokenResult(true)).claims;
const entitlementClaimOf = async (u: User) => (await claimsOf(u))[KEY] as Record<string, number> | undefined;

async function verify(u: User, productId: string, purchaseToken: string) {
  const res = await fetch(s.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${await u.getIdToken()}` },
    body: JSON.stringify({ packageName: PACKAGE, productId, purchaseToken }),
  });
  return { status: res.status, json: (await res.json()) as any };
}

describe('entitlement custom claims', () => {
  it('a purchase sets the claim to its expiry in epoch seconds, merged with the user\'s other claims', async () => {
    const u = await newUser();
    await setCustomClaims(auth.host, projectId, u.uid, { role: 'editor', admin: false });
    const p = await s.sim.createPurchase({ type: 'subscription', packageName: PACKAGE, productId: 'premium_monthly', obfuscatedExternalAccountId: sha256(u.uid) });
    const out = await verify(u, 'premium_monthly', p.purchaseToken);
    expect(out.status, JSON.stringify(out.json)).toBe(200);
    const expiresAt = Date.parse(out.json.entitlements.premium.expiresAt);

    const claims = await claimsOf(u);
    expect(claims[KEY]).toEqual({ premium: Math.ceil(expiresAt / 1000) });
    expect(claims).toMatchObject({ role: 'editor', admin: false });
  });

  it('a lifetime entitlement is 0; a consumable changes no claim', async () => {
    const u = await newUser();
    const coins = await s.sim.createPurchase({ type: 'product', packageName: PACKAGE, productId: 'coins_100', obfuscatedExternalAccountId: sha256(u.uid) });
    expect((await verify(u, 'coins_100', coins.purchaseToken)).status).toBe(200);
    expect(await entitlementClaimOf(u)).toBeUndefined();

    const ads = await s.sim.createPurchase({ type: 'product', packageName: PACKAGE, productId: 'remove_ads', obfuscatedExternalAccountId: sha256(u.uid) });
    expect((await verify(u, 'remove_ads', ads.purchaseToken)).status).toBe(200);
    expect(await entitlementClaimOf(u)).toEqual({ no_ads: 0 });
  });

  it('a renewal moves the expiry; an expiry removes the entitlement and, the last one gone, the key', async () => {
    const u = await newUser();
    await setCustomClaims(auth.host, projectId, u.uid, { role: 'editor' });
    const p = await s.sim.createPurchase({ type: 'subscription', packageName: PACKAGE, productId: 'premium_monthly', obfuscatedExternalAccountId: sha256(u.uid) });
    expect((await verify(u, 'premium_monthly', p.purchaseToken)).status).toBe(200);
    const first = (await entitlementClaimOf(u))!.premium!;

    await s.sim.transition(p.purchaseToken, 'renew');
    const renewed = await s.eventually(async () => {
      const c = await entitlementClaimOf(u);
      return c && c.premium! > first ? c.premium : undefined;
    }, 30_000);
    expect(renewed).toBeGreaterThan(first);

    await s.sim.transition(p.purchaseToken, 'expire');
    await s.eventually(async () => (await entitlementClaimOf(u)) === undefined, 30_000);
    expect(await claimsOf(u)).toMatchObject({ role: 'editor' });
  }, 90_000);

  it('a revocation (voided purchase) removes only that entitlement', async () => {
    const u = await newUser();
    const ads = await s.sim.createPurchase({ type: 'product', packageName: PACKAGE, productId: 'remove_ads', obfuscatedExternalAccountId: sha256(u.uid) });
    const sub = await s.sim.createPurchase({ type: 'subscription', packageName: PACKAGE, productId: 'premium_monthly', obfuscatedExternalAccountId: sha256(u.uid) });
    expect((await verify(u, 'remove_ads', ads.purchaseToken)).status).toBe(200);
    expect((await verify(u, 'premium_monthly', sub.purchaseToken)).status).toBe(200);
    expect(Object.keys((await entitlementClaimOf(u))!).sort()).toEqual(['no_ads', 'premium']);

    await s.sim.transition(ads.purchaseToken, 'refund', { revoke: true });
    await s.eventually(async () => {
      const c = await entitlementClaimOf(u);
      return c && !('no_ads' in c) && 'premium' in c;
    }, 30_000);
  }, 60_000);

  it('a transfer (RESTORE_POLICY=transfer): the claim leaves the previous owner and reaches the new one', async () => {
    const a = await newUser();
    const b = await newUser();
    const p = await s.sim.createPurchase({ type: 'product', packageName: PACKAGE, productId: 'remove_ads' }); // no account binding
    expect((await verify(a, 'remove_ads', p.purchaseToken)).status).toBe(200);
    expect(await entitlementClaimOf(a)).toEqual({ no_ads: 0 });
    expect((await verify(b, 'remove_ads', p.purchaseToken)).status).toBe(200);
    expect(await entitlementClaimOf(b)).toEqual({ no_ads: 0 });
    expect(await entitlementClaimOf(a)).toBeUndefined();
  });

  it('Auth down during a change: the change commits, the claim follows on the next reconcile run', async () => {
    const u = await newUser();
    const account = createClaimsAccount({ projectId, emulatorHost: auth.host });
    const p = await s.sim.createPurchase({ type: 'product', packageName: PACKAGE, productId: 'sticker_pack', obfuscatedExternalAccountId: sha256(u.uid) });
    // The functions run in this process: point their Auth calls at a closed port for this one change.
    const realFetch = globalThis.fetch;
    globalThis.fetch = async (input, init) => {
      if (String(input).includes('/accounts:update')) throw new TypeError('fetch failed (Auth unreachable)');
      return realFetch(input, init);
    };
    try {
      expect((await verify(u, 'sticker_pack', p.purchaseToken)).status).toBe(200);
    } finally {
      globalThis.fetch = realFetch;
    }
    expect((await s.db.doc(`users/${u.uid}/entitlements/stickers`).get()).data()).toMatchObject({ active: true });
    expect((await account.read(u.uid))?.[KEY]).toBeUndefined();
    const pending = await s.db.collection('entitlementEvents').where('uid', '==', u.uid).where('pending', '==', true).get();
    expect(pending.size).toBe(1);

    const { status, run } = await s.runReconcile();
    expect(status).toBe(204);
    expect(run).toBeDefined();
    expect((await account.read(u.uid))?.[KEY]).toEqual({ stickers: 0 });
    const left = await s.db.collection('entitlementEvents').where('uid', '==', u.uid).where('pending', '==', true).get();
    expect(left.size).toBe(0);
  }, 60_000);

  it('the claim is kept within 1000 bytes of custom claims: the rest of the user\'s claims stay whole', async () => {
    const u = await newUser();
    const big = 'x'.repeat(975); // leaves too little room for the entitlements claim
    await setCustomClaims(auth.host, projectId, u.uid, { note: big });
    const p = await s.sim.createPurchase({ type: 'product', packageName: PACKAGE, productId: 'remove_ads', obfuscatedExternalAccountId: sha256(u.uid) });
    expect((await verify(u, 'remove_ads', p.purchaseToken)).status).toBe(200);
    const claims = await claimsOf(u);
    expect(claims.note).toBe(big);
    expect(claims[KEY]).toBeUndefined();
    expect(Buffer.byteLength(JSON.stringify({ note: big }))).toBeLessThanOrEqual(1000);
  });
});
