import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../shared/config';
import { DomainError, toCallableError, toHttpError } from '../../shared/errors';
import { withRetry } from '../../shared/retry';

const dir = mkdtempSync(join(tmpdir(), 'cfg-'));
const catalog = join(dir, 'catalog.json');
writeFileSync(catalog, JSON.stringify({ products: { coins_100: { type: 'consumable', credits: { coins: 100 } } } }));
const good = { GOOGLE_CLOUD_PROJECT: 'demo-project', PLAY_PACKAGE_NAMES: 'com.example.app, com.example.two', IAP_CATALOG: catalog };

describe('loadConfig', () => {
  it('reads a good environment with defaults', () => {
    const c = loadConfig(good);
    expect([...c.packageNames]).toEqual(['com.example.app', 'com.example.two']);
    expect(c.playApiRootUrl).toBe('https://androidpublisher.googleapis.com/');
    expect(c.oauthTokenUrl).toBe('https://oauth2.googleapis.com/token');
    expect(c.authEmulator).toBe(false);
    expect(c.adminClaim).toBe('admin');
    expect(c.restorePolicy).toBe('refuse');
    expect(c.restoreTransferLimit).toBe(3);
  });

  it('reads the restore policy and its limit, and names bad values', () => {
    expect(loadConfig({ ...good, RESTORE_POLICY: 'transfer', RESTORE_TRANSFER_LIMIT: '5' })).toMatchObject({ restorePolicy: 'transfer', restoreTransferLimit: 5 });
    for (const [name, value] of [['RESTORE_POLICY', 'move'], ['RESTORE_TRANSFER_LIMIT', '0'], ['RESTORE_TRANSFER_LIMIT', '2.5'], ['RESTORE_TRANSFER_LIMIT', 'many']] as const) {
      expect(() => loadConfig({ ...good, [name]: value })).toThrow(new RegExp(`${name}: must be`));
    }
  });

  it('names every bad variable in one message', () => {
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ products: { x: { type: 'consumable', credits: {} } } }));
    let message = '';
    try {
      loadConfig({ PLAY_PACKAGE_NAMES: 'not a package', IAP_CATALOG: bad, PLAY_API_ROOT_URL: 'nope', PLAY_LICENSE_KEYS: '{"com.a.b":"!!"}' });
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      message = (e as Error).message;
    }
    for (const name of ['GOOGLE_CLOUD_PROJECT', 'PLAY_PACKAGE_NAMES', 'IAP_CATALOG', 'PLAY_API_ROOT_URL', 'PLAY_LICENSE_KEYS']) {
      expect(message).toContain(name);
    }
  });

  it('refuses a missing catalog file and a broken credentials file', () => {
    const creds = join(dir, 'creds.json');
    writeFileSync(creds, '{"client_email": "x"}');
    expect(() => loadConfig({ ...good, IAP_CATALOG: join(dir, 'missing.json'), GOOGLE_APPLICATION_CREDENTIALS: creds })).toThrow(
      /IAP_CATALOG[\s\S]*GOOGLE_APPLICATION_CREDENTIALS|GOOGLE_APPLICATION_CREDENTIALS[\s\S]*IAP_CATALOG/,
    );
  });
});

describe('error mapping', () => {
  it('maps domain errors to HTTP codes and callable statuses in one place', () => {
    expect(toHttpError(new DomainError('purchase_claimed', 'x')).status).toBe(409);
    expect(toHttpError(new DomainError('transfer_limit_reached', 'x')).status).toBe(409);
    expect(toCallableError(new DomainError('transfer_limit_reached', 'x')).body.error.status).toBe('FAILED_PRECONDITION');
    const unavailable = toHttpError(new DomainError('upstream_unavailable', 'later', { retryAfterSeconds: 7 }));
    expect(unavailable).toMatchObject({ status: 503, headers: { 'Retry-After': '7' } });
    expect(toCallableError(new DomainError('permission_denied', 'no'))).toMatchObject({
      status: 403,
      body: { error: { status: 'PERMISSION_DENIED', message: 'no' } },
    });
    expect(toCallableError(new DomainError('failed_precondition', 'expired')).body.error.status).toBe('FAILED_PRECONDITION');
  });

  it('never shows the message of an unexpected error', () => {
    const r = toHttpError(new Error('secret stack detail'));
    expect(r.status).toBe(500);
    expect(JSON.stringify(r.body)).not.toContain('secret');
  });
});

describe('withRetry', () => {
  const policy = { maxAttempts: 4, baseDelayMs: 100, maxDelayMs: 1000, random: () => 0.5, sleep: async () => undefined };

  it('retries transient failures up to the bound, with exponential capped delays', async () => {
    const delays: number[] = [];
    let calls = 0;
    await expect(
      withRetry(
        async () => {
          calls++;
          throw new Error('503');
        },
        () => true,
        { ...policy, sleep: async (ms) => void delays.push(ms) },
      ),
    ).rejects.toThrow('503');
    expect(calls).toBe(4);
    expect(delays).toEqual([50, 100, 200]); // full jitter: random x min(cap, base x 2^n)
  });

  it('does not retry a permanent failure and returns the first success', async () => {
    let calls = 0;
    await expect(withRetry(async () => { calls++; throw new Error('404'); }, () => false, policy)).rejects.toThrow('404');
    expect(calls).toBe(1);
    let n = 0;
    expect(await withRetry(async () => (++n < 3 ? Promise.reject(new Error('x')) : 'ok'), () => true, policy)).toBe('ok');
  });
});
