import { Firestore } from '@google-cloud/firestore';
import { createAppStore, type AppStore } from './app-store/adapter';
import { createIdTokenVerifier, type IdTokenVerifier } from './auth/id-token';
import { ConfigError, loadConfig, type Config } from './config';
import { configureUserLogs } from './log';
import { createPlayClient, type PlayPurchases } from './play/client';
import { createFirestoreStore, withDeadline } from './store/firestore';
import { deliverUsers, type DeliveryDeps } from './core/deliver-events';
import { createPubSubPublisher } from './events/pubsub-publisher';
import { createClaimsAccount } from './auth/claims-account';
import { createFirestoreOutbox } from './store/outbox';
import { createFirestoreReconcileStore } from './store/firestore-reconcile';
import type { ReconcileStore } from './store/reconcile-store';
import type { PurchaseStore } from './store/purchase-record';

/**
 * What a function instance holds for its lifetime: config (validated once), one Play client (its
 * access token cached), one Firestore client, one ID-token verifier (its certs cached).
 *
 * Cold start: only the config and the ID-token verifier are built when the instance starts. The
 * Play client, the Firestore client and the App Store adapter are built on their first use (in the
 * per-function bundles, that is also when their libraries are loaded: tools/build/build.ts), and the
 * first request starts building the Firestore client while it waits for Play.
 */
export interface Runtime {
  config: Config;
  play: PlayPurchases;
  store: PurchaseStore;
  /** The sweep's own documents (lease, checkpoints, runs). */
  reconcile: ReconcileStore;
  idTokens: IdTokenVerifier;
  /** Apple's verifiers and API client; null when Apple is not configured. */
  appStore: AppStore | null;
  /** Entitlement events and claims (null when neither is configured). */
  delivery: DeliveryDeps | null;
  now: () => Date;
}

function deliveryDeps(config: Config, db: Firestore): DeliveryDeps {
  return {
    outbox: withDeadline(createFirestoreOutbox(db), config.firestoreTimeoutMs),
    publisher: config.eventsTopic ? createPubSubPublisher({ projectId: config.projectId, topic: config.eventsTopic }) : null,
    claims: config.claimsKey
      ? {
          key: config.claimsKey,
          account: createClaimsAccount({ projectId: config.projectId, ...(config.authEmulatorHost ? { emulatorHost: config.authEmulatorHost } : {}) }),
        }
      : null,
    now: () => new Date(),
  };
}

/**
 * An object built on its first use: any property read, `in`, spread or key listing builds it (once)
 * and is then answered by it. Destructuring `{ store } = rt()` is not a use; `store.x` is.
 */
export interface Deferred<T extends object> {
  value: T;
  /** Builds it now if not yet built (e.g. while the first request waits on the network). */
  build(): T;
  built(): boolean;
}

export function deferred<T extends object>(make: () => T): Deferred<T> {
  let real: T | undefined;
  const build = (): T => (real ??= make());
  const value = new Proxy({} as T, {
    get: (_, key) => {
      const r = build();
      const v = Reflect.get(r, key, r) as unknown;
      return v;
    },
    has: (_, key) => Reflect.has(build(), key),
    ownKeys: () => Reflect.ownKeys(build()),
    getOwnPropertyDescriptor: (_, key) => {
      const d = Reflect.getOwnPropertyDescriptor(build(), key);
      return d ? { ...d, configurable: true } : undefined;
    },
    set: (_, key, v) => Reflect.set(build(), key, v),
    defineProperty: (_, key, d) => Reflect.defineProperty(build(), key, d),
    deleteProperty: (_, key) => Reflect.deleteProperty(build(), key),
    getPrototypeOf: () => Reflect.getPrototypeOf(build()),
  });
  return { value, build, built: () => real !== undefined };
}

export function createRuntime(config: Config): Runtime & { warm(): void } {
  configureUserLogs(config.userLogs);
  let db: Firestore | undefined;
  // preferRest (HTTP/1.1 + JSON instead of gRPC) was measured and left off: with the Firestore emulator,
  // concurrent transactions on one document then ran past the store deadline (503s in the tests).
  const firestore = () => (db ??= new Firestore({ projectId: config.projectId, ignoreUndefinedProperties: true }));
  const play = deferred(() =>
    createPlayClient({
      rootUrl: config.playApiRootUrl,
      oauthTokenUrl: config.oauthTokenUrl,
      credentialsFile: config.credentialsFile,
      timeoutMs: config.playTimeoutMs,
      retry: { maxAttempts: config.playMaxAttempts, baseDelayMs: 200, maxDelayMs: 2_000 },
    }),
  );
  const delivery = config.eventsTopic || config.claimsKey ? deferred(() => deliveryDeps(config, firestore())) : null;
  const events = delivery
    ? { publish: config.eventsTopic !== null, claims: config.claimsKey !== null, deliver: (uids: string[]) => deliverUsers(delivery.value, uids) }
    : undefined;
  const store = deferred(() => createFirestoreStore(firestore(), { timeoutMs: config.firestoreTimeoutMs, ...(events ? { events } : {}) }));
  const reconcile = deferred(() => withDeadline(createFirestoreReconcileStore(firestore()), config.firestoreTimeoutMs));
  const apple = config.apple;
  const appStore = apple ? deferred(() => createAppStore(apple)) : null;
  let warming = false;
  return {
    config,
    delivery: delivery ? delivery.value : null,
    play: play.value,
    store: store.value,
    reconcile: reconcile.value,
    idTokens: createIdTokenVerifier({
      projectId: config.projectId,
      emulator: config.authEmulator,
      certsUrl: config.idTokenCertsUrl,
    }),
    appStore: appStore ? appStore.value : null,
    now: () => new Date(),
    /**
     * Called as the first request starts: once the request has gone as far as it can synchronously
     * (typically up to the Play token exchange, in flight), the Firestore client is built, so that
     * its load overlaps the wait for Play instead of following it. Apple's adapter is left for the
     * Apple paths.
     */
    warm() {
      if (warming) return;
      warming = true;
      const build = (d: Deferred<object>) => {
        try {
          d.build();
        } catch {
          /* the request that needs it will report it */
        }
      };
      setImmediate(() => {
        build(store);
        setImmediate(() => build(play));
      });
    },
  };
}

/**
 * The runtime of a function process: the configuration is validated now (a broken environment
 * stops the process with one message naming every bad variable, exit 78), the clients when first
 * needed. Returns the `rt` the handlers call at the start of each request.
 */
export function startRuntime(): () => Runtime {
  let rt: ReturnType<typeof createRuntime>;
  try {
    rt = createRuntime(loadConfig());
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`iap-functions: ${e.message}\n`);
      process.exit(78); // EX_CONFIG
    }
    throw e;
  }
  return () => {
    rt.warm();
    return rt;
  };
}
