import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { RefundPreference, type ConsumptionSettings } from '../model/app-store-consumption';
import { APPLE_ROOT_CA_G3_DER } from './apple-root-ca-g3';
import { AppStoreEnvironment, SIGNED_ENVIRONMENTS, type SignedEnvironment } from './transaction';

/**
 * The Apple part of the configuration (CONTRACT section 7). Apple is off unless APPLE_BUNDLE_ID is set.
 * Problems are appended to the caller's list so the process reports every bad variable in one message.
 */
export interface AppleApiKey {
  issuerId: string;
  keyId: string;
  /** PKCS#8 PEM of the App Store Connect API key (.p8). */
  privateKeyPem: string;
}

export interface AppleConfig {
  bundleId: string;
  appAppleId: number | undefined;
  /** Accepted environments, in lookup order (Production first). */
  environments: SignedEnvironment[];
  /** DER (or PEM) root certificates the signing chain must end in. */
  rootCerts: Buffer[];
  onlineChecks: boolean;
  /** null = signed-data-only mode: no App Store Server API calls. */
  apiKey: AppleApiKey | null;
  /** Base URL of the App Store Server API per environment; undefined = Apple's. */
  apiRootUrls: Record<SignedEnvironment, string | undefined>;
  /** Answering CONSUMPTION_REQUEST notifications (off by default: recorded for an admin). */
  consumption: ConsumptionSettings;
}

const APPLE_VARS = [
  'APPLE_BUNDLE_ID',
  'APPLE_APP_APPLE_ID',
  'APPLE_ENVIRONMENTS',
  'APPLE_ROOT_CERTS',
  'APPLE_ONLINE_CHECKS',
  'APPLE_ISSUER_ID',
  'APPLE_KEY_ID',
  'APPLE_PRIVATE_KEY',
  'APPLE_API_ROOT_URL',
  'APPLE_SANDBOX_API_ROOT_URL',
  'APPLE_CONSUMPTION_INFO',
  'APPLE_CONSUMPTION_CONSENT',
  'APPLE_REFUND_PREFERENCE',
] as const;

const BUNDLE_ID = /^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$/;
const KEY_ID = /^[A-Z0-9]{10}$/;
const ISSUER_ID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

export function loadAppleConfig(env: NodeJS.ProcessEnv, problems: string[]): AppleConfig | null {
  const set = (name: (typeof APPLE_VARS)[number]) => (env[name] ?? '').trim() || undefined;
  const bundleId = set('APPLE_BUNDLE_ID');
  if (!bundleId) {
    const others = APPLE_VARS.filter((v) => set(v));
    if (others.length > 0) problems.push(`APPLE_BUNDLE_ID: required when ${others.join(', ')} is set (Apple is off without it)`);
    return null;
  }
  const before = problems.length;
  if (!BUNDLE_ID.test(bundleId)) problems.push('APPLE_BUNDLE_ID: must be a bundle id such as com.example.app');

  const appAppleIdText = set('APPLE_APP_APPLE_ID');
  const appAppleId = appAppleIdText === undefined ? undefined : Number(appAppleIdText);
  if (appAppleIdText !== undefined && !(/^\d{1,15}$/.test(appAppleIdText) && appAppleId! > 0)) {
    problems.push('APPLE_APP_APPLE_ID: must be the numeric App Apple ID from App Store Connect');
  }

  const environments = parseEnvironments(set('APPLE_ENVIRONMENTS') ?? AppStoreEnvironment.PRODUCTION, problems);
  if (environments.includes(AppStoreEnvironment.PRODUCTION) && appAppleIdText === undefined) {
    problems.push('APPLE_APP_APPLE_ID: required to accept Production data (App Store Connect > App Information > Apple ID)');
  }
  const rootCerts = readRootCerts(set('APPLE_ROOT_CERTS'), problems);
  const online = readBoolean('APPLE_ONLINE_CHECKS', set('APPLE_ONLINE_CHECKS'), true, problems);
  const apiKey = readApiKey(set('APPLE_ISSUER_ID'), set('APPLE_KEY_ID'), set('APPLE_PRIVATE_KEY'), problems);
  const consumption = readConsumption(set, apiKey !== null, problems);
  const apiRoot = readUrl('APPLE_API_ROOT_URL', set('APPLE_API_ROOT_URL'), problems);
  const sandboxRoot = readUrl('APPLE_SANDBOX_API_ROOT_URL', set('APPLE_SANDBOX_API_ROOT_URL'), problems) ?? apiRoot;

  if (problems.length > before) return null;
  return {
    bundleId,
    appAppleId,
    environments,
    rootCerts,
    onlineChecks: online,
    apiKey,
    apiRootUrls: { Production: apiRoot, Sandbox: sandboxRoot },
    consumption,
  };
}

function readBoolean(name: string, value: string | undefined, fallback: boolean, problems: string[]): boolean {
  if (value === undefined) return fallback;
  if (value !== 'true' && value !== 'false') problems.push(`${name}: must be true or false`);
  return value === 'true';
}

