import { describe, expect, it } from 'vitest';
import { applyAppStoreNotification } from '../../shared/core/apply-app-store-notification';
import { verifyAppStorePurchase } from '../../shared/core/verify-app-store-purchase';
import type { PurchaseStore } from '../../shared/store/purchase-record';

/** A deployment without APPLE_BUNDLE_ID refuses App Store requests before touching anything. */
const untouchable = new Proxy({} as PurchaseStore, {
  get: () => () => {
    throw new Error('the store must not be used');
  },
});
const deps = { catalog: { products: {} }, appStore: null, store: untouchable, now: () => new Date() };

describe('Apple not configured', () => {
  it('verifyPurchase and appStoreNotifications answer apple_not_configured', async () => {
    await expect(verifyAppStorePurchase(deps, 'u1', { signedTransaction: 'a.b.c' })).rejects.toMatchObject({
      code: 'apple_not_configured',
      message: expect.stringMatching(/APPLE_BUNDLE_ID/),
    });
    await expect(applyAppStoreNotification(deps, 'a.b.c')).rejects.toMatchObject({ code: 'apple_not_configured' });
  });
});
