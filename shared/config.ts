import { readFileSync } from 'node:fs';
import type { KeyObject } from 'node:crypto';
import * as z from './zod';
import { loadAppleConfig, type AppleConfig } from './app-store/config';
import { CatalogSchema, type Catalog } from './catalog';
import { userLogSettingsFrom, type UserLogSettings } from './log';
import type { RestorePolicy } from './core/plan-transfer';
import { parseLicenseKeys } from './play/signature';

/**
 * The one place that reads the environment. Validated once at start; every bad variable is named
 * in one message, and a process with a broken configuration must not serve.
 */
export interface Config {
  projectId: string;
  authEmulator: boolean;
  idTokenCertsUrl: string;
  packageNames: ReadonlySet<string>;
  playApiRootUrl: string;
  oauthTokenUrl: string;
  credentialsFile: string | undefined;
  catalog: Catalog;
  licenseKeys: ReadonlyMap<string, KeyObject>;
  adminClaim: string;
  playTimeoutMs: number;
  playMaxAttempts: number;
  /** Deadline of one Firestore operation (read, write or transaction). */
  firestoreTimeoutMs: number;
  /** Repeat verifications by a purchase's owner are answered from Firestore while the stored state holds. */
  playTrustStoredState: boolean;
  /** ...for a subscription, only while its stored expiry is at least this far away. */
  playTrustMarginMs: number;
  /** Play calls one reconcile run may make (a fifth of a 3,000/min quota bucket by default). */
  reconcileMaxPlayCalls: number;
  /** Voided purchases per page of voidedpurchases.list (Play's maximum is 1000). */
  reconcileVoidedPageSize: number;
  /** App Store support; null when APPLE_BUNDLE_ID is unset. */
  apple: AppleConfig | null;
  /** Pub/Sub topic (in projectId) of the entitlement events; null = no events. */
  eventsTopic: string | null;
  /** Custom claim that carries the active entitlements' expiries; null = no claims. */
  claimsKey: string | null;
  /** host:port of the Auth emulator (the claims go there), when set. */
  authEmulatorHost: string | null;
  /** How log lines name users: the uidHash key (LOG_HASH_KEY, else the project id) and LOG_USER_IDS. */
  userLogs: UserLogSettings;
  /** A purchase owned by another user: refused (409) or moved to the verifying user. */
  restorePolicy: RestorePolicy;
  /** Transfers of one purchase allowed per 30 days under `transfer`. */
  restoreTransferLimit: number;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  /** One line per bad variable, `NAME: why` (npm run deploy -- --check reads them). */
  constructor(readonly problems: readonly string[]) {
    super(`Invalid configuration:\n  - ${problems.join('\n  - ')}`);
  }
}

const packageName = /^[a-zA-Z][a-zA-Z0-9_]*(\.[a-zA-Z0-9_]+)+$/;
const url = z.pipe(z.url({ protocol: /^https?$/ }), z.transform((u) => (u.endsWith('/') ? u : `${u}/`)));

/** Claims Firebase refuses as custom claims (they are the ID token's own). */
const RESERVED_CLAIMS = new Set(['acr', 'amr', 'at_hash', 'aud', 'auth_time', 'azp', 'cnf', 'c_hash', 'exp', 'firebase', 'iat', 'iss', 'jti', 'nbf', 'nonce', 'sub']);

/** A whole number in [min, max], `fallback` when unset. */
const intSetting = (min: number, max: number, fallback: number) => z._default(z.coerce.number().check(z.int(), z.gte(min), z.lte(max)), fallback);

