import { Firestore } from '@google-cloud/firestore';
import { createAppStore, type AppStore } from './app-store/adapter';
import { createIdTokenVerifier, type IdTokenVerifier } from './auth/id-token';
import type { Config } from './config';
import { createPlayClient, type PlayPurchases } from './play/client';
import { createFirestoreStore, withDeadline } from './store/firestore';
import { createFirestoreReconcileStore } from './store/firestore-reconcile';
import type { ReconcileStore } from './store/reconcile-store';
import type { PurchaseStore } from './store/purchase-record';

/**
 * What a function instance holds for its lifetime: config (validated once), one Play client (its
 * access token cached), one Firestore client, one ID-token verifier (its certs cached).
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
  now: () => Date;
}

export function createRuntime(config: Config): Runtime {
  const db = new Firestore({ projectId: config.projectId, ignoreUndefinedProperties: true });
  return {
    config,
    play: createPlayClient({
      rootUrl: config.playApiRootUrl,
      oauthTokenUrl: config.oauthTokenUrl,
      credentialsFile: config.credentialsFile,
      timeoutMs: config.playTimeoutMs,
      retry: { maxAttempts: config.playMaxAttempts, baseDelayMs: 200, maxDelayMs: 2_000 },
    }),
    store: createFirestoreStore(db, { timeoutMs: config.firestoreTimeoutMs }),
    reconcile: withDeadline(createFirestoreReconcileStore(db), config.firestoreTimeoutMs),
    idTokens: createIdTokenVerifier({
      projectId: config.projectId,
      emulator: config.authEmulator,
      certsUrl: config.idTokenCertsUrl,
    }),
    appStore: config.apple ? createAppStore(config.apple) : null,
    now: () => new Date(),
  };
}
