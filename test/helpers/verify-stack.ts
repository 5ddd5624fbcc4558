import { generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Firestore } from '@google-cloud/firestore';
import { inject } from 'vitest';
import { startPlaySimulator } from '../../tools/play-simulator';
import { emulatorIdToken } from './id-tokens';
import { dumpFirestore } from './firestore-dump';

export const PACKAGE = 'com.example.app';
export const CATALOG = resolve(__dirname, '../resources/catalog.json');

/**
 * The real parts for one test file: the Play simulator, the Firestore emulator (own project id),
 * and our functions registered with the functions framework, served on 127.0.0.1.
 */
export async function startFunctionsStack(options: { env?: Record<string, string | undefined>; functionName?: string } = {}) {
  const projectId = `test-${randomBytes(4).toString('hex')}`;
  const sim = await startPlaySimulator();
  const dir = mkdtempSync(join(tmpdir(), 'iap-stack-'));
  const keyFile = join(dir, 'service-account.json');
  writeFileSync(keyFile, JSON.stringify(sim.serviceAccountKey));

  // The app's Play license key, for signedData/signature checks.
  const license = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const licenseKeyB64 = license.publicKey.export({ type: 'spki', format: 'der' }).toString('base64');
  const signPurchase = (originalJson: string) =>
    sign('sha1', Buffer.from(originalJson), license.privateKey).toString('base64');

  Object.assign(process.env, {
    GOOGLE_CLOUD_PROJECT: projectId,
    FIRESTORE_EMULATOR_HOST: inject('firestoreEmulatorHost'),
    FIREBASE_AUTH_EMULATOR_HOST: '127.0.0.1:9099',
    PLAY_PACKAGE_NAMES: `${PACKAGE},com.example.other`,
    PLAY_API_ROOT_URL: sim.url,
    GOOGLE_OAUTH_TOKEN_URL: sim.tokenUrl,
    GOOGLE_APPLICATION_CREDENTIALS: keyFile,
    IAP_CATALOG: CATALOG,
    PLAY_LICENSE_KEYS: JSON.stringify({ [PACKAGE]: licenseKeyB64 }),
    PLAY_TIMEOUT_MS: '1500',
    METADATA_SERVER_DETECTION: 'none',
    LOG_LEVEL: 'ERROR',
    ...options.env,
  });
  for (const [k, v] of Object.entries(options.env ?? {})) if (v === undefined) delete process.env[k];
  await import('../../functions/index');
  const { getTestServer } = await import('@google-cloud/functions-framework/testing');
  const server: Server = getTestServer(options.functionName ?? 'verifyPurchase');
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  const db = new Firestore({ projectId });

  const idToken = (uid: string, claims?: Record<string, unknown>) => emulatorIdToken({ projectId, uid, claims });

  async function post(body: unknown, init: { uid?: string; token?: string; headers?: Record<string, string>; method?: string } = {}) {
    const headers: Record<string, string> = { 'content-type': 'application/json', ...init.headers };
    const token = init.token ?? (init.uid ? idToken(init.uid) : undefined);
    if (token) headers.authorization = `Bearer ${token}`;
    const res = await fetch(url, {
      method: init.method ?? 'POST',
      headers,
      body: init.method === 'GET' ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.text();
    let json: any;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: res.status, headers: res.headers, json, text };
  }

  return {
    projectId,
    sim,
    url,
    db,
    idToken,
    post,
    signPurchase,
    dump: () => dumpFirestore(db),
    async close() {
      await new Promise<void>((r) => server.close(() => r()));
      await sim.close();
      await db.terminate();
    },
  };
}

export type FunctionsStack = Awaited<ReturnType<typeof startFunctionsStack>>;
