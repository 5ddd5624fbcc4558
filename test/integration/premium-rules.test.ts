import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { assertFails, assertSucceeds, initializeTestEnvironment, type RulesTestEnvironment } from '@firebase/rules-unit-testing';
import { doc, getDoc, setDoc } from 'firebase/firestore';
import { afterAll, beforeAll, describe, it, inject } from 'vitest';
import { entitlementClaim } from '../../shared/model/entitlement-claims';

/**
 * examples/firestore.premium.rules against the Firestore emulator, with ID tokens whose `iap` claim is
 * what the server writes (entitlementClaim): access while the expiry is ahead, never after it.
 */
let env: RulesTestEnvironment;
const nowS = () => Math.floor(Date.now() / 1000);

beforeAll(async () => {
  const [host, port] = inject('firestoreEmulatorHost').split(':') as [string, string];
  env = await initializeTestEnvironment({
    projectId: `demo-premium-${randomBytes(3).toString('hex')}`,
    firestore: { host, port: Number(port), rules: readFileSync(resolve(__dirname, '../../examples/firestore.premium.rules'), 'utf8') },
  });
  await env.withSecurityRulesDisabled(async (ctx) => {
    const db = ctx.firestore();
    await setDoc(doc(db, 'premiumArticles/a1'), { title: 'premium' });
    await setDoc(doc(db, 'stickerPacks/p1'), { title: 'pack' });
    await setDoc(doc(db, 'articles/f1'), { title: 'free' });
  });
});
afterAll(async () => {
  await env?.cleanup();
});

const as = (iap: Record<string, number> | undefined) =>
  env.authenticatedContext(`u-${randomBytes(3).toString('hex')}`, iap === undefined ? {} : { iap }).firestore();

describe('examples/firestore.premium.rules', () => {
  it('an active entitlement (the server\'s own claim) reads premium content', async () => {
    const claim = entitlementClaim({ premium: { active: true, expiresAt: new Date(Date.now() + 30 * 86_400_000) } }, new Date());
    await assertSucceeds(getDoc(doc(as(claim), 'premiumArticles/a1')));
    await assertSucceeds(getDoc(doc(as(claim), 'stickerPacks/p1')));
  });

  it('a lifetime entitlement (0) reads it; another entitlement does not open it', async () => {
    await assertSucceeds(getDoc(doc(as({ premium: 0 }), 'premiumArticles/a1')));
    await assertFails(getDoc(doc(as({ stickers: 0 }), 'premiumArticles/a1')));
    await assertSucceeds(getDoc(doc(as({ stickers: 0 }), 'stickerPacks/p1')));
  });

  it('an ID token whose claim has passed its expiry is refused, however recent the token', async () => {
    await assertFails(getDoc(doc(as({ premium: nowS() - 5 }), 'premiumArticles/a1')));
  });

  it('no claim, or signed out: refused; free content stays open to signed-in users; nobody writes', async () => {
    await assertFails(getDoc(doc(as(undefined), 'premiumArticles/a1')));
    await assertFails(getDoc(doc(env.unauthenticatedContext().firestore(), 'premiumArticles/a1')));
    await assertSucceeds(getDoc(doc(as(undefined), 'articles/f1')));
    await assertFails(setDoc(doc(as({ premium: 0 }), 'premiumArticles/a2'), { title: 'x' }));
  });
});
