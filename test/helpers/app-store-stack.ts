import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { appAccountTokenFor } from '../../shared/app-store/app-account-token';
import { appStorePurchaseId } from '../../shared/app-store/ids';
import { startAppStoreSimulator, type AppStoreSimulator } from '../../tools/app-store-simulator';
import { startFunctionsStack } from './verify-stack';

/**
 * The real parts for an App Store test file: the App Store simulator (test CA, App Store Server API,
 * notifications), the Firestore emulator (own project id), and verifyPurchase + appStoreNotifications
 * served by the functions framework on 127.0.0.1, with Apple's library verifying against the test root.
 */
export interface AppStoreStackOptions {
  /** Configure the App Store Server API key (default true); false = signed-data-only mode. */
  apiKey?: boolean;
  /** APPLE_ENVIRONMENTS (default "Production,Sandbox"). */
  environments?: string;
  env?: Record<string, string | undefined>;
  /** Serve reconcilePurchases too (`runReconcile`). */
  reconcile?: boolean;
}

export async function startAppStoreStack(o: AppStoreStackOptions = {}) {
  const apple = await startAppStoreSimulator();
  const withKey = o.apiKey ?? true;
  const s = await startFunctionsStack({
    reconcile: o.reconcile ?? false,
    env: {
      APPLE_BUNDLE_ID: apple.bundleId,
      APPLE_APP_APPLE_ID: String(apple.appAppleId),
      APPLE_ENVIRONMENTS: o.environments ?? 'Production,Sandbox',
      APPLE_ROOT_CERTS: apple.writeRootCert(),
      APPLE_ONLINE_CHECKS: 'false',
      APPLE_API_ROOT_URL: apple.url,
      APPLE_SANDBOX_API_ROOT_URL: apple.sandboxUrl,
      APPLE_ISSUER_ID: withKey ? apple.apiKey.issuerId : undefined,
      APPLE_KEY_ID: withKey ? apple.apiKey.keyId : undefined,
      APPLE_PRIVATE_KEY: withKey ? apple.apiKey.privateKeyPem : undefined,
      ...o.env,
    },
  });
  const { getTestServer } = await import('@google-cloud/functions-framework/testing');
  const server: Server = getTestServer('appStoreNotifications');
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const notificationsUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  apple.setNotificationUrl(notificationsUrl);

  /** verifyPurchase with platform app_store. */
  const verify = (body: Record<string, unknown>, uid: string) => s.post({ platform: 'app_store', ...body }, { uid });

  async function notifyRaw(body: unknown) {
    const res = await fetch(notificationsUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.text();
    let json: any;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: res.status, json, text, headers: res.headers };
  }

  const doc = async (path: string) => (await s.db.doc(path).get()).data();

  return {
    ...s,
    apple,
    notificationsUrl,
    verify,
    /** POSTs a notification body as Apple would. */
    notifyRaw,
    entitlement: (uid: string, id: string) => doc(`users/${uid}/entitlements/${id}`),
    balances: async (uid: string) => (await doc(`users/${uid}`))?.balances as Record<string, number> | undefined,
    /** The purchases/{id} document of a simulator purchase. */
    purchaseDoc: (originalTransactionId: string, consumable = false) =>
      doc(`purchases/${appStorePurchaseId({ originalTransactionId, transactionId: originalTransactionId }, consumable)}`),
    purchaseId: (originalTransactionId: string) => appStorePurchaseId({ originalTransactionId, transactionId: originalTransactionId }, false),
    appAccountTokenFor,
    async close() {
      await new Promise<void>((r) => server.close(() => r()));
      await apple.close();
      await s.close();
    },
  };
}

export type AppStoreStack = Awaited<ReturnType<typeof startAppStoreStack>>;
export type { AppStoreSimulator };
