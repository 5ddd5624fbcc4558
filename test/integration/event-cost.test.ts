import { randomBytes } from 'node:crypto';
import { PubSub } from '@google-cloud/pubsub';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startAuthEmulator } from '../../tools/emulators/auth';
import type { RunningEmulator } from '../../tools/emulators/gcloud';
import { PACKAGE, startFunctionsStack, type FunctionsStack } from '../helpers/verify-stack';

/**
 * What entitlement events and claims cost per change, measured: every request and event line of
 * verifyPurchase and playRtdn counts its outbound calls (`calls`), and the outbox documents are counted
 * in Firestore. Prints the figures (README "Entitlement events" and docs/entitlement-events.md quote them).
 */
const projectId = `demo-${randomBytes(4).toString('hex')}`;
const TOPIC = 'entitlement-events';
let auth: RunningEmulator;
let s: FunctionsStack;
let pubsub: PubSub;
const lines: { message: string; calls?: Record<string, number> }[] = [];
const writes: { out: typeof process.stdout.write; err: typeof process.stderr.write } = {
  out: process.stdout.write.bind(process.stdout),
  err: process.stderr.write.bind(process.stderr),
};

function capture(original: typeof process.stdout.write): typeof process.stdout.write {
  return ((chunk: string | Uint8Array, ...rest: unknown[]) => {
    for (const l of String(chunk).split('\n')) {
      if (!l.startsWith('{')) continue;
      try {
        lines.push(JSON.parse(l));
      } catch {
        /* not ours */
      }
    }
    return (original as (...a: unknown[]) => boolean)(chunk, ...rest);
  }) as typeof process.stdout.write;
}

beforeAll(async () => {
  process.env.PUBSUB_EMULATOR_HOST = inject('pubsubEmulatorHost');
  auth = await startAuthEmulator(projectId);
  s = await startFunctionsStack({
    projectId,
    rtdn: true,
    env: { FIREBASE_AUTH_EMULATOR_HOST: auth.host, ENTITLEMENT_EVENTS_TOPIC: TOPIC, ENTITLEMENT_CLAIMS_KEY: 'iap', LOG_LEVEL: 'INFO' },
  });
  pubsub = new PubSub({ projectId });
  await pubsub.createTopic(TOPIC);
  process.stdout.write = capture(writes.out);
  process.stderr.write = capture(writes.err);
}, 90_000);
afterAll(async () => {
  process.stdout.write = writes.out;
  process.stderr.write = writes.err;
  await pubsub?.close();
  await s?.close();
  await auth?.stop();
});

const EXTRA = ['pubsub:publish', 'auth:lookup', 'auth:update', 'outbox:read', 'outbox:write', 'claims:read'] as const;

async function signUp(): Promise<{ uid: string; idToken: string }> {
  const res = await fetch(`http://${auth.host}/identitytoolkit.googleapis.com/v1/accounts:signUp?key=any`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: `c${randomBytes(4).toString('hex')}@example.com`, password: 'secret-password', returnSecureToken: true }),
  });
  const j = (await res.json()) as { localId: string; idToken: string };
  return { uid: j.localId, idToken: j.idToken };
}

describe('cost of entitlement events and claims per change', () => {
  it('a subscription life and a consumable: per change 1 outbox write, 1 publish, at most 1 claims write', async () => {
    const { uid, idToken } = await signUp();
    const outbox = async () => (await s.db.collection('entitlementEvents').where('uid', '==', uid).get()).docs.map((d) => d.data());
    const settled = async (count: number) =>
      s.eventually(async () => {
        const docs = await outbox();
        return docs.length >= count && docs.every((d) => d.pending === false);
      }, 30_000);

    const sub = await s.sim.createPurchase({ type: 'subscription', packageName: PACKAGE, productId: 'premium_monthly' });
    const verify = async (productId: string, purchaseToken: string) =>
      expect((await s.post({ packageName: PACKAGE, productId, purchaseToken }, { token: idToken })).status).toBe(200);
    await verify('premium_monthly', sub.purchaseToken);
    await settled(1);
    let changes = 1;
    for (const step of ['renew', 'cancel', 'expire'] as const) {
      await s.sim.transition(sub.purchaseToken, step);
      await settled(++changes);
    }
    const coins = await s.sim.createPurchase({ type: 'product', packageName: PACKAGE, productId: 'coins_100' });
    await verify('coins_100', coins.purchaseToken);
    await settled(++changes);
    await s.sim.idle();
    await new Promise((r) => setTimeout(r, 1_000)); // late notifications (e.g. of the consume) would show now

    const before = lines.length;
    await verify('premium_monthly', sub.purchaseToken); // a repeat that changes nothing
    const repeat = lines.slice(before).filter((l) => l.message === 'verifyPurchase');

    const docs = await outbox();
    expect(docs.map((d) => d.type).sort()).toEqual(['CANCELLATION', 'CREDITS_GRANTED', 'EXPIRATION', 'INITIAL_PURCHASE', 'RENEWAL']);
    const served = lines.filter((l) => (l.message === 'verifyPurchase' || l.message === 'playRtdn') && l.calls);
    const total = Object.fromEntries(EXTRA.map((k) => [k, served.reduce((n, l) => n + (l.calls![k] ?? 0), 0)]));
    const perChange = Object.fromEntries(Object.entries(total).map(([k, v]) => [k, Number((v / docs.length).toFixed(2))]));
    writes.out(
      `\nentitlement events + claims, ${docs.length} changes (${served.length} requests/notifications):\n` +
        `  in each change's transaction: 1 outbox document written per event (${docs.length}) + 1 write of users/{uid} (sequence)\n` +
        `  after the commit, totals: ${JSON.stringify(total)}\n  per change: ${JSON.stringify(perChange)}\n`,
    );

    expect(total['pubsub:publish']).toBe(docs.length); // each event published once
    expect(total['outbox:write']).toBe(docs.length); // each marked delivered once (published and claims in one write)
    expect(total['outbox:read']).toBe(docs.length); // one query of the user's pending events per change
    // claims: the consumable touches no entitlement, so no Auth call; the others read and, when changed, write
    expect(total['auth:lookup']).toBe(docs.length - 1);
    expect(total['auth:update']).toBeLessThanOrEqual(docs.length - 1);
    expect(total['auth:update']).toBeGreaterThanOrEqual(3);
    expect(repeat).toHaveLength(1);
    for (const k of EXTRA) expect(repeat[0]!.calls?.[k] ?? 0, `${k} on a repeat that changes nothing`).toBe(0);
  }, 120_000);
});
