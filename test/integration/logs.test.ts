import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, inject, vi } from 'vitest';
import { uidHash } from '../../shared/log';
import { freePort } from '../../tools/emulators/process';
import { startPlaySimulator, type PlaySimulator } from '../../tools/play-simulator';
import { captureLogs } from '../helpers/capture-logs';
import { emulatorIdToken } from '../helpers/id-tokens';
import { startFunctionsStack, PACKAGE as STACK_PACKAGE } from '../helpers/verify-stack';

/**
 * The logs of a real function process (tools/serve-function.js, LOG_LEVEL=DEBUG) serving verifyPurchase
 * against the Play simulator and the Firestore emulator, read from its stdout and stderr as Cloud
 * Logging would: the user as uidHash only, severities by outcome, store calls with their durations.
 */
const ROOT = resolve(__dirname, '../..');
const PACKAGE = 'com.example.app';
const KEY = `log-key-${randomBytes(12).toString('hex')}`;
const projectId = `logs-${randomBytes(4).toString('hex')}`;
const uid = `log-user-${randomBytes(6).toString('hex')}`;

let sim: PlaySimulator;
let proc: ChildProcess;
let url: string;
let output = '';
const lines = () =>
  output
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, any>);

beforeAll(async () => {
  sim = await startPlaySimulator();
  const dir = mkdtempSync(join(tmpdir(), 'iap-logs-'));
  const keyFile = join(dir, 'service-account.json');
  writeFileSync(keyFile, JSON.stringify(sim.serviceAccountKey));
  const port = await freePort();
  url = `http://127.0.0.1:${port}/`;
  proc = spawn(process.execPath, ['--import', 'tsx', 'tools/serve-function.js', '--target=verifyPurchase', `--port=${port}`, '--source=functions/index.ts'], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      PATH: process.env.PATH,
      GOOGLE_CLOUD_PROJECT: projectId,
      FIRESTORE_EMULATOR_HOST: inject('firestoreEmulatorHost'),
      FIREBASE_AUTH_EMULATOR_HOST: '127.0.0.1:9099',
      PLAY_PACKAGE_NAMES: PACKAGE,
      PLAY_API_ROOT_URL: sim.url,
      GOOGLE_OAUTH_TOKEN_URL: sim.tokenUrl,
      GOOGLE_APPLICATION_CREDENTIALS: keyFile,
      IAP_CATALOG: resolve(ROOT, 'test/resources/catalog.json'),
      PLAY_MAX_ATTEMPTS: '1',
      METADATA_SERVER_DETECTION: 'none',
      LOG_LEVEL: 'DEBUG',
      LOG_HASH_KEY: KEY,
    },
  });
  proc.stdout!.on('data', (d) => (output += d));
  proc.stderr!.on('data', (d) => (output += d));
  const deadline = Date.now() + 30_000;
  while (!output.includes('"message":"serving"')) {
    if (Date.now() > deadline || proc.exitCode !== null) throw new Error(`verifyPurchase did not start:\n${output}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}, 40_000);

afterAll(async () => {
  proc?.kill('SIGTERM');
  await sim?.close();
});

async function verify(purchaseToken: string, idToken: string) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${idToken}` },
    body: JSON.stringify({ packageName: PACKAGE, productId: 'remove_ads', purchaseToken }),
  });
  await res.arrayBuffer();
  return res.status;
}

