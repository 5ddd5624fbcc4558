import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAppStoreStack, type AppStoreStack } from '../helpers/app-store-stack';

/**
 * A production-shaped configuration: only Production accepted, no App Store Server API key
 * (signed-data-only). Sandbox and Xcode data is refused with nothing written; lookups need the key.
 */
let s: AppStoreStack;
beforeAll(async () => {
  s = await startAppStoreStack({ environments: 'Production', apiKey: false });
});
afterAll(async () => {
  await s?.close();
});

const uid = 'prod-config-user';

async function unchanged<T>(send: () => Promise<T>): Promise<T> {
  const before = await s.dump();
  const result = await send();
  expect(await s.dump()).toEqual(before);
  return result;
}

describe('only Production accepted', () => {
  it('a Sandbox transaction or notification is refused: 400 invalid_signed_data, nothing written', async () => {
    const { purchase, notifications } = await unchanged(() =>
      s.apple.buy({ kind: 'subscription', productId: 'com.example.app.premium.monthly', environment: 'Sandbox' }),
    );
    const delivery = notifications[0]!.delivery as { status: number; body: string };
    expect(delivery.status).toBe(400);
    expect(JSON.parse(delivery.body).error.message).toMatch(/Sandbox environment; this deployment accepts Production/);
    const jws = await s.apple.signTransaction(purchase.originalTransactionId);
    const res = await unchanged(() => s.verify({ signedTransaction: jws }, uid));
    expect(res.status).toBe(400);
    expect(res.json.error).toMatchObject({ code: 'invalid_signed_data', message: expect.stringMatching(/APPLE_ENVIRONMENTS/) });
  });

  it('Xcode and LocalTesting transactions are never accepted', async () => {
    const { purchase } = await s.apple.buy({ kind: 'non_consumable', productId: 'com.example.app.remove_ads', environment: 'Xcode', notify: false });
    for (const environment of ['Xcode', 'LocalTesting']) {
      const jws = await s.apple.signTransaction(purchase.originalTransactionId, { environment });
      const res = await unchanged(() => s.verify({ signedTransaction: jws }, uid));
      expect(res.json.error).toMatchObject({ code: 'invalid_signed_data', message: expect.stringMatching(/not signed by Apple and is never accepted/) });
    }
  });

  it('transactionId and receipt need the API key: 400 apple_not_configured', async () => {
    const { purchase } = await s.apple.buy({ kind: 'non_consumable', productId: 'com.example.app.remove_ads', notify: false });
    for (const body of [{ transactionId: purchase.originalTransactionId }, { receipt: s.apple.receipt([purchase.originalTransactionId]) }]) {
      const res = await unchanged(() => s.verify(body, uid));
      expect(res.status).toBe(400);
      expect(res.json.error).toMatchObject({ code: 'apple_not_configured', message: expect.stringMatching(/APPLE_ISSUER_ID/) });
    }
    expect(s.apple.stats().calls).toEqual({});
  });

  it('a Production purchase is verified from its signed data alone, without any API call', async () => {
    const { purchase } = await s.apple.buy({ kind: 'subscription', productId: 'com.example.app.premium.monthly', notify: false });
    const res = await s.verify({ signedTransaction: await s.apple.signTransaction(purchase.originalTransactionId) }, uid);
    expect(res.status).toBe(200);
    expect(res.json.purchase).toMatchObject({ environment: 'Production', active: true, state: 'active' });
    expect(s.apple.stats().calls).toEqual({});
  });
});
