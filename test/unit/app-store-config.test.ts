import { createHash, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AppStoreVerifyRequestSchema } from '../../functions/verify-purchase/app-store-request';
import { VerifyPurchaseRequestSchema } from '../../functions/verify-purchase/request';
import { APPLE_ROOT_CA_G3_DER, APPLE_ROOT_CA_G3_SHA256 } from '../../shared/app-store/apple-root-ca-g3';
import { appAccountTokenFor, isAppAccountTokenOf } from '../../shared/app-store/app-account-token';
import { loadAppleConfig } from '../../shared/app-store/config';
import { appStorePurchaseId } from '../../shared/app-store/ids';
import { ConfigError, loadConfig } from '../../shared/config';

/** Apple configuration, the shipped root, appAccountToken, purchase ids, and the request schema. */
const dir = mkdtempSync(join(tmpdir(), 'apple-config-'));
const ec = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
const keyFile = join(dir, 'AuthKey.p8');
writeFileSync(keyFile, ec);
const notACert = join(dir, 'not-a-cert.cer');
writeFileSync(notACert, 'hello');

const load = (env: Record<string, string>) => {
  const problems: string[] = [];
  return { config: loadAppleConfig(env, problems), problems };
};
const base = { APPLE_BUNDLE_ID: 'com.example.app', APPLE_APP_APPLE_ID: '1234567890' };

describe('loadAppleConfig', () => {
  it('is off without APPLE_BUNDLE_ID, and says so when other APPLE_* variables are set', () => {
    expect(load({})).toEqual({ config: null, problems: [] });
    expect(load({ APPLE_KEY_ID: 'ABCDEFGHIJ' }).problems).toEqual([expect.stringMatching(/^APPLE_BUNDLE_ID: required when APPLE_KEY_ID is set/)]);
  });

  it('defaults: Production only, the shipped Apple root, online checks, signed-data-only, Apple URLs', () => {
    const { config, problems } = load(base);
    expect(problems).toEqual([]);
    expect(config).toMatchObject({
      bundleId: 'com.example.app',
      appAppleId: 1234567890,
      environments: ['Production'],
      rootCerts: [APPLE_ROOT_CA_G3_DER],
      onlineChecks: true,
      apiKey: null,
      apiRootUrls: { Production: undefined, Sandbox: undefined },
    });
  });

  it('reads the API key from PEM text (also with literal \\n) or a .p8 path, and the URLs', () => {
    const ids = { APPLE_ISSUER_ID: '57246542-96fe-1a63-e053-0824d011072a', APPLE_KEY_ID: '2X9R4HXF34' };
    for (const key of [ec, ec.replace(/\n/g, '\\n'), keyFile]) {
      const { config, problems } = load({ ...base, ...ids, APPLE_PRIVATE_KEY: key, APPLE_API_ROOT_URL: 'http://127.0.0.1:9/' });
      expect(problems).toEqual([]);
      expect(config?.apiKey).toMatchObject({ ...{ issuerId: ids.APPLE_ISSUER_ID, keyId: ids.APPLE_KEY_ID }, privateKeyPem: expect.stringContaining('BEGIN PRIVATE KEY') });
      expect(config?.apiRootUrls).toEqual({ Production: 'http://127.0.0.1:9', Sandbox: 'http://127.0.0.1:9' });
    }
  });

  it('names every bad variable, never echoing a secret', () => {
    const secret = 'MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg-not-a-path';
    const { config, problems } = load({
      APPLE_BUNDLE_ID: 'not a bundle',
      APPLE_APP_APPLE_ID: 'abc',
      APPLE_ENVIRONMENTS: 'Production,Xcode,Staging',
      APPLE_ROOT_CERTS: notACert,
      APPLE_ONLINE_CHECKS: 'yes',
      APPLE_ISSUER_ID: 'issuer',
      APPLE_KEY_ID: 'short',
      APPLE_PRIVATE_KEY: secret,
      APPLE_API_ROOT_URL: 'ftp://example.com',
    });
    expect(config).toBeNull();
    const text = problems.join('\n');
    for (const name of ['APPLE_BUNDLE_ID', 'APPLE_APP_APPLE_ID', 'APPLE_ROOT_CERTS', 'APPLE_ONLINE_CHECKS', 'APPLE_ISSUER_ID', 'APPLE_KEY_ID', 'APPLE_PRIVATE_KEY', 'APPLE_API_ROOT_URL']) {
      expect(text).toContain(`${name}:`);
    }
    expect(text).toMatch(/Xcode data is signed by Xcode, not by Apple/);
    expect(text).toMatch(/unknown environment "Staging"/);
    expect(text).not.toContain(secret);
  });

  it('Production needs the App Apple ID; Sandbox alone does not; keys must be P-256 and come in threes', () => {
    expect(load({ APPLE_BUNDLE_ID: 'com.example.app' }).problems).toEqual([expect.stringMatching(/^APPLE_APP_APPLE_ID: required to accept Production/)]);
    expect(load({ APPLE_BUNDLE_ID: 'com.example.app', APPLE_ENVIRONMENTS: 'Sandbox' }).problems).toEqual([]);
    expect(load({ ...base, APPLE_KEY_ID: '2X9R4HXF34' }).problems).toEqual([expect.stringMatching(/set all three/)]);
    const rsaKey = load({ ...base, APPLE_ISSUER_ID: '57246542-96fe-1a63-e053-0824d011072a', APPLE_KEY_ID: '2X9R4HXF34', APPLE_PRIVATE_KEY: rsa });
    expect(rsaKey.problems).toEqual([expect.stringMatching(/P-256/)]);
  });

  it('is part of the one configuration message', () => {
    const env = { GOOGLE_CLOUD_PROJECT: 'demo-project', PLAY_PACKAGE_NAMES: 'com.example.app', IAP_CATALOG: resolve(__dirname, '../resources/catalog.json') };
    expect(loadConfig(env).apple).toBeNull();
    expect(loadConfig({ ...env, ...base }).apple?.bundleId).toBe('com.example.app');
    expect(() => loadConfig({ ...env, APPLE_BUNDLE_ID: 'com.example.app' })).toThrow(ConfigError);
  });
});

