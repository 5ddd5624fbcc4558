import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { spawnGroup, type GroupProcess } from './processes';

/** Repository root (tools/local-stack/..). */
export const ROOT = resolve(__dirname, '../..');
export const DIST = resolve(ROOT, 'dist/index.js');

export type FunctionKind = 'http' | 'cloudevent';

export interface FunctionEntry {
  /** Name registered with the functions framework in dist/index.js. */
  target: string;
  /** Port in the local stack. */
  port: number;
  kind: FunctionKind;
  /** A cloudevent function's Pub/Sub topic: the stack creates it with a push subscription to the function. */
  topic?: string;
  /** One line for the table. */
  about: string;
}

export const RTDN_TOPIC = 'play-rtdn';
export const RECONCILE_TOPIC = 'iap-reconcile';
/** ENTITLEMENT_EVENTS_TOPIC in the stack (a topic without subscribers: the events stay in entitlementEvents). */
export const EVENTS_TOPIC = 'entitlement-events';
/** ENTITLEMENT_CLAIMS_KEY in the stack. */
export const CLAIMS_KEY = 'iap';

/**
 * Every function the local stack knows. Adding one is one entry here; it is served only when
 * dist/index.js registers it (see registeredFunctions).
 */
export const FUNCTIONS: readonly FunctionEntry[] = [
  { target: 'verifyPurchase', port: 8081, kind: 'http', about: 'POST a Play purchase with a Bearer ID token' },
  { target: 'playRtdn', port: 8082, kind: 'cloudevent', topic: RTDN_TOPIC, about: `Play RTDNs, pushed by Pub/Sub topic ${RTDN_TOPIC}` },
  { target: 'refundPurchase', port: 8083, kind: 'http', about: 'callable, admin ID token' },
  { target: 'appStoreNotifications', port: 8084, kind: 'http', about: 'App Store Server Notifications V2' },
  // 8085 is the Pub/Sub emulator
  { target: 'reconcilePurchases', port: 8086, kind: 'cloudevent', topic: RECONCILE_TOPIC, about: `reconcile sweep, one per message on ${RECONCILE_TOPIC} (npm run reconcile)` },
];

export const PLAY_PACKAGE = 'com.example.app';
/** A demo- project: firebase-tools needs no credentials for it. */
export const PROJECT_ID = 'demo-iap';

export interface StackSettings {
  projectId: string;
  firestoreHost: string;
  pubsubHost?: string | undefined;
  playApiRootUrl: string;
  oauthTokenUrl: string;
  keyFile: string;
  catalog: string;
  logLevel?: string;
  /** The Auth emulator: the functions accept its (unsigned) ID tokens. */
  authEmulatorHost?: string;
  /** ENTITLEMENT_EVENTS_TOPIC (the topic must exist on the Pub/Sub emulator). */
  eventsTopic?: string;
  /** APPLE_* pointing at the stack's App Store simulator. */
  apple?: Record<string, string>;
  /** The user's own APPLE_, PLAY_ and IAP_ variables (shellOverrides): applied last. */
  overrides?: Record<string, string>;
}

/** Prefixes of the variables a user may set in the shell to override the stack's own values. */
export const OVERRIDE_PREFIXES = ['APPLE_', 'PLAY_', 'IAP_'];

/** The caller's APPLE_, PLAY_ and IAP_ variables (IAP_CATALOG excepted: the catalog is resolved separately). */
export function shellOverrides(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) {
    if (v !== undefined && k !== 'IAP_CATALOG' && OVERRIDE_PREFIXES.some((p) => k.startsWith(p))) out[k] = v;
  }
  return out;
}

/** Variables the functions read (see shared/config.ts): not inherited wholesale (see shellOverrides). */
const OWN_PREFIXES = ['GOOGLE_', 'FIREBASE_', 'FIRESTORE_', 'PUBSUB_', 'PLAY_', 'IAP_', 'APPLE_', 'CLOUDSDK_', 'GCLOUD_'];