const EnvSchema = z.object({
  GOOGLE_CLOUD_PROJECT: z.string().check(z.regex(/^[a-z0-9-]{4,40}$/, 'must be a project id (lowercase letters, digits, -)')),
  FIREBASE_AUTH_EMULATOR_HOST: z.optional(z.string().check(z.minLength(1))),
  FIREBASE_ID_TOKEN_CERTS_URL: z._default(
    z.url(),
    'https://www.googleapis.com/robot/v1/metadata/x509/securetoken@system.gserviceaccount.com',
  ),
  PLAY_PACKAGE_NAMES: z.pipe(
    z.pipe(z.string(), z.transform((s) => s.split(',').map((p) => p.trim()).filter(Boolean))),
    z.array(z.string().check(z.regex(packageName, 'each entry must be an Android package name'))).check(z.minLength(1, 'name at least one package')),
  ),
  PLAY_API_ROOT_URL: z._default(url, 'https://androidpublisher.googleapis.com/'),
  GOOGLE_OAUTH_TOKEN_URL: z._default(z.url(), 'https://oauth2.googleapis.com/token'),
  GOOGLE_APPLICATION_CREDENTIALS: z.optional(z.string().check(z.minLength(1))),
  IAP_CATALOG: z.string().check(z.minLength(1)),
  PLAY_LICENSE_KEYS: z.optional(z.string().check(z.minLength(1))),
  IAP_ADMIN_CLAIM: z._default(z.string().check(z.regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/)), 'admin'),
  PLAY_TIMEOUT_MS: intSetting(100, 60_000, 10_000),
  PLAY_MAX_ATTEMPTS: intSetting(1, 10, 4),
  FIRESTORE_TIMEOUT_MS: intSetting(100, 300_000, 15_000),
  PLAY_TRUST_STORED_STATE: z._default(z.enum(['true', 'false']), 'true'),
  PLAY_TRUST_MARGIN_SECONDS: intSetting(0, 30 * 86_400, 3_600),
  RECONCILE_MAX_PLAY_CALLS: intSetting(1, 100_000, 600),
  RECONCILE_VOIDED_PAGE_SIZE: intSetting(1, 1000, 1000),
  ENTITLEMENT_EVENTS_TOPIC: z.optional(
    z.string().check(z.regex(/^(?!goog)[A-Za-z][\w.~+%-]{2,254}$/, 'must be a Pub/Sub topic id (3-255 characters, a letter first, not "goog...")')),
  ),
  ENTITLEMENT_CLAIMS_KEY: z.optional(
    z.string().check(
      z.regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/, 'must be a claim name (letters, digits, _; a letter or _ first; at most 64)'),
      z.refine((k) => !RESERVED_CLAIMS.has(k), 'is a claim name Firebase reserves for ID tokens'),
    ),
  ),
  LOG_HASH_KEY: z.optional(z.string().check(z.minLength(16, 'must be at least 16 characters (a random secret; unset = the project id)'))),
  LOG_USER_IDS: z._default(z.enum(['true', 'false']), 'false'),
  RESTORE_POLICY: z._default(z.enum(['refuse', 'transfer'], 'must be "refuse" or "transfer"'), 'refuse'),
  RESTORE_TRANSFER_LIMIT: z._default(
    z.coerce.number('must be an integer >= 1').check(z.int('must be an integer >= 1'), z.gte(1, 'must be an integer >= 1'), z.lte(1000)),
    3,
  ),
});