describe('the shipped Apple Root CA - G3', () => {
  it('is the certificate file in the repository, with Apple\'s published SHA-256 fingerprint', () => {
    const file = readFileSync(resolve(__dirname, '../../shared/app-store/certs/AppleRootCA-G3.cer'));
    expect(APPLE_ROOT_CA_G3_DER.equals(file)).toBe(true);
    expect(createHash('sha256').update(file).digest('hex')).toBe(APPLE_ROOT_CA_G3_SHA256);
  });
});

describe('appAccountToken', () => {
  it('is the RFC 4122 v5 UUID of the uid in the URL namespace (same as Python uuid5)', () => {
    expect(appAccountTokenFor('user-123')).toBe('7ca4be7c-72b1-5fb0-a0c9-15b8194c4d9a');
    expect(appAccountTokenFor('hello')).toBe('074171de-bc84-5ea4-b636-1135477620e1');
    expect(isAppAccountTokenOf('7CA4BE7C-72B1-5FB0-A0C9-15B8194C4D9A', 'user-123')).toBe(true);
    expect(isAppAccountTokenOf('7ca4be7c-72b1-5fb0-a0c9-15b8194c4d9a', 'user-124')).toBe(false);
  });
});

describe('purchase ids', () => {
  it('one per originalTransactionId, or per transactionId for consumables; never the raw id', () => {
    const t = { transactionId: '2000000000000002', originalTransactionId: '2000000000000001' };
    const sha = (s: string) => createHash('sha256').update(s).digest('hex');
    expect(appStorePurchaseId(t, false)).toBe(sha('app_store:2000000000000001'));
    expect(appStorePurchaseId(t, true)).toBe(sha('app_store:2000000000000002'));
  });
});

describe('verifyPurchase request: platform decides the form', () => {
  const jws = 'eyJhbGciOiJFUzI1NiJ9.eyJhIjoxfQ.c2ln';
  it('accepts exactly one of signedTransaction, transactionId, receipt', () => {
    expect(AppStoreVerifyRequestSchema.safeParse({ platform: 'app_store', signedTransaction: jws }).success).toBe(true);
    expect(AppStoreVerifyRequestSchema.safeParse({ platform: 'app_store', transactionId: '2000000000000001', productId: 'x' }).success).toBe(true);
    expect(AppStoreVerifyRequestSchema.safeParse({ platform: 'app_store', receipt: 'MIIT+g==' }).success).toBe(true);
    const none = AppStoreVerifyRequestSchema.safeParse({ platform: 'app_store' });
    expect(none.error?.issues[0]?.message).toMatch(/exactly one of signedTransaction, transactionId, receipt \(got none\)/);
    const two = AppStoreVerifyRequestSchema.safeParse({ platform: 'app_store', signedTransaction: jws, transactionId: '1' });
    expect(two.error?.issues[0]?.message).toMatch(/got signedTransaction and transactionId/);
  });

  it('refuses malformed values and unknown fields', () => {
    for (const body of [
      { platform: 'app_store', transactionId: 'GPA.1234' },
      { platform: 'app_store', signedTransaction: 'not-a-jws' },
      { platform: 'app_store', receipt: 'not base64!' },
      { platform: 'app_store', signedTransaction: jws, purchaseToken: 'x' },
    ]) {
      expect(AppStoreVerifyRequestSchema.safeParse(body).success).toBe(false);
    }
  });

  it('without platform, or with google_play, it is a Play request', () => {
    const play = { packageName: 'com.example.app', productId: 'remove_ads', purchaseToken: 'abc' };
    expect(VerifyPurchaseRequestSchema.parse(play)).toEqual(play);
    expect(VerifyPurchaseRequestSchema.parse({ platform: 'google_play', ...play }).platform).toBe('google_play');
    expect(VerifyPurchaseRequestSchema.safeParse({ platform: 'amazon', ...play }).success).toBe(false);
  });
});
