import { createPublicKey } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { generateServiceAccountKey } from './keys';
import { GOOGLE_TOKEN_AUDIENCE, OAuthService } from './oauth';
import type { CreatePurchaseInput, FaultSpecInput, TransitionArgs, TransitionName } from './schemas';
import { createSimServer } from './server';
import { Simulator } from './sim';
import type { OutgoingNotification, PlaySimulatorOptions, ServiceAccountKey, SimPurchase, SimStats } from './types';

export { describeNotification, encodeNotification } from './notifications';
export { TRANSITION_NAMES } from './schemas';
export type { CreatePurchaseInput, FaultSpecInput, TransitionArgs, TransitionName } from './schemas';
export type * from './types';

export interface PlaySimulator {
  /** Root URL with a trailing slash, for the client's `rootUrl`. */
  url: string;
  /** `url + 'token'`: where to send the JWT bearer exchange. */
  tokenUrl: string;
  /** The generated key (null when `serviceAccount` was given: the simulator then has no private key). */
  serviceAccountKey: ServiceAccountKey | null;
  close(): Promise<void>;
  stats(): SimStats;
  resetStats(): void;
  /** Forgets purchases, faults, stats, clock offset and sent notifications; access tokens stay valid. */
  reset(): Promise<void>;
  createPurchase(input: CreatePurchaseInput): Promise<SimPurchase>;
  /** Runs a lifecycle transition and waits until its RTDNs were handed to onNotification. */
  transition<N extends TransitionName>(token: string, name: N, args?: TransitionArgs<N>): Promise<SimPurchase>;
  injectFaults(spec?: FaultSpecInput): void;
  /** Advances the purchase clock; returns the new simulated time (ms). */
  advanceTime(ms: number): Promise<number>;
  get(token: string): SimPurchase | undefined;
  /** The simulated time (ms). */
  now(): number;
  sendNotification(n: OutgoingNotification): Promise<void>;
  /** Every notification handed to onNotification since start or reset, in order. */
  notifications(): OutgoingNotification[];
  /** Waits until RTDNs from Play API calls (delivered in the background) have been handed over. */
  idle(): Promise<void>;
}

/** Starts the Play simulator on loopback. */
export async function startPlaySimulator(options: PlaySimulatorOptions = {}): Promise<PlaySimulator> {
  const host = options.host ?? '127.0.0.1';
  const generated = options.serviceAccount ? undefined : generateServiceAccountKey();
  const account = options.serviceAccount ?? { clientEmail: generated!.key.client_email, publicKeyPem: generated!.publicKeyPem };
  const audiences = [GOOGLE_TOKEN_AUDIENCE];
  const oauth = new OAuthService(
    { clientEmail: account.clientEmail, publicKey: createPublicKey(account.publicKeyPem) },
    options.accessTokenTtlSeconds ?? 3599,
    audiences,
  );
  const sim = new Simulator({
    now: options.now ?? Date.now,
    oauth,
    autoRefundUnacknowledged: options.autoRefundUnacknowledged ?? true,
    onNotification: options.onNotification,
  });
  const closing = new AbortController();
  const server = createSimServer(sim, closing.signal);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}/`;
  const tokenUrl = `${url}token`;
  audiences.push(tokenUrl);

  return {
    url,
    tokenUrl,
    serviceAccountKey: generated ? { ...generated.key, token_uri: tokenUrl } : null,
    async close() {
      closing.abort();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await sim.idle();
    },
    stats: () => sim.stats.snapshot(),
    resetStats: () => sim.stats.reset(),
    async reset() {
      await sim.idle();
      sim.reset();
    },
    createPurchase: (input) => sim.createPurchase(input),
    transition: (token, name, args) => sim.transition(token, name, args),
    injectFaults: (spec) => sim.injectFaults(spec),
    advanceTime: (ms) => sim.advanceTime(ms),
    get: (token) => sim.get(token),
    now: () => sim.now(),
    sendNotification: (n) => sim.sendNotification(n),
    notifications: () => sim.notifications(),
    idle: () => sim.idle(),
  };
}
