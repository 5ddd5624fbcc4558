import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestCa, type TestCa } from './ca';
import type { FaultSpecInput } from './faults';
import { signJws } from './jws';
import type { TransitionArgs, TransitionName } from './lifecycle';
import { createSimServer } from './server';
import { Simulator } from './sim';
import type { BuyInput, ConsumptionRecord, SentNotification, SimPurchase, SimStats, TransitionResult } from './types';

export { createTestCa, type TestCa } from './ca';
export { decodeJwsPayload, signJws, tamper } from './jws';
export { TRANSITION_NAMES, type TransitionArgs, type TransitionName } from './lifecycle';
export type * from './types';

export interface AppStoreSimulatorOptions {
  port?: number;
  host?: string;
  bundleId?: string;
  appAppleId?: number;
  /** Where V2 notifications are POSTed (can be set later). */
  notificationUrl?: string;
}

export interface AppStoreSimulator {
  /** App Store Server API root for Production (APPLE_API_ROOT_URL). */
  url: string;
  /** App Store Server API root for Sandbox (APPLE_SANDBOX_API_ROOT_URL). */
  sandboxUrl: string;
  controlUrl: string;
  bundleId: string;
  appAppleId: number;
  /** The test root (DER) that signs everything here: what APPLE_ROOT_CERTS must name. */
  rootCertDer: Buffer;
  ca: TestCa;
  /** Same shape as `ca`, never trusted: signs forged payloads. */
  foreignCa: TestCa;
  /** The App Store Connect API key the App Store Server API accepts (APPLE_ISSUER_ID, _KEY_ID, _PRIVATE_KEY). */
  apiKey: { issuerId: string; keyId: string; privateKeyPem: string };
  /** Writes the root certificate to a file and returns its path. */
  writeRootCert(dir?: string): string;
  setNotificationUrl(url: string | undefined): void;
  buy(input: BuyInput): Promise<TransitionResult>;
  transition<N extends TransitionName>(originalTransactionId: string, name: N, args?: TransitionArgs<N>, o?: { deliver?: boolean }): Promise<TransitionResult>;
  /** Any notification type (also unknown ones) about a purchase's current state. */
  notify(originalTransactionId: string, notificationType: string, subtype?: string, o?: { deliver?: boolean }): Promise<SentNotification>;
  sendTestNotification(o?: { deliver?: boolean }): Promise<SentNotification>;
  /** POSTs any signedPayload (a replay, a tampered one) to the notification URL. */
  deliver(signedPayload: string): Promise<SentNotification['delivery']>;
  /** The purchase's latest transaction as the app gets it (jwsRepresentation), optionally altered and re-signed. */
  signTransaction(originalTransactionId: string, overrides?: Record<string, unknown>, o?: { ca?: TestCa }): Promise<string>;
  sign(payload: unknown, o?: { ca?: TestCa }): Promise<string>;
  receipt(transactionIds: string[]): string;
  latestTransactionId(originalTransactionId: string): string;
  get(originalTransactionId: string): SimPurchase;
  injectFaults(spec?: FaultSpecInput): void;
  clearFaults(): void;
  /**
   * The next `count` deliveries (default: all, until restoreDeliveries) fail without reaching the
   * notification URL ("Apple's notifications never reached us"); they stay in the notification history.
   */
  failDeliveries(o?: { count?: number }): void;
  restoreDeliveries(): void;
  stats(): SimStats;
  notifications(): SentNotification[];
  /** What Send Consumption Information calls told the simulator, oldest first. */
  consumptionInfo(): ConsumptionRecord[];
  reset(): void;
  close(): Promise<void>;
}

/** Starts the App Store simulator on loopback: test CA, App Store Server API, notifications, control API. */
export async function startAppStoreSimulator(options: AppStoreSimulatorOptions = {}): Promise<AppStoreSimulator> {
  const host = options.host ?? '127.0.0.1';
  const [ca, foreignCa] = await Promise.all([createTestCa(), createTestCa({ name: 'not Apple' })]);
  const key = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const apiKey = {
    issuerId: randomUUID(),
    keyId: randomBytes(5).toString('hex').toUpperCase(),
    privateKeyPem: key.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicKey: key.publicKey,
  };
  const bundleId = options.bundleId ?? 'com.example.app';
  const appAppleId = options.appAppleId ?? 1234567890;
  const sim = new Simulator({ bundleId, appAppleId, ca, foreignCa, apiKey });
  sim.notifier.url = options.notificationUrl;

  const closing = new AbortController();
  const server = createSimServer(sim, closing.signal);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;

  return {
    url,
    sandboxUrl: `${url}/sandbox`,
    controlUrl: `${url}/_sim/`,
    bundleId,
    appAppleId,
    rootCertDer: ca.rootDer,
    ca,
    foreignCa,
    apiKey: { issuerId: apiKey.issuerId, keyId: apiKey.keyId, privateKeyPem: apiKey.privateKeyPem },
    writeRootCert(dir = mkdtempSync(join(tmpdir(), 'app-store-root-'))) {
      const path = join(dir, 'test-root.cer');
      writeFileSync(path, ca.rootDer);
      return path;
    },
    setNotificationUrl: (u) => {
      sim.notifier.url = u;
    },
    buy: (input) => sim.lifecycle.buy(input),
    transition: (id, name, args, o) => sim.lifecycle.transition(id, name, args, o),
    notify: (id, type, subtype, o) => sim.notifier.notify(sim.state.get(id), type, subtype, o),
    sendTestNotification: (o) => sim.notifier.notify(null, 'TEST', undefined, o),
    deliver: (signedPayload) => sim.notifier.deliver(signedPayload),
    signTransaction: (id, overrides, o) => sim.signTransaction(id, overrides, o?.ca),
    sign: (payload, o) => signJws(payload, o?.ca ?? ca),
    receipt: (ids) => sim.receipt(ids),
    latestTransactionId: (id) => sim.latestTransactionId(id),
    get: (id) => sim.state.get(id),
    injectFaults: (spec) => sim.faults.add(spec),
    clearFaults: () => sim.faults.clear(),
    stats: () => structuredClone(sim.state.stats),
    notifications: () => [...sim.notifier.sent],
    consumptionInfo: () => structuredClone(sim.state.consumption),
    failDeliveries: (o) => {
      sim.notifier.failingDeliveries = o?.count ?? Infinity;
    },
    restoreDeliveries: () => {
      sim.notifier.failingDeliveries = 0;
    },
    reset: () => sim.reset(),
    async close() {
      closing.abort();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
