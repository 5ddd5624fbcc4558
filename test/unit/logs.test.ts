import { createHmac } from 'node:crypto';
import { resolve } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { instrumentEvent, instrumentHttp, severityOf } from '../../functions/instrument';
import { loadConfig } from '../../shared/config';
import { deliverUser, type DeliveryDeps } from '../../shared/core/deliver-events';
import { DomainError } from '../../shared/errors';
import { configureUserLogs, log, logContext, timed, uidHash, userLogSettingsFrom, withLogScope } from '../../shared/log';
import { withDeadline } from '../../shared/store/firestore';
import { describeNotification } from '../../tools/play-simulator';
import { uidHashCli } from '../../tools/uid-hash/uid-hash';
import { captureLogs } from '../helpers/capture-logs';

/** uidHash on every line of a user's request, severities by outcome, DEBUG store-call lines. */
const KEY = 'unit-test-key-0123456789';
const fakeReq = { get: () => undefined } as never;
beforeEach(() => configureUserLogs({ hashKey: KEY, userIds: false }));
afterEach(() => {
  vi.restoreAllMocks();
  delete process.env.LOG_LEVEL;
});

describe('uidHash', () => {
  it('is the first 16 hex characters of HMAC-SHA256(key, uid): stable per user and key', () => {
    const expected = createHmac('sha256', KEY).update('alice').digest('hex').slice(0, 16);
    expect(uidHash('alice', KEY)).toBe(expected);
    expect(uidHash('alice', KEY)).toMatch(/^[0-9a-f]{16}$/);
    expect(uidHash('bob', KEY)).not.toBe(expected);
    expect(uidHash('alice', 'another-key-0123456789')).not.toBe(expected);
  });

  it('takes LOG_HASH_KEY, else the project id, so that every instance agrees', () => {
    expect(userLogSettingsFrom({ LOG_HASH_KEY: KEY, GOOGLE_CLOUD_PROJECT: 'p1' })).toEqual({ hashKey: KEY, userIds: false });
    expect(userLogSettingsFrom({ GOOGLE_CLOUD_PROJECT: 'p1', LOG_USER_IDS: 'true' })).toEqual({ hashKey: 'p1', userIds: true });
  });

  it('npm run uid-hash prints the same hash (and a query); without a key it says what to set', () => {
    expect(uidHashCli(['alice'], { LOG_HASH_KEY: KEY })).toEqual({ code: 0, out: `${uidHash('alice', KEY)}\nCloud Logging query: jsonPayload.uidHash="${uidHash('alice', KEY)}"` });
    expect(uidHashCli(['alice', '--project', 'p1'], {}).out.split('\n')[0]).toBe(uidHash('alice', 'p1'));
    expect(uidHashCli(['alice'], {})).toMatchObject({ code: 2, out: expect.stringContaining('set LOG_HASH_KEY') });
    expect(uidHashCli([], { LOG_HASH_KEY: KEY }).code).toBe(2);
    expect(uidHashCli(['a', 'b'], { LOG_HASH_KEY: KEY }).code).toBe(2);
  });

  it('the config refuses a short LOG_HASH_KEY and a LOG_USER_IDS other than true/false', () => {
    const good = { GOOGLE_CLOUD_PROJECT: 'demo-project', PLAY_PACKAGE_NAMES: 'com.example.app', IAP_CATALOG: resolve(__dirname, '../resources/catalog.json') };
    expect(loadConfig(good).userLogs).toEqual({ hashKey: 'demo-project', userIds: false });
    expect(loadConfig({ ...good, LOG_HASH_KEY: KEY, LOG_USER_IDS: 'true' }).userLogs).toEqual({ hashKey: KEY, userIds: true });
    expect(() => loadConfig({ ...good, LOG_HASH_KEY: 'short' })).toThrow(/LOG_HASH_KEY: must be at least 16 characters/);
    expect(() => loadConfig({ ...good, LOG_USER_IDS: 'yes' })).toThrow(/LOG_USER_IDS/);
  });
});

describe('the user on log lines', () => {
  it('every line after the user is known carries uidHash, never the uid; the request line too', async () => {
    const lines = captureLogs();
    await instrumentHttp(
      'verifyPurchase',
      async () => {
        log('INFO', 'before');
        logContext.setUser('alice');
        log('INFO', 'after');
        return { status: 200 };
      },
      () => 500,
    )(fakeReq, {} as never);
    expect(lines.find((l) => l.message === 'before')).not.toHaveProperty('uidHash');
    expect(lines.find((l) => l.message === 'after')).toMatchObject({ uidHash: uidHash('alice', KEY) });
    expect(lines.find((l) => l.message === 'verifyPurchase')).toMatchObject({ uidHash: uidHash('alice', KEY) });
    expect(JSON.stringify(lines)).not.toContain('alice');
  });

  it('LOG_USER_IDS=true adds the uid; an admin is adminUidHash', async () => {
    configureUserLogs({ hashKey: KEY, userIds: true });
    const lines = captureLogs();
    await instrumentHttp(
      'refundPurchase',
      async () => {
        logContext.setAdmin('root');
        logContext.setUser('alice');
        return { status: 200 };
      },
      () => 500,
    )(fakeReq, {} as never);
    expect(lines[0]).toMatchObject({ uid: 'alice', uidHash: uidHash('alice', KEY), adminUid: 'root', adminUidHash: uidHash('root', KEY) });
  });

  it('a scope (one purchase of a sweep, one user of a delivery) keeps its user to itself', async () => {
    const lines = captureLogs();
    await instrumentEvent('reconcilePurchases', async () => {
      await withLogScope(async () => {
        logContext.setUser('alice');
        log('INFO', 'one purchase');
      });
      await logContext.withUser('bob', async () => log('INFO', 'one delivery'));
      return { outcome: 'ok' };
    })({ id: 'e1' } as never);
    expect(lines.find((l) => l.message === 'one purchase')?.uidHash).toBe(uidHash('alice', KEY));
    expect(lines.find((l) => l.message === 'one delivery')?.uidHash).toBe(uidHash('bob', KEY));
    expect(lines.find((l) => l.message === 'reconcilePurchases')).not.toHaveProperty('uidHash');
  });

  it('deliverUser names the user by its hash only', async () => {
    const lines = captureLogs();
    const deps: DeliveryDeps = {
      outbox: {
        pendingFor: async (uid) => [{ id: 'ev1', uid, type: 't', sequence: 1, data: '{}', published: true, claimsSynced: false, publishedAt: null }],
        pendingUsers: async () => [],
        markDelivered: async () => undefined,
        entitlementsOf: async () => ({}),
      },
      publisher: null,
      claims: { key: 'ent', account: { read: async () => null, write: async () => undefined } },
      now: () => new Date(),
    };
    await withLogScope(() => deliverUser(deps, 'carol'));
    const line = lines.find((l) => l.message.startsWith('entitlements claim not set'));
    expect(line).toMatchObject({ severity: 'WARNING', uidHash: uidHash('carol', KEY) });
    expect(JSON.stringify(lines)).not.toContain('carol');
  });
});

