import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { emulatorIdToken, startCertServer, type CertServer } from '../helpers/id-tokens';
import { PACKAGE, startFunctionsStack, type FunctionsStack } from '../helpers/verify-stack';

/**
 * Production token checking through the function: RS256 against a local stand-in for Google's
 * securetoken certificates, and no Auth-emulator switch, so unsigned tokens must be refused.
 */
let certs: CertServer;
let s: FunctionsStack;
beforeAll(async () => {
  certs = await startCertServer();
  s = await startFunctionsStack({ env: { FIREBASE_AUTH_EMULATOR_HOST: undefined, FIREBASE_ID_TOKEN_CERTS_URL: certs.url } });
});
afterAll(async () => {
  await s?.close();
  await certs?.close();
});

describe('verifyPurchase with production ID token checks', () => {
  it('accepts a properly signed token and refuses unsigned, expired, foreign and forged ones', async () => {
    const p = await s.sim.createPurchase({ type: 'product', productId: 'remove_ads', packageName: PACKAGE } as never);
    const b = { packageName: PACKAGE, productId: 'remove_ads', purchaseToken: p.purchaseToken };
    const uid = 'prod-user';

    const unsigned = emulatorIdToken({ projectId: s.projectId, uid });
    const refused = await s.post(b, { token: unsigned });
    expect(refused.status).toBe(401);
    expect(refused.json.error.message).toMatch(/unsigned/i);

    const now = Math.floor(Date.now() / 1000);
    for (const token of [
      await certs.signIdToken({ projectId: s.projectId, uid, iat: now - 7200, expiresInSeconds: 3600 }),
      await certs.signIdToken({ projectId: 'other-project', uid }),
      await certs.signIdToken({ projectId: s.projectId, uid, iss: 'https://securetoken.google.com/other-project' }),
    ]) {
      const r = await s.post(b, { token });
      expect(r.status).toBe(401);
      expect(r.json.error.code).toBe('unauthenticated');
    }
    expect(await s.dump()).toEqual({});

    const good = await certs.signIdToken({ projectId: s.projectId, uid });
    const ok = await s.post(b, { token: good });
    expect(ok.status).toBe(200);
    expect((await s.db.doc(`users/${uid}/entitlements/no_ads`).get()).data()?.active).toBe(true);
  });
});