export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const problems: string[] = [];
  const parsed = EnvSchema.safeParse(env);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const name = String(issue.path[0] ?? '?');
      problems.push(`${name}: ${issue.code === 'invalid_type' && env[name] === undefined ? 'required' : issue.message}`);
    }
  }
  const catalog = env.IAP_CATALOG ? readCatalog(env.IAP_CATALOG, problems) : undefined;
  let licenseKeys: Map<string, KeyObject> = new Map();
  if (env.PLAY_LICENSE_KEYS) {
    try {
      licenseKeys = parseLicenseKeys(env.PLAY_LICENSE_KEYS);
    } catch (e) {
      problems.push(`PLAY_LICENSE_KEYS: ${(e as Error).message}`);
    }
  }
  if (env.GOOGLE_APPLICATION_CREDENTIALS) readCredentials(env.GOOGLE_APPLICATION_CREDENTIALS, problems);
  const apple = loadAppleConfig(env, problems);
  // Unsigned (alg: none) ID tokens are for the Auth emulator; in Cloud Functions / Cloud Run (K_SERVICE or
  // FUNCTION_TARGET set) with a real database, FIREBASE_AUTH_EMULATOR_HOST would let anyone sign in as anyone.
  if (env.FIREBASE_AUTH_EMULATOR_HOST && (env.K_SERVICE || env.FUNCTION_TARGET) && !env.FIRESTORE_EMULATOR_HOST) {
    problems.push(
      'FIREBASE_AUTH_EMULATOR_HOST: set while running in the cloud (K_SERVICE/FUNCTION_TARGET) against a real Firestore; it would accept unsigned ID tokens. Remove it.',
    );
  }
  if (env.ENTITLEMENT_CLAIMS_KEY && env.ENTITLEMENT_CLAIMS_KEY === (env.IAP_ADMIN_CLAIM ?? 'admin')) {
    problems.push('ENTITLEMENT_CLAIMS_KEY: must differ from the admin claim (IAP_ADMIN_CLAIM); the entitlements claim would replace it');
  }
  if (problems.length > 0 || !parsed.success || !catalog) {
    throw new ConfigError(problems);
  }
  const e = parsed.data;
  return {
    projectId: e.GOOGLE_CLOUD_PROJECT,
    authEmulator: e.FIREBASE_AUTH_EMULATOR_HOST !== undefined,
    idTokenCertsUrl: e.FIREBASE_ID_TOKEN_CERTS_URL,
    packageNames: new Set(e.PLAY_PACKAGE_NAMES),
    playApiRootUrl: e.PLAY_API_ROOT_URL,
    oauthTokenUrl: e.GOOGLE_OAUTH_TOKEN_URL,
    credentialsFile: e.GOOGLE_APPLICATION_CREDENTIALS,
    catalog,
    licenseKeys,
    adminClaim: e.IAP_ADMIN_CLAIM,
    playTimeoutMs: e.PLAY_TIMEOUT_MS,
    playMaxAttempts: e.PLAY_MAX_ATTEMPTS,
    firestoreTimeoutMs: e.FIRESTORE_TIMEOUT_MS,
    playTrustStoredState: e.PLAY_TRUST_STORED_STATE === 'true',
    playTrustMarginMs: e.PLAY_TRUST_MARGIN_SECONDS * 1000,
    reconcileMaxPlayCalls: e.RECONCILE_MAX_PLAY_CALLS,
    reconcileVoidedPageSize: e.RECONCILE_VOIDED_PAGE_SIZE,
    apple,
    eventsTopic: e.ENTITLEMENT_EVENTS_TOPIC ?? null,
    claimsKey: e.ENTITLEMENT_CLAIMS_KEY ?? null,
    authEmulatorHost: e.FIREBASE_AUTH_EMULATOR_HOST ?? null,
    userLogs: userLogSettingsFrom(env),
    restorePolicy: e.RESTORE_POLICY,
    restoreTransferLimit: e.RESTORE_TRANSFER_LIMIT,
  };
}

function readCatalog(path: string, problems: string[]): Catalog | undefined {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    problems.push(`IAP_CATALOG: cannot read ${path} as JSON (${(e as Error).message})`);
    return undefined;
  }
  const parsed = CatalogSchema.safeParse(raw);
  if (!parsed.success) {
    const detail = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    problems.push(`IAP_CATALOG: ${path} is not a valid catalog (${detail})`);
    return undefined;
  }
  return parsed.data;
}

const ServiceAccountKeySchema = z.object({ client_email: z.string().check(z.minLength(1)), private_key: z.string().check(z.minLength(1)) });

/** The key file is read by google-auth-library later; here we only refuse a broken one early. */
function readCredentials(path: string, problems: string[]): void {
  try {
    const parsed = ServiceAccountKeySchema.safeParse(JSON.parse(readFileSync(path, 'utf8')));
    if (!parsed.success) problems.push(`GOOGLE_APPLICATION_CREDENTIALS: ${path} lacks client_email or private_key`);
  } catch (e) {
    problems.push(`GOOGLE_APPLICATION_CREDENTIALS: cannot read ${path} as JSON (${(e as Error).message})`);
  }
}
