import { cpus } from 'node:os';
import { Environment, SignedDataVerifier } from '@apple/app-store-server-library';
import { createAppStore } from '../../shared/app-store/adapter';
import { startAppStoreSimulator } from './index';

/**
 * JWS verifications per second with Apple's SignedDataVerifier as the product configures it
 * (APPLE_ONLINE_CHECKS=false: the whole x5c chain is checked on every call, nothing cached), on one
 * core: a StoreKit 2 transaction (verifyPurchase's signedTransaction form) and a V2 notification
 * (the signedPayload plus its signed transaction and renewal info). For comparison, the production default
 * (online checks) with a warm key cache: the library then skips the chain for 15 minutes; its OCSP
 * call is stubbed here (the test chain has no responder), so this is the steady-state cost only.
 * Usage: npm run bench:apple [-- --seconds=3]
 */
async function rate(seconds: number, fn: () => Promise<unknown>): Promise<{ perSecond: number; n: number; p50Ms: number; p99Ms: number }> {
  for (let i = 0; i < 50; i++) await fn(); // warm-up
  const times: number[] = [];
  const end = Date.now() + seconds * 1000;
  const started = performance.now();
  while (Date.now() < end) {
    const t = performance.now();
    await fn();
    times.push(performance.now() - t);
  }
  const elapsed = (performance.now() - started) / 1000;
  times.sort((a, b) => a - b);
  const q = (p: number) => Number(times[Math.min(times.length - 1, Math.floor(p * times.length))]!.toFixed(2));
  return { perSecond: Math.round(times.length / elapsed), n: times.length, p50Ms: q(0.5), p99Ms: q(0.99) };
}

/** Online checks with the OCSP request stubbed out (bench only): measures the library's key cache. */
class WarmCacheVerifier extends SignedDataVerifier {
  protected override async checkOCSPStatus(): Promise<void> {}
}

async function main(): Promise<void> {
  const seconds = Number(process.argv.find((a) => a.startsWith('--seconds='))?.split('=')[1] ?? 3);
  const sim = await startAppStoreSimulator();
  try {
    const apple = createAppStore({
      bundleId: sim.bundleId,
      appAppleId: sim.appAppleId,
      environments: ['Production'],
      rootCerts: [sim.rootCertDer],
      onlineChecks: false,
      apiKey: null,
      apiRootUrls: { Production: undefined, Sandbox: undefined },
      consumption: { answer: false, customerConsent: false, refundPreference: null },
    });
    const { purchase, notifications } = await sim.buy({ kind: 'subscription', productId: 'monthly', notify: true, deliver: false });
    const transaction = await sim.signTransaction(purchase.originalTransactionId);
    const notification = notifications[0]!.signedPayload;
    const tx = await rate(seconds, () => apple.verifyTransaction(transaction));
    const n = await rate(seconds, () => apple.verifyNotification(notification));
    const cached = new WarmCacheVerifier([sim.rootCertDer], true, Environment.PRODUCTION, sim.bundleId, sim.appAppleId);
    const online = await rate(seconds, () => cached.verifyAndDecodeTransaction(transaction));
    const result = {
      node: process.version,
      cpu: cpus()[0]?.model,
      cores: cpus().length,
      onlineChecks: false,
      transaction: tx,
      notification: { ...n, jwsPerSecond: n.perSecond * 3 },
      transactionOnlineChecksWarmCache: online,
    };
    console.log(JSON.stringify(result, null, 2));
    console.log(
      `\nSignedDataVerifier, one core: ${tx.perSecond} signed transactions/s (p50 ${tx.p50Ms} ms), ` +
        `${n.perSecond} notifications/s (3 JWS each, p50 ${n.p50Ms} ms); ` +
        `with online checks and a warm key cache ${online.perSecond} transactions/s`,
    );
  } finally {
    await sim.close();
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