/** Sending needs the API key; consent and preference only matter once APPLE_CONSUMPTION_INFO=true. */
function readConsumption(set: (name: (typeof APPLE_VARS)[number]) => string | undefined, hasApiKey: boolean, problems: string[]): ConsumptionSettings {
  const answer = readBoolean('APPLE_CONSUMPTION_INFO', set('APPLE_CONSUMPTION_INFO'), false, problems);
  if (answer && !hasApiKey) {
    problems.push('APPLE_CONSUMPTION_INFO: answering consumption requests needs the App Store Server API key (APPLE_ISSUER_ID, APPLE_KEY_ID, APPLE_PRIVATE_KEY)');
  }
  const customerConsent = readBoolean('APPLE_CONSUMPTION_CONSENT', set('APPLE_CONSUMPTION_CONSENT'), false, problems);
  const preference = set('APPLE_REFUND_PREFERENCE');
  const known = Object.values(RefundPreference) as string[];
  if (preference !== undefined && !known.includes(preference)) problems.push(`APPLE_REFUND_PREFERENCE: must be one of ${known.join(', ')} (or unset)`);
  const refundPreference = preference !== undefined && known.includes(preference) ? (preference as RefundPreference) : null;
  return { answer, customerConsent, refundPreference };
}

function parseEnvironments(text: string, problems: string[]): SignedEnvironment[] {
  const names = text.split(',').map((s) => s.trim()).filter(Boolean);
  const accepted: SignedEnvironment[] = [];
  for (const name of names) {
    if (name === AppStoreEnvironment.XCODE || name === AppStoreEnvironment.LOCAL_TESTING) {
      problems.push(`APPLE_ENVIRONMENTS: ${name} data is signed by Xcode, not by Apple, and is never accepted`);
    } else if ((SIGNED_ENVIRONMENTS as readonly string[]).includes(name)) {
      if (!accepted.includes(name as SignedEnvironment)) accepted.push(name as SignedEnvironment);
    } else {
      problems.push(`APPLE_ENVIRONMENTS: unknown environment "${name}" (use Production, Sandbox)`);
    }
  }
  if (names.length === 0) problems.push('APPLE_ENVIRONMENTS: name at least one of Production, Sandbox');
  // Production first: receipts and transaction ids are looked up there before Sandbox, as Apple advises.
  return SIGNED_ENVIRONMENTS.filter((e) => accepted.includes(e));
}

function readRootCerts(paths: string | undefined, problems: string[]): Buffer[] {
  if (!paths) return [APPLE_ROOT_CA_G3_DER];
  const certs: Buffer[] = [];
  for (const path of paths.split(',').map((p) => p.trim()).filter(Boolean)) {
    try {
      const der = readFileSync(path);
      new X509Certificate(der); // refuses anything that is not a certificate
      certs.push(der);
    } catch (e) {
      problems.push(`APPLE_ROOT_CERTS: ${path} is not a readable DER certificate (${(e as Error).message})`);
    }
  }
  if (certs.length === 0 && !problems.some((p) => p.startsWith('APPLE_ROOT_CERTS'))) {
    problems.push('APPLE_ROOT_CERTS: name at least one certificate file');
  }
  return certs;
}

function readApiKey(
  issuerId: string | undefined,
  keyId: string | undefined,
  privateKey: string | undefined,
  problems: string[],
): AppleApiKey | null {
  const given = [issuerId, keyId, privateKey].filter((v) => v !== undefined).length;
  if (given === 0) return null;
  if (given < 3) {
    problems.push('APPLE_ISSUER_ID, APPLE_KEY_ID, APPLE_PRIVATE_KEY: set all three (the App Store Server API key) or none');
    return null;
  }
  const before = problems.length;
  if (!ISSUER_ID.test(issuerId!)) problems.push('APPLE_ISSUER_ID: must be the issuer UUID from App Store Connect > Users and Access > Integrations');
  if (!KEY_ID.test(keyId!)) problems.push('APPLE_KEY_ID: must be the 10-character key id of the .p8 key');
  const pem = readPem(privateKey!, problems);
  if (problems.length > before || !pem) return null;
  return { issuerId: issuerId!, keyId: keyId!, privateKeyPem: pem };
}

/** PEM text (also with literal "\n", as CI secrets often carry it) or the path of a .p8 file. */
function readPem(value: string, problems: string[]): string | undefined {
  let pem = value.includes('-----BEGIN') ? value.replace(/\\n/g, '\n') : undefined;
  if (!pem) {
    try {
      pem = readFileSync(value, 'utf8');
    } catch {
      // never echo the value: it may be the key itself, pasted without its PEM header
      problems.push('APPLE_PRIVATE_KEY: neither PEM text nor the path of a readable .p8 file');
      return undefined;
    }
  }
  try {
    const key = createPrivateKey(pem);
    if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
      problems.push('APPLE_PRIVATE_KEY: must be the P-256 (ES256) key downloaded from App Store Connect');
      return undefined;
    }
    return key.export({ type: 'pkcs8', format: 'pem' }).toString();
  } catch {
    problems.push('APPLE_PRIVATE_KEY: not a valid private key in PEM format');
    return undefined;
  }
}

function readUrl(name: string, value: string | undefined, problems: string[]): string | undefined {
  if (value === undefined) return undefined;
  try {
    const url = new URL(value);
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error('not http(s)');
    return value.replace(/\/+$/, '');
  } catch {
    problems.push(`${name}: must be an http(s) URL`);
    return undefined;
  }
}
