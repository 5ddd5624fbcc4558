import { spawnSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/** What a process refuses before it serves: configurations unsafe in the cloud, and serve-function misuse. */
const root = resolve(__dirname, '../..');
const base = {
  PATH: process.env.PATH,
  GOOGLE_CLOUD_PROJECT: 'guard-test',
  PLAY_PACKAGE_NAMES: 'com.example.app',
  IAP_CATALOG: resolve(root, 'test/resources/catalog.json'),
  METADATA_SERVER_DETECTION: 'none',
};
const serve = (args: string[], env: Record<string, string | undefined>) =>
  spawnSync(process.execPath, ['tools/serve-function.js', ...args], { cwd: root, env, encoding: 'utf8', timeout: 20_000 });

describe('unsigned ID tokens are never accepted in the cloud', () => {
  it.each(['K_SERVICE', 'FUNCTION_TARGET'])('with %s set and a real Firestore, FIREBASE_AUTH_EMULATOR_HOST stops the start', (marker) => {
    const r = serve(['--target=verifyPurchase', '--port=1'], { ...base, [marker]: 'verifyPurchase', FIREBASE_AUTH_EMULATOR_HOST: '127.0.0.1:9099' });
    expect(r.status).toBe(78);
    expect(r.stderr).toContain('FIREBASE_AUTH_EMULATOR_HOST');
    expect(r.stdout).not.toContain('serving');
  });
});

describe('serve-function.js', () => {
  let taken: Server;
  beforeAll(async () => {
    taken = createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
  });
  afterAll(() => new Promise<void>((r) => taken.close(() => r())));
  const env = { ...base, FIRESTORE_EMULATOR_HOST: '127.0.0.1:1', FIREBASE_AUTH_EMULATOR_HOST: '127.0.0.1:9099' };

  it('an unknown target gets one line listing the valid ones', () => {
    const r = serve(['--target=verifyPurchases', '--port=0'], env);
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain('valid targets: verifyPurchase, playRtdn, refundPurchase, appStoreNotifications, reconcilePurchases');
  });

  it('a taken port gets one line naming it', () => {
    const port = (taken.address() as AddressInfo).port;
    const r = serve(['--target=verifyPurchase', `--port=${port}`], env);
    expect(r.status).toBe(98);
    expect(r.stderr.trim()).toBe(`serve-function.js: port ${port} on 127.0.0.1 is taken; pick another with --port=N`);
  });
});
