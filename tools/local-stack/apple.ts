import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startAppStoreSimulator, type AppStoreSimulator } from '../app-store-simulator';

/**
 * The App Store simulator in the stack: the functions' APPLE_* variables point at it (its test root,
 * its App Store Server API key and URLs), and its notifications are POSTed to appStoreNotifications
 * once that listens (setNotificationUrl).
 */
export async function startStackAppStore(port: number, stateDir: string, o: { bundleId?: string; appAppleId?: string }) {
  const appAppleId = Number(o.appAppleId ?? '1234567890');
  const sim: AppStoreSimulator = await startAppStoreSimulator({
    port,
    bundleId: o.bundleId ?? 'com.example.app',
    appAppleId: Number.isSafeInteger(appAppleId) ? appAppleId : 1234567890,
  });
  const rootCert = join(stateDir, 'app-store-test-root.cer');
  writeFileSync(rootCert, sim.rootCertDer);
  const keyFile = join(stateDir, 'app-store-AuthKey.p8');
  // Only this simulator accepts the key, but a private key all the same: owner-only.
  writeFileSync(keyFile, sim.apiKey.privateKeyPem, { mode: 0o600 });
  const env: Record<string, string> = {
    APPLE_BUNDLE_ID: sim.bundleId,
    APPLE_APP_APPLE_ID: String(sim.appAppleId),
    APPLE_ENVIRONMENTS: 'Production,Sandbox',
    APPLE_ROOT_CERTS: rootCert,
    // The test chain has no OCSP responder.
    APPLE_ONLINE_CHECKS: 'false',
    APPLE_ISSUER_ID: sim.apiKey.issuerId,
    APPLE_KEY_ID: sim.apiKey.keyId,
    APPLE_PRIVATE_KEY: keyFile,
    APPLE_API_ROOT_URL: sim.url,
    APPLE_SANDBOX_API_ROOT_URL: sim.sandboxUrl,
  };
  return { sim, env };
}
