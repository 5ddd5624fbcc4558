import { generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Firestore } from '@google-cloud/firestore';
import { inject } from 'vitest';
import { startPlaySimulator } from '../../tools/play-simulator';
import { createRtdnPublisher, pushToFunction, type RtdnPublisher } from '../../tools/play-simulator/pubsub';
import { emulatorIdToken } from './id-tokens';
import { dumpFirestore } from './firestore-dump';

export const PACKAGE = 'com.example.app';
export const CATALOG = resolve(__dirname, '../resources/catalog.json');

/**
 * The real parts for one test file: the Play simulator, the Firestore emulator (own project id),
 * and our functions registered with the functions framework, served on 127.0.0.1.
 */
export async function startFunctionsStack(
  options: {
    env?: Record<string, string | undefined>;
    functionName?: string;
    /** The simulator's notifications reach playRtdn through the Pub/Sub emulator. */
    rtdn?: boolean;
    /** Serve playRtdn for direct pushes only (the simulator's notifications go nowhere: "lost"). */
    serveRtdn?: boolean;
    /** Serve reconcilePurchases (run it with `runReconcile`). */
    reconcile?: boolean;
    projectId?: string;
  } = {},
) {
  const projectId = options.projectId ?? `test-${randomBytes(4).toString('hex')}`;
  // With rtdn, the simulator publishes every notification to Pub/Sub, pushed to playRtdn.
  let publisher: RtdnPublisher | undefined;
  if (options.rtdn) {
    publisher = await createRtdnPublisher({ projectId, topic: 'play-rtdn', emulatorHost: inject('pubsubEmulatorHost') });
  }
  const sim = await startPlaySimulator(publisher ? { onNotification: (n) => publisher!.publish(n).then(() => undefined) } : {});
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
  const serve = async (name: string) => {
    const server: Server = getTestServer(name);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/` };
  };
  const { server, url } = await serve(options.functionName ?? 'verifyPurchase');
  const rtdn = options.rtdn || options.serveRtdn ? await serve('playRtdn') : undefined;
  const reconcile = options.reconcile ? await serve('reconcilePurchases') : undefined;
  if (publisher && rtdn) await pushToFunction(publisher, { subscription: 'play-rtdn-push', functionUrl: rtdn.url, projectId });
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

  /** A Pub/Sub push of `data` to a CloudEvent function, as the emulator sends it (same messageId = redelivery). */
  async function push(fn: { url: string }, topic: string, data: string, messageId: string): Promise<number> {
    const res = await fetch(new URL(`projects/${projectId}/topics/${topic}`, fn.url), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ subscription: `projects/${projectId}/subscriptions/direct`, message: { data, messageId, attributes: {} } }),
    });
    await res.arrayBuffer();
    return res.status;
  }
  const newMessageId = () => randomBytes(8).toString('hex');

  /** Delivers a notification straight to playRtdn the way a Pub/Sub push does (same messageId = redelivery). */
  async function pushRtdn(notification: unknown, messageId: string = newMessageId()): Promise<number> {
    if (!rtdn) throw new Error('startFunctionsStack({ rtdn: true }) serves playRtdn');
    const text = typeof notification === 'string' ? notification : JSON.stringify(notification);
    return push(rtdn, 'play-rtdn', Buffer.from(text).toString('base64'), messageId);
  }

  /** One reconcile run, triggered as Cloud Scheduler does (a `{}` message on iap-reconcile); the run's document. */
  async function runReconcile(messageId: string = newMessageId(), data = '{}') {
    if (!reconcile) throw new Error('startFunctionsStack({ reconcile: true }) serves reconcilePurchases');
    const status = await push(reconcile, 'iap-reconcile', Buffer.from(data).toString('base64'), messageId);
    const run = (await db.doc(`reconcileRuns/${messageId}`).get()).data();
    return { status, run };
  }

  return {
    projectId,
    sim,
    pushRtdn,
    runReconcile,
    url,
    db,
    idToken,
    post,
    signPurchase,
    dump: () => dumpFirestore(db),
    publisher,
    rtdnUrl: rtdn?.url,
    /** Polls until `check` returns a truthy value (notifications are asynchronous). */
    async eventually<T>(check: () => Promise<T | undefined | null | false>, timeoutMs = 15_000): Promise<T> {
      const deadline = Date.now() + timeoutMs;
      let last: unknown;
      while (Date.now() < deadline) {
        try {
          const v = await check();
          if (v) return v;
        } catch (e) {
          last = e;
        }
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(`condition not met within ${timeoutMs} ms${last ? `: ${String(last)}` : ''}`);
    },
    async close() {
      if (publisher) {
        await publisher.topic.subscription('play-rtdn-push').delete().catch(() => undefined);
        await publisher.close();
      }
      if (rtdn) await new Promise<void>((r) => rtdn.server.close(() => r()));
      if (reconcile) await new Promise<void>((r) => reconcile.server.close(() => r()));
      await new Promise<void>((r) => server.close(() => r()));
      await sim.close();
      await db.terminate();
    },
  };
}

export type FunctionsStack = Awaited<ReturnType<typeof startFunctionsStack>>;