/** The request lines so far, once `n` of them were written (the line follows the answer). */
async function requestLines(n: number) {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const found = lines().filter((l) => l.message === 'verifyPurchase');
    if (found.length >= n || Date.now() > deadline) return found;
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('the logs of a verifyPurchase process', () => {
  it('name the user by the hash npm run uid-hash prints, grade outcomes, time store calls at DEBUG, and never show a uid or token', async () => {
    const idToken = emulatorIdToken({ projectId, uid });
    const bought = await sim.createPurchase({ packageName: PACKAGE, type: 'product', productId: 'remove_ads' } as never);
    const unknown = `unknown-${randomBytes(16).toString('hex')}`;
    const failing = await sim.createPurchase({ packageName: PACKAGE, type: 'product', productId: 'remove_ads' } as never);
    sim.injectFaults({ count: 5, pathContains: failing.purchaseToken, status: 503 });

    expect(await verify(bought.purchaseToken, idToken)).toBe(200);
    expect(await verify(unknown, idToken)).toBe(404);
    expect(await verify(failing.purchaseToken, idToken)).toBe(503);
    const [ok, refused, failed] = await requestLines(3);

    const cli = spawnSync(process.execPath, ['--import', 'tsx', 'tools/uid-hash/uid-hash.ts', uid], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, LOG_HASH_KEY: KEY },
      encoding: 'utf8',
    });
    expect(cli.status, cli.stderr).toBe(0);
    const hash = cli.stdout.split('\n')[0]!;
    expect(hash).toMatch(/^[0-9a-f]{16}$/);

    expect(ok).toMatchObject({ severity: 'INFO', status: 200, uidHash: hash });
    expect(lines().find((l) => l.message === 'purchase verified')).toMatchObject({ severity: 'INFO', uidHash: hash });
    expect(refused).toMatchObject({ severity: 'WARNING', status: 404, code: 'purchase_not_found', uidHash: hash });
    expect(failed).toMatchObject({ severity: 'ERROR', status: 503, code: 'upstream_unavailable', uidHash: hash });

    const calls = lines().filter((l) => l.message === 'store call');
    const kinds = new Set(calls.map((l) => l.kind));
    for (const kind of ['auth', 'play', 'firestore']) expect(kinds, `DEBUG store-call kinds: ${[...kinds].join(', ')}`).toContain(kind);
    for (const c of calls) {
      expect(c).toMatchObject({ severity: 'DEBUG', op: expect.any(String), outcome: expect.stringMatching(/^(ok|error)$/) });
      expect(c.durationMs).toBeGreaterThanOrEqual(0);
    }
    expect(calls.find((c) => c.kind === 'play' && c.op === 'purchases.productsv2.getproductpurchasev2' && c.outcome === 'ok')).toBeDefined();
    expect(calls.find((c) => c.kind === 'play' && c.outcome === 'error' && c.status === 503)).toBeDefined();
    expect(calls.find((c) => c.kind === 'firestore' && c.op === 'commitPurchaseChange' && c.outcome === 'ok')).toBeDefined();

    for (const secret of [uid, bought.purchaseToken, unknown, failing.purchaseToken, idToken, KEY]) expect(output).not.toContain(secret);
    expect(lines().some((l) => 'uid' in l)).toBe(false);
  }, 60_000);
});

describe('the owner of a notified purchase', () => {
  it('is on the playRtdn lines as uidHash (from the stored record), never as a uid', async () => {
    const key = `rtdn-key-${randomBytes(12).toString('hex')}`;
    const s = await startFunctionsStack({ serveRtdn: true, env: { LOG_LEVEL: 'INFO', LOG_HASH_KEY: key } });
    try {
      const owner = `rtdn-owner-${randomBytes(6).toString('hex')}`;
      const p = await s.sim.createPurchase({ type: 'subscription', productId: 'premium_monthly', packageName: STACK_PACKAGE } as never);
      expect((await s.post({ packageName: STACK_PACKAGE, productId: 'premium_monthly', purchaseToken: p.purchaseToken }, { uid: owner })).status).toBe(200);
      const logged = captureLogs();
      const notification = {
        version: '1.0',
        packageName: STACK_PACKAGE,
        eventTimeMillis: String(Date.now()),
        subscriptionNotification: { version: '1.0', notificationType: 2, purchaseToken: p.purchaseToken },
      };
      expect(await s.pushRtdn(notification)).toBe(204);
      vi.restoreAllMocks();
      const line = logged.find((l) => l.message === 'playRtdn');
      expect(line).toMatchObject({ severity: 'INFO', outcome: 'applied', uidHash: uidHash(owner, key) });
      expect(logged.find((l) => l.message === 'Play purchase refreshed')?.uidHash).toBe(uidHash(owner, key));
      const text = JSON.stringify(logged);
      expect(text).not.toContain(owner);
      expect(text).not.toContain(p.purchaseToken);
    } finally {
      vi.restoreAllMocks();
      await s.close();
    }
  }, 60_000);
});