/** The functions' environment, as the tests wire it (test/helpers/verify-stack.ts). */
export function functionEnv(s: StackSettings): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k === 'NODE_OPTIONS' || k.startsWith('npm_') || OWN_PREFIXES.some((p) => k.startsWith(p))) continue;
    env[k] = v;
  }
  Object.assign(env, {
    GOOGLE_CLOUD_PROJECT: s.projectId,
    FIRESTORE_EMULATOR_HOST: s.firestoreHost,
    FIREBASE_AUTH_EMULATOR_HOST: s.authEmulatorHost ?? '127.0.0.1:9099',
    PLAY_PACKAGE_NAMES: PLAY_PACKAGE,
    PLAY_API_ROOT_URL: s.playApiRootUrl,
    GOOGLE_OAUTH_TOKEN_URL: s.oauthTokenUrl,
    GOOGLE_APPLICATION_CREDENTIALS: s.keyFile,
    IAP_CATALOG: s.catalog,
    METADATA_SERVER_DETECTION: 'none',
    LOG_LEVEL: s.logLevel ?? 'INFO',
  });
  if (s.pubsubHost) env.PUBSUB_EMULATOR_HOST = s.pubsubHost;
  if (s.eventsTopic) env.ENTITLEMENT_EVENTS_TOPIC = s.eventsTopic;
  // with a real Auth emulator in the stack, entitlements also reach the users' custom claims
  if (s.authEmulatorHost) env.ENTITLEMENT_CLAIMS_KEY = CLAIMS_KEY;
  Object.assign(env, s.apple, s.overrides);
  return env;
}

/**
 * Which of `targets` dist/index.js registers, by loading it in a throwaway node with the stack's
 * environment (the module validates its configuration on load). Throws with the module's own message
 * when it refuses to load.
 */
export function registeredFunctions(env: NodeJS.ProcessEnv, targets: readonly string[] = FUNCTIONS.map((f) => f.target)): Promise<string[]> {
  const script = `
    require(${JSON.stringify(DIST)});
    const { getFunction } = require('@google-cloud/functions-framework/testing');
    const names = JSON.parse(process.argv[1]).filter((n) => { try { return Boolean(getFunction(n)); } catch { return false; } });
    process.stdout.write(JSON.stringify(names));
    process.exit(0);`;
  return new Promise((resolveNames, reject) => {
    execFile(process.execPath, ['-e', script, JSON.stringify(targets)], { cwd: ROOT, env, timeout: 30_000 }, (err, stdout, stderr) => {
      if (err) {
        reject(new Error(`dist/index.js does not load (exit ${err.code ?? err.signal}):\n${stderr.trim() || err.message}`));
        return;
      }
      try {
        resolveNames(JSON.parse(stdout) as string[]);
      } catch {
        reject(new Error(`could not read the registered functions from: ${stdout}${stderr}`));
      }
    });
  });
}

export interface ServedFunction {
  entry: FunctionEntry;
  port: number;
  url: string;
  proc: GroupProcess;
}

/**
 * Serves one function with tools/serve-function.js (127.0.0.1 only) in its own process group.
 * Resolves once it printed its "serving" line, i.e. listens; rejects if it exits first.
 */
export async function serveFunction(
  entry: FunctionEntry,
  port: number,
  env: NodeJS.ProcessEnv,
  onLine?: (line: string, stream: 'stdout' | 'stderr') => void,
  timeoutMs = 30_000,
): Promise<ServedFunction> {
  let markReady: () => void = () => undefined;
  const listening = new Promise<void>((r) => (markReady = r));
  const proc = spawnGroup(entry.target, process.execPath, ['tools/serve-function.js', `--target=${entry.target}`, `--port=${port}`], {
    cwd: ROOT,
    env,
    onLine(line, stream) {
      if (stream === 'stdout' && line.includes('"message":"serving"')) markReady();
      onLine?.(line, stream);
    },
  });
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([
    listening.then(() => 'ok' as const),
    proc.exited.then(() => 'exited' as const),
    new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), timeoutMs))),
  ]);
  clearTimeout(timer);
  if (outcome !== 'ok') {
    await proc.stop();
    const why = outcome === 'timeout' ? `did not listen within ${timeoutMs / 1000} s` : 'exited while starting';
    throw new Error(`${entry.target} ${why}:\n${proc.output().trim()}`);
  }
  return { entry, port, url: `http://127.0.0.1:${port}/`, proc };
}