describe('severities', () => {
  it('success INFO, 4xx WARNING, 5xx and configuration faults ERROR', () => {
    expect(severityOf({ status: 200 })).toBe('INFO');
    expect(severityOf({ status: 204 })).toBe('INFO');
    for (const status of [400, 401, 403, 404, 409, 410, 413]) expect(severityOf({ status, code: 'x' })).toBe('WARNING');
    expect(severityOf({ status: 503, code: 'upstream_unavailable' })).toBe('ERROR');
    expect(severityOf({ status: 500, code: 'internal' })).toBe('ERROR');
    expect(severityOf({ status: 400, code: 'apple_not_configured' })).toBe('ERROR');
  });

  it('the request line of a refusal is WARNING, of our failure ERROR; a dead-lettered event WARNING', async () => {
    const lines = captureLogs();
    const fail = (e: Error, status: number) => instrumentHttp('f', async () => Promise.reject(e), () => status)(fakeReq, {} as never);
    await fail(new DomainError('purchase_not_found', 'x'), 404);
    await fail(new DomainError('upstream_unavailable', 'x'), 503);
    await instrumentEvent('playRtdn', async () => ({ outcome: 'dead_letter' }))({ id: 'e2' } as never);
    expect(lines.filter((l) => l.message === 'f').map((l) => [l.status, l.severity])).toEqual([
      [404, 'WARNING'],
      [503, 'ERROR'],
    ]);
    expect(lines.find((l) => l.message === 'playRtdn')?.severity).toBe('WARNING');
  });
});

describe('DEBUG store-call lines', () => {
  it('with DEBUG off, a call is just the call: no line', async () => {
    process.env.LOG_LEVEL = 'INFO';
    const lines = captureLogs();
    await expect(timed('play', 'x', async () => 7)).resolves.toBe(7);
    expect(lines).toEqual([]);
  });

  it('with DEBUG on, each call has its kind, operation, duration and outcome (a failure: its status, not its message)', async () => {
    process.env.LOG_LEVEL = 'DEBUG';
    const lines = captureLogs();
    await timed('play', 'purchases.subscriptionsv2.get', () => new Promise((r) => setTimeout(r, 20)));
    const failure = Object.assign(new Error('token secret-123 refused'), { response: { status: 503 } });
    await expect(timed('play', 'purchases.products.acknowledge', () => Promise.reject(failure))).rejects.toBe(failure);
    expect(lines[0]).toMatchObject({ severity: 'DEBUG', message: 'store call', kind: 'play', op: 'purchases.subscriptionsv2.get', outcome: 'ok' });
    expect(lines[0]!.durationMs).toBeGreaterThanOrEqual(15);
    expect(lines[1]).toMatchObject({ kind: 'play', outcome: 'error', status: 503 });
    expect(JSON.stringify(lines)).not.toContain('secret-123');
  });

  it('every Firestore store operation is timed at its deadline wrapper, the deadline named upstream_unavailable', async () => {
    process.env.LOG_LEVEL = 'DEBUG';
    const lines = captureLogs();
    const store = withDeadline({ getPurchase: async () => null, slow: () => new Promise(() => undefined) }, 50);
    await store.getPurchase();
    await expect(store.slow()).rejects.toMatchObject({ code: 'upstream_unavailable' });
    expect(lines.map((l) => [l.kind, l.op, l.outcome, l.status])).toEqual([
      ['firestore', 'getPurchase', 'ok', undefined],
      ['firestore', 'slow', 'error', 'upstream_unavailable'],
    ]);
    expect(lines[1]!.durationMs).toBeGreaterThanOrEqual(45);
  });
});

describe('simulators', () => {
  it('print notifications with token fingerprints, never the tokens', () => {
    const n = { version: '1.0', packageName: 'com.example.app', subscriptionNotification: { notificationType: 4, purchaseToken: 'tok-secret-abcdef' } };
    const shown = describeNotification(n);
    expect(shown).not.toContain('tok-secret');
    expect(JSON.parse(shown).subscriptionNotification.purchaseToken).toMatch(/^sha256:[0-9a-f]{12}$/);
    expect(describeNotification('raw-secret-string')).not.toContain('secret');
  });
});
