import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startAppStoreSimulator, type AppStoreSimulator } from '../../tools/app-store-simulator';
import { startCertServer, type CertServer } from './id-tokens';
import { startFunctionsStack, type FunctionsStack } from './verify-stack';

/**
 * All four functions of one test file on 127.0.0.1, with production ID token checks (RS256 against a
 * local certificate server, FIREBASE_AUTH_EMULATOR_HOST unset, so unsigned tokens are refused) and
 * Apple configured against the App Store simulator's test root. Pub/Sub is not involved: playRtdn is
 * reached by POSTing push envelopes or CloudEvents to it directly.
 */
export interface AllFunctionsStack {
  s: FunctionsStack;
  certs: CertServer;
  apple: AppStoreSimulator;
  urls: { verifyPurchase: string; playRtdn: string; refundPurchase: string; appStoreNotifications: string };
  /** A properly signed ID token (RS256, current key) for uid, with optional custom claims. */
  signedToken(uid: string, claims?: Record<string, unknown>): Promise<string>;
  close(): Promise<void>;
}

export async function startAllFunctions(o: { env?: Record<string, string | undefined>; projectId?: string } = {}): Promise<AllFunctionsStack> {
  const [certs, apple] = await Promise.all([startCertServer(), startAppStoreSimulator()]);
  const s = await startFunctionsStack({
    ...(o.projectId ? { projectId: o.projectId } : {}),
    env: {
      FIREBASE_AUTH_EMULATOR_HOST: undefined,
      FIREBASE_ID_TOKEN_CERTS_URL: certs.url,
      APPLE_BUNDLE_ID: apple.bundleId,
      APPLE_APP_APPLE_ID: String(apple.appAppleId),
      APPLE_ENVIRONMENTS: 'Production,Sandbox',
      APPLE_ROOT_CERTS: apple.writeRootCert(),
      APPLE_ONLINE_CHECKS: 'false',
      APPLE_API_ROOT_URL: apple.url,
      APPLE_SANDBOX_API_ROOT_URL: apple.sandboxUrl,
      APPLE_ISSUER_ID: apple.apiKey.issuerId,
      APPLE_KEY_ID: apple.apiKey.keyId,
      APPLE_PRIVATE_KEY: apple.apiKey.privateKeyPem,
      ...o.env,
    },
  });
  const { getTestServer } = await import('@google-cloud/functions-framework/testing');
  const servers: Server[] = [];
  const serve = async (name: string) => {
    const server: Server = getTestServer(name);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    servers.push(server);
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  };
  const urls = {
    verifyPurchase: s.url,
    playRtdn: await serve('playRtdn'),
    refundPurchase: await serve('refundPurchase'),
    appStoreNotifications: await serve('appStoreNotifications'),
  };
  apple.setNotificationUrl(urls.appStoreNotifications);
  return {
    s,
    certs,
    apple,
    urls,
    signedToken: (uid, claims) => certs.signIdToken({ projectId: s.projectId, uid, ...(claims ? { claims } : {}) }),
    async close() {
      for (const server of servers) {
        server.closeAllConnections?.();
        await new Promise<void>((r) => server.close(() => r()));
      }
      await apple.close();
      await s.close();
      await certs.close();
    },
  };
}
